#!/usr/bin/env bash
# Benchmark `topo validate` on generated topologies, side by side with PyYAML + jsonschema.
#
#   bench/validate.sh            # N = 1000 2000 5000 10000
#   bench/validate.sh 10000      # one size
#
# Reports wall and user-CPU means (user CPU is steadier on a busy machine) and peak RSS.
# Needs: a release build (cargo build --release), hyperfine, python3 with pyyaml and
# jsonschema (pip install pyyaml jsonschema), GNU time (/usr/bin/time) for peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 2000 5000 10000)
topo=target/release/topo
[ -x "$topo" ] || cargo build --release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-7s %-9s %-9s %-13s %-9s %-11s %-13s %-11s\n' N file_KiB topo_ms topo_user_ms topo_MiB python_ms py_user_ms python/topo
for n in "${sizes[@]}"; do
  f="$work/topo-$n.yaml"
  python3 bench/gen_validate_topology.py "$n" > "$f"
  "$topo" validate "$f" > /dev/null
  kib=$(( $(stat -c %s "$f") / 1024 ))
  hyperfine -N --warmup 2 --runs 10 --export-json "$work/h-$n.json" \
    "$topo validate $f" "python3 bench/py_validate.py schema/topology.schema.json $f" > /dev/null
  read -r t_topo u_topo t_py u_py < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(r[0]['mean']*1000, r[0]['user']*1000, r[1]['mean']*1000, r[1]['user']*1000)" "$work/h-$n.json")
  rss=$( { /usr/bin/time -f '%M' "$topo" validate "$f" > /dev/null; } 2>&1 | tail -1 )
  printf '%-7s %-9s %-9.1f %-13.1f %-9.1f %-11.1f %-13.1f %-11.1f\n' "$n" "$kib" "$t_topo" "$u_topo" "$(echo "$rss / 1024" | bc -l)" "$t_py" "$u_py" "$(echo "$t_py / $t_topo" | bc -l)"
done
