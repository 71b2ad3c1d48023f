#!/usr/bin/env bash
# Benchmark: `topo render compose|azure` and the number of az calls the azure script makes.
#
#   cargo build --release && bench/render.sh
#
# 1. Render time, for topologies/prod.yaml and for a generated 200-service file (every
#    service with a user, env, an rmq or tcp transport): each target RUNS times, the mean
#    and the fastest run, side by side with `topo validate` of the same file (the load and
#    checks every render starts with), so the cost of rendering itself shows.
# 2. az calls of the rendered azure script, run under the test suite's stub az (which plays
#    Azure's resources, tests/fixtures/render/az): on the create path (nothing exists), on
#    the no-change update path (a second run: everything as rendered), and on the update
#    path of apps that exist but were not deployed by topo (every app updated).
#
# Needs bash, python3 (to generate the 200-service file), coreutils.
set -euo pipefail
cd "$(dirname "$0")/.."

TOPO=${TOPO:-target/release/topo}
RUNS=${RUNS:-20}
# shellcheck source=bench/lib.sh
. bench/lib.sh
require_topo
export REGISTRY=registry.example TAG=1.2.3

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

python3 - "$work/services-200.yaml" <<'EOF'
import sys
n = 200
out = ["version: 1", "name: big", "queues:"]
out += [f"  - {{name: q{i}}}" for i in range(n)]
out.append("users:")
out += [f"  - {{name: s{i}, password_env: S{i}_PASSWORD}}" for i in range(n)]
out.append("permissions:")
out += [
    f"  - {{user: s{i}, configure: \"^q({i}|{(i + 1) % n})$\", write: \"^amq\\\\.default$\", read: \"^q{i}$\"}}"
    for i in range(n)
]
out.append("services:")
for i in range(n):
    out.append(
        f"  - {{name: s{i}, image: \"${{REGISTRY}}/s{i}:${{TAG}}\", port: {3000 + i}, user: s{i}, "
        f"cpu: 0.25, memory: 0.5Gi, replicas: {{min: 1, max: 3}}, env: {{LOG_LEVEL: info, ID: \"{i}\"}}}}"
    )
out.append("transports:")
for i in range(n):
    out.append(f"  - {{from: s{i}, to: s{(i + 1) % n}, kind: rmq, queue: q{(i + 1) % n}}}")
    if i % 4 == 0:
        out.append(f"  - {{from: s{i}, to: s{(i + 2) % n}, kind: tcp}}")
open(sys.argv[1], "w").write("\n".join(out) + "\n")
EOF

# mean and fastest of RUNS runs of a command, in milliseconds
time_ms() {
  local i start end total=0 best=""
  for ((i = 0; i < RUNS; i++)); do
    start=$(date +%s%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s%N)
    local ms=$(((end - start) / 1000))
    total=$((total + ms))
    if [[ -z "$best" || $ms -lt $best ]]; then best=$ms; fi
  done
  printf '%7.1f ms mean  %7.1f ms fastest' "$(echo "$total / $RUNS / 1000" | bc -l)" "$(echo "$best / 1000" | bc -l)"
}

echo "== render time ($RUNS runs each, $TOPO)"
for file in topologies/prod.yaml "$work/services-200.yaml"; do
  label=$(basename "$file")
  printf '%-20s validate       %s\n' "$label" "$(time_ms "$TOPO" validate "$file")"
  for target in compose azure; do
    printf '%-20s render %-7s %s\n' "$label" "$target" "$(time_ms "$TOPO" render "$target" "$file")"
  done
  printf '%-20s sizes: compose %s bytes, azure %s bytes\n' "$label" \
    "$("$TOPO" render compose "$file" 2> /dev/null | wc -c)" "$("$TOPO" render azure "$file" 2> /dev/null | wc -c)"
done

# The inputs a pipeline would set, for the script under the stub az.
inputs() {
  local file=$1
  # The NAME=x words split on purpose: one assignment a variable the script needs.
  # shellcheck disable=SC2046
  env -i PATH="$PWD/tests/fixtures/render:$PATH" HOME="$work" \
    AZ_STUB_LOG="$work/calls.log" AZ_STUB_STATE="$work/state" \
    AZURE_RESOURCE_GROUP=rg AZURE_CONTAINERAPPS_ENV=env AZURE_LOCATION=westeurope \
    AZURE_STORAGE_ACCOUNT=acc AZURE_STORAGE_SHARE=share \
    RABBITMQ_USER=admin RABBITMQ_PASSWORD=admin-pw TOPO_IMAGE=registry.example/topo:1 \
    $(grep -o '^need [A-Z_0-9]*' "$file" | awk '{print $2 "=x"}' | sort -u | grep -v -e '^AZURE_' -e '^RABBITMQ_' -e '^TOPO_IMAGE') \
    "${@:2}" bash "$file"
}
calls() { tr -cd '\036' < "$work/calls.log" | wc -c; }

echo
echo "== az calls of the azure script (stub az playing Azure)"
for file in topologies/prod.yaml "$work/services-200.yaml"; do
  label=$(basename "$file")
  "$TOPO" render azure "$file" > "$work/deploy.sh" 2> /dev/null
  rm -rf "$work/state"
  : > "$work/calls.log"
  inputs "$work/deploy.sh" 2> /dev/null
  create=$(calls)
  : > "$work/calls.log"
  inputs "$work/deploy.sh" 2> /dev/null
  same=$(calls)
  rm -rf "$work/state"
  : > "$work/calls.log"
  inputs "$work/deploy.sh" AZ_STUB_MODE=present 2> /dev/null
  untagged=$(calls)
  apps=$(grep -c '^state_[0-9]*=' "$work/deploy.sh")
  printf '%-20s %3d apps + apply job: create path %3d calls, no-change update %3d calls, update of untagged apps %3d calls\n' \
    "$label" "$apps" "$create" "$same" "$untagged"
done
