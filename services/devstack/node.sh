#!/usr/bin/env bash
# One real Kubernetes node for the lab: containerd (Debian's, with runc) + kubelet + kube-proxy +
# a CNI bridge + CoreDNS, joined to its own control plane (etcd, kube-apiserver,
# controller-manager, scheduler: the lab's binaries from kube.sh), everything inside ONE private
# PID + mount + network namespace made with `unshare`; KEDA's operator and metrics adapter (the lab's
# v2.21.0 build) run in the same namespace, so the chart installs with KEDA on. See
# ../../docs/kubernetes-node.md.
#
#   node.sh build    build kubelet, kube-proxy, CoreDNS and the pause image into the cache (and the
#                    control plane's binaries through kube.sh); nothing when they are there
#   node.sh up       build what is missing, start the namespace, wait until the node is Ready, with
#                    the product image (NODE_IMAGE, default .state/image.ref, i.e. `make image`'s)
#                    and the pause image loaded into the node's containerd (podman save -> ctr import)
#   node.sh down     kill the namespace (every process in it dies with its PID 1), remove the
#                    kubepods cgroups it left and its state; nothing of it stays on the host
#   node.sh status   say what runs
#   node.sh env      print `export KUBECONFIG=… PATH=…` for the node's cluster
#   node.sh paths    machine-readable paths, for the tests
#
# NODE_KEDA=0: without KEDA's operator and adapter (their CRDs and the prometheus-operator's
# ServiceMonitor/PrometheusRule CRDs are applied either way, so the chart's objects validate).
#
# Why a namespace: in the host's namespaces the kubelet rewrites machine-wide sysctls and iptables
# chains, and the apiserver would resolve the node's name through the machine's resolver. Inside
# it: /run, /var/lib and /var/log are tmpfs, the kubelet's sysctl checks (protectKernelDefaults)
# see bind-mounted files, iptables and routes are the namespace's own, the kubelet's cgroups sit
# under /wavecom-node-<checkout hash> in each hierarchy. The host reaches the apiserver inside
# through a socat forward of one loopback port (NODE_APISERVER_PORT, default 17643). Pods sit on
# a bridge (10.244.0.1/24, also the node's IP) with routes to the pod and Service ranges only: the
# namespace has no uplink, so no pod can reach anything outside it except the host's loopback
# ports named in NODE_HOST_PORTS (bridged below), and CoreDNS has no `forward` plugin (it
# answers cluster names only).
#
# Cache: ${XDG_CACHE_HOME:-~/.cache}/wavecom-notify/node-<k8s version>-<key>, keyed by the versions
# below, NODE_RECIPE and the Go version. State (certificates, configs, logs, containerd's store)
# in .state/node; `down` deletes all but the certificates and the saved image archives.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=services/devstack/lib.sh
source "$ROOT/services/devstack/lib.sh" # wait_until, pid_gone, go_env, kube_ldflags, module_copy, sign_with
SELF="$ROOT/services/devstack/node.sh"
KUBE_SH="$ROOT/services/devstack/kube.sh"
STATE="$ROOT/.state/node"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wavecom-notify"
NODE_RECIPE=1 # bump when a build step below changes
# the control plane's own version: kubelet and kube-proxy are built from the same module
K8S_VERSION=$(sed -n 's/^K8S_VERSION=//p' "$KUBE_SH")
K8S_STAGING_VERSION=$(sed -n 's/^K8S_STAGING_VERSION=//p' "$KUBE_SH")
COREDNS_VERSION=v1.12.4
PAUSE_IMAGE=localhost/wavecom-pause:$NODE_RECIPE
NICE=${KUBE_BUILD_NICE:-19}
HOST_PORT=${NODE_APISERVER_PORT:-17643}
# loopback ports of the host's own services (RabbitMQ 5672, the database 27017, …) that pods may
# reach at the node's IP, each through a socat pair joined by a Unix socket in .state/node/bridge
# (the namespace's end listens on 10.244.0.1:<port>, the host's end connects to 127.0.0.1:<port>):
# nothing but these loopback ports is reachable from the namespace. Empty by default.
HOST_SERVICES=${NODE_HOST_PORTS:-}
NODE_KEDA=${NODE_KEDA:-1}
# inside the namespace's own loopback (no clash with the host's): KEDA's operator (metrics,
# probes, its gRPC metrics service) and its metrics adapter (serving, metrics), as kube.sh's
KEDA_METRICS_PORT=17080
KEDA_PROBE_PORT=17081
KEDA_GRPC_PORT=17090
ADAPTER_PORT=17444
ADAPTER_METRICS_PORT=17082
NODE_NAME=wavecom-node
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
# the kubelet's cgroups, under one directory per checkout in each of the machine's hierarchies
CGROUP_ROOT=/wavecom-node-$(printf '%s' "$ROOT" | sha256sum | cut -c1-8)

