#!/usr/bin/env bash
# A three-node RabbitMQ 4.x cluster on this machine: rabbitA@localhost, rabbitB@localhost and
# rabbitC@localhost, from the Debian forky chroot of scripts/rabbitmq4.sh (built by it when
# missing). Each node keeps its configuration, data and logs in the chroot's
# /srv/topo/nodes/NAME; all share the chroot's Erlang cookie and the machine's epmd.
#
#   node  AMQP  management  distribution
#   A     5701  15701       25701
#   B     5702  15702       25702
#   C     5703  15703       25703
#
#   scripts/rabbitmq-cluster.sh [start]     start what is down, join B and C to A, wait for all
#   scripts/rabbitmq-cluster.sh env         print the TOPO_TEST_CLUSTER_* variables tests read
#   scripts/rabbitmq-cluster.sh status      each node's state and the cluster's members
#   scripts/rabbitmq-cluster.sh stop        stop the three nodes (C, B, then A)
#   scripts/rabbitmq-cluster.sh stop-node N     clean stop of one node (N: A, B or C)
#   scripts/rabbitmq-cluster.sh kill-node N     SIGKILL of that node's beam.smp (a crash)
#   scripts/rabbitmq-cluster.sh start-node N    start one node and wait until the cluster has it
#   scripts/rabbitmq-cluster.sh cut-node N      cut N's distribution links to the other nodes
#   scripts/rabbitmq-cluster.sh heal-node N     give them back and wait for a whole cluster
#
# Nodes are stopped and killed by node name and their own pid only, never by user or process
# name: the chroot's rabbitmq user shares a uid with other users of the machine.
# Needs root. Idempotent: a second start only checks. Every command that changes nodes (start
# and its joins, stop, stop-node, kill-node, start-node, cut-node, heal-node) holds one lock,
# rabbitmq-cluster.lock beside the chroot (flock), waiting for it at most
# TOPO_SCRIPT_LOCK_WAIT seconds (900 by default) and naming its holder: concurrent starts (CI
# and a test) once left node C's VM up with its app stopped and out of the cluster.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/rabbitmq4.sh
. "$HERE/rabbitmq4.sh"
set -euo pipefail

NODES=(A B C)
CLUSTER_WAIT=${TOPO_CLUSTER_WAIT:-240}

csay() { printf 'rabbitmq-cluster: %s\n' "$*" >&2; }
cdie() { csay "$*"; exit 1; }

index_of() { # A|B|C -> 1|2|3
  case "${1^^}" in
    A) echo 1 ;; B) echo 2 ;; C) echo 3 ;;
    *) cdie "no node '$1': use A, B or C" ;;
  esac
}
name_of() { echo "rabbit${1^^}"; }
amqp_of() { echo $((5700 + $(index_of "$1"))); }
mgmt_of() { echo $((15700 + $(index_of "$1"))); }
dist_of() { echo $((25700 + $(index_of "$1"))); }

ctl() { # N rabbitmqctl-args...
  local n=$1; shift
  in_node "$(name_of "$n")" "$(dist_of "$n")" rabbitmqctl -q -n "$(name_of "$n")@localhost" "$@"
}

# The pid of N's beam.smp, only when the pid file's process really is that node's runtime.
beam_pid() {
  local name pid
  name=$(name_of "$1")
  pid=$(cat "$ROOT/srv/topo/nodes/$name/$name.pid" 2> /dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/environ" ] || return 1
  tr '\0' '\n' < "/proc/$pid/environ" | grep -qx "RABBITMQ_NODENAME=$name@localhost" || return 1
  case "$(readlink "/proc/$pid/exe" 2> /dev/null)" in
    */beam.smp) echo "$pid" ;;
    *) return 1 ;;
  esac
}

running_members() { # N: the running nodes N sees, one a line
  ctl "$1" cluster_status --formatter json 2> /dev/null |
    python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin).get("running_nodes", [])))'
}

all_members() { # N: every node of N's cluster (disc nodes), one a line
  ctl "$1" cluster_status --formatter json 2> /dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("\n".join(d.get("disk_nodes", []) + d.get("ram_nodes", [])))'
}

