#!/usr/bin/env bash
# Everything CI runs, in order: install test dependencies, the fast suites (`npm test`: typecheck, Pulumi mock
# tests, gateway + worker SDK + CLI against real Redis and the real RunPod SDKs), workflow lint, then the
# proving ground and the end-to-end suite (real `pulumi up` on a real Kubernetes with KEDA).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bash scripts/install-deps.sh
npm test
npm run lint:workflows
t0=$(date +%s)
bash proving-ground/pg up
log "proving ground up in $(( $(date +%s) - t0 )) s"
# every example worker built into an image here (local base images, no pulls) and tested with its own
# .github/tests.json through `longshore test --local --image`, the way the hosted action tests an image
bash examples/test-images.sh
npm run test:e2e
