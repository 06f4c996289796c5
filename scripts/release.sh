#!/usr/bin/env bash
# `npm run release`: builds, packs and checks everything a release is made of, in one command; publishes nothing.
#   1. the version in package.json has its section in CHANGELOG.md, and provider/ and policy/pack carry it too;
#   2. npm run build (dist/: compiled JS + types, gateway assets, the provider's schema, KEDA's manifests);
#   3. npm pack -> release/longshore-<version>.tgz;
#   4. the Python SDK: wheel + sdist from the provider's schema -> release/python/;
#   5. checks: the tarball in a fresh Pulumi TypeScript project outside the repository (tsc, a mock preview,
#      npx longshore, the provider from the package and from an unpacked folder: test/package/install.test.ts),
#      the wheel in a fresh venv (imports, every component and enum), and the prebuilt provider's start-up time.
# Needs the proving ground's Pulumi CLI (bash proving-ground/pg up once). Deploying the wheel's endpoint is in
# the e2e suite (test/e2e/pythonWheel.test.ts, the cluster is shared), which uses what this leaves in release/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib.sh
use_node
. proving-ground/env.sh
command -v pulumi >/dev/null || die "the proving ground's pulumi CLI is missing: bash proving-ground/pg up"
t0=$(date +%s)
version=$(node -p 'require("./package.json").version')
node -e 'process.exit(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(process.argv[1]) ? 0 : 1)' "$version" || die "package.json version $version is not semver"
grep -q "^## \[$version\]" CHANGELOG.md || die "CHANGELOG.md has no section '## [$version]': write the release notes first"
for f in provider/package.json policy/pack/package.json; do
  [ "$(node -p "require('./$f').version")" = "$version" ] || die "$f's version is not $version"
done
log "release $version: build"
node scripts/build-package.js --require-keda
rm -rf release; mkdir -p release
npm pack --ignore-scripts --pack-destination release >/dev/null
tarball="$root/release/longshore-$version.tgz"
[ -f "$tarball" ] || die "npm pack did not write $tarball"
log "release $version: Python SDK"
wheel=$(bash scripts/build-python-sdk.sh release/python | tail -1)
log "release $version: check the npm package in a fresh project"
LONGSHORE_PACKAGE_TARBALL="$tarball" npm run -s test:package
log "release $version: check the wheel in a fresh venv"
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
"$venv/bin/pip" install -q "$wheel"
"$venv/bin/python" - "$version" <<'PY'
import sys, importlib.metadata as md
import pulumi_longshore as longshore
assert md.version("pulumi_longshore") == sys.argv[1], md.version("pulumi_longshore")
for c in ["ServerlessEndpoint", "ServerlessPlatform", "WorkerImage", "Keda", "GpuNodePool", "NvidiaDevicePlugin"]:
    assert isinstance(getattr(longshore, c), type), c
assert {e.value for e in longshore.ScalerType} == {"QUEUE_DELAY", "REQUEST_COUNT"}
print("wheel: pulumi_longshore", sys.argv[1], "imports with every component")
PY
rm -rf "$(dirname "$venv")"
log "release $version: the prebuilt provider's start-up (npm run bench:provider compares it with the source path)"
s0=$(date +%s%N); pulumi package get-schema ./provider >/dev/null 2>&1 || die "the prebuilt provider did not start"
log "provider start-up + schema: $(( ($(date +%s%N) - s0) / 1000000 )) ms"
ls -l release release/python
log "release $version: built and checked in $(( $(date +%s) - t0 )) s (nothing published)"
