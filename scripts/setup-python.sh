#!/usr/bin/env bash
# Creates (once) the Python virtualenv with the packages in scripts/python-requirements.txt from PyPI (the real
# RunPod SDK: runpod.Endpoint as a client, runpod.serverless.start as a worker; and the other real clients the
# tests drive). Prints the venv's python path on stdout. Idempotent; cached outside the work tree, keyed by the
# requirements file's hash, so branches with different requirements never share (or break) one venv.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
req="$(dirname "$0")/python-requirements.txt"
hash=$(sha256sum "$req" | cut -c1-12)
venv="$LONGSHORE_CACHE/venv-$hash"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  log "creating $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$req" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
