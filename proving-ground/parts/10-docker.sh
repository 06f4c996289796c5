#!/usr/bin/env bash
# Part 10: the container engine half of the proving ground, from Debian packages.
#   - ONE system containerd on /run/containerd/containerd.sock, configured for Docker AND Kubernetes (CRI on,
#     cgroupfs, sandbox image localhost:5000/longshore/pause:3.9, localhost:5000 as a plain-HTTP registry)
#   - dockerd (Debian docker.io) on that containerd: overlay2, cgroupfs, insecure registry localhost:5000
#   - the registry (Debian docker-registry) on localhost:5000, storage under $LONGSHORE_CACHE/registry
#   - base images made here (debootstrap → docker import → push), never pulled:
#       localhost:5000/longshore/python-base:3.11-bookworm  python3 + pip + venv, `python` = python3
#       localhost:5000/longshore/node-base:20-bookworm      the host's Node.js 20 package (node, npm)
#       localhost:5000/longshore/pause:3.9                  static pause binary (pod sandbox)
#   - a docker.io mirror (a second registry, localhost:5001) that dockerd, BuildKit (part 20) and containerd
#     (the kubelet's pulls) use for Docker Hub: it serves the same two base images under the public names that
#     users' Dockerfiles name (python:3.11.1-buster, python:3.11-slim, node:20-bookworm, … — $MIRROR_TAGS), so a
#     Dockerfile's own `FROM python:3.11.1-buster` builds here unchanged. They are OFFLINE STAND-INS, labelled
#     and logged as such: Debian bookworm's Python 3.11.2 (or the host's Node 20), not Docker Hub's images
#     (docs/proving-ground.md, "The docker.io mirror", says what differs).
# Needs root (daemons, debootstrap, iptables). PID 1 is not systemd: daemons run in the background with logs and
# pid files in $LONGSHORE_CACHE/run.
#   up | check | down (down stops the daemons; images, rootfs tarballs and registry data stay cached)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pg=$(cd "$here/.." && pwd)
. "$pg/../scripts/lib.sh"
. "$pg/engine-versions.sh"

run="$LONGSHORE_CACHE/run"
REG=localhost:5000
MIRROR_REG=localhost:5001   # stands in for docker.io (registry-1.docker.io)
# public name (Docker Hub "library/" images) -> which local base it stands in with
MIRROR_TAGS=(
  python:3.11.1-buster python:3.11-buster python:3.11-slim python:3.11-slim-bookworm python:3.11-bookworm python:3.11
  node:20-bookworm node:20-bookworm-slim node:20-slim node:20
)
CONTAINERD_SOCK=/run/containerd/containerd.sock
DOCKER_SOCK=/var/run/docker.sock
DOCKER=/usr/bin/docker   # Debian's CLI, same version as the daemon
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PY_PKGS="python3,python3-pip,python3-venv,python-is-python3,ca-certificates"
NODE_PKGS="ca-certificates"
# Extra CA certificates the host trusts (e.g. a TLS-inspecting egress proxy): copied into the base images so
# that HTTPS from containers (pip, npm) trusts what the host trusts.
HOST_CA_DIR=/usr/local/share/ca-certificates
ROOTFS_RECIPE=2   # bump when rootfs() or add_host_node() change what goes into a tarball

