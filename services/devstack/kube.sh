#!/usr/bin/env bash
# A real Kubernetes control plane for the chart's tests, on loopback, without Docker:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK (simulated nodes) and KEDA's
# operator and metrics adapter, all built from Go modules (see ../shared/docs/kubernetes-lab.md).
#
#   kube.sh build   build the binaries into the cache (nothing when they are there already)
#   kube.sh up      reuse the cluster KUBECONFIG points at when it answers; otherwise build what is
#                   missing and start the local control plane (idempotent: seconds when it runs);
#                   KUBE_NO_KEDA=1: without KEDA's operator and adapter (their CRDs are applied)
#   kube.sh down    stop what `up` started (KEDA, kwok, scheduler, controller-manager, apiserver,
#                   etcd), keeping the certificates; `down --purge` also deletes .state/kube
#   kube.sh env     print `export KUBECONFIG=… PATH=…` lines for the local control plane
#   kube.sh status  say what answers
#
# Binaries: ${XDG_CACHE_HOME:-~/.cache}/wavecom-notify/kube-<key>/bin, the key made of every
# version below, KUBE_RECIPE and the Go version; each binary is written once, atomically, so an
# interrupted build resumes where it stopped. Build logs and times: .state/kube/build-*.log and
# <cache>/kube-<key>/build-times.txt. Builds run at `nice -n 19` (KUBE_BUILD_NICE) so that they
# only take idle CPU. State (certificates, etcd data, logs, pid files, kubeconfig) in .state/kube.
#
# Measured 2026-12-01 on 2 cores busy with other engineers' tests (load 5-12), every build at nice 19,
# empty Go build cache: helm 730 s, etcd 727 s, kube-apiserver 2438 s, controller-manager 466 s,
# scheduler 56 s, kubectl 56 s, kwok 419 s, KEDA adapter 1867 s (it compiles every scaler), KEDA
# operator 71 s (after the adapter: the same packages), 6877 s in all; 788 MB of binaries. A
# second `build` takes 0.1 s; `up` from built binaries takes seconds.
#
# Loopback ports (clear of RabbitMQ 5672/15672/15692/25672/35672-35682, the database 27017/54329,
# the API 8000-8100 and the test clusters 5701-5709/15701-15709/25700-25790):
#   etcd 17379 (peer 17380)   kube-apiserver 17443   controller-manager 17257   scheduler 17259
#   kwok 17085   KEDA operator: metrics 17080, probes 17081, gRPC metrics service 17090
#   KEDA adapter: serving 17444, metrics 17082
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=services/devstack/lib.sh
source "$ROOT/services/devstack/lib.sh" # wait_until, pid_gone, go_env, kube_ldflags, module_copy, sign_with
STATE="$ROOT/.state/kube"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wavecom-notify"
KUBE_RECIPE=1 # bump when a build step below changes, so cached builds are made again
K8S_VERSION=v1.37.2
K8S_STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.22.0
KWOK_VERSION=v0.8.0
KEDA_VERSION=v2.21.0
# only its CRDs (ServiceMonitor, PrometheusRule), from the module zip, to validate against
PROMETHEUS_OPERATOR_VERSION=v0.85.0
NICE=${KUBE_BUILD_NICE:-19}

ETCD_PORT=17379
ETCD_PEER_PORT=17380
APISERVER_PORT=17443
KCM_PORT=17257
SCHEDULER_PORT=17259
KWOK_PORT=17085
KEDA_METRICS_PORT=17080
KEDA_PROBE_PORT=17081
KEDA_GRPC_PORT=17090
ADAPTER_PORT=17444
ADAPTER_METRICS_PORT=17082
SERVICE_CIDR=10.96.0.0/16

log() { printf '\033[1;34m[kube]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[kube] %s\033[0m\n' "$*" >&2; exit 1; }

SCRATCH=() # build scratch directories, removed on exit
trap 'rm -rf ${SCRATCH[@]+"${SCRATCH[@]}"}' EXIT

# --- build ----------------------------------------------------------------------------------------

kube_paths() {
  local key go_version
  go_version=$(go env GOVERSION 2>/dev/null || echo none)
  key=$(printf '%s\n' "$KUBE_RECIPE" "$K8S_VERSION" "$ETCD_VERSION" "$HELM_VERSION" "$KWOK_VERSION" \
    "$KEDA_VERSION" "$go_version" | sha256sum | cut -c1-12)
  KUBE_HOME="$CACHE/kube-$K8S_VERSION-$key"
  BIN="$KUBE_HOME/bin"
  SHARE="$KUBE_HOME/share"
}

