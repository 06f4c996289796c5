#!/usr/bin/env bash
# Part 30: the real Pulumi engine, built from the Go module proxy at pinned versions (npm's `pulumi` package
# and get.pulumi.com are not reachable here). Everything lands in $LONGSHORE_CACHE/pulumi-$PULUMI_VERSION/bin,
# which proving-ground/env.sh puts on PATH, so the language host and providers are used as ambient plugins.
#   up     build what is missing (cold: long; runs go with nice -n 10), then check
#   check  `pulumi version` works and every plugin binary is found on PATH and answers
#   down   nothing runs (binaries stay cached)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pg=$(cd "$here/.." && pwd)
. "$pg/../scripts/lib.sh"
. "$pg/engine-versions.sh"

dest="$LONGSHORE_CACHE/pulumi-$PULUMI_VERSION"
bin="$dest/bin"
export GOFLAGS="-mod=mod -buildvcs=false" GOPROXY="${GOPROXY:-https://proxy.golang.org}" CGO_ENABLED=0 GOTOOLCHAIN=local
# The checksum database reachable here does not list several module versions that the proxy serves (the
# kubernetes provider pseudo-version, pulumi/pkg v3.215.0, cloud-ready-checks...): skip the sumdb lookup for
# Pulumi's own modules; go.sum still records the hashes of what was downloaded.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/pulumi"