pid_alive() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }
wait_for() { # DESC CMD... — up to 60 s
  local desc=$1; shift
  for _ in $(seq 1 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "$desc did not come up (logs in $run)"
}
daemon() { # NAME LOG CMD... — start in the background, detached, pid in $run/NAME.pid
  local name=$1 logf=$2; shift 2
  log "starting $name (log: $logf)"
  setsid nohup "$@" > "$logf" 2>&1 < /dev/null &
  echo $! > "$run/$name.pid"
}
stop_daemon() {
  pid_alive "$1" || { rm -f "$run/$1.pid"; return 0; }
  local pid; pid=$(cat "$run/$1.pid")
  kill "$pid"
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$run/$1.pid"
}

write_configs() {
  mkdir -p "$run/containerd-certs.d/$REG" "$run/containerd-certs.d/docker.io" "$LONGSHORE_CACHE/registry" \
    "$LONGSHORE_CACHE/registry-mirror" /etc/cni/net.d
  cat > "$run/containerd-certs.d/$REG/hosts.toml" <<TOML
# localhost:5000 is the proving ground's plain-HTTP registry (proving-ground/parts/10-docker.sh)
server = "http://$REG"
[host."http://$REG"]
  capabilities = ["pull", "resolve", "push"]
  skip_verify = true
TOML
  cat > "$run/containerd-certs.d/docker.io/hosts.toml" <<TOML
# docker.io is served by the proving ground's offline mirror on $MIRROR_REG (proving-ground/parts/10-docker.sh):
# stand-ins for the public base images, nothing else (there is no route to Docker Hub here).
server = "https://registry-1.docker.io"
[host."http://$MIRROR_REG"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
TOML
  cat > "$run/containerd.toml" <<TOML
# Written by proving-ground/parts/10-docker.sh: one containerd for dockerd (namespace moby) and the kubelet
# (CRI, namespace k8s.io).
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REG/longshore/pause:3.9"
  # This VM grants root no CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj: pod sandboxes (-998) and
  # Guaranteed pods (-997) fail with "can't get final child's PID from pipe: EOF". Clamp to containerd's own value.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$run/containerd-certs.d"
TOML
  cat > "$run/registry.yml" <<YAML
# Written by proving-ground/parts/10-docker.sh
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $LONGSHORE_CACHE/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
  secret: longshore-local-registry
YAML
  cat > "$run/registry-mirror.yml" <<YAML
# Written by proving-ground/parts/10-docker.sh: the offline docker.io mirror (stand-in base images only)
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $LONGSHORE_CACHE/registry-mirror
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5001
  secret: longshore-local-registry-mirror
YAML
}

start_daemons() {
  mkdir -p "$run"
  write_configs
  # A containerd started from an older config keeps it until restarted (e.g. restrict_oom_score_adj, without
  # which no pod sandbox starts here): restart it when the config it runs with is not the current one.
  # Running containers survive (their shims are separate processes); dockerd and kubelet reconnect.
  if pid_alive containerd && ! cmp -s "$run/containerd.toml" "$run/containerd.toml.running"; then
    log "containerd config changed: restarting containerd"
    stop_daemon containerd
  fi
  if ! pid_alive containerd; then
    [ -S "$CONTAINERD_SOCK" ] && ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1 \
      && die "a containerd not started by this script already serves $CONTAINERD_SOCK; stop it first"
    daemon containerd "$run/containerd.log" containerd --config "$run/containerd.toml"
    cp "$run/containerd.toml" "$run/containerd.toml.running"
  fi
  wait_for containerd ctr --address "$CONTAINERD_SOCK" version
  local dockerd_args=(--containerd="$CONTAINERD_SOCK" --storage-driver=overlay2
    --exec-opt native.cgroupdriver=cgroupfs --insecure-registry "$REG" --insecure-registry "$MIRROR_REG"
    --registry-mirror "http://$MIRROR_REG" -H "unix://$DOCKER_SOCK" --pidfile "$run/dockerd.own.pid")
  # Same rule as containerd: a dockerd started with other flags (an older proving ground) is restarted.
  if pid_alive dockerd && [ "$(cat "$run/dockerd.args.running" 2>/dev/null)" != "${dockerd_args[*]}" ]; then
    log "dockerd flags changed: restarting dockerd"
    stop_daemon dockerd
  fi
  if ! pid_alive dockerd; then
    daemon dockerd "$run/dockerd.log" dockerd "${dockerd_args[@]}"
    echo "${dockerd_args[*]}" > "$run/dockerd.args.running"
  fi
  wait_for dockerd "$DOCKER" -H "unix://$DOCKER_SOCK" version
  if ! pid_alive registry; then
    daemon registry "$run/registry.log" docker-registry serve "$run/registry.yml"
  fi
  if ! pid_alive registry-mirror; then
    daemon registry-mirror "$run/registry-mirror.log" docker-registry serve "$run/registry-mirror.yml"
  fi
  wait_for registry curl -fsS "http://$REG/v2/"
  wait_for registry-mirror curl -fsS "http://$MIRROR_REG/v2/"
}

# rootfs NAME PACKAGES EXTRA-KEY → path of a cached tarball of a debootstrap'd minbase rootfs
rootfs() {
  local name=$1 pkgs=$2 extra=${3:-}
  local key; key=$(printf '%s|%s|%s|%s|%s' "$ROOTFS_RECIPE" "$DEBIAN_SUITE" "$pkgs" "$extra" "$(cat "$HOST_CA_DIR"/*.crt 2>/dev/null | sha256sum)" | sha256sum | cut -c1-12)
  local tar="$LONGSHORE_CACHE/rootfs/$DEBIAN_SUITE-$name-$key.tar"
  [ -s "$tar" ] && { echo "$tar"; return 0; }
  mkdir -p "$LONGSHORE_CACHE/rootfs"
  local dir; dir=$(mktemp -d "$LONGSHORE_CACHE/rootfs/.build-XXXX")
  log "debootstrap $DEBIAN_SUITE minbase + $pkgs (cold: a few minutes)"
  debootstrap --variant=minbase --include="$pkgs" "$DEBIAN_SUITE" "$dir" "$MIRROR" > "$LONGSHORE_CACHE/rootfs/$name.debootstrap.log" 2>&1 \
    || { tail -20 "$LONGSHORE_CACHE/rootfs/$name.debootstrap.log" >&2; rm -rf "$dir"; die "debootstrap failed"; }
  if compgen -G "$HOST_CA_DIR/*.crt" >/dev/null; then
    mkdir -p "$dir$HOST_CA_DIR"; cp "$HOST_CA_DIR"/*.crt "$dir$HOST_CA_DIR/"
    chroot "$dir" update-ca-certificates >/dev/null 2>&1 || true
  fi
  if [ "$name" = node ]; then add_host_node "$dir"; fi
  chroot "$dir" apt-get clean
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/tmp/* "$dir"/var/log/*.log
  tar -C "$dir" --numeric-owner -cf "$tar.tmp" .
  rm -rf "$dir"; mv "$tar.tmp" "$tar"
  for old in "$LONGSHORE_CACHE/rootfs/$DEBIAN_SUITE-$name-"*.tar; do [ "$old" = "$tar" ] || rm -f "$old"; done  # superseded recipes
  echo "$tar"
}

# Node.js 20 for the node base: Debian 12 ships Node 18, so the image gets the files of the host's own
# `nodejs` 20 package (node + npm + corepack), whose shared libraries (libc, libstdc++, libgcc) minbase has.
# The package's own binary, not whatever node is first on PATH (scripts put Node 22 from the cache there).
node_version() { /usr/bin/node --version 2>/dev/null || true; }
add_host_node() {
  local dir=$1
  case "$(node_version)" in v20.*) ;; *) die "node-base needs the host's Node.js 20 (found $(node_version || echo none))";; esac
  # The package's files, plus npm and corepack as they are now (npm may have been upgraded in place).
  { dpkg-query -L nodejs | while read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then echo "${f#/}"; fi; done | grep -v '^usr/lib/node_modules/'
    echo usr/lib/node_modules/npm; echo usr/lib/node_modules/corepack; } > "$dir/.nodejs-files"
  tar -C / -cf - -T "$dir/.nodejs-files" | tar -C "$dir" -xf -
  rm -f "$dir/.nodejs-files"
  chroot "$dir" node --version > /dev/null || die "node does not run inside the node-base rootfs"
  chroot "$dir" npm --version > /dev/null || die "npm does not run inside the node-base rootfs"
}

# manifest_exists HOST/REPO:TAG — the registry at HOST (plain HTTP) serves that tag
manifest_exists() {
  local host=${1%%/*} path=${1#*/}
  curl -fsS -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$host/v2/${path%:*}/manifests/${path##*:}"
}

# image REF TARBALL CHANGES... — import + push unless the registry already has REF built from TARBALL
image() {
  local ref=$1 tar=$2; shift 2
  local stampf="$LONGSHORE_CACHE/registry/.longshore-$(echo "$ref" | tr '/:' '__')"
  local key; key="$(basename "$tar")|$(stat -c %s-%Y "$tar")|$*"
  if [ "$(cat "$stampf" 2>/dev/null)" = "$key" ] && manifest_exists "$ref"; then
    return 0
  fi
  local args=(); for c in "$@"; do args+=(--change "$c"); done
  log "docker import → $ref"
  "$DOCKER" import "${args[@]}" "$tar" "$ref" >/dev/null
  "$DOCKER" push "$ref" >/dev/null
  echo "$key" > "$stampf"
}

build_images() {
  local PATHENV='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  # pause
  local pdir="$LONGSHORE_CACHE/pause"; local pkey; pkey=$(sha256sum "$pg/images/pause.c" | cut -c1-12)
  if [ ! -s "$pdir/pause-$pkey.tar" ]; then
    mkdir -p "$pdir/root"
    gcc -Os -static -o "$pdir/root/pause" "$pg/images/pause.c"; strip "$pdir/root/pause"
    tar -C "$pdir/root" --numeric-owner --owner=0 --group=0 -cf "$pdir/pause-$pkey.tar" pause
  fi
  image "$REG/longshore/pause:3.9" "$pdir/pause-$pkey.tar" 'ENTRYPOINT ["/pause"]'
  # python
  local py; py=$(rootfs python "$PY_PKGS")
  image "$REG/longshore/python-base:3.11-bookworm" "$py" "$PATHENV" 'ENV LANG=C.UTF-8' \
    'ENV PIP_BREAK_SYSTEM_PACKAGES=1' 'ENV PIP_ROOT_USER_ACTION=ignore' 'ENV PYTHONUNBUFFERED=1' 'CMD ["python3"]'
  # node
  local nd; nd=$(rootfs node "$NODE_PKGS" "node-$(node_version)")
  image "$REG/longshore/node-base:20-bookworm" "$nd" "$PATHENV" 'ENV LANG=C.UTF-8' 'CMD ["node"]'
  # the docker.io mirror: the same bases under the public names, labelled as stand-ins
  local t tar base extra
  for t in "${MIRROR_TAGS[@]}"; do
    case "$t" in
      python:*) tar=$py base="Debian $DEBIAN_SUITE python3 3.11.2, pip, venv"
                extra=('ENV PIP_BREAK_SYSTEM_PACKAGES=1' 'ENV PIP_ROOT_USER_ACTION=ignore' 'ENV PYTHONUNBUFFERED=1' 'CMD ["python3"]') ;;
      node:*)   tar=$nd base="Debian $DEBIAN_SUITE, the host's Node.js $(node_version)"; extra=('CMD ["node"]') ;;
    esac
    image "$MIRROR_REG/library/$t" "$tar" "$PATHENV" 'ENV LANG=C.UTF-8' "ENV LONGSHORE_STAND_IN=docker.io/library/$t" \
      "LABEL org.opencontainers.image.description=\"Longshore proving ground: offline stand-in for docker.io/library/$t ($base)\"" \
      "${extra[@]}"
  done
  log "docker.io mirror $MIRROR_REG: offline stand-ins for ${MIRROR_TAGS[*]} (not Docker Hub's images: docs/proving-ground.md)"
}

