#!/usr/bin/env bash
# Part 70: a real S3-compatible object store for the model cache (components/modelCache.ts) and its e2e:
# SeaweedFS (Apache-2.0; MinIO's server is AGPL) built from github.com/seaweedfs/seaweedfs on the Go module proxy
# into $LONGSHORE_CACHE/seaweedfs-<version>/bin/weed, run on the host as `weed mini` (master + volume + filer + S3
# gateway in one process, data under $LONGSHORE_CACHE/run/s3). Pods reach it on the node address, port S3_PORT;
# the endpoint and the static credentials go to $LONGSHORE_CACHE/run/images.env (S3_ENDPOINT, S3_ACCESS_KEY,
# S3_SECRET_KEY) for the stack and the tests.
#   build | up | check | down
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/lib.sh"
. "$root/proving-ground/k8s/common.sh"

# A pseudo-version: SeaweedFS's module has no semver tags on the proxy (go-partial.tsv lists this one).
SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
S3_PORT="${LONGSHORE_S3_PORT:-8333}"
S3_ACCESS_KEY="${LONGSHORE_S3_ACCESS_KEY:-longshore}"
S3_SECRET_KEY="${LONGSHORE_S3_SECRET_KEY:-longshore-proving-ground}"
dest="$LONGSHORE_CACHE/seaweedfs-$SEAWEEDFS_VERSION"
weed="$dest/bin/weed"
data="$RUN/s3"

build() {
  [ -x "$weed" ] && return 0
  mkdir -p "$dest/bin"
  if [ ! -f "$dest/src/go.mod" ]; then
    local d
    d=$(GOFLAGS=-mod=mod go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    rm -rf "$dest/src"; cp -r "$d" "$dest/src"; chmod -R u+w "$dest/src"
  fi
  log "build seaweedfs weed $SEAWEEDFS_VERSION (nice -n 10; cold: many minutes)"
  local t0; t0=$(date +%s)
  # SeaweedFS's go.mod asks for Go 1.26.6: the machine's Go (GOTOOLCHAIN=local), not the Kubernetes pin.
  (cd "$dest/src" && GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 nice -n 10 \
    go build $PG_GO_BUILD_FLAGS -ldflags "-s -w" -o "$weed.new" ./weed) && mv "$weed.new" "$weed"
  echo "$(( $(date +%s) - t0 ))" > "$dest/build-seconds"
}

endpoint() { echo "http://$(node_ip):$S3_PORT"; }

# S3 requests signed with SigV4 by curl itself (--aws-sigv4): no S3 client on the host.
s3curl() { curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$@"; }

# The model cache's test object (stacks/local.defaults.yaml longshore:coldStart): 4 MiB of sha256 blocks, the
# same bytes on every machine, so its checksum is a constant in the stack config.
SEED_BUCKET=longshore-models
SEED_KEY=tiny/model.bin
SEED_SHA256=829979a3dc235d5f9b36210f2fd84ada1dd5c76e67272d91c9ddd2d0cb3b928f
seed() {
  local f="$RUN/s3-seed/model.bin" base="http://127.0.0.1:$S3_PORT"
  mkdir -p "$(dirname "$f")"
  [ -f "$f" ] && [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$SEED_SHA256" ] || python3 -c '
import hashlib, sys
open(sys.argv[1], "wb").write(b"".join(hashlib.sha256(b"longshore-model-%d" % i).digest() for i in range(131072)))' "$f"
  [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$SEED_SHA256" ] || die "seed object $f does not have sha256 $SEED_SHA256"
  s3curl -o /dev/null "$base/$SEED_BUCKET/" 2>/dev/null || s3curl -o /dev/null -X PUT "$base/$SEED_BUCKET/"
  s3curl -o /dev/null -I "$base/$SEED_BUCKET/$SEED_KEY" 2>/dev/null || s3curl -o /dev/null -T "$f" "$base/$SEED_BUCKET/$SEED_KEY"
}

s3_ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/" | grep -qE '^(200|403)$'; }

up() {
  build
  mkdir -p "$data"
  # Static credentials for the S3 gateway: one admin identity (SeaweedFS reads AWS_ACCESS_KEY_ID/SECRET at start).
  AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
    start_daemon seaweedfs "$weed" mini -dir="$data" -ip="$(node_ip)" -ip.bind=0.0.0.0 -s3.port="$S3_PORT" \
      -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false
  wait_for 120 "seaweedfs s3" s3_ready || { tail -30 "$LOGS/seaweedfs.log" >&2; die "SeaweedFS S3 not answering on :$S3_PORT"; }
  seed
  set_image_env S3_ENDPOINT "$(endpoint)"
  set_image_env S3_ACCESS_KEY "$S3_ACCESS_KEY"
  set_image_env S3_SECRET_KEY "$S3_SECRET_KEY"
  check
}

check() {
  [ -x "$weed" ] || { echo "weed not built: $weed (proving-ground/parts/70-s3.sh build)" >&2; return 1; }
  alive seaweedfs || { echo "seaweedfs not running (proving-ground/parts/70-s3.sh up)" >&2; return 1; }
  s3_ready || { echo "SeaweedFS S3 not answering on :$S3_PORT" >&2; return 1; }
  s3curl -o /dev/null -I "http://127.0.0.1:$S3_PORT/$SEED_BUCKET/$SEED_KEY" ||
    { echo "seed object s3://$SEED_BUCKET/$SEED_KEY missing (proving-ground/parts/70-s3.sh up)" >&2; return 1; }
  echo "seaweedfs S3 up at $(endpoint) (data $data; seed s3://$SEED_BUCKET/$SEED_KEY)"
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  check) check ;;
  down) stop_daemon seaweedfs ;;
  *) echo "usage: $0 build|up|check|down" >&2; exit 2 ;;
esac