stamped() { [ -x "$bin/$1" ] && [ "$(cat "$dest/.stamp-$1" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" > "$dest/.stamp-$1"; }
timed_build() { # NAME OUT PKG LDFLAGS — go build in the current module dir; records the seconds it took
  local t0; t0=$(date +%s)
  log "go build $1 (nice -n 10; cold builds take minutes)"
  nice -n 10 go build $PG_GO_BUILD_FLAGS -ldflags "$4" -o "$bin/$2.new" "$3"
  mv "$bin/$2.new" "$bin/$2"
  echo "$(( $(date +%s) - t0 ))" > "$dest/build-seconds-$1"
}
moddir() { # MODULE@VERSION → its directory in the module cache (downloads it)
  go mod download -json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","no Dir")))'
}
srcdir() { local s="$dest/src/$1"; rm -rf "$s"; mkdir -p "$s"; echo "$s"; }
hashof() { cat "$@" | sha256sum | cut -c1-16; }

# The CLI: a wrapper module requiring pkg/v3 + sdk/v3 at the same tag. pkg/go.mod replaces sdk with ../sdk
# (unusable from outside the repository), so require sdk at the tag and copy pkg's non-relative replaces.
build_cli() {
  stamped pulumi "$PULUMI_VERSION" && return 0
  local src pkgdir; src=$(srcdir cli); cd "$src"
  pkgdir=$(moddir "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION")
  {
    echo "module longshore.dev/pulumi-cli"
    echo "go $(sed -n 's/^go //p' "$pkgdir/go.mod")"
    echo "require ("
    echo "	github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION"
    echo "	github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION"
    echo ")"
    { grep -E '^replace ' "$pkgdir/go.mod"; sed -n '/^replace (/,/^)/p' "$pkgdir/go.mod" | grep '=>' | sed 's/^\s*/replace /'; } | grep -v '=> \.' || true
  } > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' > tools.go
  log "pulumi CLI $PULUMI_VERSION: go mod tidy"
  nice -n 10 go mod tidy
  timed_build cli pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
  stamp pulumi "$PULUMI_VERSION"
}

# The Node.js and Python language hosts: our own small host on Pulumi's Go SDK, one binary installed under both
# names, plus the Python exec script (see proving-ground/pulumi/language-host/main.go for why).
build_language_hosts() {
  local hd="$pg/pulumi/language-host"
  local key; key="$PULUMI_VERSION-$(hashof "$hd"/*.go "$hd/pulumi-language-python-exec")"
  stamped pulumi-language-nodejs "$key" && [ -x "$bin/pulumi-language-python-exec" ] && return 0
  local src; src=$(srcdir language-host); cd "$src"
  cp "$hd"/*.go .
  printf 'module longshore.dev/pulumi-language-host\n\ngo 1.25\n\nrequire github.com/pulumi/pulumi/sdk/v3 %s\n' "$PULUMI_VERSION" > go.mod
  nice -n 10 go mod tidy
  timed_build language-host pulumi-language-nodejs . "-s -w -X main.Version=${PULUMI_VERSION#v}"
  ln -sf pulumi-language-nodejs "$bin/pulumi-language-python"
  install -m 0755 "$hd/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
  stamp pulumi-language-nodejs "$key"
}

# Python SDK generation for the Python host's GeneratePackage (`pulumi package add` from a Python program):
# Pulumi's own generator (pkg/v3/codegen/python), built in a copy of the CLI's wrapper module so that it shares
# the CLI's dependency versions and Go build cache (seconds once the CLI is built).
build_codegen_python() {
  local cd_="$pg/pulumi/codegen-python"
  local key; key="$PULUMI_VERSION-$(hashof "$cd_/main.go")"
  stamped longshore-codegen-python "$key" && return 0
  local src; src=$(srcdir codegen-python); cd "$src"
  cp "$cd_/main.go" "$dest/src/cli/go.mod" "$dest/src/cli/go.sum" .
  sed -i 's#^module .*#module longshore.dev/codegen-python#' go.mod
  nice -n 10 go mod tidy
  timed_build codegen-python longshore-codegen-python . "-s -w"
  stamp longshore-codegen-python "$key"
}

# docker-build provider + longshore-buildx-builder, a few lines on the same buildx library
# that register a `remote` buildx builder pointing at our buildkitd (there is no buildx CLI in Debian 12).
build_docker_build() {
  local key; key="$PULUMI_DOCKER_BUILD_VERSION-$(hashof "$pg/pulumi/buildx-builder/main.go" "$pg"/pulumi/codegen-stubs/*/go.mod "$pg"/pulumi/codegen-stubs/*/*/*.go "$pg"/pulumi/codegen-stubs/*/*/*/*/*.go)"
  stamped pulumi-resource-docker-build "$key" && stamped longshore-buildx-builder "$key" && return 0
  local src; src=$(srcdir docker-build); cd "$src"
  mkdir -p builder && cp "$pg/pulumi/buildx-builder/main.go" builder/
  cp -r "$pg/pulumi/codegen-stubs" stubs
  {
    printf 'module longshore.dev/docker-build\n\ngo 1.26.0\n\nrequire github.com/pulumi/pulumi-docker-build %s\n' "$PULUMI_DOCKER_BUILD_VERSION"
    # Java/.NET codegen: two plain structs from modules the proxy here refuses (pulumi/codegen-stubs/README.md).
    echo "replace github.com/pulumi/pulumi-java => ./stubs/pulumi-java"
    echo "replace github.com/pulumi/pulumi-dotnet/pulumi-language-dotnet/v3 => ./stubs/pulumi-language-dotnet"
  } > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi-docker-build/provider/cmd/pulumi-resource-docker-build"\n' > tools.go
  nice -n 10 go mod tidy
  timed_build docker-build pulumi-resource-docker-build github.com/pulumi/pulumi-docker-build/provider/cmd/pulumi-resource-docker-build \
    "-s -w -X github.com/pulumi/pulumi-docker-build/provider.Version=${PULUMI_DOCKER_BUILD_VERSION#v}"
  timed_build buildx-builder longshore-buildx-builder ./builder "-s -w"
  stamp pulumi-resource-docker-build "$key"; stamp longshore-buildx-builder "$key"
}

# Kubernetes provider: its cmd/ main embeds generated, git-ignored files, so a main of our own serves the
# module's tracked schema.json (and terraform-mapping.json) through the provider's Serve.
build_kubernetes_provider() {
  local key; key="$PULUMI_KUBERNETES_MODULE_VERSION-$PULUMI_KUBERNETES_VERSION"
  stamped pulumi-resource-kubernetes "$key" && return 0
  local src kdir; src=$(srcdir kubernetes); cd "$src"
  kdir=$(moddir "github.com/pulumi/pulumi-kubernetes/provider/v4@$PULUMI_KUBERNETES_MODULE_VERSION")
  cp "$kdir/cmd/pulumi-resource-kubernetes/schema.json" "$kdir/cmd/pulumi-resource-kubernetes/terraform-mapping.json" .
  chmod u+w ./*.json
  cat > main.go <<'GO'
// pulumi-resource-kubernetes built from the provider module's tracked schema (upstream's own main embeds
// generated files that the module does not ship).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() { provider.Serve("kubernetes", version.Version, schema, terraformMapping) }
GO
  {
    echo "module longshore.dev/pulumi-resource-kubernetes"
    echo "go $(sed -n 's/^go //p' "$kdir/go.mod")"
    echo "require github.com/pulumi/pulumi-kubernetes/provider/v4 $PULUMI_KUBERNETES_MODULE_VERSION"
    echo "replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => github.com/pulumi/pulumi-kubernetes/sdk/v4 $PULUMI_KUBERNETES_SDK_MODULE_VERSION"
    { grep -E '^replace ' "$kdir/go.mod"; sed -n '/^replace (/,/^)/p' "$kdir/go.mod" | grep '=>' | sed 's/^\s*/replace /'; } | grep -v '=> \.' || true
  } > go.mod
  nice -n 10 go mod tidy
  timed_build kubernetes pulumi-resource-kubernetes . \
    "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION"
  stamp pulumi-resource-kubernetes "$key"
}

