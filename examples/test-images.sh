#!/usr/bin/env bash
# Builds each example worker image with the local Docker engine (their own FROM lines: docker.io through the
# proving ground's offline mirror, no public pulls) and
# tests it with its own .github/tests.json through `longshore test --local --image` — the way RunPod's
# hosted action tests an image. Needs the proving ground's Docker engine and base images (parts 10/20).
#   examples/test-images.sh [example ...]     (default: all)
# The legacy `docker build` ignores Dockerfile.dockerignore, so the TypeScript examples (built from the repo
# root) get a staged context holding exactly what their Dockerfile.dockerignore allows.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/lib.sh"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine (start the proving ground: proving-ground/pg up)"
examples=("$@")
[ ${#examples[@]} -gt 0 ] || examples=(hello-world hello-python hello-typescript stream-python stream-typescript iris-classifier cli-model)
fail=0
for ex in "${examples[@]}"; do
  dir="$root/examples/$ex"
  [ -f "$dir/Dockerfile" ] || die "no such example: $ex"
  tag="longshore-example/$ex:test"
  log "build $ex"
  if [ -f "$dir/tsconfig.json" ]; then
    ctx="$(mktemp -d)"
    mkdir -p "$ctx/node_modules/@types" "$ctx/examples/$ex"
    cp -r "$root/package.json" "$root/worker" "$ctx/"
    cp -r "$root/node_modules/typescript" "$root/node_modules/undici-types" "$ctx/node_modules/"
    cp -r "$root/node_modules/@types/node" "$ctx/node_modules/@types/"
    cp -r "$dir/src" "$dir/tsconfig.json" "$ctx/examples/$ex/"
    nice -n 10 docker build -q -t "$tag" -f "$dir/Dockerfile" "$ctx" >/dev/null || { rm -rf "$ctx"; die "build of $ex failed"; }
    rm -rf "$ctx"
  else
    nice -n 10 docker build -q -t "$tag" "$dir" >/dev/null
  fi
  log "test $ex"
  # an example with a worker.json is a CLI/HTTP image: run it behind longshore-adapter, as its command endpoint does
  worker=(); [ -f "$dir/worker.json" ] && worker=(--worker worker.json)
  (cd "$dir" && node -r ts-node/register "$root/cli/main.ts" test --local --image "$tag" --env SLEEP_TIME=1 --timeout 120 "${worker[@]}") || fail=1
done
exit $fail
