#!/usr/bin/env bash
# Part 20: BuildKit (buildkitd + buildctl) built from the Go module proxy, run as a host daemon with the OCI
# worker (Debian runc), listening on a unix socket and tcp://127.0.0.1:1234, treating localhost:5000 as a
# plain-HTTP registry. The docker-build Pulumi provider reaches it through a `remote` buildx builder named
# "longshore" (registered in $BUILDX_CONFIG by part 30's longshore-buildx-builder; see env.sh).
#   up     build (cold: minutes) and start buildkitd; check
#   check  buildctl builds a Dockerfile FROM localhost:5000/longshore/python-base and pushes it
#   down   stop buildkitd (its cache stays under $LONGSHORE_CACHE/buildkit-state)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pg=$(cd "$here/.." && pwd)
. "$pg/../scripts/lib.sh"
. "$pg/engine-versions.sh"

dest="$LONGSHORE_CACHE/buildkit-$BUILDKIT_VERSION"
bin="$dest/bin"
run="$LONGSHORE_CACHE/run"
state="$LONGSHORE_CACHE/buildkit-state"
sock_dir=/run/longshore
sock="$sock_dir/buildkitd.sock"
tcp=tcp://127.0.0.1:1234
pidfile="$run/buildkitd.pid"
export BUILDKIT_HOST="unix://$sock"

build() {
  [ -x "$bin/buildkitd" ] && [ -x "$bin/buildctl" ] && [ "$(cat "$dest/.stamp" 2>/dev/null)" = "$BUILDKIT_VERSION" ] && return 0
  export GOFLAGS="-mod=mod -buildvcs=false" GOPROXY="${GOPROXY:-https://proxy.golang.org}" CGO_ENABLED=0 GOTOOLCHAIN=local
  local src="$dest/src"; rm -rf "$src"; mkdir -p "$src" "$bin"; cd "$src"
  printf 'module longshore.dev/buildkit\n\ngo 1.25\n\nrequire github.com/moby/buildkit %s\n' "$BUILDKIT_VERSION" > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/moby/buildkit/cmd/buildkitd"\n\t_ "github.com/moby/buildkit/cmd/buildctl"\n)\n' > tools.go
  log "buildkit $BUILDKIT_VERSION: go mod tidy"
  nice -n 10 go mod tidy
  local ld="-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit"
  local t0; t0=$(date +%s)
  log "go build buildkitd, buildctl (nice -n 10)"
  nice -n 10 go build $PG_GO_BUILD_FLAGS -tags "osusergo netgo" -ldflags "$ld" -o "$bin/buildkitd.new" github.com/moby/buildkit/cmd/buildkitd
  nice -n 10 go build $PG_GO_BUILD_FLAGS -ldflags "$ld" -o "$bin/buildctl.new" github.com/moby/buildkit/cmd/buildctl
  mv "$bin/buildkitd.new" "$bin/buildkitd"; mv "$bin/buildctl.new" "$bin/buildctl"
  echo "$(( $(date +%s) - t0 ))" > "$dest/build-seconds"
  echo "$BUILDKIT_VERSION" > "$dest/.stamp"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
  apt_install runc iptables
  mkdir -p "$run" "$state" "$sock_dir"
  cat > "$run/buildkitd.toml.new" <<TOML
# Written by proving-ground/parts/20-buildkit.sh
root = "$state"
[grpc]
  address = ["unix://$sock", "$tcp"]
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  # RUN steps use the host network: the host reaches the package registries (PyPI, npm, Debian) and the
  # local registry on localhost:5000.
  networkMode = "host"
  gc = true
  gckeepstorage = "10GB"
[worker.containerd]
  enabled = false
[registry."localhost:5000"]
  http = true
  insecure = true
# docker.io comes from the proving ground's offline mirror (part 10): stand-ins for the public base images.
[registry."docker.io"]
  mirrors = ["localhost:5001"]
[registry."localhost:5001"]
  http = true
  insecure = true
TOML
  # Already serving with this config: nothing to do. Serving with another (an older proving ground): restart.
  if running && cmp -s "$run/buildkitd.toml.new" "$run/buildkitd.toml"; then
    "$bin/buildctl" --addr "unix://$sock" debug workers >/dev/null 2>&1 && { rm -f "$run/buildkitd.toml.new"; return 0; }
  fi
  if running; then
    log "buildkitd config changed: restarting buildkitd"
    kill "$(cat "$pidfile")"; for _ in $(seq 1 20); do running || break; sleep 0.5; done
  fi
  mv "$run/buildkitd.toml.new" "$run/buildkitd.toml"
  rm -f "$sock"
  log "starting buildkitd (log: $run/buildkitd.log)"
  setsid nohup "$bin/buildkitd" --config "$run/buildkitd.toml" > "$run/buildkitd.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  for _ in $(seq 1 60); do
    "$bin/buildctl" --addr "unix://$sock" debug workers >/dev/null 2>&1 && return 0
    running || { tail -20 "$run/buildkitd.log" >&2; die "buildkitd exited"; }
    sleep 0.5
  done
  tail -20 "$run/buildkitd.log" >&2; die "buildkitd did not answer on $sock"
}

check() {
  running || die "buildkitd is not running"
  "$bin/buildctl" --addr "$tcp" debug workers >/dev/null || die "buildkitd does not answer on $tcp"
  local ctx; ctx=$(mktemp -d)
  cat > "$ctx/Dockerfile" <<'DF'
# A user's FROM line as written: docker.io comes from the proving ground's mirror (part 10).
FROM python:3.11.1-buster
RUN python -c 'import sys; print(sys.version)' > /python-version
DF
  "$bin/buildctl" --addr "unix://$sock" build --frontend dockerfile.v0 --local context="$ctx" --local dockerfile="$ctx" \
    --output type=image,name=localhost:5000/longshore/pg-check:buildkit,push=true,registry.insecure=true \
    > "$run/buildkit-check.log" 2>&1 || { tail -30 "$run/buildkit-check.log" >&2; rm -rf "$ctx"; die "buildctl build+push failed"; }
  rm -rf "$ctx"
  curl -fsS http://localhost:5000/v2/longshore/pg-check/manifests/buildkit \
    -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' >/dev/null \
    || die "pushed image not in the registry"
  log "buildkitd $BUILDKIT_VERSION: built and pushed localhost:5000/longshore/pg-check:buildkit"
}

case "${1:-}" in
  up) t0=$(date +%s); build; start; log "part 20 ready in $(( $(date +%s) - t0 ))s"; check ;;
  check) check ;;
  down)
    if running; then kill "$(cat "$pidfile")"; for _ in $(seq 1 20); do running || break; sleep 0.5; done; fi
    rm -f "$pidfile" ;;
  build) build ;;
  *) echo "usage: $0 up|check|down|build" >&2; exit 2 ;;
esac
