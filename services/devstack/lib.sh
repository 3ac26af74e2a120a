# Functions kube.sh and node.sh share (sourced by both; nothing runs here). They read the
# sourcing script's globals: $PKI (sign_with) and $K8S_VERSION (kube_ldflags).

wait_until() { # seconds command...: poll the condition until it holds or the deadline passes
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

pid_gone() { ! kill -0 "$1" 2>/dev/null; }

go_env() {
  export CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local
  export GOCACHE="${GOCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/go-build}"
  export GOFLAGS="-buildvcs=false"
}

kube_ldflags() {
  local minor=${K8S_VERSION#v1.} pkg out=""
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    out+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    out+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$out"
}

# the module's source, writable, in a scratch directory; prints the directory
module_copy() { # module@version scratch
  local dir
  dir=$(go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { echo "go mod download $1 gave no Dir" >&2; return 1; }
  cp -r "$dir" "$2/src"
  chmod -R u+w "$2/src"
  printf '%s' "$2/src"
}

sign_with() { # name subject ca extensions: a key and a certificate signed by $PKI/<ca>
  local name=$1 subj=$2 ca=$3 ext=$4
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  printf '%b\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
