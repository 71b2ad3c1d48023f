#!/usr/bin/env bash
# Benchmark of issue 15's workflow costs, side by side in one run:
#
#   cargo build --release && bench/workflow.sh 1000 10000
#
# For each N (bench/gen_topology.py's workload, into fresh vhosts):
#   1. `topo apply plan.json` (a plan saved by `topo plan -o`) against `topo apply FILE`,
#      each into an empty vhost on a broker without the other runs' vhosts, ROUNDS times,
#      alternating which goes first; the users the workload declares are deleted before
#      every run so both start alike.
#   2. the apply lock's cost on a no-op apply: `topo apply FILE` against
#      `topo apply --no-lock FILE` on the applied vhost (hyperfine, RUNS runs each). A no-op
#      apply takes no lock (it has nothing to protect), so this shows that it costs nothing;
#   3. the lock's cost where it is taken: the same pair on an apply with one change (queue
#      q.2 deleted before each run by hyperfine's --prepare, declared again with its bindings;
#      not q.0, the source of a workload shovel, which re-declares it without arguments).
# Needs curl, hyperfine, python3, /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."

TOPO=${TOPO:-target/release/topo}
MGMT=${MGMT:-http://127.0.0.1:15672}
CRED=${CRED:-guest:guest}
RUNS=${RUNS:-10}
ROUNDS=${ROUNDS:-3}
export BENCH_PASSWORD=bench-password
export TOPO_MANAGEMENT_URL=${TOPO_MANAGEMENT_URL:-$MGMT}
export TOPO_AMQP_URL=${TOPO_AMQP_URL:-amqp://127.0.0.1:5672}

# shellcheck source=bench/lib.sh
. bench/lib.sh
require_topo
raise_file_handles

work=$(mktemp -d)
vhosts=()
cleanup() {
  for v in "${vhosts[@]}"; do drop_vhost "$v"; done
  drop_bench_users
  rm -rf "$work"
}
trap cleanup EXIT

mean() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["mean"])' "$1" "$2"; }
# No nested quotes in the f-strings: Python before 3.12 cannot parse them.
stats() { python3 -c 'import sys,statistics as s; v=[float(x) for x in sys.argv[1:]]; print("mean %.2f s  (%s)" % (s.mean(v), " / ".join("%.2f" % x for x in v)))' "$@"; }

timed() { # timed OUTVAR cmd...: wall seconds of one command, its stderr kept on failure
  local __var=$1; shift
  /usr/bin/time -f '%e' -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  printf -v "$__var" '%s' "$(cat "$work/t")"
}

file_run() { # one `topo apply FILE` into a fresh vhost
  local v
  v=topo-bench-file-$N-$(date +%s)-$RANDOM
  vhosts+=("$v")
  python3 bench/gen_topology.py "$N" "$v" "$work/f.yaml" "$work/f.json" 2>/dev/null
  drop_bench_users
  timed s "$TOPO" apply "$work/f.yaml"
  file_s+=("$s")
  last_file=$v
}

saved_run() { # `topo plan -o` (not timed), then one `topo apply plan.json`
  local v
  v=topo-bench-saved-$N-$(date +%s)-$RANDOM
  vhosts+=("$v")
  python3 bench/gen_topology.py "$N" "$v" "$work/s.yaml" "$work/s.json" 2>/dev/null
  drop_bench_users
  "$TOPO" plan "$work/s.yaml" -o "$work/plan.json" >/dev/null 2>&1 || [ $? = 2 ]
  timed s "$TOPO" apply "$work/plan.json"
  saved_s+=("$s")
  drop_vhost "$v"
}

for N in "${@:-1000}"; do
  file_s=(); saved_s=(); last_file=
  echo "== N=$N ($ROUNDS rounds)"
  # Every timed apply starts on a broker without the other runs' vhosts: 3.10 declares
  # slower when it already holds 10,000 queues (a saved-plan run beside the kept file
  # vhost read 1.17x). The order alternates, ending with a file run whose vhost is kept for
  # the lock measurements below.
  for r in $(seq 1 "$ROUNDS"); do
    if [ $(((ROUNDS - r) % 2)) = 1 ]; then
      file_run; drop_vhost "$last_file"; saved_run
    else
      saved_run; file_run
      [ "$r" = "$ROUNDS" ] || drop_vhost "$last_file"
    fi
  done
  echo "topo apply FILE (empty vhost)         $(stats "${file_s[@]}")"
  echo "topo apply plan.json (empty vhost)    $(stats "${saved_s[@]}")"
  python3 -c 'import sys,statistics as s; a=s.mean(map(float,sys.argv[1].split())); b=s.mean(map(float,sys.argv[2].split())); print(f"ratio saved / file                     {b/a:.3f} (goal 0.90-1.10)")' "${file_s[*]}" "${saved_s[*]}"

  # 2. The lock on a no-op apply of the last file-applied vhost.
  hyperfine -N -w 2 -r "$RUNS" --export-json "$work/lock.json" \
    "$TOPO apply $work/f.yaml" "$TOPO apply --no-lock $work/f.yaml" >/dev/null
  with=$(mean "$work/lock.json" 0); without=$(mean "$work/lock.json" 1)
  python3 -c 'import sys; w,o=float(sys.argv[1]),float(sys.argv[2]); print(f"no-op apply with lock {w*1000:.1f} ms, --no-lock {o*1000:.1f} ms: the lock costs {(w-o)*1000:.1f} ms (goal < 20 ms)")' "$with" "$without"

  # 3. The lock on an apply that has a change to make (and so takes it).
  hyperfine -N -w 2 -r "$RUNS" --export-json "$work/lock1.json" \
    --prepare "curl -s -o /dev/null -u $CRED -X DELETE $MGMT/api/queues/$last_file/q.2" \
    "$TOPO apply $work/f.yaml" "$TOPO apply --no-lock $work/f.yaml" >/dev/null
  with=$(mean "$work/lock1.json" 0); without=$(mean "$work/lock1.json" 1)
  python3 -c 'import sys; w,o=float(sys.argv[1]),float(sys.argv[2]); print(f"one-change apply with lock {w*1000:.1f} ms, --no-lock {o*1000:.1f} ms: the lock costs {(w-o)*1000:.1f} ms")' "$with" "$without"
  drop_vhost "$last_file"
done
