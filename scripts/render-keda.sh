#!/usr/bin/env bash
# Renders KEDA's install manifests (CRDs, operator, metrics API server, admission webhooks) for the `Keda`
# component's default source, without network at preview time and without GitHub:
#   - KEDA's own kustomize config/ ships in its Go module (github.com/kedacore/keda/v2, from the Go module proxy);
#   - kustomize is built from the Go module proxy too (cached under $LONGSHORE_CACHE/tools).
# Output: $LONGSHORE_CACHE/keda-v<version>/keda.yaml (its path is printed). Idempotent: an existing file (e.g.
# the one the proving ground renders with local images) is left alone. Images in the output are KEDA's `:main`
# placeholders; the Keda component pins them to ghcr.io/kedacore/*:<version> or to the images you give it.
#   usage: scripts/render-keda.sh [version] [out]   (default 2.17.2, $LONGSHORE_CACHE/keda-v<version>/keda.yaml;
#   the npm package's build writes KEDA's upstream manifests to dist/manifests with an explicit out)
# kustomize: `kubectl kustomize` when kubectl is on PATH (the proving ground's), else kustomize built as above.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
version=${1:-2.17.2}
version=${version#v}
kz_version=v5.5.0
out=${2:-$LONGSHORE_CACHE/keda-v$version/keda.yaml}
if [ -s "$out" ]; then echo "$out"; exit 0; fi
command -v go >/dev/null || die "go is required (Go module proxy downloads)"
kz="$LONGSHORE_CACHE/tools/kustomize-$kz_version/kustomize"
kustomize_build() { if command -v kubectl >/dev/null; then kubectl kustomize "$1"; else "$kz" build "$1"; fi; }
if ! command -v kubectl >/dev/null && [ ! -x "$kz" ]; then
  log "building kustomize $kz_version from the Go module proxy (nice -n 10)"
  mkdir -p "$(dirname "$kz")"
  GOBIN="$(dirname "$kz")" GOFLAGS=-mod=mod nice -n 10 go install "sigs.k8s.io/kustomize/kustomize/v5@$kz_version"
fi
log "downloading github.com/kedacore/keda/v2@v$version (Go module proxy)"
mod=$(GOFLAGS=-mod=mod go mod download -json "github.com/kedacore/keda/v2@v$version" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","download failed")))')
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -r "$mod/config" "$tmp/config"; chmod -R u+w "$tmp"
mkdir -p "$(dirname "$out")"
kustomize_build "$tmp/config/default" > "$out.new"
grep -q "name: scaledobjects.keda.sh" "$out.new" || die "rendered manifests lack the ScaledObject CRD"
mv "$out.new" "$out"
log "KEDA $version manifests: $out"
echo "$out"
