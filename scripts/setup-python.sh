#!/usr/bin/env bash
# Creates (once) the Python virtualenv with the real RunPod SDK from PyPI, used by the compatibility
# tests (runpod.Endpoint as a client, runpod.serverless.start as a worker) and the Python examples.
# Prints the venv's python path on stdout. Idempotent; cached by version outside the work tree.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNPOD_VERSION="${RUNPOD_VERSION:-1.12.0}"
venv="$LONGSHORE_CACHE/venv-runpod-$RUNPOD_VERSION"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import runpod" 2>/dev/null; then
  log "creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "runpod==$RUNPOD_VERSION" >&2
fi
echo "$venv/bin/python"