log() { printf '\033[1;35m[node]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[node] %s\033[0m\n' "$*" >&2; exit 1; }

SCRATCH=()
trap 'rm -rf ${SCRATCH[@]+"${SCRATCH[@]}"}' EXIT

node_paths() {
  local key go_version
  go_version=$(go env GOVERSION 2>/dev/null || echo none)
  key=$(printf '%s\n' "$NODE_RECIPE" "$K8S_VERSION" "$COREDNS_VERSION" "$go_version" | sha256sum | cut -c1-12)
  NODE_HOME="$CACHE/node-$K8S_VERSION-$key"
  BIN="$NODE_HOME/bin"
  local kp
  kp=$(bash "$KUBE_SH" paths)
  KBIN=$(sed -n 's/^BIN=//p' <<<"$kp")
  KSHARE=$(sed -n 's/^SHARE=//p' <<<"$kp")
  MONITORING_CRDS=$(sed -n 's/^MONITORING_CRDS=//p' <<<"$kp")
}

keda_on() { [ "$NODE_KEDA" != 0 ]; }

# --- build ----------------------------------------------------------------------------------------

# the same recipe and link flags as kube.sh's (go_env, module_copy and kube_ldflags are lib.sh's;
# kept in step with its kube_source)
build_kube() { # out-dir scratch cmd...
  local out=$1 src name
  go_env
  src=$(module_copy "k8s.io/kubernetes@$K8S_VERSION" "$2")
  shift 2
  rm -rf "$src/go.work" "$src/go.work.sum" "$src/vendor"
  sed -i -e '/^replace (/,/^)/{/=> \.\/staging\//d}' \
    -e "s#^\(\tk8s.io/[a-z0-9-]*\) v0.0.0\$#\1 $K8S_STAGING_VERSION#" "$src/go.mod"
  cd "$src"
  for name in "$@"; do
    GOFLAGS="$GOFLAGS -mod=mod" nice -n "$NICE" go build -trimpath -ldflags "-s -w $(kube_ldflags)" \
      -o "$out/$name" "./cmd/$name"
  done
}

# CoreDNS with only the plugins a cluster-internal resolver needs: no `forward`, so no name outside
# the cluster is ever looked up anywhere
build_coredns() { # out scratch
  go_env
  local src p
  src=$(module_copy "github.com/coredns/coredns@$COREDNS_VERSION" "$2")
  cd "$src"
  {
    printf 'package plugin\n\nimport (\n'
    for p in errors log health ready kubernetes cache loadbalance; do
      printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$p"
    done
    printf ')\n'
  } >core/plugin/zplugin.go
  GOFLAGS="$GOFLAGS -mod=mod" nice -n "$NICE" go build -trimpath -ldflags "-s -w" -o "$1" .
}

# the pod sandbox's image: a static Go program that blocks until SIGTERM/SIGINT, FROM scratch
build_pause() { # out-tar scratch
  go_env
  cd "$2"
  cat >main.go <<'GO_EOF'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
GO_EOF
  printf 'module pause\n\ngo 1.21\n' >go.mod
  go build -trimpath -ldflags "-s -w" -o pause .
  printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >Containerfile
  podman build -q -t "$PAUSE_IMAGE" -f Containerfile . >/dev/null
  podman save --format docker-archive -o "$1" "$PAUSE_IMAGE" >/dev/null
}

