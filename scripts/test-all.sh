#!/usr/bin/env bash
# Everything CI runs, in order: install test dependencies, the fast suites (`npm test`: typecheck, Pulumi mock
# tests, gateway + worker SDK + CLI against real Redis and the real RunPod SDKs), workflow lint, then the
# proving ground, the npm package in a fresh project, and the end-to-end suite (real `pulumi up` on a real
# Kubernetes with KEDA; the Python SDK's wheel in a fresh venv).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
use_node  # Node.js >= 22 first on PATH for everything below (package.json engines; scripts/lib.sh)
bash scripts/install-deps.sh
npm test
npm run lint:workflows
t0=$(date +%s)
bash proving-ground/pg up
log "proving ground up in $(( $(date +%s) - t0 )) s"
# the npm package: built (dist/, which the e2e's Python programs start the provider from, prebuilt), packed, and
# installed into a fresh project outside the repository (needs the proving ground's pulumi CLI)
pack=$(mktemp -d)
( . proving-ground/env.sh && npm run build && npm pack --ignore-scripts --pack-destination "$pack" >/dev/null &&
  LONGSHORE_PACKAGE_TARBALL=$(ls "$pack"/longshore-*.tgz) npm run test:package )
rm -rf "$pack"
# every example worker built into an image here (local base images, no pulls) and tested with its own
# .github/tests.json through `longshore test --local --image`, the way the hosted action tests an image
bash examples/test-images.sh
npm run test:e2e
