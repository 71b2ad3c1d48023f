#!/usr/bin/env bash
# A RabbitMQ 4.x node on this machine, beside the machine's own 3.10 broker and untouched by it.
#
# Debian bookworm ships only RabbitMQ 3.10, so the node runs inside a Debian forky chroot
# (forky packages rabbitmq-server 4.3.x). The chroot is built once and reused; every node keeps
# its configuration, data and logs in a directory of its own named after the node, so a cluster
# script can start more nodes from the same chroot with other names and ports.
#
#   scripts/rabbitmq4.sh [start]   build what is missing, start the node if down, wait for it
#   scripts/rabbitmq4.sh env       print the TOPO_TEST_* variables that point tests at it
#   scripts/rabbitmq4.sh stop      stop the node (only this node, by its name)
#
# Needs root (debootstrap, chroot, mounts). Idempotent: a second run only checks.
set -euo pipefail

ROOT=${TOPO_FORKY_ROOT:-/var/lib/topo-ci/forky}
TLS_DIR=${TOPO_TLS_DIR:-/var/lib/topo-ci/tls}
NODE=${TOPO_RABBIT4_NODE:-rabbit4}
AMQP_PORT=${TOPO_RABBIT4_AMQP_PORT:-5682}
MGMT_PORT=${TOPO_RABBIT4_MGMT_PORT:-15682}
AMQPS_PORT=${TOPO_RABBIT4_AMQPS_PORT:-5681}
MGMTS_PORT=${TOPO_RABBIT4_MGMTS_PORT:-15681}
DIST_PORT=${TOPO_RABBIT4_DIST_PORT:-25682}
WAIT_SECONDS=${TOPO_RABBIT4_WAIT:-240}