check() {
  for d in containerd dockerd registry registry-mirror; do pid_alive "$d" || die "$d is not running (pg up)"; done
  ctr --address "$CONTAINERD_SOCK" plugins ls 2>/dev/null | grep -q 'io.containerd.grpc.v1.*cri.*ok' || die "containerd CRI plugin is not ok"
  "$DOCKER" info --format '{{.Driver}} {{.CgroupDriver}}' | grep -q '^overlay2 cgroupfs$' || die "dockerd is not overlay2+cgroupfs"
  local ref t
  for ref in longshore/python-base:3.11-bookworm longshore/node-base:20-bookworm longshore/pause:3.9; do
    manifest_exists "$REG/$ref" || die "$REG/$ref is not in the registry"
  done
  for t in "${MIRROR_TAGS[@]}"; do manifest_exists "$MIRROR_REG/library/$t" || die "docker.io mirror lacks $t (pg up)"; done
  local out
  out=$("$DOCKER" run --rm "$REG/longshore/python-base:3.11-bookworm" sh -c 'python --version && pip --version | cut -d" " -f1-2') \
    || die "python-base does not run"
  log "python-base: $(echo "$out" | tr '\n' ' ')"
  out=$("$DOCKER" run --rm "$REG/longshore/node-base:20-bookworm" sh -c 'node --version && npm --version') || die "node-base does not run"
  case "$out" in v20.*) ;; *) die "node-base runs $out, expected Node 20";; esac
  log "node-base: node $(echo "$out" | tr '\n' ' ')"
  # dockerd resolves a Docker Hub name through the mirror (`docker pull python:3.11-slim` as a user types it)
  "$DOCKER" pull -q python:3.11-slim >/dev/null || die "dockerd cannot pull python:3.11-slim through the docker.io mirror"
  out=$("$DOCKER" run --rm python:3.11-slim sh -c 'python --version; echo $LONGSHORE_STAND_IN') || die "python:3.11-slim does not run"
  log "docker.io mirror: python:3.11-slim -> $(echo "$out" | tr '\n' ' ')"
}

case "${1:-}" in
  up)
    t0=$(date +%s)
    # Debian's docker.io/containerd/docker-registry postinst scripts would start their services through
    # invoke-rc.d (with their default configs); forbid that while installing when no policy says so already.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt_install docker.io containerd runc docker-registry debootstrap iptables ca-certificates gcc libc6-dev curl
    if [ "$(trap -p EXIT)" != "" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
    start_daemons
    build_images
    log "part 10 ready in $(( $(date +%s) - t0 ))s"
    check ;;
  check) check ;;
  down)
    stop_daemon registry-mirror
    stop_daemon registry
    stop_daemon dockerd
    stop_daemon containerd ;;
  *) echo "usage: $0 up|check|down" >&2; exit 2 ;;
esac
