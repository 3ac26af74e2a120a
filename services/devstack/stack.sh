#!/usr/bin/env bash
# Local stack for WaveCom Notify, on loopback: RabbitMQ, and FerretDB v2 (MongoDB wire protocol)
# storing its documents in PostgreSQL 15 through the DocumentDB extension.
#
#   stack.sh up     reuse AMQP_URL / MONGODB_URL when they answer, otherwise install, build and
#                   start what is missing; idempotent, seconds when everything is already up
#   stack.sh down   stop what this script started (FerretDB, then PostgreSQL, then RabbitMQ)
#   stack.sh status say what answers
#
#   RabbitMQ    127.0.0.1:5672 (management 15672)
#   FerretDB    127.0.0.1:27017 (debug/metrics 127.0.0.1:8088), no auth: dev/test only
#   PostgreSQL  127.0.0.1:54329, trust auth, user postgres, database postgres
#
# State (databases, logs, pid files) lives in .state/ at the repository root (git-ignored); the
# PostgreSQL cluster in .state/postgres survives `down` and `up`. Debian packages come from apt
# (root). pg_cron, pgvector, libbson and DocumentDB are built from the checksummed sources in
# $WAVECOM_VENDOR_DIR (default ../shared/vendor beside the repository), FerretDB from the Go
# module proxy; every build is cached outside the repository in
# ${XDG_CACHE_HOME:-~/.cache}/wavecom-notify, keyed by versions and checksums, so a machine that
# built them once does not build them again. Build logs: .state/build-*.log.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE="$ROOT/.state"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wavecom-notify"
VENDOR="${WAVECOM_VENDOR_DIR:-$ROOT/../shared/vendor}"
JOBS=$(nproc 2>/dev/null || echo 2)
DB_RECIPE=1 # bump when a build step below changes, so cached builds are made again
FERRET_VERSION=v2.5.0
DOCUMENTDB_VERSION=v0.106.0-ferretdb-2.5.0 # FerretDB's fork, the tag FerretDB v2.5.0 pins
PG_CRON_VERSION=v1.6.3
PGVECTOR_VERSION=v0.8.0
LIBBSON_VERSION=1.28.0
PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=$PG_BIN/pg_config
PG_PORT=54329
PG_DATA="$STATE/postgres"
PG_LOG="$STATE/postgres.log"
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
DB_APT_PACKAGES=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-postgis-3
  postgresql-$PG_MAJOR-rum libintelrdfpmath-dev libpcre2-dev libicu-dev pkg-config build-essential
  cmake libkrb5-dev libpq-dev)
# FerretDB v2.5.0 defines setGOMAXPROCS only for Go < 1.25; this is the other half
FERRET_SHIM='//go:build go1.25

package main

import "log/slog"

// setGOMAXPROCS does nothing: GOMAXPROCS stays the runtime default (the CPUs this process may use).
func setGOMAXPROCS(*slog.Logger) {}'
RABBIT_NODE="wavecom@localhost"
AMQP_URL_DEFAULT="amqp://guest:guest@127.0.0.1:5672/"
MONGODB_URL_DEFAULT="mongodb://127.0.0.1:27017/"

log() { printf '\033[1;34m[stack]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[stack] %s\033[0m\n' "$*" >&2; exit 1; }

