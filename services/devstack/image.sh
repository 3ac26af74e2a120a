#!/usr/bin/env bash
# The image (services/Dockerfile) built with podman on a machine where no container registry is
# reachable but Debian's packages are.
#
#   image.sh bases   build the two base images from Debian's packages with mmdebstrap (once: cached
#                    in ${XDG_CACHE_HOME:-~/.cache}/wavecom-notify/images-<key>, the key made of
#                    their package lists) and import them into podman's store; nothing when there
#   image.sh build   build services/Dockerfile into localhost/wavecom-notify:<key of its inputs>;
#                    nothing when that image exists (a warm `make test` pays one hash, < 1 s);
#                    the reference in .state/image.ref (make test hands it to the tests)
#   image.sh ref     print that reference (the tests run it)
#   image.sh tools   install podman, buildah, mmdebstrap and runc from Debian when missing
#
# IMAGE_BASES=debian (the default here): the Dockerfile's PYTHON_IMAGE and NODE_IMAGE build
# arguments name the mmdebstrap bases; IMAGE_BASES=registry: no build argument, the Dockerfile's
# own FROM images are pulled (where a registry is reachable: the same Dockerfile, unchanged).
# IMAGE_DEV=1 passes DEV=1 (the Tiltfile's build, which names the same target, runtime). The build reaches the Python and npm package
# registries only through pip and npm (--network host); every container run here needs
# `--runtime runc` and ulimits under this machine's hard limits (../shared/docs/containers.md).
#
# The bases: Debian 12 minbase with python3 (3.11, what python:3.11-slim-bookworm is), python3-venv
# and python-is-python3 (the Dockerfile runs `python -m venv`); the node base is the same minbase
# plus the files of the host's own `nodejs` package, version 20 (Debian 12's nodejs is 18, and the
# host's Node 20 is the one `make frontend` builds the dashboard with: the image's dashboard comes
# from the same Node, byte for byte). Its version is part of the key.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wavecom-notify"
STATE="$ROOT/.state"
IMAGE=localhost/wavecom-notify
IMAGE_BASES=${IMAGE_BASES:-debian}
IMAGE_DEV=${IMAGE_DEV:-0}
SUITE=bookworm
PYTHON_PACKAGES=python3,python3-venv,python-is-python3,ca-certificates
# what the nodejs package depends on (dpkg -s nodejs), from Debian; node itself from the host
NODE_PACKAGES=libstdc++6,libgcc-s1,python3,ca-certificates
BASE_RECIPE=1 # bump when a step below changes, so cached bases are made again
# the limits this machine allows (its hard nofile limit is 20000; podman's defaults are higher)
PODMAN_LIMITS=(--runtime runc --ulimit nofile=8192:8192 --ulimit nproc=4096:4096)

log() { printf '[image] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

apt_get_install() {
  mkdir -p "$STATE"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "$@" >"$STATE/apt-image.log" 2>&1; then
    apt-get update -qq >>"$STATE/apt-image.log" 2>&1 || die "apt-get update failed: see $STATE/apt-image.log"
    apt-get install -y -qq "$@" >>"$STATE/apt-image.log" 2>&1 || die "apt-get install $* failed: see $STATE/apt-image.log"
  fi
}

tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v buildah >/dev/null || missing+=(buildah)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v runc >/dev/null || missing+=(runc)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: apt-get install them (needs root)"
    log "installing ${missing[*]} (Debian)"
    apt_get_install "${missing[@]}"
  fi
}

node_version() {
  dpkg-query -W -f='${Version}' nodejs 2>/dev/null || true
}

# npm's version from its package.json (`npm --version` takes half a second; ref runs this often)
npm_version() {
  local cli
  cli=$(readlink -f "$(command -v npm 2>/dev/null)" 2>/dev/null) || return 0
  node -p 'require(process.argv[1]).version' "${cli%/bin/npm-cli.js}/package.json" 2>/dev/null || true
}

# certificate authorities this machine adds to Debian's (update-ca-certificates): the bases trust
# them too, or pip and npm inside the build could not verify what this machine verifies
local_cas() {
  find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | LC_ALL=C sort
}

bases_key() {
  {
    printf '%s\n' "$BASE_RECIPE" "$SUITE" "$PYTHON_PACKAGES" "$NODE_PACKAGES" \
      "nodejs=$(node_version)" "npm=$(npm_version)"
    local_cas | xargs -r -d '\n' sha256sum
  } | sha256sum | cut -c1-12
}

# podman import a tarball (PATH and LANG as the official images set them; an imported image has no
# environment, and the Dockerfile's `ENV PATH=/opt/venv/bin:$PATH` needs one); with local
# certificate authorities, pip and npm are pointed at the system bundle that holds them
import() {
  local tar=$1 ref=$2 bundle=/etc/ssl/certs/ca-certificates.crt changes=()
  if [ -n "$(local_cas)" ]; then
    changes+=(--change "ENV PIP_CERT=$bundle" --change "ENV NODE_EXTRA_CA_CERTS=$bundle")
  fi
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    "${changes[@]}" \
    --change 'CMD ["/bin/sh"]' \
    "$tar" "$ref" >/dev/null
}

