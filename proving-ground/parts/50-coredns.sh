#!/usr/bin/env bash
# Part 50: cluster DNS. CoreDNS built from github.com/coredns/coredns (Go module proxy), packaged FROM scratch
# (`docker import` of a root filesystem holding the static binary), pushed to the local registry and deployed
# as kube-system/coredns + Service kube-dns at the kubelet's clusterDNS address, serving cluster.local.
#   up | check | down (nothing: stops with the cluster, part 40) | uninstall (remove from the cluster)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/lib.sh"
. "$root/proving-ground/k8s/common.sh"

dest="$LONGSHORE_CACHE/coredns-$COREDNS_VERSION"
bin="$dest/coredns"

build() {
  [ -x "$bin" ] && return 0
  mkdir -p "$dest"
  if [ ! -f "$dest/src/go.mod" ]; then
    local d
    d=$(GOTOOLCHAIN="$GO_TOOLCHAIN_K8S" GOFLAGS=-mod=mod go mod download -json "github.com/coredns/coredns@$COREDNS_VERSION" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    rm -rf "$dest/src"; cp -r "$d" "$dest/src"; chmod -R u+w "$dest/src"
  fi
  log "build coredns $COREDNS_VERSION (nice -n 10)"
  local t0; t0=$(date +%s)
  go_build_static "$dest/src" "$bin" . "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION"
  echo "$(( $(date +%s) - t0 ))" > "$dest/build-seconds"
}

coredns_image() { # REF
  local r; r=$(mktemp -d)
  mkdir -p "$r/etc/coredns" "$r/tmp"
  cp "$bin" "$r/coredns"
  echo 'nobody:x:65534:65534:nobody:/:/sbin/nologin' > "$r/etc/passwd"
  push_rootfs_image "$r" "$1" 'ENTRYPOINT ["/coredns"]' 'EXPOSE 53 53/udp'
  rm -rf "$r"
}

check() {
  kc -n kube-system get deploy coredns >/dev/null 2>&1 || { echo "coredns not deployed" >&2; return 1; }
  [ "$(kc -n kube-system get deploy coredns -o jsonpath='{.status.readyReplicas}')" -ge 1 ] 2>/dev/null ||
    { echo "coredns not ready" >&2; return 1; }
  local a; a=$(dig +short +time=2 +tries=2 "@$CLUSTER_DNS_IP" "kubernetes.default.svc.$CLUSTER_DOMAIN" A 2>/dev/null)
  [ "$a" = "$KUBERNETES_SVC_IP" ] || { echo "DNS at $CLUSTER_DNS_IP answered '$a' for kubernetes.default" >&2; return 1; }
  echo "coredns $COREDNS_VERSION up: $CLUSTER_DNS_IP resolves kubernetes.default.svc.$CLUSTER_DOMAIN -> $a"
}

case "${1:-}" in
  up)
    if check >/dev/null 2>&1; then check; exit 0; fi
    apt_install dnsutils
    need_engine
    build
    img=$(ensure_image COREDNS_IMAGE "$REGISTRY/longshore/coredns:${COREDNS_VERSION#v}" \
      "$COREDNS_VERSION-$(sha256sum "$bin" | cut -c1-16)" coredns_image)
    sed -e "s#__IMAGE__#$img#" -e "s#__DNS_IP__#$CLUSTER_DNS_IP#" -e "s#__DOMAIN__#$CLUSTER_DOMAIN#" \
      "$root/proving-ground/k8s/manifests/coredns.yaml" | kc apply -f - >/dev/null
    kc -n kube-system rollout status deploy/coredns --timeout=180s >&2 || die "coredns rollout failed"
    wait_for 60 dns check || die "cluster DNS does not answer"
    check ;;
  build) build ;;
  check) check ;;
  down) log "CoreDNS stops with the cluster (part 40)" ;;
  uninstall)
    [ -f "$KUBECONFIG_FILE" ] && kc get --raw /readyz >/dev/null 2>&1 || exit 0
    sed -e "s#__IMAGE__#x#" -e "s#__DNS_IP__#$CLUSTER_DNS_IP#" -e "s#__DOMAIN__#$CLUSTER_DOMAIN#" \
      "$root/proving-ground/k8s/manifests/coredns.yaml" | kc delete --ignore-not-found -f - >/dev/null ;;
  *) echo "usage: $0 up|check|down|uninstall|build" >&2; exit 2 ;;
esac
