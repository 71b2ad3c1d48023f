#!/usr/bin/env bash
# Benchmark: topo on a three-node RabbitMQ 4.x cluster (issue 12), in one run:
#
#   cargo build --release && bench/cluster.sh 1000
#
#   1. topo apply of N entities to the cluster (all three node URLs), to the single 4.x node
#      (scripts/rabbitmq4.sh), and the cluster's own import of the same entities
#      (POST /api/definitions/{vhost} through node A): wall time of each, into empty vhosts.
#   2. a no-op plan of that file through each node alone (A, B, C) and through the list
#      (hyperfine, RUNS runs each).
#   3. failover: node A's beam.smp is killed (scripts/rabbitmq-cluster.sh kill-node A) and a
#      plan is started at once with the list A,B,C; measured from the kill to topo's stderr
#      line that it uses node 2, and the plan's whole wall time, against the same plan
#      through B alone. Node A is started again afterwards (waits for a whole cluster).
#
# Needs root (the cluster script), the cluster (sudo scripts/rabbitmq-cluster.sh start) and
# the 4.x node, curl, hyperfine, python3. Every vhost it makes is deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

TOPO=${TOPO:-target/release/topo}
CRED=${CRED:-guest:guest}
RUNS=${RUNS:-5}
CLUSTER=${TOPO_TEST_CLUSTER_SCRIPT:-scripts/rabbitmq-cluster.sh}
export BENCH_PASSWORD=bench-password
AMQP_NODES=(amqp://127.0.0.1:5701 amqp://127.0.0.1:5702 amqp://127.0.0.1:5703)
MGMT_NODES=(http://127.0.0.1:15701 http://127.0.0.1:15702 http://127.0.0.1:15703)
AMQP_LIST=$(IFS=,; echo "${AMQP_NODES[*]}")
MGMT_LIST=$(IFS=,; echo "${MGMT_NODES[*]}")
AMQP_4=${TOPO_TEST_RABBIT4_AMQP_URL:-amqp://127.0.0.1:5682}
MGMT_4=${TOPO_TEST_RABBIT4_MANAGEMENT_URL:-http://127.0.0.1:15682}

# shellcheck source=bench/lib.sh
. bench/lib.sh
require_topo
for tool in curl hyperfine python3; do
  command -v "$tool" > /dev/null || { echo "needs $tool (Debian: apt-get install $tool)" >&2; exit 1; }
done
for m in "${MGMT_NODES[@]}" "$MGMT_4"; do
  curl -sf -m 5 -u "$CRED" -o /dev/null "$m/api/overview" ||
    { echo "$m does not answer: start the cluster and the 4.x node first" >&2; exit 1; }
done

work=$(mktemp -d)
suffix=$(date +%s)-$RANDOM
cleanup_vhosts=()
a_killed=0
cleanup() {
  if [ "$a_killed" = 1 ]; then "$CLUSTER" start-node A >/dev/null 2>&1 || true; fi
  local entry MGMT
  for entry in "${cleanup_vhosts[@]}"; do
    MGMT=${entry%% *}
    drop_vhost "${entry#* }"
  done
  for MGMT in "${MGMT_NODES[0]}" "$MGMT_4"; do drop_bench_users; done
  rm -rf "$work"
}
trap cleanup EXIT

mean() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["mean"], r["stddev"] or 0)' "$1"; }
now() { date +%s.%N; }
elapsed() { python3 -c "print($2 - $1)"; }

# topo against one broker or node list: run_topo AMQP MGMT ARGS...
run_topo() {
  local amqp=$1 mgmt=$2; shift 2
  TOPO_AMQP_URL=$amqp TOPO_MANAGEMENT_URL=$mgmt "$TOPO" "$@"
}

N=${1:-1000}
version=$(curl -sf -u "$CRED" "${MGMT_NODES[0]}/api/overview" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rabbitmq_version"])')
vc=topo-bench-cluster-$N-$suffix
vs=topo-bench-single-$N-$suffix
vi=topo-bench-import-$N-$suffix
cleanup_vhosts+=("${MGMT_NODES[0]} $vc" "$MGMT_4 $vs" "${MGMT_NODES[0]} $vi")
# The cluster nodes run no shovel plugin (scripts/rabbitmq-cluster.sh): a workload without shovels.
export BENCH_SHOVELS=0
python3 bench/gen_topology.py "$N" "$vc" "$work/c.yaml" "$work/c.json"
python3 bench/gen_topology.py "$N" "$vs" "$work/s.yaml" "$work/s.json" 2>/dev/null
python3 bench/gen_topology.py "$N" "$vi" "$work/i.yaml" "$work/i.json" 2>/dev/null
echo "== N=$N, RabbitMQ $version: a cluster of 3 nodes on this machine vs a single 4.x node"

# 1. The three applies, one after the other, each into an empty vhost.
t0=$(now)
run_topo "$AMQP_LIST" "$MGMT_LIST" apply "$work/c.yaml" >/dev/null 2>"$work/c.err" ||
  { cat "$work/c.err" >&2; exit 1; }
cluster_s=$(elapsed "$t0" "$(now)")
t0=$(now)
run_topo "$AMQP_4" "$MGMT_4" apply "$work/s.yaml" >/dev/null 2>"$work/s.err" ||
  { cat "$work/s.err" >&2; exit 1; }
single_s=$(elapsed "$t0" "$(now)")
curl -sf -u "$CRED" -X PUT "${MGMT_NODES[0]}/api/vhosts/$vi" >/dev/null
t0=$(now)
curl -sf -m 3600 -u "$CRED" -H 'content-type: application/json' -X POST \
  --data-binary "@$work/i.json" "${MGMT_NODES[0]}/api/definitions/$vi" >/dev/null
import_s=$(elapsed "$t0" "$(now)")

# 2. No-op plans of the cluster's file through each node and through the list.
plan_line() { # LABEL AMQP MGMT
  hyperfine -N -w 1 -r "$RUNS" --export-json "$work/p.json" \
    "env TOPO_AMQP_URL=$2 TOPO_MANAGEMENT_URL=$3 $TOPO plan $work/c.yaml" >/dev/null
  read -r m sd < <(mean "$work/p.json")
  printf '%-44s %s s  +- %s\n' "topo plan, no changes, $1" "$(secs "$m")" "$(secs "$sd")"
  printf -v "plan_$4" '%s' "$m"
}
plan_b='' # set by plan_line (with plan_a, plan_c and plan_list)
# A plan with changes exits 2: the file must be converged, so check once.
rc=0; run_topo "$AMQP_LIST" "$MGMT_LIST" plan "$work/c.yaml" >/dev/null 2>&1 || rc=$?
[ "$rc" = 0 ] || { echo "the cluster's vhost is not converged (plan exit $rc)" >&2; exit 1; }

echo "topo apply to the cluster (3 URLs)           $(secs "$cluster_s") s"
echo "topo apply to the single 4.x node            $(secs "$single_s") s"
echo "cluster's own import (POST definitions, A)   $(secs "$import_s") s"
echo "ratio cluster apply / single apply           $(ratio "$cluster_s" "$single_s")"
echo "ratio cluster apply / cluster import         $(ratio "$cluster_s" "$import_s")"
plan_line "through node A" "${AMQP_NODES[0]}" "${MGMT_NODES[0]}" a
plan_line "through node B" "${AMQP_NODES[1]}" "${MGMT_NODES[1]}" b
plan_line "through node C" "${AMQP_NODES[2]}" "${MGMT_NODES[2]}" c
plan_line "through the list A,B,C" "$AMQP_LIST" "$MGMT_LIST" list

# 3. Failover: kill A, then a plan with the list at once; when does topo use B?
a_killed=1
python3 - "$CLUSTER" "$TOPO" "$work/c.yaml" "$AMQP_LIST" "$MGMT_LIST" > "$work/failover" <<'PY'
import os, subprocess, sys, time
cluster, topo, file, amqp, mgmt = sys.argv[1:6]
t_kill = time.monotonic()
subprocess.run([cluster, "kill-node", "A"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t_dead = time.monotonic()
env = dict(os.environ, TOPO_AMQP_URL=amqp, TOPO_MANAGEMENT_URL=mgmt)
t_start = time.monotonic()
p = subprocess.Popen([topo, "plan", file], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
t_next = None
lines = []
for line in p.stderr:
    lines.append(line.rstrip())
    if t_next is None and "through node 2 of 3" in line:
        t_next = time.monotonic()
rc = p.wait()
t_end = time.monotonic()
if t_next is None or rc != 0:
    sys.exit("no failover seen (exit %d):\n%s" % (rc, "\n".join(lines)))
print(t_dead - t_kill, t_next - t_kill, t_next - t_start, t_end - t_start)
PY
read -r kill_s to_next_s start_to_next_s failover_plan_s < "$work/failover"
"$CLUSTER" start-node A >/dev/null 2>&1
a_killed=0
echo "failover: kill of A until its beam exited    $(secs "$kill_s") s"
echo "failover: kill of A until topo used node B   $(secs "$to_next_s") s  ($(secs "$start_to_next_s") s after topo started)"
echo "failover: whole plan, A dead, list A,B,C     $(secs "$failover_plan_s") s  (through B alone: $(secs "$plan_b") s)"