# debian_base OUT.tar PACKAGES [mmdebstrap options]: Debian minbase with PACKAGES, the machine's
# local certificate authorities, written atomically
debian_base() {
  local out=$1 packages=$2
  shift 2
  local cas=()
  if [ -n "$(local_cas)" ]; then
    cas=(--customize-hook='copy-in /usr/local/share/ca-certificates /usr/local/share'
      --customize-hook='chroot "$1" update-ca-certificates >/dev/null')
  fi
  mmdebstrap --quiet --variant=minbase --format=tar --include="$packages" "${cas[@]}" "$@" \
    "$SUITE" "$out.tmp"
  mv "$out.tmp" "$out"
}

bases() {
  tools
  local key dir start
  key=$(bases_key)
  dir="$CACHE/images-$key"
  mkdir -p "$dir"
  if [ ! -s "$dir/python.tar" ]; then
    log "building the Python base from Debian ($SUITE minbase + $PYTHON_PACKAGES)"
    start=$SECONDS
    debian_base "$dir/python.tar" "$PYTHON_PACKAGES"
    log "python base in $((SECONDS - start)) s"
  fi
  if [ ! -s "$dir/node.tar" ]; then
    case "$(node --version 2>/dev/null)" in
      v20.*) ;;
      *) die "the node base copies the host's Node.js 20 (the nodejs package); node --version: $(node --version 2>&1)" ;;
    esac
    [ -n "$(node_version)" ] || die "node is not from a Debian package (dpkg -S $(command -v node))"
    log "building the Node base from Debian ($SUITE minbase + $NODE_PACKAGES), the host's nodejs $(node_version) and npm $(npm_version)"
    start=$SECONDS
    # node and its headers from the nodejs package, and the global npm as installed
    # (the host's npm may be newer than the package's: it is the one `make frontend` runs)
    tar -C / -cf "$dir/nodejs.tar" usr/bin/node usr/bin/npm usr/bin/npx usr/include/node \
      usr/lib/node_modules/npm
    debian_base "$dir/node.tar" "$NODE_PACKAGES" \
      --customize-hook="tar-in $dir/nodejs.tar /" --customize-hook='chroot "$1" npm --version >/dev/null'
    rm -f "$dir/nodejs.tar"
    log "node base in $((SECONDS - start)) s"
  fi
  podman image exists "localhost/wavecom-base-python:$key" || import "$dir/python.tar" "localhost/wavecom-base-python:$key"
  podman image exists "localhost/wavecom-base-node:$key" || import "$dir/node.tar" "localhost/wavecom-base-node:$key"
}

build_args() {
  if [ "$IMAGE_BASES" = debian ]; then
    local key
    key=$(bases_key)
    printf '%s\n' --build-arg "PYTHON_IMAGE=localhost/wavecom-base-python:$key" \
      --build-arg "NODE_IMAGE=localhost/wavecom-base-node:$key"
  fi
  [ "$IMAGE_DEV" = 0 ] || printf '%s\n' --build-arg DEV=1
}

# the build context as .dockerignore lets it in (frontend/, the pins, the package), and the
# Dockerfile itself: a file changed, added or removed there changes the key
inputs() {
  {
    printf '%s\n' services/Dockerfile .dockerignore services/requirements.txt services/pyproject.toml \
      services/entrypoint.sh
    find services/wavecom frontend \
      \( -path frontend/node_modules -o -path frontend/.next -o -path frontend/out \
      -o -path frontend/e2e -o -path frontend/test -o -name __pycache__ -o -name .mypy_cache \
      -o -name .ruff_cache \) -prune -o -type f ! -name '*.pyc' ! -name '*.tsbuildinfo' -print
  } | LC_ALL=C sort
}

ref() {
  local key
  key=$({
    inputs | xargs -d '\n' sha256sum
    build_args
  } | sha256sum | cut -c1-12)
  printf '%s:%s\n' "$IMAGE" "$key"
}

build() {
  tools
  local image
  image=$(ref)
  mkdir -p "$STATE"
  if podman image exists "$image"; then
    log "$image is built (its inputs have not changed)"
    echo "$image" >"$STATE/image.ref"
    return
  fi
  [ "$IMAGE_BASES" = registry ] || bases
  local args
  mapfile -t args < <(build_args)
  log "building $image (services/Dockerfile, log: .state/image-build.log)"
  local start=$SECONDS
  # --network host: pip and npm reach their registries from the build's RUN steps
  if ! podman build "${PODMAN_LIMITS[@]}" --network host --layers \
    -f services/Dockerfile --target runtime -t "$image" "${args[@]}" "$ROOT" >"$STATE/image-build.log" 2>&1; then
    tail -n 30 "$STATE/image-build.log" >&2
    die "podman build failed: see .state/image-build.log"
  fi
  log "built $image in $((SECONDS - start)) s"
  podman tag "$image" "$IMAGE:latest"
  echo "$image" >"$STATE/image.ref"
  # keep the three newest builds (another checkout on this machine may be testing one of them)
  podman images --format '{{.Repository}}:{{.Tag}}' --sort created "$IMAGE" |
    grep "^$IMAGE:" | grep -v ':latest$' | tail -n +4 | xargs -r podman rmi >/dev/null 2>&1 || true
}

case "$IMAGE_BASES" in
  debian | registry) ;;
  *) die "IMAGE_BASES is debian or registry, not $IMAGE_BASES" ;;
esac

case "${1:-}" in
  bases) bases ;;
  build) build ;;
  ref) ref ;;
  tools) tools ;;
  *) die "usage: image.sh bases|build|ref|tools" ;;
esac