missing_binaries() {
  local b
  for b in kubelet kube-proxy coredns pause.tar; do [ -e "$BIN/$b" ] || echo "$b"; done
}

run_build() { # name function args...
  local name=$1 logf="$STATE/build-$1.log" start=$SECONDS rc
  shift
  log "building $name (log: .state/node/build-$name.log)"
  set +e
  (set -euo pipefail; "$@") >"$logf" 2>&1 </dev/null 9>&-
  rc=$?
  set -e
  ((rc == 0)) || die "building $name failed (exit $rc): see $logf"
  printf '%s %s s (nice %s, %s cores, %s)\n' "$name" "$((SECONDS - start))" "$NICE" "$(nproc)" \
    "$(date -u +%FT%TZ)" >>"$NODE_HOME/build-times.txt"
  log "built $name in $((SECONDS - start)) s"
}

# Debian's containerd 1.6 (installed, never started as a service), runc and the CNI plugins
ensure_packages() {
  local need=() pkg
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  command -v socat >/dev/null || need+=(socat)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing ${need[*]} (Debian's packages)"
  pkg="${need[*]}"
  # shellcheck disable=SC2086 # a list of package names
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkg >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkg >/dev/null; }
}

cmd_build() {
  local start=$SECONDS b dir
  node_paths
  mkdir -p "$STATE" "$BIN"
  ensure_packages
  # the control plane the node joins: the lab's own binaries
  bash "$KUBE_SH" build etcd kube-apiserver kube-controller-manager kube-scheduler kubectl share
  if keda_on; then bash "$KUBE_SH" build keda-adapter keda-operator; fi
  [ -z "$(missing_binaries)" ] && return 0
  command -v go >/dev/null 2>&1 || die "Go is needed to build the node and is not on PATH"
  exec 9>"$CACHE/.node-build.lock"
  flock 9
  for b in $(missing_binaries); do
    dir=$(mktemp -d "$CACHE/.build-node-$b.XXXXXX")
    SCRATCH+=("$dir")
    case $b in
      kubelet | kube-proxy)
        mkdir -p "$dir/out"
        run_build "$b" build_kube "$dir/out" "$dir" "$b"
        mv "$dir/out/$b" "$BIN/$b"
        ;;
      coredns)
        run_build coredns build_coredns "$BIN/.coredns.tmp" "$dir"
        mv "$BIN/.coredns.tmp" "$BIN/coredns"
        ;;
      pause.tar)
        command -v podman >/dev/null || die "podman is needed for the pause image (make image installs it)"
        run_build pause build_pause "$BIN/.pause.tar.tmp" "$dir"
        mv "$BIN/.pause.tar.tmp" "$BIN/pause.tar"
        ;;
    esac
    rm -rf "$dir"
  done
  exec 9>&-
  log "built in $((SECONDS - start)) s (cached in $NODE_HOME)"
}

# --- run ------------------------------------------------------------------------------------------

PKI="$STATE/pki"
RUN="$STATE/run"        # containerd's store, the kubelet's root, etcd's data: deleted by `down`
HOST_KUBECONFIG="$STATE/kubeconfig"

sign() { sign_with "$1" "$2" ca "$3"; } # name subject extensions: signed by the node's CA

ensure_pki() {
  [ -f "$PKI/done" ] && return 0
  log "creating certificates in .state/node/pki (openssl)"
  rm -rf "$PKI"
  mkdir -p "$PKI"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -days 3650 \
    -subj /CN=wavecom-node-ca -out "$PKI/ca.crt" 2>/dev/null
  sign apiserver /CN=kube-apiserver \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:$NODE_IP,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  sign admin /O=system:masters/CN=kube-admin \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
  sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  touch "$PKI/done"
}

