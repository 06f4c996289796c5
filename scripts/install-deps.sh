#!/usr/bin/env bash
# Installs what the test suites need on a fresh Debian machine. Idempotent: a second run changes nothing.
#   - Debian: redis-server (real Redis for the gateway and worker tests), docker-registry (digest resolver tests)
#   - npm dependencies from package-lock.json (npm ci, skipped when node_modules matches the lock)
#   - Python venv with the real RunPod SDK (scripts/setup-python.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
use_node  # Node.js >= 22 first on PATH for everything below (package.json engines; scripts/lib.sh)
# docker-registry: test/unit/registryDigest.test.ts resolves digests against a real registry
# tmux: test/cli/status.test.ts checks the `longshore status` screen as a terminal shows it (capture-pane)
apt_install redis-server docker-registry ca-certificates tmux
# The lock must satisfy `npm ci` on a clean checkout (CI) even when node_modules here is already current and
# the install below is skipped: a dry run checks package.json against package-lock.json in about a second.
npm ci --dry-run --ignore-scripts --no-audit --no-fund >/dev/null 2>&1 ||
  die "package-lock.json is out of sync with package.json (npm ci would refuse it on a clean checkout): run npm install and commit the lock"
stamp=node_modules/.longshore-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund >/dev/null
  echo "$want" > "$stamp"
fi
bash scripts/setup-python.sh >/dev/null
log "dependencies ready"