say() { printf 'rabbitmq4: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# The Debian mirror this machine's own apt uses, so the chroot comes from the same place.
debian_mirror() {
  if [ -n "${TOPO_DEBIAN_MIRROR:-}" ]; then echo "$TOPO_DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(grep -hoE '^(URIs:|deb) +[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list 2> /dev/null | awk '{print $2}' | head -n1 || true)
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt; set TOPO_DEBIAN_MIRROR"
  echo "${uri%/}"
}

mount_chroot() {
  mkdir -p "$ROOT/proc" "$ROOT/dev"
  mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
  mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
  # Without the machine's hosts file epmd cannot resolve localhost ({epmd_error, nxdomain}).
  cp /etc/hosts "$ROOT/etc/hosts"
}

ensure_chroot() {
  if [ -e "$ROOT/.topo-ready" ]; then mount_chroot; return; fi
  command -v debootstrap > /dev/null || {
    say "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
  }
  if [ -d "$ROOT" ]; then
    say "removing the unfinished chroot at $ROOT"
    for m in dev proc; do mountpoint -q "$ROOT/$m" && umount "$ROOT/$m"; done
    rm -rf --one-file-system "$ROOT"
  fi
  local mirror
  mirror=$(debian_mirror)
  say "building a Debian forky chroot at $ROOT (a few minutes, once)"
  mkdir -p "$(dirname "$ROOT")"
  # Bookworm's debootstrap has no forky script; the sid one builds testing the same way.
  debootstrap --variant=minbase forky "$ROOT" "$mirror" /usr/share/debootstrap/scripts/sid > /dev/null
  mount_chroot
  say "installing rabbitmq-server inside the chroot"
  # Forky's Release file can be past its Valid-Until in the mirror.
  chroot "$ROOT" apt-get -qq -o Acquire::Check-Valid-Until=false update
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    rabbitmq-server > /dev/null
  touch "$ROOT/.topo-ready"
}

# A CA, a server certificate for localhost and a client certificate (common name guest, for the
# EXTERNAL mechanism), made with openssl because the broker must have them when it boots, before
# any test runs. Tests make their own foreign CA and expired certificates on top of this CA.
ensure_tls() {
  mkdir -p "$TLS_DIR"
  if [ -s "$TLS_DIR/server.pem" ] && openssl x509 -checkend 86400 -noout -in "$TLS_DIR/server.pem" > /dev/null &&
     [ -s "$TLS_DIR/client.pem" ] && openssl x509 -checkend 86400 -noout -in "$TLS_DIR/client.pem" > /dev/null; then
    return 1
  fi
  say "generating a CA and certificates in $TLS_DIR"
  local d=$TLS_DIR
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=topo test CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2> /dev/null
  # Only the DNS name: connecting by 127.0.0.1 must name the server to verify (a test checks it).
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$d/server.key" \
    -out "$d/server.csr" 2> /dev/null
  printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 365 -extfile "$d/server.ext" -out "$d/server.pem" 2> /dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=guest" -keyout "$d/client.key" \
    -out "$d/client.csr" 2> /dev/null
  printf 'extendedKeyUsage=clientAuth\n' > "$d/client.ext"
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 365 -extfile "$d/client.ext" -out "$d/client.pem" 2> /dev/null
  rm -f "$d"/*.csr "$d"/*.ext
  chmod 600 "$d"/*.key
  return 0
}

# Runs a command inside the chroot as its rabbitmq user, with the node's own environment.
# Usage: in_node NAME DIST_PORT CMD...
in_node() {
  local name=$1 dist=$2; shift 2
  local dir=/srv/topo/nodes/$name
  chroot --userspec=rabbitmq:rabbitmq "$ROOT" /usr/bin/env -i HOME=/var/lib/rabbitmq \
    PATH=/usr/lib/rabbitmq/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    RABBITMQ_NODENAME="$name@localhost" RABBITMQ_DIST_PORT="$dist" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_MNESIA_BASE="$dir/data" \
    RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/$name.pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" "$@"
}

# The plugins the test node runs beside management: shovels and federation, whose topology
# kinds (`shovels`, `federation_upstreams`) the broker tests apply and move messages through.
# Cluster nodes (scripts/rabbitmq-cluster.sh) do not get them.
EXTRA_PLUGINS=(rabbitmq_shovel rabbitmq_shovel_management rabbitmq_federation rabbitmq_federation_management)

# Writes a node's configuration. Usage: node_config NAME AMQP MGMT [AMQPS MGMTS [PLUGIN...]]
node_config() {
  local name=$1 amqp=$2 mgmt=$3 amqps=${4:-} mgmts=${5:-}
  shift $(($# < 5 ? $# : 5))
  local extra=""
  for p in "$@"; do extra+=",$p"; done
  local dir=$ROOT/srv/topo/nodes/$name tls=/srv/topo/tls
  mkdir -p "$dir/data" "$dir/log"
  {
    echo "listeners.tcp.1 = 127.0.0.1:$amqp"
    echo "management.tcp.ip = 127.0.0.1"
    echo "management.tcp.port = $mgmt"
    echo "auth_mechanisms.1 = PLAIN"
    echo "auth_mechanisms.2 = AMQPLAIN"
    if [ -n "$amqps" ]; then
      echo "auth_mechanisms.3 = EXTERNAL"
      echo "ssl_cert_login_from = common_name"
      echo "listeners.ssl.1 = 127.0.0.1:$amqps"
      echo "ssl_options.cacertfile = $tls/ca.pem"
      echo "ssl_options.certfile = $tls/server.pem"
      echo "ssl_options.keyfile = $tls/server.key"
      # Mutual TLS on AMQPS: a client without a certificate of this CA is refused.
      echo "ssl_options.verify = verify_peer"
      echo "ssl_options.fail_if_no_peer_cert = true"
      echo "management.ssl.ip = 127.0.0.1"
      echo "management.ssl.port = $mgmts"
      echo "management.ssl.cacertfile = $tls/ca.pem"
      echo "management.ssl.certfile = $tls/server.pem"
      echo "management.ssl.keyfile = $tls/server.key"
    fi
  } > "$dir/rabbitmq.conf"
  if [ -n "$amqps" ]; then
    echo "[rabbitmq_management,rabbitmq_auth_mechanism_ssl$extra]." > "$dir/enabled_plugins"
  else
    echo "[rabbitmq_management$extra]." > "$dir/enabled_plugins"
  fi
  chroot "$ROOT" chown -R rabbitmq:rabbitmq "/srv/topo/nodes/$name"
}

copy_tls_into_chroot() {
  mkdir -p "$ROOT/srv/topo/tls"
  cp "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" "$TLS_DIR/server.key" "$ROOT/srv/topo/tls/"
  chroot "$ROOT" chown -R rabbitmq:rabbitmq /srv/topo/tls
  chmod 600 "$ROOT/srv/topo/tls/server.key"
}

node_running() { # NAME DIST
  in_node "$1" "$2" rabbitmqctl -q -n "$1@localhost" status --formatter json > /dev/null 2>&1
}

# Whether the node's Erlang VM answers, whether or not the rabbit app runs in it (4.x's
# `status` needs the app).
node_vm_up() { # NAME DIST
  in_node "$1" "$2" rabbitmqctl -q -n "$1@localhost" ping > /dev/null 2>&1
}

# Starts a node in the background if it is not running. A VM left with its app stopped (a
# test's stop_app, or a join that failed while its peer was down) gets its app started:
# starting a second VM would only fail on the node's distribution port. Usage: node_start NAME DIST
node_start() {
  local name=$1 dist=$2
  if node_running "$name" "$dist"; then return; fi
  if node_vm_up "$name" "$dist"; then
    say "starting the app of $name@localhost (its VM is up, the app was stopped)"
    in_node "$name" "$dist" rabbitmqctl -q -n "$name@localhost" start_app > /dev/null 2>&1 \
      || say "start_app of $name@localhost failed; see its log under /srv/topo/nodes/$name/log"
    return
  fi
  say "starting $name@localhost"
  # 20000 is the hard limit on these machines; 4.x has no file-handle budget to raise.
  (ulimit -n 20000 2> /dev/null || ulimit -n "$(ulimit -Hn)"
   in_node "$name" "$dist" setsid rabbitmq-server \
     > "$ROOT/srv/topo/nodes/$name/log/console.log" 2>&1 < /dev/null &)
}

# Stops one node by its name (never by user or process name: see the research notes).
node_stop() { # NAME DIST
  if node_running "$1" "$2"; then
    say "stopping $1@localhost"
    in_node "$1" "$2" rabbitmqctl -q -n "$1@localhost" stop > /dev/null
  fi
}

# A node that was already running when its enabled_plugins file gained EXTRA_PLUGINS does not
# run them yet: enable them online. The management API answers their endpoints once they run,
# so a node that has them costs two requests, not a CLI run. Usage: ensure_plugins NAME DIST MGMT
ensure_plugins() {
  local name=$1 dist=$2 mgmt=$3
  if curl -fsS -m 5 -u guest:guest -o /dev/null "http://127.0.0.1:$mgmt/api/shovels" 2> /dev/null &&
     curl -fsS -m 5 -u guest:guest -o /dev/null "http://127.0.0.1:$mgmt/api/federation-links" 2> /dev/null; then
    return
  fi
  say "enabling ${EXTRA_PLUGINS[*]} on $name@localhost"
  in_node "$name" "$dist" rabbitmq-plugins -q -n "$name@localhost" enable "${EXTRA_PLUGINS[@]}" > /dev/null
}

wait_http() { # MGMT_PORT
  local deadline=$((SECONDS + WAIT_SECONDS))
  until curl -fsS -m 5 -u guest:guest -o /dev/null "http://127.0.0.1:$1/api/overview" 2> /dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}

print_env() {
  cat << ENV
export TOPO_TEST_RABBIT4_AMQP_URL=amqp://127.0.0.1:$AMQP_PORT
export TOPO_TEST_RABBIT4_MANAGEMENT_URL=http://127.0.0.1:$MGMT_PORT
export TOPO_TEST_TLS_AMQPS_URL=amqps://localhost:$AMQPS_PORT
export TOPO_TEST_TLS_MANAGEMENT_URL=https://localhost:$MGMTS_PORT
export TOPO_TEST_TLS_DIR=$TLS_DIR
ENV
}

start() {
  [ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
  for p in "$AMQP_PORT" "$MGMT_PORT"; do
    if port_open "$p" && ! { [ -e "$ROOT/.topo-ready" ] && mount_chroot && node_running "$NODE" "$DIST_PORT"; }; then
      die "port $p is taken by something other than $NODE@localhost"
    fi
  done
  ensure_chroot
  local fresh_tls=0
  if ensure_tls; then fresh_tls=1; fi
  copy_tls_into_chroot
  node_config "$NODE" "$AMQP_PORT" "$MGMT_PORT" "$AMQPS_PORT" "$MGMTS_PORT" "${EXTRA_PLUGINS[@]}"
  # New certificates only take effect at boot.
  if [ "$fresh_tls" = 1 ]; then node_stop "$NODE" "$DIST_PORT"; fi
  node_start "$NODE" "$DIST_PORT"
  say "waiting (at most ${WAIT_SECONDS}s) for the management API on $MGMT_PORT"
  wait_http "$MGMT_PORT" || {
    tail -n 30 "$ROOT/srv/topo/nodes/$NODE/log/console.log" >&2 || true
    die "$NODE@localhost did not answer on $MGMT_PORT within ${WAIT_SECONDS}s; log: $ROOT/srv/topo/nodes/$NODE/log"
  }
  ensure_plugins "$NODE" "$DIST_PORT" "$MGMT_PORT"
  local deadline=$((SECONDS + 60))
  until port_open "$AMQP_PORT" && port_open "$AMQPS_PORT" && port_open "$MGMTS_PORT"; do
    [ "$SECONDS" -lt "$deadline" ] || die "$NODE@localhost: AMQP $AMQP_PORT, AMQPS $AMQPS_PORT or HTTPS $MGMTS_PORT did not open"
    sleep 1
  done
  say "$NODE@localhost is up: $(curl -fsS -m 5 -u guest:guest "http://127.0.0.1:$MGMT_PORT/api/overview" |
    grep -oE '"rabbitmq_version":"[^"]+"')"
}

# Sourced (by a cluster script), only the functions are wanted.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi

case "${1:-start}" in
  start) start ;;
  env) print_env ;;
  stop) [ -e "$ROOT/.topo-ready" ] && mount_chroot && node_stop "$NODE" "$DIST_PORT" ;;
  *) die "usage: $0 [start|env|stop]" ;;
esac
