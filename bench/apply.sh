#!/usr/bin/env bash
# Benchmark: topo apply / plan against RabbitMQ's own definitions import and state read.
#
#   cargo build --release && bench/apply.sh 1000 10000
#   BROKERS="3.10 4.x" bench/apply.sh 1000      # both brokers, side by side in one run
#   BROKERS="3.10 4.x" BIG_RUNS=2 VIA=0 bench/apply.sh 1000 10000   # both sizes, ~25 min
#
# RUNS: hyperfine runs per no-op measurement (default 5); BIG_RUNS: the same from N = 5,000
# up (default 3: at 10,000 each no-op run and each read takes seconds). VIA=0 leaves out
# step 4 (topo's `--via definitions`, not a goal of the issue; a minute per broker at 10,000).
# Each figure is printed with the load average (`uptime`) at that moment: on a shared
# machine the numbers are for direction only.
#
# BROKERS names the brokers to measure, in turn for each N: `3.10` is the machine's broker
# (MGMT / TOPO_AMQP_URL, default 127.0.0.1:15672 / 5672), `4.x` the node of
# scripts/rabbitmq4.sh (TOPO_TEST_RABBIT4_MANAGEMENT_URL / _AMQP_URL, default 15682 / 5682).
# Default: `3.10`, and `4.x` too when its management API answers.
#
# For each N: generate the workload (bench/gen_topology.py), then, each on a broker
# without the other runs' vhosts:
#   1. topo apply into an empty vhost (pipelined AMQP declares; wall time, max RSS)
#   2. no-op plan and no-op apply of the same file (hyperfine; each side's median, the mean
#      beside it; the plan also with TOPO_NO_CACHE=1, without the copy of the export kept
#      from the previous run, which 4.3.5+ revalidates by ETag), and the bare state read
#      GET /api/definitions/{vhost} (hyperfine)
#   3. RabbitMQ's own import of the same entities: POST /api/definitions/{vhost}
#   4. topo apply --via definitions (topo's chunked use of that import)
# and print the figures and the ratios the issue asks for. Needs curl, hyperfine,
# python3, /usr/bin/time; raises the broker's file-handle budget with rabbitmqctl when it
# can (about 1000 queues is the limit otherwise: see shared research notes).
set -euo pipefail
cd "$(dirname "$0")/.."

TOPO=${TOPO:-target/release/topo}
CRED=${CRED:-guest:guest}
RUNS=${RUNS:-5}
# Say what is missing before the first apply, not halfway through the run.
for tool in curl hyperfine python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || {
    echo "bench/apply.sh needs $tool (Debian: apt-get install ${tool##*/})" >&2
    exit 2
  }
done
BIG_RUNS=${BIG_RUNS:-3}
VIA=${VIA:-1}
export BENCH_PASSWORD=bench-password
MGMT_310=${MGMT:-http://127.0.0.1:15672}
AMQP_310=${TOPO_AMQP_URL:-amqp://127.0.0.1:5672}
MGMT_4=${TOPO_TEST_RABBIT4_MANAGEMENT_URL:-http://127.0.0.1:15682}
AMQP_4=${TOPO_TEST_RABBIT4_AMQP_URL:-amqp://127.0.0.1:5682}
if [ -z "${BROKERS:-}" ]; then
  BROKERS=3.10
  curl -sf -m 5 -u "$CRED" -o /dev/null "$MGMT_4/api/overview" && BROKERS="3.10 4.x"
fi

# shellcheck source=bench/lib.sh
. bench/lib.sh
require_topo
raise_file_handles

work=$(mktemp -d)
# The copies of exports topo keeps between runs (4.3.5+: revalidated with the export's ETag)
# go with the rest of the run's files; step 2 measures the plan with and without them.
export TOPO_CACHE_DIR=$work/cache
vhosts=()
cleanup() {
  for b in $BROKERS; do
    use_broker "$b"
    for v in "${vhosts[@]}"; do drop_vhost "$v"; done
    drop_bench_users
  done
  rm -rf "$work"
}

# Point the script and topo at one broker.
use_broker() {
  case $1 in
    3.10) MGMT=$MGMT_310; TOPO_AMQP_URL=$AMQP_310 ;;
    4.x) MGMT=$MGMT_4; TOPO_AMQP_URL=$AMQP_4 ;;
    *) echo "unknown broker $1 (3.10 or 4.x)" >&2; exit 2 ;;
  esac
  export TOPO_MANAGEMENT_URL=$MGMT TOPO_AMQP_URL
}
trap cleanup EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
# hyperfine's median and mean, in seconds, from its JSON export. The ratios use the median
# of each side: one cold or one broker-GC run must not move a figure (at 10,000 one such run
# of five moved the mean of a 0.28 s plan to 0.37 s); the mean is printed beside it.
stat() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0][sys.argv[2]])' "$1" "$2"; }
median() { stat "$1" median; }
mean() { stat "$1" mean; }