# the aggregation layer (a front-proxy CA and client: the apiserver calls KEDA's metrics adapter
# through it) and one serving certificate for KEDA's operator and adapter, as kube.sh makes them
ensure_aggregation_pki() {
  [ -f "$PKI/aggregation-done" ] && return 0
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/front-proxy-ca.key" -days 3650 \
    -subj /CN=wavecom-node-front-proxy-ca -out "$PKI/front-proxy-ca.crt" 2>/dev/null
  sign_with front-proxy-client /CN=front-proxy-client front-proxy-ca \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
  sign_with keda-serving /CN=keda ca \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,DNS:keda-operator.keda.svc,DNS:keda-metrics-apiserver.keda.svc"
  mkdir -p "$PKI/keda"
  cp "$PKI/keda-serving.crt" "$PKI/keda/tls.crt"
  cp "$PKI/keda-serving.key" "$PKI/keda/tls.key"
  cp "$PKI/ca.crt" "$PKI/keda/ca.crt"
  touch "$PKI/aggregation-done"
}

kubeconfig() { # file server user
  cat >"$1" <<KUBECONFIG_EOF
apiVersion: v1
kind: Config
clusters:
  - name: wavecom-node
    cluster: {server: "$2", certificate-authority: "$PKI/ca.crt"}
users:
  - name: $3
    user: {client-certificate: "$PKI/$3.crt", client-key: "$PKI/$3.key"}
contexts:
  - name: wavecom-node
    context: {cluster: wavecom-node, user: $3}
current-context: wavecom-node
KUBECONFIG_EOF
}

