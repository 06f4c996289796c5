#!/usr/bin/env bash
# Lints the GitHub Actions workflows with actionlint (github.com/rhysd/actionlint), pinned below:
#   - every .github/workflows/*.yml|yaml of the repository;
#   - the workflow users copy from docs/pr-previews.md (the ```yaml block after the marker
#     `<!-- lint: workflow -->`), so the documented copy cannot rot.
# actionlint is built from the Go module proxy into $LONGSHORE_CACHE/actionlint-<version> once and reused.
# shellcheck (Debian) is installed so actionlint also checks the shell in `run:` steps.
# Usage: scripts/lint-workflows.sh [extra actionlint args]     (npm run lint:workflows)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ACTIONLINT_VERSION=v1.7.12
dir="$LONGSHORE_CACHE/actionlint-$ACTIONLINT_VERSION"
bin="$dir/actionlint"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || die "actionlint is built from source: a Go toolchain (go) must be on PATH"
  log "building actionlint $ACTIONLINT_VERSION from the Go module proxy into $dir"
  tmp=$(mktemp -d "$LONGSHORE_CACHE/.actionlint-build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" GOFLAGS=-mod=mod nice -n 10 go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  mkdir -p "$dir"
  mv "$tmp/actionlint" "$bin.partial" && mv "$bin.partial" "$bin"   # atomic: a killed build never leaves a half binary
fi
apt_install shellcheck

files=()
while IFS= read -r f; do files+=("$f"); done < <(find .github/workflows -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)

# Extract the documented workflow. actionlint wants it under a .github/workflows directory.
doc=docs/pr-previews.md
if [ -f "$doc" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work" ${tmp:+"$tmp"}' EXIT
  mkdir -p "$work/.github/workflows"
  out="$work/.github/workflows/docs-pr-previews.yml"
  awk '/<!-- lint: workflow -->/ {armed=1; next}
       armed && /^```ya?ml/ {inblock=1; next}
       inblock && /^```/ {inblock=0; armed=0; next}
       inblock {print}' "$doc" > "$out"
  [ -s "$out" ] || die "$doc: no \`\`\`yaml block after <!-- lint: workflow --> to lint"
  files+=("$out")
fi

[ ${#files[@]} -gt 0 ] || die "no workflow files found"
log "actionlint $ACTIONLINT_VERSION: ${files[*]}"
"$bin" -no-color "$@" "${files[@]}"
log "workflows lint clean"