ports_free_or_ours() {
  local n p
  for n in "${NODES[@]}"; do
    for p in "$(amqp_of "$n")" "$(mgmt_of "$n")"; do
      if port_open "$p" && ! node_running "$(name_of "$n")" "$(dist_of "$n")"; then
        cdie "port $p is taken by something other than $(name_of "$n")@localhost"
      fi
    done
  done
}

configure_node() {
  local n=$1 name dir
  name=$(name_of "$n")
  node_config "$name" "$(amqp_of "$n")" "$(mgmt_of "$n")"
  dir=$ROOT/srv/topo/nodes/$name
  # Queue leaders spread over the nodes rather than all on the node a client happened to reach.
  echo "queue_leader_locator = balanced" >> "$dir/rabbitmq.conf"
  chroot "$ROOT" chown rabbitmq:rabbitmq "/srv/topo/nodes/$name/rabbitmq.conf"
}

wait_node() { # N
  local mgmt
  mgmt=$(mgmt_of "$1")
  wait_http "$mgmt" || {
    tail -n 30 "$ROOT/srv/topo/nodes/$(name_of "$1")/log/console.log" >&2 || true
    cdie "$(name_of "$1")@localhost did not answer on $mgmt within ${WAIT_SECONDS}s"
  }
  local deadline=$((SECONDS + 60))
  until port_open "$(amqp_of "$1")"; do
    [ "$SECONDS" -lt "$deadline" ] || cdie "$(name_of "$1")@localhost: AMQP $(amqp_of "$1") did not open"
    sleep 1
  done
}

# Joins N to rabbitA's cluster unless it is already a member.
join_node() {
  local n=$1
  if all_members A | grep -qx "$(name_of "$n")@localhost"; then return; fi
  csay "joining $(name_of "$n")@localhost to rabbitA@localhost"
  ctl "$n" stop_app > /dev/null
  ctl "$n" reset > /dev/null
  ctl "$n" join_cluster rabbitA@localhost > /dev/null
  ctl "$n" start_app > /dev/null
}

# Waits until every node answers on HTTP and A sees all three running.
wait_cluster() {
  local n deadline=$((SECONDS + CLUSTER_WAIT))
  for n in "${NODES[@]}"; do wait_node "$n"; done
  until [ "$(running_members A | grep -c '^rabbit[ABC]@localhost$' || true)" = 3 ]; do
    [ "$SECONDS" -lt "$deadline" ] || cdie "the cluster did not have three running nodes within ${CLUSTER_WAIT}s"
    sleep 1
  done
  for n in "${NODES[@]}"; do wait_node "$n"; done
}

# Whether rabbitA's management API reports all three nodes running (the quick check of a rerun).
cluster_healthy() {
  curl -fsS -m 5 -u guest:guest "http://127.0.0.1:$(mgmt_of A)/api/nodes" 2> /dev/null |
    python3 -c 'import json,sys; up={n["name"] for n in json.load(sys.stdin) if n.get("running")}; sys.exit(0 if {"rabbitA@localhost","rabbitB@localhost","rabbitC@localhost"} <= up else 1)'
}

start_cluster() {
  [ "$(id -u)" = 0 ] || cdie "needs root (chroot, mounts)"
  if [ -e "$ROOT/.topo-ready" ] && cluster_healthy; then
    mount_chroot
    local n ok=1
    for n in "${NODES[@]}"; do port_open "$(amqp_of "$n")" || ok=0; done
    if [ "$ok" = 1 ]; then csay "cluster already up (rabbitA, rabbitB, rabbitC)"; return; fi
  fi
  if [ ! -e "$ROOT/.topo-ready" ]; then
    csay "no forky chroot yet: building it with scripts/rabbitmq4.sh"
    ensure_chroot
  fi
  mount_chroot
  ports_free_or_ours
  local n
  for n in "${NODES[@]}"; do configure_node "$n"; done
  for n in "${NODES[@]}"; do node_start "$(name_of "$n")" "$(dist_of "$n")"; done
  for n in "${NODES[@]}"; do wait_node "$n"; done
  join_node B
  join_node C
  wait_cluster
  csay "cluster up: $(running_members A | tr '\n' ' ')"
}

stop_node() {
  local n=$1
  mount_chroot
  node_stop "$(name_of "$n")" "$(dist_of "$n")"
}

