#!/usr/bin/env bash
# How topo diff, graph and route scale with the size of a topology.
#
# Generates topologies of N queues (N/10 topic exchanges, 2N bindings, a few policies and
# services), then times the offline review commands with hyperfine. Uses the binary given
# as $TOPO (default: target/debug/topo; build it first).
#
#   bench/review-scale.sh            # N = 1000 and 10000
#   N_LIST="500 5000" bench/review-scale.sh
set -euo pipefail

TOPO=${TOPO:-target/debug/topo}
N_LIST=${N_LIST:-"1000 10000"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gen() {
  # gen N TTL OUT: a topology of N queues whose queues carry message_ttl TTL.
  python3 - "$1" "$2" > "$3" <<'PY'
import sys
n, ttl = int(sys.argv[1]), int(sys.argv[2])
x = max(1, n // 10)
print("version: 1\nname: bench")
print("exchanges:")
for i in range(x):
    print(f"  - {{name: ex{i}, type: topic}}")
print("queues:")
for i in range(n):
    print(f"  - {{name: q{i}, message_ttl: {ttl}}}")
print("bindings:")
for i in range(n):
    print(f"  - {{source: ex{i % x}, destination: q{i}, routing_keys: [\"k{i}.*\", \"all.#\"]}}")
print("policies:")
for i in range(4):
    print(f"  - {{name: p{i}, pattern: \"^q{i}\", priority: {i}, definition: {{max-length: 1000}}}}")
print("services:")
for i in range(5):
    print(f"  - {{name: svc{i}, image: \"r/svc{i}:1\", port: {3000 + i}}}")
PY
}

for n in $N_LIST; do
  gen "$n" 60000 "$work/old-$n.yaml"
  gen "$n" 120000 "$work/new-$n.yaml"   # every queue replaced: the largest diff
  echo "== N=$n queues ($(wc -c < "$work/old-$n.yaml") bytes)"
  hyperfine --warmup 1 --runs 5 -N \
    -n "validate" "$TOPO validate $work/old-$n.yaml" \
    -n "diff (no change)" "$TOPO diff $work/old-$n.yaml $work/old-$n.yaml" \
    -n "diff (N replaces)" "$TOPO diff $work/old-$n.yaml $work/new-$n.yaml --format json" \
    -n "graph mermaid" "$TOPO graph $work/old-$n.yaml" \
    -n "route" "$TOPO route $work/old-$n.yaml -e ex0 -k all.x" \
    -i 2>&1 | grep -E "^(Benchmark|  Time)"
done