# The docker-build provider finds BuildKit through the buildx store: register buildkitd (part 20) there as the
# remote builder $LONGSHORE_BUILDER and make it current (idempotent).
register_builder() {
  . "$pg/env.sh"
  "$bin/longshore-buildx-builder" "$LONGSHORE_BUILDER" "$BUILDKIT_HOST" "$BUILDX_CONFIG" >/dev/null
}

check() {
  . "$pg/env.sh"
  [ -f "$BUILDX_CONFIG/instances/$LONGSHORE_BUILDER" ] || die "buildx builder $LONGSHORE_BUILDER is not registered in $BUILDX_CONFIG"
  local v; v=$(pulumi version) || die "pulumi version failed"
  [ "$v" = "$PULUMI_VERSION" ] || die "pulumi version says $v, expected $PULUMI_VERSION"
  for p in pulumi-language-nodejs pulumi-language-python longshore-codegen-python pulumi-resource-docker-build pulumi-resource-kubernetes; do
    [ "$(command -v "$p")" = "$bin/$p" ] || die "$p is not on PATH from $bin (source proving-ground/env.sh)"
  done
  pulumi-language-nodejs -version >/dev/null || die "pulumi-language-nodejs does not run"
  log "pulumi $v; ambient plugins: nodejs + python hosts, docker-build $PULUMI_DOCKER_BUILD_VERSION, kubernetes $PULUMI_KUBERNETES_VERSION"
}

case "${1:-}" in
  up)
    mkdir -p "$bin"
    t0=$(date +%s)
    build_cli; build_language_hosts; build_codegen_python; build_docker_build; build_kubernetes_provider
    register_builder
    log "part 30 ready in $(( $(date +%s) - t0 ))s"
    check ;;
  check) check ;;
  down) : ;;
  build) mkdir -p "$bin"; build_cli; build_language_hosts; build_codegen_python; build_docker_build; build_kubernetes_provider ;;
  build-cli) mkdir -p "$bin"; build_cli ;;
  build-language-hosts) mkdir -p "$bin"; build_language_hosts; build_codegen_python ;;
  build-docker-build) mkdir -p "$bin"; build_docker_build ;;
  build-kubernetes) mkdir -p "$bin"; build_kubernetes_provider ;;
  *) echo "usage: $0 up|check|down|build" >&2; exit 2 ;;
esac