# every config file the namespace's processes read, under .state/node/etc
write_configs() {
  local etc="$STATE/etc"
  mkdir -p "$etc/cni"
  kubeconfig "$HOST_KUBECONFIG" "https://127.0.0.1:$HOST_PORT" admin
  kubeconfig "$etc/admin.kubeconfig" https://127.0.0.1:6443 admin
  kubeconfig "$etc/kubelet.kubeconfig" https://127.0.0.1:6443 kubelet
  # Debian's containerd 1.6, its defaults with: its store under .state/node/run, the local pause
  # image, no OOM-score raise or AppArmor (the sandbox allows neither), Debian's CNI plugins
  containerd config default | sed \
    -e "s#^root = .*#root = \"$RUN/containerd\"#" \
    -e "s#^\(\s*sandbox_image = \).*#\1\"$PAUSE_IMAGE\"#" \
    -e 's#^\(\s*restrict_oom_score_adj = \).*#\1true#' \
    -e 's#^\(\s*disable_apparmor = \).*#\1true#' \
    -e 's#^\(\s*bin_dir = \).*#\1"/usr/lib/cni"#' \
    -e "s#^\(\s*conf_dir = \).*#\1\"$etc/cni\"#" >"$etc/containerd.toml"
  # the bridge: pods get 10.244.0.10-250 and routes to the pod and Service ranges only
  cat >"$etc/cni/10-bridge.conflist" <<CNI_EOF
{
  "cniVersion": "0.4.0",
  "name": "wavecom",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP", "rangeStart": "10.244.0.10", "rangeEnd": "10.244.0.250"}]],
        "routes": [{"dst": "$POD_CIDR"}, {"dst": "$SERVICE_CIDR"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI_EOF
  cat >"$etc/kubelet.yaml" <<KUBELET_EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
imageServiceEndpoint: unix:///run/containerd/containerd.sock
failSwapOn: false
maxOpenFiles: 20000
oomScoreAdj: 0
resolvConf: ""
clusterDomain: cluster.local
clusterDNS: ["$NODE_IP"]
address: $NODE_IP
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
protectKernelDefaults: true
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
evictionHard: {memory.available: 50Mi, nodefs.available: 2%, imagefs.available: 2%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
cgroupRoot: $CGROUP_ROOT
KUBELET_EOF
  cat >"$etc/kube-proxy.yaml" <<PROXY_EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$etc/admin.kubeconfig"}
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
iptables: {localhostNodePorts: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
PROXY_EOF
  # CoreDNS answers cluster names only (no forward plugin); the kubelet points pods at it
  cat >"$etc/Corefile" <<DNS_EOF
.:53 {
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $etc/admin.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loadbalance
}
DNS_EOF
}

# the product image as a docker archive, saved once per image ID
save_product_image() {
  PRODUCT_TAR=""
  local ref id
  ref=${NODE_IMAGE:-$(cat "$ROOT/.state/image.ref" 2>/dev/null || true)}
  [ -n "$ref" ] || { log "no .state/image.ref (make image) nor NODE_IMAGE: no product image loaded"; return 0; }
  id=$(podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null) || { log "$ref not in podman's store: not loaded"; return 0; }
  PRODUCT_TAR="$STATE/images/${id:0:12}.tar"
  if [ ! -f "$PRODUCT_TAR" ]; then
    log "saving $ref for the node (podman save)"
    mkdir -p "$STATE/images"
    rm -f "$STATE"/images/*.tar
    podman save -q --format docker-archive -o "$PRODUCT_TAR.tmp" "$ref" >/dev/null
    mv "$PRODUCT_TAR.tmp" "$PRODUCT_TAR"
  fi
}

# PID (in the host's PID namespace) of the `unshare` holding the namespace, if it runs
ns_pid() {
  local pid
  [ -f "$STATE/ns.pid" ] || return 1
  pid=$(cat "$STATE/ns.pid")
  [[ $pid =~ ^[0-9]+$ ]] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v unshare)")" ] || return 1
  printf '%s' "$pid"
}

forward_pid() {
  local pid
  [ -f "$STATE/forward.pid" ] || return 1
  pid=$(cat "$STATE/forward.pid")
  [[ $pid =~ ^[0-9]+$ ]] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v socat)")" ] || return 1
  printf '%s' "$pid"
}

hkc() { "$KBIN/kubectl" --kubeconfig "$HOST_KUBECONFIG" --request-timeout=5s "$@"; }
node_ready() {
  [ "$(hkc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

cmd_up() {
  local start pid
  node_paths
  cmd_build
  start=$SECONDS
  if ns_pid >/dev/null && forward_pid >/dev/null && node_ready; then
    log "the node runs and is Ready"
    return 0
  fi
  cmd_down
  local tool
  for tool in unshare nsenter socat iptables ip runc openssl; do
    command -v "$tool" >/dev/null || die "$tool is needed and is not on PATH"
  done
  [ -x /usr/lib/cni/bridge ] || die "Debian's containernetworking-plugins are needed (/usr/lib/cni/bridge)"
  ensure_pki
  ensure_aggregation_pki
  write_configs
  save_product_image
  mkdir -p "$STATE/log" "$RUN" "$STATE/bridge"
  log "starting the namespace (logs: .state/node/log/)"
  NODE_BIN="$BIN" NODE_KBIN="$KBIN" NODE_PRODUCT_TAR="$PRODUCT_TAR" NODE_HOST_PORTS="$HOST_SERVICES" \
    NODE_SHARE="$KSHARE" NODE_MONITORING_CRDS="$MONITORING_CRDS" NODE_KEDA="$NODE_KEDA" \
    setsid unshare --pid --fork --kill-child --mount-proc -m -n --propagation private \
    /bin/bash "$SELF" inner >>"$STATE/log/namespace.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$STATE/ns.pid"
  wait_until 10 ns_pid || die "the namespace did not start: see .state/node/log/namespace.log"
  # the only way in: 127.0.0.1:$HOST_PORT on the host -> the apiserver inside
  setsid socat "TCP-LISTEN:$HOST_PORT,bind=127.0.0.1,reuseaddr,fork" "EXEC:/bin/bash $SELF forward $pid" \
    >>"$STATE/log/forward.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/forward.pid"
  local port
  for port in $HOST_SERVICES; do
    [[ $port =~ ^[0-9]+$ ]] || die "NODE_HOST_PORTS: not a port: $port"
    setsid socat "UNIX-LISTEN:$STATE/bridge/$port.sock,fork,unlink-early" "TCP:127.0.0.1:$port" \
      >>"$STATE/log/bridge.log" 2>&1 </dev/null 9>&- &
    echo $! >"$STATE/bridge/$port.pid"
  done
  wait_until 180 node_ready || die "the node was not Ready within 180 s: see .state/node/log/"
  if keda_on; then
    wait_until 120 external_metrics_available \
      || die "KEDA's metrics adapter was not Available within 120 s: see .state/node/log/keda-*.log"
  fi
  log "node $NODE_NAME Ready in $((SECONDS - start)) s; use it with: eval \"\$(services/devstack/node.sh env)\""
}

# one forwarded connection: into the namespace's network, on to the apiserver
cmd_forward() { exec nsenter -t "$1" -n socat STDIO TCP:127.0.0.1:6443; }

# PID 1 of the namespace: mounts, network, every process, then reap until told to stop
cmd_inner() {
  local BIN=$NODE_BIN KBIN=$NODE_KBIN etc="$STATE/etc" L="$STATE/log" kv k
  trap 'exit 0' TERM INT
  # private /run (sockets, runc's state, iptables' lock), /var/lib (CNI's cache and IPAM),
  # /var/log (pod logs): nothing is written to the host's
  mount -t tmpfs -o mode=755 tmpfs /run
  mount -t tmpfs -o mode=755 tmpfs /var/lib
  mount -t tmpfs -o mode=755 tmpfs /var/log
  # protectKernelDefaults: the kubelet checks these and refuses to start when they differ; files
  # holding its values are bind-mounted over them in this mount namespace only
  mkdir -p /run/node-sysctl
  for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
    kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
    k=${kv%%=*}
    printf '%s\n' "${kv#*=}" >"/run/node-sysctl/${k//\//.}"
    mount --bind "/run/node-sysctl/${k//\//.}" "/proc/sys/$k"
  done
  ip link set lo up
  ip link add cni0 type bridge
  ip addr add "$NODE_IP/24" dev cni0
  ip link set cni0 up
  ip route add "$SERVICE_CIDR" dev cni0
  mkdir -p "$RUN/etcd" && chmod 700 "$RUN/etcd"
  "$KBIN/etcd" --name node --data-dir "$RUN/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster node=http://127.0.0.1:2380 --log-level warn >>"$L/etcd.log" 2>&1 &
  "$KBIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
    --bind-address 0.0.0.0 --secure-port 6443 --advertise-address "$NODE_IP" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --authorization-mode Node,RBAC --kubelet-preferred-address-types InternalIP \
    --kubelet-client-certificate "$PKI/admin.crt" --kubelet-client-key "$PKI/admin.key" \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --profiling=false >>"$L/kube-apiserver.log" 2>&1 &
  "$BIN/coredns" -conf "$etc/Corefile" >>"$L/coredns.log" 2>&1 &
  containerd --config "$etc/containerd.toml" >>"$L/containerd.log" 2>&1 &
  wait_until 60 ctr --address /run/containerd/containerd.sock version || echo "containerd did not answer" >&2
  ctr --address /run/containerd/containerd.sock -n k8s.io images import "$BIN/pause.tar" >>"$L/images.log" 2>&1
  if [ -n "${NODE_PRODUCT_TAR:-}" ]; then
    ctr --address /run/containerd/containerd.sock -n k8s.io images import "$NODE_PRODUCT_TAR" >>"$L/images.log" 2>&1
  fi
  wait_until 120 "$KBIN/kubectl" --kubeconfig "$etc/admin.kubeconfig" get --raw /readyz \
    || echo "kube-apiserver not ready within 120 s" >&2
  "$KBIN/kube-controller-manager" --kubeconfig "$etc/admin.kubeconfig" \
    --authentication-kubeconfig "$etc/admin.kubeconfig" --authorization-kubeconfig "$etc/admin.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --service-cluster-ip-range "$SERVICE_CIDR" --horizontal-pod-autoscaler-sync-period 5s \
    --profiling=false >>"$L/kube-controller-manager.log" 2>&1 &
  "$KBIN/kube-scheduler" --kubeconfig "$etc/admin.kubeconfig" \
    --authentication-kubeconfig "$etc/admin.kubeconfig" --authorization-kubeconfig "$etc/admin.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false >>"$L/kube-scheduler.log" 2>&1 &
  for k in /sys/fs/cgroup/*/; do mkdir -p "$k${CGROUP_ROOT#/}"; done
  "$BIN/kubelet" --config "$etc/kubelet.yaml" --kubeconfig "$etc/kubelet.kubeconfig" \
    --root-dir "$RUN/kubelet" --cert-dir "$RUN/kubelet-pki" --node-ip "$NODE_IP" \
    --hostname-override "$NODE_NAME" >>"$L/kubelet.log" 2>&1 &
  "$BIN/kube-proxy" --config "$etc/kube-proxy.yaml" >>"$L/kube-proxy.log" 2>&1 &
  for k in $HOST_SERVICES; do
    socat "TCP-LISTEN:$k,bind=$NODE_IP,fork,reuseaddr" "UNIX-CONNECT:$STATE/bridge/$k.sock" >>"$L/bridge.log" 2>&1 &
  done
  start_crds_and_keda "$etc/admin.kubeconfig" "$L"
  echo "namespace up: every process started"
  while :; do
    sleep 2 &
    wait $! || true
  done
}

crd_established() { "$KBIN/kubectl" --kubeconfig "$1" wait --for condition=Established --timeout 5s "crd/$2"; }

# inside the namespace, once the apiserver answers: KEDA's CRDs and the prometheus-operator's
# ServiceMonitor/PrometheusRule CRDs (the lab's share), then KEDA's operator and metrics adapter as
# processes of the namespace (not pods: the lab built binaries, not images), the adapter behind
# the aggregation layer through an ExternalName Service on localhost (the aggregator resolves it
# in this namespace, where localhost is the namespace's own loopback)
start_crds_and_keda() { # kubeconfig logdir
  local kc=$1 L=$2 crd
  "$KBIN/kubectl" --kubeconfig "$kc" apply --server-side --force-conflicts \
    -f "$NODE_SHARE/keda-crds.yaml" -f "$NODE_MONITORING_CRDS" >>"$L/crds.log" 2>&1
  for crd in scaledobjects.keda.sh triggerauthentications.keda.sh servicemonitors.monitoring.coreos.com prometheusrules.monitoring.coreos.com; do
    wait_until 60 crd_established "$kc" "$crd" || echo "CRD $crd not Established within 60 s" >&2
  done
  [ "$NODE_KEDA" != 0 ] || { echo "NODE_KEDA=0: KEDA not started"; return 0; }
  "$KBIN/kubectl" --kubeconfig "$kc" apply -f - >>"$L/crds.log" 2>&1 <<KEDA_EOF
apiVersion: v1
kind: Namespace
metadata: {name: keda}
---
apiVersion: v1
kind: Service
metadata: {name: keda-metrics-apiserver, namespace: keda}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: $ADAPTER_PORT}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.external.metrics.k8s.io}
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  caBundle: $(base64 -w0 "$PKI/ca.crt")
  service: {name: keda-metrics-apiserver, namespace: keda, port: $ADAPTER_PORT}
KEDA_EOF
  KUBECONFIG=$kc KEDA_CLUSTER_OBJECT_NAMESPACE=keda POD_NAMESPACE=keda WATCH_NAMESPACE="" \
    "$KBIN/keda-operator" --leader-elect=false \
    --metrics-bind-address "127.0.0.1:$KEDA_METRICS_PORT" --health-probe-bind-address "127.0.0.1:$KEDA_PROBE_PORT" \
    --metrics-service-bind-address "127.0.0.1:$KEDA_GRPC_PORT" \
    --cert-dir "$PKI/keda" --enable-cert-rotation=false \
    --enable-webhook-patching=false --enable-apiservice-patching=false --zap-log-level=info \
    >>"$L/keda-operator.log" 2>&1 &
  # the adapter's gRPC client to the operator uses ca.crt/tls.crt/tls.key of its --cert-dir (mTLS)
  KUBECONFIG=$kc KEDA_CLUSTER_OBJECT_NAMESPACE=keda POD_NAMESPACE=keda WATCH_NAMESPACE="" \
    "$KBIN/keda-adapter" --lister-kubeconfig "$kc" \
    --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --secure-port "$ADAPTER_PORT" --bind-address 127.0.0.1 --cert-dir "$PKI/keda" \
    --tls-cert-file "$PKI/keda/tls.crt" --tls-private-key-file "$PKI/keda/tls.key" \
    --metrics-service-address "localhost:$KEDA_GRPC_PORT" --port "$ADAPTER_METRICS_PORT" \
    >>"$L/keda-adapter.log" 2>&1 &
}

external_metrics_available() {
  [ "$(hkc get apiservice v1beta1.external.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ]
}

# the cgroups the kubelet and runc made (the hierarchies are the machine's): removed, deepest first
cgroup_dirs() { find /sys/fs/cgroup/*"$CGROUP_ROOT" -maxdepth 0 -type d 2>/dev/null; }
remove_cgroups() {
  local d
  for d in $(cgroup_dirs); do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
  [ -z "$(cgroup_dirs)" ]
}

cmd_down() {
  local pid child
  node_paths
  if pid=$(forward_pid); then
    kill "$pid" 2>/dev/null || true
    wait_until 10 pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/forward.pid"
  local f
  for f in "$STATE"/bridge/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if [[ $pid =~ ^[0-9]+$ ]] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v socat)")" ]; then
      kill "$pid" 2>/dev/null || true
      wait_until 10 pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$STATE/bridge"
  if pid=$(ns_pid); then
    log "stopping the namespace (unshare pid $pid)"
    # its PID 1 exits on SIGTERM; the kernel then kills every process left in the namespace
    for child in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do kill -TERM "$child" 2>/dev/null || true; done
    wait_until 30 pid_gone "$pid" || {
      for child in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do kill -KILL "$child" 2>/dev/null || true; done
      wait_until 30 pid_gone "$pid" || die "the namespace (unshare pid $pid) did not stop"
    }
  fi
  rm -f "$STATE/ns.pid"
  wait_until 30 remove_cgroups || die "cgroups left: $(cgroup_dirs | paste -sd' ' -)"
  rm -rf "$RUN"
}

cmd_status() {
  node_paths
  if ns_pid >/dev/null; then echo "namespace: running (unshare pid $(ns_pid))"; else echo "namespace: stopped"; fi
  if forward_pid >/dev/null; then echo "apiserver forward: 127.0.0.1:$HOST_PORT"; else echo "apiserver forward: stopped"; fi
  if ns_pid >/dev/null && node_ready; then echo "node $NODE_NAME: Ready"; else echo "node $NODE_NAME: not Ready"; fi
  if [ -z "$(missing_binaries)" ]; then echo "binaries: built ($BIN)"; else echo "binaries: missing $(missing_binaries | paste -sd' ' -)"; fi
}

cmd_env() {
  node_paths
  printf 'export KUBECONFIG=%q PATH=%q:"$PATH"\n' "$HOST_KUBECONFIG" "$KBIN"
}

cmd_paths() {
  node_paths
  printf 'BIN=%s\nKBIN=%s\nKUBECONFIG=%s\nSTATE=%s\nNODE=%s\nCGROUP_ROOT=%s\nMISSING=%s\n' "$BIN" "$KBIN" \
    "$HOST_KUBECONFIG" "$STATE" "$NODE_NAME" "$CGROUP_ROOT" "$(missing_binaries | paste -sd, -)"
}

main() {
  case "${1:-}" in
    build) cmd_build ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    paths) cmd_paths ;;
    inner) cmd_inner ;;
    forward) cmd_forward "$2" ;;
    *) die "usage: node.sh build|up|down|status|env|paths" ;;
  esac
}

main "$@"; exit $?
