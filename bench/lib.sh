# Helpers the bench scripts share; sourced (`. "$(dirname "$0")/lib.sh"`) after they set
# TOPO, CRED and, where they talk to one broker, MGMT. Functions only: nothing runs here.
# shellcheck shell=bash

# Stop unless the release build is there.
require_topo() {
  [ -x "$TOPO" ] || { echo "build first: cargo build --release" >&2; exit 1; }
}

# Raise the machine's 3.10 broker's file-handle budget: about 1000 queues is its limit
# otherwise (4.x has no such budget).
raise_file_handles() {
  if command -v rabbitmqctl > /dev/null; then
    rabbitmqctl eval 'file_handle_cache:set_limit(100000).' > /dev/null 2>&1 ||
      echo "note: could not raise the broker's file-handle limit" >&2
  fi
}

# NAME percent-encoded for a management API path.
urlenc() { python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$1"; }

# Delete vhost NAME at $MGMT. Deleting a vhost of 10,000 queues can outlast the listener's
# 60 s: repeat until it is gone.
drop_vhost() {
  local enc code
  enc=$(urlenc "$1")
  for _ in 1 2 3 4 5 6; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 120 -u "$CRED" -X DELETE "$MGMT/api/vhosts/$enc" || true)
    [ "$code" = 404 ] && return 0
    [ "$code" = 204 ] && return 0
    sleep 2
  done
}

# Delete the users bench/gen_topology.py's workload declares, at $MGMT.
drop_bench_users() {
  local k
  for k in 0 1 2 3 4; do curl -s -o /dev/null -u "$CRED" -X DELETE "$MGMT/api/users/bench-user-$k"; done
}

# Seconds with three decimals; the ratio A/B with two.
secs() { python3 -c 'import sys; print(f"{float(sys.argv[1]):.3f}")' "$1"; }
ratio() { python3 -c 'import sys; print(f"{float(sys.argv[1])/float(sys.argv[2]):.2f}")' "$1" "$2"; }