# every binary the tests need, in build order: helm first (the offline chart tests need only it),
# KEDA's operator last (the longest build)
BINARIES=(share helm etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok keda-adapter keda-operator)

missing_binaries() {
  local b
  for b in "${BINARIES[@]}"; do
    if [ "$b" = share ]; then
      [ -f "$SHARE/keda-crds.yaml" ] && [ -f "$SHARE/kwok-stages.yaml" ] \
        && [ -f "$SHARE/monitoring-crds-$PROMETHEUS_OPERATOR_VERSION.yaml" ] || echo share
    else
      [ -x "$BIN/$b" ] || echo "$b"
    fi
  done
}

# Go flags that make these builds fastest on a small machine (go_env, lib.sh): no cgo, no DWARF
# or symbol table (-s -w, the link step is most of a small build), -trimpath so the shared build
# cache is reused whatever the scratch path; GOFLAGS=-mod=mod lets go.sum fill in for the edited
# modules.
gobuild() { # out pkg ldflags
  nice -n "$NICE" go build -trimpath -ldflags "-s -w $3" -o "$1" "$2"
}

build_helm() { # out scratch
  local major=${K8S_STAGING_VERSION#v0.} src
  go_env
  src=$(module_copy "helm.sh/helm/v3@$HELM_VERSION" "$2")
  cd "$src"
  GOFLAGS="$GOFLAGS -mod=mod" gobuild "$1" ./cmd/helm \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION
     -X helm.sh/helm/v3/internal/version.gitTreeState=clean
     -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${major%%.*}
     -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${major%%.*}"
}

build_etcd() { # out scratch
  go_env
  local src
  src=$(module_copy "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "$2")
  cd "$src"
  # the sibling modules it replaces with ../… are on the proxy at the same version
  sed -i '/=> \.\.\//d' go.mod
  GOFLAGS="$GOFLAGS -mod=mod" gobuild "$1" . \
    "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
}

# kubernetes: the module's go.mod replaces its staging modules with ./staging/…, which the zip does
# not ship; every one of them is on the proxy as its own module at v0.<minor>.<patch>
kube_source() { # scratch; prints the prepared source directory
  local src
  src=$(module_copy "k8s.io/kubernetes@$K8S_VERSION" "$1")
  rm -rf "$src/go.work" "$src/go.work.sum" "$src/vendor"
  sed -i -e '/^replace (/,/^)/{/=> \.\/staging\//d}' \
    -e "s#^\(\tk8s.io/[a-z0-9-]*\) v0.0.0\$#\1 $K8S_STAGING_VERSION#" "$src/go.mod"
  # an emptied `replace ( )` block is valid go.mod syntax
  printf '%s' "$src"
}

build_kube() { # out scratch cmd...
  local out=$1 src name
  go_env
  src=$(kube_source "$2")
  shift 2
  cd "$src"
  for name in "$@"; do
    GOFLAGS="$GOFLAGS -mod=mod" gobuild "$out/$name" "./cmd/$name" "$(kube_ldflags)"
  done
}

build_kwok() { # out scratch
  go_env
  local src
  src=$(module_copy "sigs.k8s.io/kwok@$KWOK_VERSION" "$2")
  cd "$src"
  GOFLAGS="$GOFLAGS -mod=mod" gobuild "$1" ./cmd/kwok \
    "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
}

build_keda() { # out scratch operator|adapter
  go_env
  local src
  src=$(module_copy "github.com/kedacore/keda/v2@$KEDA_VERSION" "$2")
  cd "$src"
  GOFLAGS="$GOFLAGS -mod=mod" gobuild "$1" "./cmd/$3" \
    "-X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION -X github.com/kedacore/keda/v2/version.GitCommit=$KEDA_VERSION"
}

# module_dir module@version: where `go mod download` put it
module_dir() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }

# KEDA's CRDs and kwok's Stage configs come from the same module zips (nothing to build), the
# prometheus-operator CRDs from its module zip
build_share() { # out-dir
  local keda kwok prom f
  go_env
  keda=$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")
  kwok=$(module_dir "sigs.k8s.io/kwok@$KWOK_VERSION")
  prom=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  [ -n "$keda" ] && [ -n "$kwok" ] && [ -n "$prom" ]
  mkdir -p "$1"
  for f in "$prom"/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml \
    "$prom"/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml; do
    printf -- '---\n'
    cat "$f"
  done >"$1/.monitoring-crds.yaml"
  mv "$1/.monitoring-crds.yaml" "$1/monitoring-crds-$PROMETHEUS_OPERATOR_VERSION.yaml"
  for f in "$keda"/config/crd/bases/*.yaml; do
    printf -- '---\n'
    cat "$f"
  done >"$1/.keda-crds.yaml"
  for f in "$kwok"/kustomize/stage/node/fast/node-initialize.yaml \
    "$kwok"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    "$kwok"/kustomize/stage/pod/fast/pod-ready.yaml "$kwok"/kustomize/stage/pod/fast/pod-complete.yaml \
    "$kwok"/kustomize/stage/pod/fast/pod-delete.yaml; do
    printf -- '---\n'
    cat "$f"
  done >"$1/.kwok-stages.yaml"
  mv "$1/.keda-crds.yaml" "$1/keda-crds.yaml"
  mv "$1/.kwok-stages.yaml" "$1/kwok-stages.yaml"
}

new_scratch() {
  SCRATCH_DIR=$(mktemp -d "$CACHE/.build-kube-$1.XXXXXX")
  SCRATCH+=("$SCRATCH_DIR")
}

# one build step in a subshell, output in .state/kube/build-NAME.log, its time in build-times.txt
run_build() { # name function args...
  local name=$1 logf="$STATE/build-$1.log" start=$SECONDS rc
  shift
  log "building $name (log: .state/kube/build-$name.log)"
  set +e
  (set -euo pipefail; "$@") >"$logf" 2>&1 </dev/null 9>&-
  rc=$?
  set -e
  ((rc == 0)) || die "building $name failed (exit $rc): see $logf"
  printf '%s %s s (nice %s, %s cores, %s)\n' "$name" "$((SECONDS - start))" "$NICE" "$(nproc)" \
    "$(date -u +%FT%TZ)" >>"$KUBE_HOME/build-times.txt"
  log "built $name in $((SECONDS - start)) s"
}

cmd_build() { # [component...]: only those (default: every missing one)
  local missing start=$SECONDS b only=" $* "
  kube_paths
  mkdir -p "$STATE" "$CACHE"
  missing=$(missing_binaries)
  if [ -n "${1:-}" ]; then
    missing=$(for b in $missing; do if [[ $only == *" $b "* ]]; then echo "$b"; fi; done)
  fi
  [ -z "$missing" ] && return 0
  command -v go >/dev/null 2>&1 || die "Go is needed to build the control plane and is not on PATH"
  mkdir -p "$BIN"
  # share (CRDs and stages, no compiling) lands with one rename: it needs no lock
  if [ "$missing" != share ]; then
    exec 9>"$CACHE/.kube-build.lock"
    if ! flock -n 9; then
      log "another build holds $CACHE/.kube-build.lock: waiting for it"
      flock 9
    fi
    missing=$(missing_binaries)
    if [ -n "${1:-}" ]; then
      missing=$(for b in $missing; do if [[ $only == *" $b "* ]]; then echo "$b"; fi; done)
    fi
  fi
  for b in $missing; do
    new_scratch "$b"
    case $b in
      helm) run_build helm build_helm "$BIN/.helm.tmp" "$SCRATCH_DIR" ;;
      etcd) run_build etcd build_etcd "$BIN/.etcd.tmp" "$SCRATCH_DIR" ;;
      kube-apiserver | kube-controller-manager | kube-scheduler | kubectl)
        mkdir -p "$SCRATCH_DIR/out"
        run_build "$b" build_kube "$SCRATCH_DIR/out" "$SCRATCH_DIR" "$b"
        mv "$SCRATCH_DIR/out/$b" "$BIN/.$b.tmp"
        ;;
      kwok) run_build kwok build_kwok "$BIN/.kwok.tmp" "$SCRATCH_DIR" ;;
      keda-adapter) run_build keda-adapter build_keda "$BIN/.keda-adapter.tmp" "$SCRATCH_DIR" adapter ;;
      keda-operator) run_build keda-operator build_keda "$BIN/.keda-operator.tmp" "$SCRATCH_DIR" operator ;;
      share) run_build share build_share "$SHARE" ;;
    esac
    [ "$b" = share ] || mv "$BIN/.$b.tmp" "$BIN/$b"
    rm -rf "$SCRATCH_DIR"
  done
  exec 9>&-
  log "built in $((SECONDS - start)) s (cached in $KUBE_HOME)"
}

# --- run ------------------------------------------------------------------------------------------

PKI="$STATE/pki"
LOCAL_KUBECONFIG="$STATE/kubeconfig"

kc() { "$BIN/kubectl" --kubeconfig "$LOCAL_KUBECONFIG" "$@"; }

# PID of a component this script started, if it still runs our binary
component_pid() { # name binary
  local pidfile="$STATE/run/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$BIN/$2" ] || return 1
  printf '%s' "$pid"
}

start_component() { # name binary args...
  local name=$1 bin=$2
  shift 2
  component_pid "$name" "$bin" >/dev/null && return 0
  mkdir -p "$STATE/run" "$STATE/log"
  log "starting $name (log: .state/kube/log/$name.log)"
  nohup "$BIN/$bin" "$@" >>"$STATE/log/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/run/$name.pid"
}

stop_component() { # name binary
  local pid
  if pid=$(component_pid "$1" "$2"); then
    log "stopping $1 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    wait_until 20 pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/run/$1.pid"
}

# a CA, the apiserver's serving cert, an admin client cert (system:masters), the service-account
# key pair, a front-proxy CA and client (the aggregation layer KEDA's adapter sits behind) and one
# serving cert for KEDA's operator and adapter; made once, kept across down/up
ensure_pki() {
  [ -f "$PKI/done" ] && return 0
  log "creating certificates in .state/kube/pki (openssl)"
  rm -rf "$PKI"
  mkdir -p "$PKI/keda"
  local ca
  for ca in ca front-proxy-ca; do
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/$ca.key" -days 3650 \
      -subj "/CN=wavecom-kube-$ca" -out "$PKI/$ca.crt" 2>/dev/null
  done
  sign_with apiserver /CN=kube-apiserver ca \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  sign_with admin "/O=system:masters/CN=kube-admin" ca \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
  sign_with front-proxy-client /CN=front-proxy-client front-proxy-ca \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
  sign_with keda-serving /CN=keda ca \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,DNS:keda-operator.keda.svc,DNS:keda-metrics-apiserver.keda.svc,DNS:keda-admission-webhooks.keda.svc"
  cp "$PKI/keda-serving.crt" "$PKI/keda/tls.crt"
  cp "$PKI/keda-serving.key" "$PKI/keda/tls.key"
  cp "$PKI/ca.crt" "$PKI/keda/ca.crt"
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  touch "$PKI/done"
}

write_kubeconfig() {
  cat >"$LOCAL_KUBECONFIG.tmp" <<KUBECONFIG_EOF
apiVersion: v1
kind: Config
clusters:
  - name: wavecom-local
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority: $PKI/ca.crt
users:
  - name: kube-admin
    user:
      client-certificate: $PKI/admin.crt
      client-key: $PKI/admin.key
contexts:
  - name: wavecom-local
    context: {cluster: wavecom-local, user: kube-admin}
current-context: wavecom-local
KUBECONFIG_EOF
  mv "$LOCAL_KUBECONFIG.tmp" "$LOCAL_KUBECONFIG"
}

apiserver_ready() { kc --request-timeout=5s get --raw /readyz; }

# KUBECONFIG names a cluster other than ours, and it answers
external_cluster_answers() {
  [ -n "${KUBECONFIG:-}" ] || return 1
  [ "$(readlink -f "$KUBECONFIG")" != "$(readlink -f "$LOCAL_KUBECONFIG")" ] || return 1
  local kubectl=kubectl
  [ -x "$BIN/kubectl" ] && kubectl="$BIN/kubectl"
  timeout 10 "$kubectl" --request-timeout=5s get --raw /readyz >/dev/null 2>&1
}

etcd_healthy() { curl -sf "http://127.0.0.1:$ETCD_PORT/health"; }

start_control_plane() {
  mkdir -p "$STATE/etcd"
  chmod 700 "$STATE/etcd"
  start_component etcd etcd --name wavecom-kube --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "wavecom-kube=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes 1073741824 --log-level warn
  wait_until 60 etcd_healthy || die "etcd did not answer within 60 s: see .state/kube/log/etcd.log"
  # 1.37 refuses a loopback advertise address for the endpoint reconciler: none is needed here
  start_component kube-apiserver kube-apiserver \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" --advertise-address 127.0.0.1 \
    --endpoint-reconciler-type none --service-cluster-ip-range "$SERVICE_CIDR" \
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --authorization-mode Node,RBAC \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --profiling=false --event-ttl 30m
  wait_until 120 apiserver_ready || die "kube-apiserver not ready within 120 s: see .state/kube/log/kube-apiserver.log"
  # without it no Pod can be created (no `default` ServiceAccount); the HPA syncs every 5 s
  start_component kube-controller-manager kube-controller-manager --kubeconfig "$LOCAL_KUBECONFIG" \
    --authentication-kubeconfig "$LOCAL_KUBECONFIG" --authorization-kubeconfig "$LOCAL_KUBECONFIG" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --horizontal-pod-autoscaler-sync-period 5s --profiling=false
  start_component kube-scheduler kube-scheduler --kubeconfig "$LOCAL_KUBECONFIG" \
    --authentication-kubeconfig "$LOCAL_KUBECONFIG" --authorization-kubeconfig "$LOCAL_KUBECONFIG" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false --profiling=false
}

# KWOK's fake nodes, one per zone: Ready at once, with room for every pod the tests create
ensure_nodes() {
  local i
  for i in 0 1 2; do
    kc apply -f - >/dev/null <<NODE_EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    topology.kubernetes.io/zone: zone-$i
spec: {}
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "250"}
  capacity: {cpu: "64", memory: 256Gi, pods: "250"}
NODE_EOF
  done
}

# kwok renews the nodes' leases (without them the node-heartbeat-with-lease stage lets the nodes
# go NotReady after the controller-manager's grace period)
start_kwok() {
  start_component kwok kwok --kubeconfig "$LOCAL_KUBECONFIG" --config "$SHARE/kwok-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --server-address "127.0.0.1:$KWOK_PORT" --cidr 10.244.0.0/16 --node-ip 10.0.0.1 \
    --node-lease-duration-seconds 40
}

nodes_ready() {
  [ "$(kc get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)" -ge 3 ]
}

crd_established() { kc wait --for condition=Established --timeout 5s "crd/$1"; }

# KEDA's CRDs and the prometheus-operator's ServiceMonitor/PrometheusRule CRDs
install_crds() {
  kc apply --server-side --force-conflicts -f "$SHARE/keda-crds.yaml" >/dev/null
  kc apply --server-side --force-conflicts -f "$SHARE/monitoring-crds-$PROMETHEUS_OPERATOR_VERSION.yaml" >/dev/null
  local crd
  for crd in scaledobjects.keda.sh triggerauthentications.keda.sh servicemonitors.monitoring.coreos.com prometheusrules.monitoring.coreos.com; do
    # a CRD created a moment ago makes `kubectl wait` fail instead of waiting: ask again
    wait_until 60 crd_established "$crd" || die "CRD $crd not Established within 60 s"
  done
}

# the aggregation of external.metrics.k8s.io: an ExternalName Service (the aggregator resolves it,
# no endpoints needed) pointing at KEDA's adapter on localhost
install_metrics_apiservice() {
  kc apply -f - >/dev/null <<KEDA_EOF
apiVersion: v1
kind: Namespace
metadata:
  name: keda
---
apiVersion: v1
kind: Service
metadata:
  name: keda-metrics-apiserver
  namespace: keda
spec:
  type: ExternalName
  externalName: localhost
  ports:
    - name: https
      port: $ADAPTER_PORT
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.external.metrics.k8s.io
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  caBundle: $(base64 -w0 "$PKI/ca.crt")
  service:
    name: keda-metrics-apiserver
    namespace: keda
    port: $ADAPTER_PORT
KEDA_EOF
}

start_keda() {
  export KEDA_CLUSTER_OBJECT_NAMESPACE=keda POD_NAMESPACE=keda WATCH_NAMESPACE=""
  KUBECONFIG="$LOCAL_KUBECONFIG" start_component keda-operator keda-operator --leader-elect=false \
    --metrics-bind-address "127.0.0.1:$KEDA_METRICS_PORT" --health-probe-bind-address "127.0.0.1:$KEDA_PROBE_PORT" \
    --metrics-service-bind-address "127.0.0.1:$KEDA_GRPC_PORT" \
    --cert-dir "$PKI/keda" --enable-cert-rotation=false \
    --enable-webhook-patching=false --enable-apiservice-patching=false --zap-log-level=info
  # the adapter's gRPC client to the operator uses ca.crt/tls.crt/tls.key of its --cert-dir (mTLS)
  KUBECONFIG="$LOCAL_KUBECONFIG" start_component keda-adapter keda-adapter \
    --lister-kubeconfig "$LOCAL_KUBECONFIG" \
    --authentication-kubeconfig "$LOCAL_KUBECONFIG" --authorization-kubeconfig "$LOCAL_KUBECONFIG" \
    --secure-port "$ADAPTER_PORT" --bind-address 127.0.0.1 --cert-dir "$PKI/keda" \
    --tls-cert-file "$PKI/keda/tls.crt" --tls-private-key-file "$PKI/keda/tls.key" \
    --metrics-service-address "localhost:$KEDA_GRPC_PORT" --port "$ADAPTER_METRICS_PORT"
}

external_metrics_available() {
  [ "$(kc get apiservice v1beta1.external.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ]
}

cmd_up() {
  kube_paths
  mkdir -p "$STATE"
  if external_cluster_answers; then
    log "KUBECONFIG=$KUBECONFIG answers: using that cluster, starting nothing"
    return 0
  fi
  local keda=1
  if [ -n "${KUBE_NO_KEDA:-}" ]; then
    keda=0
    cmd_build share helm etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok
  else
    cmd_build
  fi
  command -v openssl >/dev/null || die "openssl is needed for the control plane's certificates"
  ensure_pki
  write_kubeconfig
  local start=$SECONDS
  start_control_plane
  install_crds
  ensure_nodes
  start_kwok
  wait_until 60 nodes_ready || die "the KWOK nodes were not Ready within 60 s: see .state/kube/log/kwok.log"
  # the namespace's default ServiceAccount comes from the controller-manager
  wait_until 60 kc get serviceaccount default -n default \
    || die "no default ServiceAccount within 60 s: see .state/kube/log/kube-controller-manager.log"
  if ((keda)); then
    install_metrics_apiservice
    start_keda
    wait_until 120 external_metrics_available \
      || die "KEDA's metrics adapter was not Available within 120 s: see .state/kube/log/keda-*.log"
  else
    # an APIService nobody serves breaks discovery (helm refuses to install): none without KEDA
    kc delete apiservice v1beta1.external.metrics.k8s.io --ignore-not-found >/dev/null
    stop_component keda-adapter keda-adapter
    stop_component keda-operator keda-operator
    log "KUBE_NO_KEDA: KEDA's operator and adapter not started"
  fi
  log "control plane up in $((SECONDS - start)) s; use it with: eval \"\$(services/devstack/kube.sh env)\""
}

cmd_down() {
  kube_paths
  stop_component keda-adapter keda-adapter
  stop_component keda-operator keda-operator
  stop_component kwok kwok
  stop_component kube-scheduler kube-scheduler
  stop_component kube-controller-manager kube-controller-manager
  stop_component kube-apiserver kube-apiserver
  stop_component etcd etcd
  if [ "${1:-}" = --purge ]; then
    log "deleting .state/kube's etcd data, certificates, logs and kubeconfig"
    rm -rf "$STATE/etcd" "$PKI" "$STATE/run" "$STATE/log" "$LOCAL_KUBECONFIG"
  fi
}

cmd_env() {
  kube_paths
  if external_cluster_answers; then
    printf 'export PATH=%q:"$PATH"\n' "$BIN"
  else
    printf 'export KUBECONFIG=%q PATH=%q:"$PATH"\n' "$LOCAL_KUBECONFIG" "$BIN"
  fi
}

# machine-readable paths, for the tests
cmd_paths() {
  kube_paths
  printf 'BIN=%s\nSHARE=%s\nKUBECONFIG=%s\nMONITORING_CRDS=%s\nMISSING=%s\n' "$BIN" "$SHARE" \
    "$LOCAL_KUBECONFIG" "$SHARE/monitoring-crds-$PROMETHEUS_OPERATOR_VERSION.yaml" \
    "$(missing_binaries | paste -sd, -)"
}

cmd_status() {
  kube_paths
  local name
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok keda-operator keda-adapter; do
    if component_pid "$name" "$name" >/dev/null; then echo "$name: running"; else echo "$name: stopped"; fi
  done
  if [ -z "$(missing_binaries)" ]; then
    echo "binaries: built ($BIN)"
  else
    echo "binaries: missing $(missing_binaries | paste -sd' ' -)"
  fi
}

main() {
  case "${1:-}" in
    build) shift; cmd_build "$@" ;;
    up) cmd_up ;;
    down) cmd_down "${2:-}" ;;
    env) cmd_env ;;
    paths) cmd_paths ;;
    status) cmd_status ;;
    *) die "usage: kube.sh build [component...]|up|down [--purge]|env|paths|status" ;;
  esac
}

main "$@"; exit $?
