# Shared settings/helpers for the Kubernetes half of the proving ground (parts 40, 50, 60 and smoke.sh).
# Source after scripts/lib.sh.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/engine-versions.sh"   # PG_GO_BUILD_FLAGS
K8S_VERSION="${K8S_VERSION:-v1.30.14}"           # k8s.io/kubernetes; staging modules at v0.30.14
ETCD_DEB="etcd-server"                           # Debian bookworm: 3.4.23
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.1}"
KEDA_VERSION="${KEDA_VERSION:-v2.17.2}"
FAKE_GPU_PLUGIN_VERSION="${FAKE_GPU_PLUGIN_VERSION:-0.1.0}"
GO_TOOLCHAIN_K8S="${GO_TOOLCHAIN_K8S:-go1.23.10}" # .go-version of kubernetes v1.30.14; also builds CoreDNS/KEDA/plugin

KBIN="$LONGSHORE_CACHE/kubernetes-$K8S_VERSION/bin"
RUN="$LONGSHORE_CACHE/run"
KDIR="$RUN/k8s"            # pki, etcd data, component configs
LOGS="$RUN/logs"
PIDS="$RUN/pids"
KUBECONFIG_FILE="$RUN/kubeconfig"
IMAGES_ENV="$RUN/images.env"
REGISTRY="${LONGSHORE_REGISTRY:-localhost:5000}"
CONTAINERD_SOCK=/run/containerd/containerd.sock
NODE_NAME=longshore-node
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
CLUSTER_DNS_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
CNI_BRIDGE=lsbr0
GPU_TAINT_KEY=nvidia.com/gpu
GPU_COUNT="${LONGSHORE_FAKE_GPU_COUNT:-8}"
GPU_PRODUCT=NVIDIA-H100-80GB-HBM3
INSTANCE_TYPE=p5.48xlarge
mkdir -p "$RUN" "$LOGS" "$PIDS"

node_ip() { # the address pods and the host both reach the node on
  ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1
}
kc() { "$KBIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# Daemons run in their own session, logs in $LOGS/NAME.log, pid in $PIDS/NAME.pid.
alive() { local p; p=$(cat "$PIDS/$1.pid" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
start_daemon() { # NAME CMD...
  local name=$1; shift
  alive "$name" && return 0
  log "start $name (log $LOGS/$name.log)"
  echo "=== $(date -u +%FT%TZ) start: $*" >> "$LOGS/$name.log"
  setsid "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
}
stop_daemon() { # NAME — SIGTERM, then SIGKILL after 20 s
  local name=$1 p i
  p=$(cat "$PIDS/$name.pid" 2>/dev/null) || return 0
  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
    log "stop $name ($p)"
    kill "$p" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
  fi
  rm -f "$PIDS/$name.pid"
}
wait_for() { # SECONDS DESCRIPTION CMD... — polls CMD every second
  local secs=$1 what=$2 i; shift 2
  for ((i = 0; i < secs; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}
need_engine() { # the engine half (parts 10/20): docker + registry + containerd with CRI
  wait_for "${1:-300}" docker docker info || die "docker engine not answering (proving-ground/parts/10-docker.sh up)"
  wait_for 60 registry curl -sf "http://$REGISTRY/v2/" || die "registry $REGISTRY not answering"
}
# push_rootfs_image DIR REF [docker-import --change ...] — a FROM-scratch image from a directory, pushed;
# prints the digest reference (REPO@sha256:...).
push_rootfs_image() {
  local dir=$1 ref=$2; shift 2
  local changes=() c
  for c in "$@"; do changes+=(--change "$c"); done
  tar --numeric-owner --owner=0 --group=0 -C "$dir" -c . | docker import "${changes[@]}" - "$ref" >/dev/null
  docker push "$ref" >/dev/null
  docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" | grep "^${ref%:*}@" | head -1
}
# set_image_env KEY VALUE — upsert a line in $IMAGES_ENV
set_image_env() {
  touch "$IMAGES_ENV"
  (flock 9; grep -v "^$1=" "$IMAGES_ENV" > "$IMAGES_ENV.tmp" || true; echo "$1=$2" >> "$IMAGES_ENV.tmp"; mv "$IMAGES_ENV.tmp" "$IMAGES_ENV") 9>"$IMAGES_ENV.lock"
}
# go_build_static DIR OUT PKG [LDFLAGS] — CGO-free build with the pinned toolchain, nice'd
go_build_static() {
  (cd "$1" && GOTOOLCHAIN="$GO_TOOLCHAIN_K8S" GOFLAGS=-mod=mod CGO_ENABLED=0 nice -n 10 \
    go build $PG_GO_BUILD_FLAGS -ldflags "-s -w ${4:-}" -o "$2.new" "$3") && mv "$2.new" "$2"
}
# registry_digest REPO:TAG — prints REPO@sha256:... when the tag exists in the local registry
registry_digest() {
  local ref=$1 repo tag path d
  repo=${ref%:*}; tag=${ref##*:}; path=${repo#"$REGISTRY"/}
  d=$(curl -sfI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$REGISTRY/v2/$path/manifests/$tag" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
  [ -n "$d" ] && echo "$repo@$d"
}
# ensure_image KEY REPO:TAG STAMP BUILDFN — builds+pushes with BUILDFN (which prints the digest ref) unless the
# tag is in the registry and was built from STAMP; records KEY=digest-ref in images.env; prints the ref.
ensure_image() {
  local key=$1 ref=$2 stamp=$3 fn=$4 sfile d
  sfile="$LONGSHORE_CACHE/image-stamps/$(echo "$ref" | tr '/:' '__')"
  mkdir -p "$(dirname "$sfile")"
  d=$(registry_digest "$ref" || true)
  if [ -z "$d" ] || [ "$(cat "$sfile" 2>/dev/null)" != "$stamp" ]; then
    log "build image $ref"
    d=$("$fn" "$ref") || die "building $ref failed"
    [ -n "$d" ] || die "no digest for $ref after push"
    echo "$stamp" > "$sfile"
  fi
  set_image_env "$key" "$d"
  echo "$d"
}
