#!/usr/bin/env bash
# Local stack for WaveCom Notify: RabbitMQ and FerretDB (MongoDB wire protocol) on loopback.
#
#   stack.sh up     reuse AMQP_URL / MONGODB_URL when they answer, otherwise install and start
#                   what is missing; idempotent, seconds when everything is already up
#   stack.sh down   stop what this script started
#   stack.sh status say what answers
#
# State (databases, logs, pid files) lives in .state/ at the repository root (git-ignored).
# The FerretDB binary is cached outside the repository, keyed by version and patch, so a fresh
# clone on a machine that built it once does not build it again.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE="$ROOT/.state"
FERRET_VERSION=v1.24.2
FERRET_PATCH="$ROOT/services/devstack/ferretdb-$FERRET_VERSION-sqlite.patch"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wavecom-notify"
RABBIT_NODE="wavecom@localhost"
AMQP_URL_DEFAULT="amqp://guest:guest@127.0.0.1:5672/"
MONGODB_URL_DEFAULT="mongodb://127.0.0.1:27017/"

log() { printf '\033[1;34m[stack]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[stack] %s\033[0m\n' "$*" >&2; exit 1; }

# --- probes -------------------------------------------------------------------------------------

# host and port of a URL like scheme://user:pass@host:port/...
url_hostport() {
  local rest=${1#*://}
  rest=${rest#*@}
  rest=${rest%%/*}
  rest=${rest%%\?*}
  printf '%s' "$rest"
}

# true when something accepts TCP connections at host:port
tcp_open() {
  local hp=$1 host port
  host=${hp%:*}
  port=${hp##*:}
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# true when the AMQP server answers the protocol header with its own
amqp_answers() {
  local hp host port
  hp=$(url_hostport "$1")
  host=${hp%:*}
  port=${hp##*:}
  timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port && printf 'AMQP\x00\x00\x09\x01' >&3 && head -c 4 <&3" 2>/dev/null | grep -q .
}

# true when a MongoDB-wire server answers a ping
mongo_answers() {
  timeout 5 "$ROOT/.venv/bin/python" - "$1" <<'EOF' >/dev/null 2>&1
import sys
from pymongo import MongoClient
MongoClient(sys.argv[1], serverSelectionTimeoutMS=2000).admin.command("ping")
EOF
}

wait_until() { # seconds description command...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# --- RabbitMQ -----------------------------------------------------------------------------------

rabbit_env() {
  export RABBITMQ_NODENAME=$RABBIT_NODE
  export RABBITMQ_MNESIA_BASE="$STATE/rabbitmq/mnesia"
  export RABBITMQ_LOG_BASE="$STATE/rabbitmq/log"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$STATE/rabbitmq/enabled_plugins"
  export RABBITMQ_PID_FILE="$STATE/rabbitmq/rabbit.pid"
  export RABBITMQ_CONFIG_FILE="$STATE/rabbitmq/rabbitmq.conf"
}

ensure_rabbitmq_installed() {
  command -v rabbitmq-server >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "rabbitmq-server is not installed and installing it needs root (apt-get install rabbitmq-server)"
  log "installing Debian's rabbitmq-server (one time)"
  apt_get_install rabbitmq-server
  # the package may start a node of its own under a service manager; ours runs from .state
}

apt_get_install() {
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "$@" >"$STATE/apt.log" 2>&1; then
    apt-get update -qq >>"$STATE/apt.log" 2>&1 || die "apt-get update failed: see $STATE/apt.log"
    apt-get install -y -qq "$@" >>"$STATE/apt.log" 2>&1 || die "apt-get install $* failed: see $STATE/apt.log"
  fi
}

start_rabbitmq() {
  ensure_rabbitmq_installed
  rabbit_env
  mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
  printf '[rabbitmq_management,rabbitmq_prometheus].\n' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
  # loopback only; a bounded queue may reject publishes, never silently drop
  cat >"$RABBITMQ_CONFIG_FILE" <<EOF
listeners.tcp.default = 127.0.0.1:5672
management.tcp.ip = 127.0.0.1
management.tcp.port = 15672
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = 15692
loopback_users.guest = true
vm_memory_high_watermark.relative = 0.4
disk_free_limit.absolute = 200MB
EOF
  # Debian's wrappers run the node (and rabbitmqctl) as the rabbitmq user
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then
    chown -R rabbitmq:rabbitmq "$STATE/rabbitmq"
  fi
  log "starting RabbitMQ ($RABBIT_NODE, data in .state/rabbitmq)"
  rabbitmq-server -detached >"$STATE/rabbitmq/start.log" 2>&1 || die "rabbitmq-server failed to start: see $STATE/rabbitmq/start.log"
  # await_startup fails at once until the node has registered with epmd, so ask again
  wait_until 90 "RabbitMQ" rabbit_booted || die "RabbitMQ did not start within 90 s: see $RABBITMQ_LOG_BASE"
  touch "$STATE/rabbitmq/started-by-stack"
}

rabbit_booted() {
  timeout 15 rabbitmqctl -n "$RABBIT_NODE" await_startup --timeout 10 >/dev/null 2>&1
}

stop_rabbitmq() {
  rabbit_env
  if [ -f "$STATE/rabbitmq/started-by-stack" ]; then
    log "stopping RabbitMQ"
    rabbitmqctl -n "$RABBIT_NODE" stop >/dev/null 2>&1 || true
    rm -f "$STATE/rabbitmq/started-by-stack"
  fi
}

# --- FerretDB -----------------------------------------------------------------------------------

ferret_bin() {
  local sum
  sum=$(sha256sum "$FERRET_PATCH" | cut -c1-12)
  printf '%s/ferretdb-%s-%s' "$CACHE" "$FERRET_VERSION" "$sum"
}

build_ferretdb() {
  local bin=$1 src dir
  command -v go >/dev/null 2>&1 || die "Go is needed to build FerretDB $FERRET_VERSION and is not on PATH"
  log "building FerretDB $FERRET_VERSION (SQLite backend, patched: $(basename "$FERRET_PATCH"))"
  # `go install …/cmd/ferretdb@v1.24.2` is not used: the module proxy refuses the module's
  # version list (needed for go install's deprecation check), and a binary built that way
  # panics at start-up because the module zip carries no build/version/version.txt.
  src=$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRET_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || die "could not download the FerretDB $FERRET_VERSION module"
  dir=$(mktemp -d)
  cp -r "$src/." "$dir/"
  chmod -R u+w "$dir"
  printf '%s\n' "$FERRET_VERSION" >"$dir/build/version/version.txt"
  (cd "$dir" && patch -s -p1 <"$FERRET_PATCH") || die "the FerretDB patch does not apply to $FERRET_VERSION"
  mkdir -p "$CACHE"
  (cd "$dir" && GOTOOLCHAIN=local go build -trimpath -o "$bin.tmp" ./cmd/ferretdb) >"$STATE/ferretdb-build.log" 2>&1 \
    || die "building FerretDB failed: see $STATE/ferretdb-build.log"
  mv "$bin.tmp" "$bin"
  rm -rf "$dir"
}

start_ferretdb() {
  local bin
  bin=$(ferret_bin)
  [ -x "$bin" ] || build_ferretdb "$bin"
  mkdir -p "$STATE/ferretdb/data"
  log "starting FerretDB $FERRET_VERSION (SQLite in .state/ferretdb, 127.0.0.1:27017)"
  # synchronous=normal: WAL commits survive a process crash; wal_autocheckpoint: fewer,
  # larger checkpoints (they dominated the cost of small updates)
  nohup "$bin" \
    --handler=sqlite \
    --sqlite-url="file:$STATE/ferretdb/data/?_pragma=synchronous(normal)&_pragma=wal_autocheckpoint(16384)&_pragma=cache_size(-65536)" \
    --state-dir="$STATE/ferretdb" \
    --listen-addr=127.0.0.1:27017 \
    --debug-addr=127.0.0.1:8088 \
    --telemetry=disable \
    --log-level=warn \
    >>"$STATE/ferretdb/ferretdb.log" 2>&1 &
  echo $! >"$STATE/ferretdb/ferretdb.pid"
  wait_until 30 "FerretDB" mongo_answers "$MONGODB_URL_DEFAULT" \
    || die "FerretDB did not answer within 30 s: see $STATE/ferretdb/ferretdb.log"
}

stop_ferretdb() {
  local pidfile="$STATE/ferretdb/ferretdb.pid"
  if [ -f "$pidfile" ]; then
    log "stopping FerretDB"
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

# --- commands -----------------------------------------------------------------------------------

cmd_up() {
  mkdir -p "$STATE/rabbitmq" "$STATE/ferretdb"
  local amqp=${AMQP_URL:-$AMQP_URL_DEFAULT} mongo=${MONGODB_URL:-$MONGODB_URL_DEFAULT}
  if amqp_answers "$amqp"; then
    log "RabbitMQ answers at $(url_hostport "$amqp")"
  elif [ -n "${AMQP_URL:-}" ] && [ "$AMQP_URL" != "$AMQP_URL_DEFAULT" ]; then
    die "AMQP_URL=$AMQP_URL does not answer; unset it to start a local RabbitMQ"
  else
    tcp_open 127.0.0.1:5672 && die "something on 127.0.0.1:5672 does not speak AMQP"
    start_rabbitmq
  fi
  if mongo_answers "$mongo"; then
    log "MongoDB-wire database answers at $(url_hostport "$mongo")"
  elif [ -n "${MONGODB_URL:-}" ] && [ "$MONGODB_URL" != "$MONGODB_URL_DEFAULT" ]; then
    die "MONGODB_URL=$MONGODB_URL does not answer; unset it to start a local FerretDB"
  else
    tcp_open 127.0.0.1:27017 && die "something on 127.0.0.1:27017 does not answer MongoDB pings"
    start_ferretdb
  fi
}

cmd_down() {
  stop_ferretdb
  stop_rabbitmq
}

cmd_status() {
  amqp_answers "${AMQP_URL:-$AMQP_URL_DEFAULT}" && echo "rabbitmq: up" || echo "rabbitmq: down"
  mongo_answers "${MONGODB_URL:-$MONGODB_URL_DEFAULT}" && echo "database: up" || echo "database: down"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) die "usage: stack.sh up|down|status" ;;
esac