kill_node() {
  local n=$1 pid
  mount_chroot
  pid=$(beam_pid "$n") || cdie "$(name_of "$n")@localhost is not running (no beam.smp of that node)"
  csay "killing $(name_of "$n")@localhost (beam.smp pid $pid) with SIGKILL"
  kill -KILL "$pid"
  local deadline=$((SECONDS + 30))
  while [ -e "/proc/$pid" ]; do
    [ "$SECONDS" -lt "$deadline" ] || cdie "pid $pid did not exit"
    sleep 0.2
  done
}

start_node() {
  local n=$1
  mount_chroot
  configure_node "$n"
  node_start "$(name_of "$n")" "$(dist_of "$n")"
  wait_cluster
}

# Cuts N off: N and the other two nodes each expect of the other a cookie it does not send (two
# different ones), and the open links are dropped. Nothing else changes; heal-node sets the cookies back.
cut_node() {
  local n=$1 me o others=()
  me=$(name_of "$n")@localhost
  for o in "${NODES[@]}"; do [ "$o" = "${n^^}" ] || others+=("$(name_of "$o")@localhost"); done
  csay "cutting $me off from ${others[*]}"
  for o in "${others[@]}"; do
    ctl "$n" eval "erlang:set_cookie('$o', topo_cut_inside), erlang:disconnect_node('$o')." > /dev/null
  done
  for o in "${NODES[@]}"; do
    [ "$o" = "${n^^}" ] && continue
    ctl "$o" eval "erlang:set_cookie('$me', topo_cut_outside), erlang:disconnect_node('$me')." > /dev/null
  done
}

heal_node() {
  local n=$1 me o
  me=$(name_of "$n")@localhost
  for o in "${NODES[@]}"; do
    [ "$o" = "${n^^}" ] && continue
    ctl "$n" eval "erlang:set_cookie('$(name_of "$o")@localhost', erlang:get_cookie())." > /dev/null || true
    ctl "$o" eval "erlang:set_cookie('$me', erlang:get_cookie()), net_adm:ping('$me')." > /dev/null || true
  done
  csay "healed $me; waiting for a whole cluster"
  wait_cluster
}

status() {
  mount_chroot
  local n
  for n in "${NODES[@]}"; do
    if node_running "$(name_of "$n")" "$(dist_of "$n")"; then
      printf '%s@localhost running (beam pid %s), AMQP %s, management %s; sees: %s\n' \
        "$(name_of "$n")" "$(beam_pid "$n" || echo '?')" "$(amqp_of "$n")" "$(mgmt_of "$n")" \
        "$(running_members "$n" | tr '\n' ' ')"
    else
      printf '%s@localhost down\n' "$(name_of "$n")"
    fi
  done
}

print_cluster_env() {
  cat << ENV
export TOPO_TEST_CLUSTER_AMQP_URLS=amqp://127.0.0.1:5701,amqp://127.0.0.1:5702,amqp://127.0.0.1:5703
export TOPO_TEST_CLUSTER_MANAGEMENT_URLS=http://127.0.0.1:15701,http://127.0.0.1:15702,http://127.0.0.1:15703
export TOPO_TEST_CLUSTER_SCRIPT=$HERE/rabbitmq-cluster.sh
ENV
}

case "${1:-start}" in
  env | status) ;;
  start | stop | stop-node | kill-node | start-node | cut-node | heal-node) take_lock rabbitmq-cluster "$0 $*" ;;
esac

case "${1:-start}" in
  start) start_cluster ;;
  env) print_cluster_env ;;
  status) status ;;
  stop) mount_chroot; for n in C B A; do stop_node "$n"; done ;;
  stop-node) stop_node "${2:?usage: $0 stop-node A|B|C}" ;;
  kill-node) kill_node "${2:?usage: $0 kill-node A|B|C}" ;;
  start-node) start_node "${2:?usage: $0 start-node A|B|C}" ;;
  cut-node) cut_node "${2:?usage: $0 cut-node A|B|C}" ;;
  heal-node) heal_node "${2:?usage: $0 heal-node A|B|C}" ;;
  *) cdie "usage: $0 start|env|status|stop|stop-node N|kill-node N|start-node N|cut-node N|heal-node N" ;;
esac
