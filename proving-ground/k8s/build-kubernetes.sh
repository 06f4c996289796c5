#!/usr/bin/env bash
# Builds the Kubernetes multi-call binary (proving-ground/k8s/kube-multicall) from the Go module proxy.
# k8s.io/kubernetes replaces its staging modules with ./staging paths, which a dependent module cannot use,
# so the wrapper module replaces every k8s.io staging module with its published v0.<minor>.<patch> tag.
# Output: $LONGSHORE_CACHE/kubernetes-$K8S_VERSION/bin/{longshore-kube,kube-apiserver,...,kubectl}
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"
. "$here/../engine-versions.sh"
K8S_VERSION="${K8S_VERSION:-v1.30.14}"
dest="$LONGSHORE_CACHE/kubernetes-$K8S_VERSION"
bin="$dest/bin"
tools=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
if [ -x "$bin/longshore-kube" ] && [ "$(cat "$dest/.stamp" 2>/dev/null)" = "$(sha256sum "$here/kube-multicall/main.go" | cut -c1-16)" ]; then
  exit 0
fi
staging_version="v0.${K8S_VERSION#v1.}"
src="$dest/src"
mkdir -p "$src" "$bin"
cp "$here/kube-multicall/main.go" "$src/main.go"
cd "$src"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY="${GOPROXY:-https://proxy.golang.org}"
# The Go release Kubernetes was built with (.go-version in the release), fetched as a toolchain module.
go mod download -json "k8s.io/kubernetes@$K8S_VERSION" > "$dest/kubernetes.mod.json"
kdir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$dest/kubernetes.mod.json")
gov=$(cat "$kdir/.go-version" 2>/dev/null || true)
[ -n "$gov" ] || die "no .go-version in $kdir"
log "kubernetes $K8S_VERSION: toolchain go$gov, staging modules $staging_version"
{
  echo "module longshore.dev/kube-multicall"
  echo
  echo "go $(sed -n 's/^go //p' "$kdir/go.mod")"
  echo
  echo "toolchain go$gov"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"$staging_version"'#p' "$kdir/go.mod"
  echo ")"
} > go.mod
# go.sum is committed next to main.go: later builds verify every module against it. The Go proxy mirror
# reachable here lacks the checksum-database entry for k8s.io/kube-proxy@v0.30.14 (lookup answers 404 while
# the module itself is served), so that single module is exempted from the sumdb lookup when go.sum lacks it.
[ -f "$here/kube-multicall/go.sum" ] && cp "$here/kube-multicall/go.sum" go.sum
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}k8s.io/kube-proxy"
export GOTOOLCHAIN="go$gov"
go version >&2
log "go mod tidy (downloads the dependency graph)"
nice -n 10 go mod tidy
cp go.mod go.sum "$here/kube-multicall/" 2>/dev/null || true
ldpkg=k8s.io/component-base/version
gitv=$K8S_VERSION
ldflags="-s -w -X $ldpkg.gitVersion=$gitv -X $ldpkg.gitMajor=1 -X $ldpkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $ldpkg.gitTreeState=clean -X $ldpkg.buildDate=1970-01-01T00:00:00Z"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$gitv -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
log "go build (cold: long; nice -n 10)"
t0=$(date +%s)
CGO_ENABLED=0 nice -n 10 go build $PG_GO_BUILD_FLAGS -tags selinux,notest -ldflags "$ldflags" -o "$bin/longshore-kube.new" .
mv "$bin/longshore-kube.new" "$bin/longshore-kube"
for t in "${tools[@]}"; do ln -sf longshore-kube "$bin/$t"; done
echo "$(( $(date +%s) - t0 ))" > "$dest/build-seconds"
sha256sum "$here/kube-multicall/main.go" | cut -c1-16 > "$dest/.stamp"
log "built $bin/longshore-kube in $(cat "$dest/build-seconds")s"
