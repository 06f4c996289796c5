#!/usr/bin/env bash
# Development/test setup for the iris-classifier example, outside Docker: a venv with builder/requirements.txt
# (cached under $LONGSHORE_CACHE, keyed by the requirements' hash) and the model baked the same way the
# Dockerfile does. Prints two lines: the venv python, then the model path. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
: "${LONGSHORE_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/longshore}"
key="$(cat "$here/builder/requirements.txt" "$here/builder/bake_model.py" | sha256sum | cut -c1-12)"
venv="$LONGSHORE_CACHE/venv-iris-$key"
model="$LONGSHORE_CACHE/iris-model-$key/iris.joblib"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import runpod, sklearn" 2>/dev/null; then
  echo "creating $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/builder/requirements.txt" >&2
fi
if [ ! -f "$model" ]; then
  "$venv/bin/python" "$here/builder/bake_model.py" "$model" >&2
fi
echo "$venv/bin/python"
echo "$model"