SCRATCH=() # build scratch directories, removed on exit
trap 'rm -rf ${SCRATCH[@]+"${SCRATCH[@]}"}' EXIT

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
  local hp
  hp=$(url_hostport "$1")
  # nothing listening: say so now rather than after pymongo's 2 s server selection
  if [[ $1 == mongodb://* && $hp =~ ^[^],[]+:[0-9]+$ ]] && ! tcp_open "$hp"; then
    return 1
  fi
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
  # Erlang's schedulers spin (busy-wait) before they sleep: on a shared host that is CPU taken
  # from every other process for no work. With `none` they sleep at once; at a trickle of
  # traffic the node idles instead of keeping a core busy (docs/ and the README's RabbitMQ
  # settings for production say the same)
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"
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

# --- database: FerretDB v2 on PostgreSQL 15 + DocumentDB ----------------------------------------
#
# Debian 12 provides PostgreSQL 15, PostGIS, RUM and the build tools; pg_cron 1.6.3 (Debian's
# 1.4.2 is too old for DocumentDB), pgvector, libbson 1.28.0 and DocumentDB itself are built from
# the checksummed sources in $VENDOR, FerretDB from the Go module proxy. Every build lands in
# $CACHE under a name that carries its versions, the sources' checksums and DB_RECIPE, so a
# warm machine builds nothing; the extensions are then copied into PostgreSQL's directories.

# key of a build: the versions, checksums and recipe it is made from, shortened
cache_key() { printf '%s\n' "$DB_RECIPE" "PG$PG_MAJOR" "$@" | sha256sum | cut -c1-12; }

# a source tarball's checksum as SHA256SUMS records it
vendor_sum() {
  [ -f "$VENDOR/SHA256SUMS" ] || die "no $VENDOR/SHA256SUMS: set WAVECOM_VENDOR_DIR to the directory holding the database sources"
  local sum
  sum=$(awk -v f="$1" '$2 == f || $2 == "*" f { print $1 }' "$VENDOR/SHA256SUMS")
  [ -n "$sum" ] || die "$VENDOR/SHA256SUMS has no line for $1"
  printf '%s' "$sum"
}

# check tarballs against SHA256SUMS before anything unpacks them
verify_vendor() {
  local f
  for f in "$@"; do
    [ -f "$VENDOR/$f" ] || die "missing $VENDOR/$f (set WAVECOM_VENDOR_DIR to the directory holding the database sources)"
    vendor_sum "$f" >/dev/null
  done
  (cd "$VENDOR" && printf '%s\n' "$@" | awk 'NR == FNR { want[$0]; next } ($2 in want) || (substr($2, 2) in want)' - SHA256SUMS \
    | sha256sum -c --strict --quiet) >"$STATE/build-checksums.log" 2>&1 \
    || die "checksum mismatch in $VENDOR ($(sed -n 's/: FAILED.*//p' "$STATE/build-checksums.log" | paste -sd' ')): see $STATE/build-checksums.log"
}

# run a build step (a function) in a subshell with errexit, its output in .state/build-NAME.log
run_logged() { # name function args...
  local name=$1 logf="$STATE/build-$1.log" start=$SECONDS rc
  shift
  log "building $name (log: .state/build-$name.log)"
  set +e
  (set -euo pipefail; "$@") >"$logf" 2>&1 </dev/null 9>&-
  rc=$?
  set -e
  ((rc == 0)) || die "building $name failed (exit $rc): see $logf"
  log "built $name in $((SECONDS - start)) s"
}

# a fresh scratch directory in the cache, in $SCRATCH_DIR: on the same file system, so a finished
# build is one rename, and removed when the script exits (an interrupted build leaves no result)
new_scratch() {
  SCRATCH_DIR=$(mktemp -d "$CACHE/.build-db-$1.XXXXXX")
  SCRATCH+=("$SCRATCH_DIR")
}

# where each build lives in the cache; the names carry the keys
db_paths() {
  local bson_sum cron_sum vector_sum docdb_sum
  [ -f "$VENDOR/SHA256SUMS" ] \
    || die "no $VENDOR/SHA256SUMS: set WAVECOM_VENDOR_DIR to the directory holding the database sources"
  LIBBSON_TAR=libbson-$LIBBSON_VERSION.tar.xz
  PG_CRON_TAR=pg_cron-$PG_CRON_VERSION.tar.xz
  PGVECTOR_TAR=pgvector-$PGVECTOR_VERSION.tar.xz
  DOCUMENTDB_TAR=documentdb-$DOCUMENTDB_VERSION.tar.xz
  bson_sum=$(vendor_sum "$LIBBSON_TAR")
  cron_sum=$(vendor_sum "$PG_CRON_TAR")
  vector_sum=$(vendor_sum "$PGVECTOR_TAR")
  docdb_sum=$(vendor_sum "$DOCUMENTDB_TAR")
  LIBBSON_PREFIX="$CACHE/libbson-$LIBBSON_VERSION-$(cache_key libbson "$LIBBSON_VERSION" "$bson_sum")"
  PG_CRON_STAGE="$CACHE/pg_cron-$PG_CRON_VERSION-pg$PG_MAJOR-$(cache_key pg_cron "$PG_CRON_VERSION" "$cron_sum")"
  PGVECTOR_STAGE="$CACHE/pgvector-$PGVECTOR_VERSION-pg$PG_MAJOR-$(cache_key pgvector "$PGVECTOR_VERSION" "$vector_sum")"
  DOCUMENTDB_STAGE="$CACHE/documentdb-$DOCUMENTDB_VERSION-pg$PG_MAJOR-$(cache_key documentdb "$DOCUMENTDB_VERSION" "$docdb_sum" "$LIBBSON_PREFIX")"
  FERRET_BIN="$CACHE/ferretdb-$FERRET_VERSION-$(cache_key ferretdb "$FERRET_VERSION" "$FERRET_SHIM")"
}

ensure_db_packages() {
  local missing=() p start=$SECONDS
  while read -r p; do
    [ -n "$p" ] && missing+=("$p")
  done < <(for p in "${DB_APT_PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || echo "$p"
  done)
  if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] || die "the database needs Debian packages (${missing[*]}) and installing them needs root"
    if [ "$(dpkg-query -W -f='${db:Status-Status}' postgresql-common 2>/dev/null)" != installed ]; then
      # postgresql-15 would create and start a cluster of its own on 5432 otherwise
      mkdir -p /etc/postgresql-common
      printf 'create_main_cluster = false\n' >/etc/postgresql-common/createcluster.conf
    fi
    log "installing Debian packages for the database: ${missing[*]} (one time)"
    # keep that createcluster.conf when the package brings its own
    export UCF_FORCE_CONFFOLD=1
    apt_get_install -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
    log "installed them in $((SECONDS - start)) s"
  fi
  # Debian's pg_cron 1.4.2 cannot schedule what DocumentDB asks for ("invalid schedule: 2 seconds")
  if [ "$(dpkg-query -W -f='${db:Status-Status}' postgresql-$PG_MAJOR-cron 2>/dev/null)" = installed ]; then
    [ "$(id -u)" = 0 ] || die "Debian's postgresql-$PG_MAJOR-cron must be removed (pg_cron $PG_CRON_VERSION is built instead), which needs root"
    log "removing Debian's postgresql-$PG_MAJOR-cron (too old for DocumentDB)"
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "postgresql-$PG_MAJOR-cron" >"$STATE/apt.log" 2>&1 \
      || die "apt-get remove postgresql-$PG_MAJOR-cron failed: see $STATE/apt.log"
  fi
}

# libbson static with -fPIC in a private prefix, with intelmathlib.pc beside its own .pc files
build_libbson() { # prefix scratch
  local prefix=$1 tmp=$2 bid_h bid_a
  mkdir "$tmp/src"
  tar -xJf "$VENDOR/$LIBBSON_TAR" -C "$tmp/src"
  cmake -S "$tmp/src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_VERSION="$LIBBSON_VERSION" \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
    -DENABLE_MONGOC=OFF -DENABLE_STATIC=ON -DENABLE_SHARED=OFF -DENABLE_PIC=ON -DCMAKE_C_FLAGS=-fPIC \
    -DENABLE_TESTS=OFF -DENABLE_EXAMPLES=OFF -DENABLE_UNINSTALL=OFF -DENABLE_MAN_PAGES=OFF -DENABLE_HTML_DOCS=OFF
  cmake --build "$tmp/build" --parallel "$JOBS"
  DESTDIR="$tmp/stage" cmake --install "$tmp/build"
  # Debian's libintelrdfpmath-dev ships libbidgcc000.a (the flavour DocumentDB needs) but no .pc
  bid_h=$(dpkg -L libintelrdfpmath-dev | grep '/bid_conf\.h$' | head -n1)
  bid_a=$(dpkg -L libintelrdfpmath-dev | grep '/libbidgcc000\.a$' | head -n1)
  [ -n "$bid_h" ]
  [ -n "$bid_a" ]
  cat >"$tmp/stage$prefix/lib/pkgconfig/intelmathlib.pc" <<EOF
includedir=$(dirname "$bid_h")
libdir=$(dirname "$bid_a")

Name: intelmathlib
Description: Intel Decimal Floating-Point Math Library (Debian's libintelrdfpmath-dev)
Version: $(dpkg-query -W -f='${Version}' libintelrdfpmath-dev)
Cflags: -I\${includedir}
Libs: -L\${libdir} -lbidgcc000
EOF
  [ -f "$tmp/stage$prefix/lib/pkgconfig/libbson-static-1.0.pc" ]
  mv "$tmp/stage$prefix" "$prefix"
}

# an extension built with PGXS and staged with DESTDIR; with_llvm=no skips the JIT bitcode
build_pgxs() { # stage scratch tarball make-args...
  local stage=$1 tmp=$2 tarball=$3
  shift 3
  mkdir "$tmp/src"
  tar -xJf "$VENDOR/$tarball" -C "$tmp/src"
  make -C "$tmp/src" -j"$JOBS" PG_CONFIG="$PG_CONFIG" with_llvm=no "$@"
  make -C "$tmp/src" PG_CONFIG="$PG_CONFIG" with_llvm=no "$@" DESTDIR="$tmp/stage" install
  chmod -R u+rwX,go+rX,go-w "$tmp/stage"
  mv "$tmp/stage" "$stage"
}

# DocumentDB: only pg_documentdb_core and pg_documentdb, as the fork's Debian packaging does
build_documentdb() { # stage scratch
  local stage=$1 tmp=$2 part
  export PKG_CONFIG_PATH="$LIBBSON_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  pkg-config --exists libbson-static-1.0 intelmathlib libpcre2-8
  mkdir "$tmp/src"
  tar -xJf "$VENDOR/$DOCUMENTDB_TAR" -C "$tmp/src"
  for part in pg_documentdb_core pg_documentdb; do
    make -C "$tmp/src/$part" -j"$JOBS" PG_CONFIG="$PG_CONFIG" with_llvm=no
  done
  for part in pg_documentdb_core pg_documentdb; do
    make -C "$tmp/src/$part" PG_CONFIG="$PG_CONFIG" with_llvm=no DESTDIR="$tmp/stage" install
  done
  chmod -R u+rwX,go+rX,go-w "$tmp/stage"
  mv "$tmp/stage" "$stage"
}

# FerretDB from the Go module proxy. `go install …@v2.5.0` fails with Go >= 1.25 (setGOMAXPROCS
# is only defined behind //go:build !go1.25), so the module is copied and given the missing half.
build_ferretdb() { # bin scratch
  local bin=$1 tmp=$2 src
  src=$(cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB/v2@$FERRET_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ]
  mkdir "$tmp/src"
  cp -r "$src/." "$tmp/src/"
  chmod -R u+w "$tmp/src"
  printf '%s\n' "$FERRET_SHIM" >"$tmp/src/cmd/ferretdb/gomaxprocs_go125.go"
  printf '%s\n' "$FERRET_VERSION" >"$tmp/src/build/version/version.txt"
  (cd "$tmp/src" && GOTOOLCHAIN=local go build -trimpath -o "$tmp/ferretdb" ./cmd/ferretdb)
  "$tmp/ferretdb" --version
  mv "$tmp/ferretdb" "$bin"
}

# copy a staged tree into PostgreSQL's directories when a file there is missing or differs
install_staged() { # stage
  local stage=$1 f
  while IFS= read -r -d '' f; do
    if ! cmp -s "$stage/$f" "/$f"; then
      [ "$(id -u)" = 0 ] || die "$(basename "$stage") must be installed into PostgreSQL's directories, which needs root"
      log "installing $(basename "$stage") into /usr (PostgreSQL $PG_MAJOR)"
      # as cp -a of the staged /usr tree onto /, but leaving the modes of existing directories alone
      tar -C "$stage" -cf - . | tar -C / -xf - --no-overwrite-dir --no-same-owner \
        || die "copying $stage onto / failed"
      return 0
    fi
  done < <(cd "$stage" && find . -type f -print0)
}

# everything the database needs, built (once) and installed
ensure_database() {
  local start=$SECONDS built=0
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.build.lock"
  flock 9 # another checkout may be building the same thing
  # scratch of a database build that was killed (under this lock, so none is running); not
  # .build-kube-*: kube.sh builds under its own lock and may be running right now
  rm -rf "$CACHE"/.build-db-*
  db_paths
  ensure_db_packages
  local need=()
  [ -d "$LIBBSON_PREFIX" ] || need+=("$LIBBSON_TAR")
  [ -d "$PG_CRON_STAGE" ] || need+=("$PG_CRON_TAR")
  [ -d "$PGVECTOR_STAGE" ] || need+=("$PGVECTOR_TAR")
  [ -d "$DOCUMENTDB_STAGE" ] || need+=("$DOCUMENTDB_TAR")
  ((${#need[@]} == 0)) || verify_vendor "${need[@]}"
  if [ ! -x "$FERRET_BIN" ]; then
    command -v go >/dev/null 2>&1 || die "Go is needed to build FerretDB $FERRET_VERSION and is not on PATH"
  fi
  if [ ! -d "$LIBBSON_PREFIX" ]; then
    new_scratch libbson
    run_logged libbson build_libbson "$LIBBSON_PREFIX" "$SCRATCH_DIR"
    built=1
  fi
  if [ ! -d "$PG_CRON_STAGE" ]; then
    new_scratch pg_cron
    run_logged pg_cron build_pgxs "$PG_CRON_STAGE" "$SCRATCH_DIR" "$PG_CRON_TAR"
    built=1
  fi
  if [ ! -d "$PGVECTOR_STAGE" ]; then
    new_scratch pgvector
    # OPTFLAGS="": no -march=native, the cache may be restored on another CPU
    run_logged pgvector build_pgxs "$PGVECTOR_STAGE" "$SCRATCH_DIR" "$PGVECTOR_TAR" OPTFLAGS=
    built=1
  fi
  if [ ! -d "$DOCUMENTDB_STAGE" ]; then
    new_scratch documentdb
    run_logged documentdb build_documentdb "$DOCUMENTDB_STAGE" "$SCRATCH_DIR"
    built=1
  fi
  if [ ! -x "$FERRET_BIN" ]; then
    new_scratch ferretdb
    run_logged ferretdb build_ferretdb "$FERRET_BIN" "$SCRATCH_DIR"
    built=1
  fi
  install_staged "$PG_CRON_STAGE"
  install_staged "$PGVECTOR_STAGE"
  install_staged "$DOCUMENTDB_STAGE"
  exec 9>&-
  ((built == 0)) || log "database built in $((SECONDS - start)) s (cached in $CACHE)"
}

pg_as_postgres() { (cd / && runuser -u postgres -- "$@"); }

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -t 2; }

# PID of a postmaster running on our data directory (not merely named in a stale postmaster.pid)
pg_postmaster_pid() {
  local pid
  [ -f "$PG_DATA/postmaster.pid" ] || return 1
  pid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null)
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink -f "/proc/$pid/cwd" 2>/dev/null)" = "$(readlink -f "$PG_DATA")" ] || return 1
  printf '%s' "$pid"
}

pg_ready_or_gone() { pg_ready || ! pg_postmaster_pid >/dev/null; }

# the unix socket lives beside the data unless that path is too long for a socket address
pg_socket_dir() {
  if ((${#PG_DATA} < 80)); then printf '%s' "$PG_DATA"; else printf '/tmp'; fi
}

pg_init() {
  local tmp="$STATE/postgres.initdb"
  log "creating a PostgreSQL $PG_MAJOR cluster in .state/postgres"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  chown postgres:postgres "$tmp"
  pg_as_postgres "$PG_BIN/initdb" -D "$tmp" --username=postgres --auth=trust --encoding=UTF8 --no-locale \
    >"$STATE/postgres-initdb.log" 2>&1 || die "initdb failed: see $STATE/postgres-initdb.log"
  # trust, and only from this machine: the server listens on 127.0.0.1 alone
  cat >"$tmp/pg_hba.conf" <<EOF
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF
  chown postgres:postgres "$tmp/pg_hba.conf"
  rmdir "$PG_DATA" 2>/dev/null || true
  mv "$tmp" "$PG_DATA"
}

pg_write_conf() {
  grep -qx "include 'postgresql.wavecom.conf'" "$PG_DATA/postgresql.conf" \
    || printf "\ninclude 'postgresql.wavecom.conf'\n" >>"$PG_DATA/postgresql.conf"
  cat >"$PG_DATA/postgresql.wavecom.conf" <<EOF
# written by services/devstack/stack.sh at every start; edit the script, not this file
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$(pg_socket_dir)'
max_connections = 300           # many test processes, each with its own pool
# the benchmarks' 1,000,000 notifications are ~2 GB of table and indexes: with 256 MB each
# insert evicted dirty pages, and the seed slowed from 1,600/s to 300/s as the table grew
shared_buffers = 1GB
# bulk inserts write much WAL: the seed above reached max_wal_size (default 1 GB) every 2-3
# minutes, and after each checkpoint every page dirtied again is a full-page write; by time
# instead, every 15 minutes (the cost: a crash replays more WAL at start)
max_wal_size = 8GB
checkpoint_timeout = 15min
# DocumentDB never makes a HOT update (every index is on the document column an update
# rewrites), so each claim and outcome leaves a dead row version and a dead entry in every
# index, and a list of QUEUED or PROCESSING notifications reads those entries until VACUUM
# removes them (reads at 1,000,000: 670 ms p99 with the singles of three runs not yet
# vacuumed). By default a table is vacuumed once 20 % of it is dead, 200,000 row versions at
# 1,000,000; here at 1 %, checked every 15 s, with ten times the default I/O budget
autovacuum_vacuum_scale_factor = 0.01
autovacuum_vacuum_insert_scale_factor = 0.05
autovacuum_vacuum_cost_limit = 2000
autovacuum_naptime = 15s
# a value over 2 KB is compressed before it is stored, as every tenant's stats document is:
# each counter update writes it again whole, with the tallies in flight (5 KB with 15 of
# them). lz4 instead of pglz: PostgreSQL's CPU per update 0.24 ms instead of 0.28-0.31 with
# 15 tallies pending, 0.29 instead of 0.40-0.41 with 40 (python -m loadtest.bench_counters,
# docs/benchmarks.md)
default_toast_compression = lz4
# dev/test only: a commit returns before its WAL is flushed, so a crash may lose the last ~0.6 s
# of commits (it never corrupts the cluster); small updates are ~20x faster this way.
synchronous_commit = off

shared_preload_libraries = 'pg_cron,pg_documentdb_core,pg_documentdb'
cron.database_name = 'postgres'
cron.host = '127.0.0.1'
# DocumentDB schedules jobs every 2 s: keep them out of this log and out of cron.job_run_details
cron.log_statement = off
cron.log_run = off

# as FerretDB's postgres-documentdb image (packaging/10-preload.sh of FerretDB/documentdb)
documentdb.enableCompact = true
documentdb.enableLetAndCollationForQueryMatch = true
documentdb.enableNowSystemVariable = true
documentdb.enableSortbyIdPushDownToPrimaryKey = true
documentdb.enableSchemaValidation = true
documentdb.enableBypassDocumentValidation = true
documentdb.enableUserCrud = true
documentdb.maxUserLimit = 100
# A query whose cursor is "persistent" (a sort, most aggregations) otherwise holds its
# PostgreSQL connection until the cursor ends, and FerretDB then takes that connection out of
# its pool and closes it: measured, 14,563 new PostgreSQL backends in 70,203 acquires (each a
# fork plus DocumentDB's start-up, ~68 ms waited per acquire). With the cursor's state kept
# in files, the connection goes back to the pool.
documentdb.useFileBasedPersistedCursors = true
EOF
  chown postgres:postgres "$PG_DATA/postgresql.wavecom.conf"
}

start_postgres() {
  local pid
  [ "$(id -u)" = 0 ] || die "PostgreSQL runs as user postgres; starting it needs root"
  mkdir -p "$STATE"
  runuser -u postgres -- test -x "$STATE" || die "user postgres cannot enter $STATE (chmod o+x on it and its parents)"
  if [ -f "$PG_DATA/PG_VERSION" ]; then
    [ "$(cat "$PG_DATA/PG_VERSION")" = "$PG_MAJOR" ] \
      || die ".state/postgres holds a PostgreSQL $(cat "$PG_DATA/PG_VERSION") cluster, not $PG_MAJOR: move it away"
  elif [ -d "$PG_DATA" ] && [ -n "$(ls -A "$PG_DATA")" ]; then
    die "$PG_DATA is not empty but holds no cluster: move it away"
  else
    pg_init
  fi
  touch "$PG_LOG"
  chown postgres:postgres "$PG_DATA" "$PG_LOG"
  chmod 700 "$PG_DATA"
  if pid=$(pg_postmaster_pid); then
    log "PostgreSQL already running (pid $pid, 127.0.0.1:$PG_PORT)"
  else
    if [ -f "$PG_DATA/postmaster.pid" ]; then
      log "removing a stale postmaster.pid (no postmaster of ours runs; left by a crash)"
      rm -f "$PG_DATA/postmaster.pid" "$(pg_socket_dir)/.s.PGSQL.$PG_PORT.lock"
    fi
    tcp_open "127.0.0.1:$PG_PORT" && die "something else listens on 127.0.0.1:$PG_PORT"
    pg_write_conf
    log "starting PostgreSQL $PG_MAJOR (data in .state/postgres, 127.0.0.1:$PG_PORT)"
    # -w: pg_ctl waits (crash recovery included) until the postmaster reports ready, or has died
    pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 120 start >/dev/null 9>&- \
      || die "PostgreSQL did not start: see $PG_LOG"
  fi
  wait_until 120 "PostgreSQL" pg_ready_or_gone && pg_ready \
    || die "PostgreSQL did not answer on 127.0.0.1:$PG_PORT: see $PG_LOG"
  "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 \
    >"$STATE/postgres-setup.log" 2>&1 <<'EOF' || die "creating the documentdb extension failed: see $STATE/postgres-setup.log"
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS documentdb CASCADE;
ALTER EXTENSION documentdb_core UPDATE;
ALTER EXTENSION documentdb UPDATE;
EOF
}

stop_postgres() {
  local pid
  if pid=$(pg_postmaster_pid); then
    log "stopping PostgreSQL (pid $pid)"
    pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null \
      || die "pg_ctl stop failed: see $PG_LOG"
  fi
}

# PID of the FerretDB this script started, if it still runs
ferret_pid() {
  local pidfile="$STATE/ferretdb/ferretdb.pid" pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in
    */ferretdb-v*) printf '%s' "$pid" ;;
    *) return 1 ;;
  esac
}

ferret_gone() { ! ferret_pid >/dev/null; }

# the FerretDB just started answers, or its process has exited. Not ferret_pid: until nohup
# has exec'd FerretDB, /proc/<pid>/exe is still the shell's or nohup's, and a start that looked
# "gone" in that instant failed at once (it did, once, in CI on 2026-12-06)
ferret_ready_or_exited() {
  mongo_answers "$MONGODB_URL_DEFAULT" || ! kill -0 "$(cat "$STATE/ferretdb/ferretdb.pid")" 2>/dev/null
}

start_ferretdb() {
  mkdir -p "$STATE/ferretdb"
  log "starting FerretDB $FERRET_VERSION (127.0.0.1:27017 → PostgreSQL 127.0.0.1:$PG_PORT)"
  nohup "$FERRET_BIN" \
    --postgresql-url="$PG_URL" \
    --listen-addr=127.0.0.1:27017 \
    --debug-addr=127.0.0.1:8088 \
    --state-dir="$STATE/ferretdb" \
    --telemetry=disable \
    --no-auth \
    --log-level=warn \
    >>"$STATE/ferretdb/ferretdb.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/ferretdb/ferretdb.pid"
  wait_until 30 "FerretDB" ferret_ready_or_exited && mongo_answers "$MONGODB_URL_DEFAULT" \
    || die "FerretDB did not answer within 30 s: see $STATE/ferretdb/ferretdb.log"
}

stop_ferretdb() {
  local pid
  if pid=$(ferret_pid); then
    log "stopping FerretDB (pid $pid)"
    kill "$pid" 2>/dev/null || true
    wait_until 15 "FerretDB to exit" ferret_gone || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/ferretdb/ferretdb.pid"
}

start_database() {
  ensure_database
  start_postgres
  if ferret_pid >/dev/null; then
    # FerretDB outlived its PostgreSQL: it reconnects on demand, else it is started afresh
    wait_until 10 "FerretDB" mongo_answers "$MONGODB_URL_DEFAULT" && log "FerretDB answers again" && return 0
    stop_ferretdb
  fi
  start_ferretdb
}

stop_database() {
  stop_ferretdb
  stop_postgres
}

# --- commands -----------------------------------------------------------------------------------

cmd_up() {
  mkdir -p "$STATE/rabbitmq" "$STATE/ferretdb"
  [ -x "$ROOT/.venv/bin/python" ] || die "the database probe needs .venv (make venv)"
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
    # our FerretDB may be running without its PostgreSQL; start_database mends that
    if ! ferret_pid >/dev/null; then
      tcp_open 127.0.0.1:27017 && die "something on 127.0.0.1:27017 does not answer MongoDB pings"
    fi
    start_database
  fi
}

cmd_down() {
  stop_database
  stop_rabbitmq
}

cmd_status() {
  amqp_answers "${AMQP_URL:-$AMQP_URL_DEFAULT}" && echo "rabbitmq: up" || echo "rabbitmq: down"
  mongo_answers "${MONGODB_URL:-$MONGODB_URL_DEFAULT}" && echo "database: up" || echo "database: down"
  pg_ready && echo "postgresql: up (127.0.0.1:$PG_PORT)" || echo "postgresql: down"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) die "usage: stack.sh up|down|status" ;;
esac
