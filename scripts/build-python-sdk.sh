#!/usr/bin/env bash
# The Python SDK as installable artefacts: `pulumi package gen-sdk` generates pulumi_longshore from the provider's
# schema (the prebuilt provider serves it: run `npm run build` first), then PyPA's `build` makes the wheel and the
# sdist from the generated setup.py. Needs the proving ground's Pulumi CLI (its Python language host generates
# with Pulumi's own Python generator).
#   usage: scripts/build-python-sdk.sh [outdir]   (default release/python); prints the wheel's path
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib.sh
. proving-ground/env.sh
out=${1:-release/python}
case "$out" in /*) ;; *) out="$root/$out" ;; esac
command -v pulumi >/dev/null || die "the proving ground's pulumi CLI is missing: bash proving-ground/pg up"
[ -f dist/provider/schema.json ] || die "dist/provider/schema.json is missing: npm run build"
key=$(sha256sum scripts/python-build-requirements.txt | cut -c1-12)
venv="$LONGSHORE_CACHE/venv-pybuild-$key"
if [ ! -f "$venv/.ready" ]; then
  rm -rf "$venv"; python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q -r scripts/python-build-requirements.txt
  touch "$venv/.ready"
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pulumi package gen-sdk ./provider --language python --out "$tmp/sdk" >&2
version=$(node -p 'require("./package.json").version')
grep -q "VERSION = \"$version\"" "$tmp/sdk/python/setup.py" || die "the generated SDK's version is not $version"
mkdir -p "$out"
rm -f "$out"/pulumi_longshore-*
"$venv/bin/python" -m build --no-isolation --sdist --wheel --outdir "$out" "$tmp/sdk/python" >&2
ls "$out"/pulumi_longshore-"$version"-py3-none-any.whl