for N in "${@:-1000}"; do
for broker in $BROKERS; do
  use_broker "$broker"
  version=$(curl -sf -u "$CRED" "$MGMT/api/overview" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rabbitmq_version"])')
  suffix=$(date +%s)-$RANDOM
  va=topo-bench-apply-$N-$suffix
  vb=topo-bench-import-$N-$suffix
  vc=topo-bench-viadefs-$N-$suffix
  vhosts+=("$va" "$vb" "$vc")
  python3 bench/gen_topology.py "$N" "$va" "$work/a.yaml" "$work/a.json"
  python3 bench/gen_topology.py "$N" "$vb" "$work/b.yaml" "$work/b.json" 2>/dev/null
  python3 bench/gen_topology.py "$N" "$vc" "$work/c.yaml" "$work/c.json" 2>/dev/null

  runs=$RUNS
  [ "$N" -ge 5000 ] && runs=$BIG_RUNS
  echo "== N=$N on RabbitMQ $version ($MGMT); load average $(load)"
  # 1. topo apply into an empty vhost.
  /usr/bin/time -f '%e %M' -o "$work/apply.time" "$TOPO" apply "$work/a.yaml" >/dev/null 2>"$work/apply.err" ||
    { cat "$work/apply.err" >&2; exit 1; }
  read -r apply_s apply_kb <"$work/apply.time"
  apply_load=$(load)
  # An apply that had to retry an overloaded broker says so: the figure includes the pauses.
  grep -h "(retry " "$work/apply.err" >&2 || true

  # 2. no-op plan / apply and the bare state read, on that vhost.
  hyperfine -N -w 1 -r "$runs" --export-json "$work/read.json" \
    "curl -sf -u $CRED $MGMT/api/definitions/$va -o /dev/null" >/dev/null
  hyperfine -N -w 1 -r "$runs" --export-json "$work/plan.json" "$TOPO plan $work/a.yaml" >/dev/null
  hyperfine -N -w 1 -r "$runs" --export-json "$work/cold.json" "env TOPO_NO_CACHE=1 $TOPO plan $work/a.yaml" >/dev/null
  hyperfine -N -w 1 -r "$runs" --export-json "$work/noop.json" "$TOPO apply $work/a.yaml" >/dev/null
  /usr/bin/time -f '%e %M' -o "$work/plan.time" "$TOPO" plan "$work/a.yaml" >/dev/null
  read -r _ plan_kb <"$work/plan.time"
  plan_load=$(load)
  read_s=$(median "$work/read.json"); plan_s=$(median "$work/plan.json"); noop_s=$(median "$work/noop.json")
  read_m=$(mean "$work/read.json"); plan_m=$(mean "$work/plan.json"); noop_m=$(mean "$work/noop.json")
  cold_s=$(median "$work/cold.json"); cold_m=$(mean "$work/cold.json")
  kept=$(find "$TOPO_CACHE_DIR" -name 'definitions-*' 2>/dev/null | wc -l || true)
  drop_vhost "$va"

  # 3. RabbitMQ's own import of the same entities into an empty vhost. A failed import
  # (the listener cuts a request at 60 s on some setups) is said, and its ratio left out.
  curl -sf -u "$CRED" -X PUT "$MGMT/api/vhosts/$vb" >/dev/null
  start=$(date +%s.%N)
  import_code=$(curl -s -o "$work/import.out" -w '%{http_code}' -m 3600 -u "$CRED" \
    -H 'content-type: application/json' -X POST \
    --data-binary "@$work/b.json" "$MGMT/api/definitions/$vb" || true)
  end=$(date +%s.%N)
  import_s=$(python3 -c "print($end - $start)")
  import_load=$(load)
  case $import_code in
    2??) import_ok=1 ;;
    *) import_ok=0; echo "RabbitMQ's import failed after $(secs "$import_s") s: HTTP $import_code $(head -c 300 "$work/import.out")" >&2 ;;
  esac
  drop_vhost "$vb"

  # 4. topo through the definitions import.
  via_s=
  if [ "$VIA" != 0 ]; then
    /usr/bin/time -f '%e %M' -o "$work/via.time" "$TOPO" apply --via definitions "$work/c.yaml" >/dev/null 2>"$work/via.err" ||
      { cat "$work/via.err" >&2; exit 1; }
    read -r via_s _ <"$work/via.time"
  fi
  drop_vhost "$vc"

  echo "topo apply (AMQP, empty vhost)      $(secs "$apply_s") s   max RSS $((apply_kb / 1024)) MiB   (load $apply_load)"
  [ -n "$via_s" ] && echo "topo apply --via definitions        $(secs "$via_s") s"
  echo "RabbitMQ import (POST definitions)  $(secs "$import_s") s$([ "$import_ok" = 1 ] || echo ' FAILED')   (load $import_load)"
  echo "state read (GET definitions)        $(secs "$read_s") s median (mean $(secs "$read_m"))"
  echo "topo plan, no changes               $(secs "$plan_s") s median (mean $(secs "$plan_m"))   max RSS $((plan_kb / 1024)) MiB   (load $plan_load; copies kept so far: $kept)"
  echo "  the same, TOPO_NO_CACHE=1           $(secs "$cold_s") s median (mean $(secs "$cold_m"))"
  echo "topo apply, no changes              $(secs "$noop_s") s median (mean $(secs "$noop_m"))"
  if [ "$import_ok" = 1 ]; then
    echo "ratio apply/import                  $(ratio "$apply_s" "$import_s")   (goal <= 0.8)"
    [ -n "$via_s" ] && echo "ratio via-definitions/import        $(ratio "$via_s" "$import_s")"
  fi
  bar=$(python3 -c "print(1.5 * $read_s + 0.05)")
  echo "no-op plan vs 1.5*read+50ms         $(secs "$plan_s") / $(secs "$bar") = $(ratio "$plan_s" "$bar")   (goal < 1.0)"
  echo "  the same, TOPO_NO_CACHE=1           $(secs "$cold_s") / $(secs "$bar") = $(ratio "$cold_s" "$bar")"
  echo "no-op apply vs 1.5*read+50ms        $(secs "$noop_s") / $(secs "$bar") = $(ratio "$noop_s" "$bar")   (goal < 1.0)"
done
done
