#!/usr/bin/env bash
# Part 40: a real one-node Kubernetes (v1.30) built from the Go module proxy and run as host processes:
# etcd (Debian etcd-server 3.4), kube-apiserver, kube-controller-manager, kube-scheduler, kubelet on the system
# containerd (CRI, cgroupfs) with Debian CNI plugins (bridge + host-local + portmap, loopback), kube-proxy
# (iptables). All Kubernetes commands are ONE multi-call binary (proving-ground/k8s/kube-multicall).
# The node is a fake GPU node: a fake device plugin (proving-ground/k8s/fake-gpu-device-plugin, host process in
# --fallback mode) advertises nvidia.com/gpu; taint nvidia.com/gpu=present:NoSchedule; GPU labels.
#   up       build what is missing (cold: ~1 h on 2 busy cores), generate PKI, start everything, wait Ready
#   check    apiserver ready, node Ready with nvidia.com/gpu allocatable, every daemon alive
#   down     stop the daemons and kill pod containers; cluster state (etcd) and PKI are kept, so `up` is warm
#   reset    down + forget cluster state (etcd data, PKI, CNI address leases)
# Kubeconfig: $LONGSHORE_CACHE/run/kubeconfig (cluster-admin).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/lib.sh"
. "$root/proving-ground/k8s/common.sh"

pki="$KDIR/pki"
PLUGIN_DIR="$LONGSHORE_CACHE/fake-gpu-device-plugin-$FAKE_GPU_PLUGIN_VERSION"
PLUGIN_SRC="$root/proving-ground/k8s/fake-gpu-device-plugin"
CNI_BIN_DIRS=(/usr/lib/cni /opt/cni/bin)

host_packages() {
  apt_install etcd-server containernetworking-plugins iptables conntrack openssl iproute2 kmod ethtool socat \
    ca-certificates curl python3
}

build() {
  bash "$root/proving-ground/k8s/build-kubernetes.sh"
  local stamp; stamp=$(cat "$PLUGIN_SRC"/go.mod "$PLUGIN_SRC"/main.go | sha256sum | cut -c1-16)
  if [ ! -x "$PLUGIN_DIR/fake-gpu-device-plugin" ] || [ "$(cat "$PLUGIN_DIR/.stamp" 2>/dev/null)" != "$stamp" ]; then
    mkdir -p "$PLUGIN_DIR"
    log "build fake-gpu-device-plugin $FAKE_GPU_PLUGIN_VERSION"
    local t0; t0=$(date +%s)
    go_build_static "$PLUGIN_SRC" "$PLUGIN_DIR/fake-gpu-device-plugin" .
    echo "$(( $(date +%s) - t0 ))" > "$PLUGIN_DIR/build-seconds"
    echo "$stamp" > "$PLUGIN_DIR/.stamp"
  fi
}

fake_gpu_image() { # REF — FROM scratch: the static plugin binary only
  local r; r=$(mktemp -d)
  mkdir -p "$r/bin" "$r/tmp"
  cp "$PLUGIN_DIR/fake-gpu-device-plugin" "$r/bin/"
  push_rootfs_image "$r" "$1" 'ENTRYPOINT ["/bin/fake-gpu-device-plugin"]' \
    "LABEL org.opencontainers.image.version=$FAKE_GPU_PLUGIN_VERSION"
  rm -rf "$r"
}

# ---------------------------------------------------------------- PKI (openssl), kept across down/up
cert() { # NAME CN ORG(or "") CA KIND(server|client|both) SANS(or "")
  local name=$1 cn=$2 org=$3 ca=$4 kind=$5 sans=$6 eku subj ext
  case $kind in server) eku=serverAuth ;; client) eku=clientAuth ;; both) eku=serverAuth,clientAuth ;; esac
  subj="/CN=$cn"; [ -n "$org" ] && subj="/O=$org$subj"
  ext="$pki/$name.ext"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"; [ -n "$sans" ] && echo "subjectAltName=$sans"; } > "$ext"
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" -CAcreateserial -days 3650 \
    -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}
ca() { # NAME CN
  openssl genrsa -out "$pki/$1.key" 2048 2>/dev/null
  openssl req -x509 -new -nodes -key "$pki/$1.key" -subj "/CN=$2" -days 3650 -sha256 -out "$pki/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}
kubeconfig() { # FILE USER-CERT-NAME SERVER — certs embedded so the file is self-contained
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: longshore
  cluster:
    server: $3
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$pki/$2.crt")
    client-key-data: $(base64 -w0 "$pki/$2.key")
contexts:
- name: longshore
  context: {cluster: longshore, user: $2}
current-context: longshore
EOF
  chmod 600 "$1"
}
ensure_pki() {
  local ip; ip=$(node_ip)
  [ -n "$ip" ] || die "cannot find the node address (ip route get 1.1.1.1)"
  mkdir -p "$pki"
  if [ "$(cat "$pki/.node-ip" 2>/dev/null)" != "$ip" ] || [ ! -f "$pki/kube-proxy.crt" ]; then
    log "generate PKI for node address $ip"
    [ -f "$pki/ca.crt" ] || ca ca longshore-ca
    [ -f "$pki/front-proxy-ca.crt" ] || ca front-proxy-ca longshore-front-proxy-ca
    [ -f "$pki/sa.key" ] || { openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null; openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null; }
    cert apiserver kube-apiserver "" ca server \
      "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost,DNS:$NODE_NAME,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,IP:$ip"
    cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ca client ""
    cert front-proxy-client front-proxy-client "" front-proxy-ca client ""
    cert admin kubernetes-admin system:masters ca client ""
    cert controller-manager system:kube-controller-manager "" ca client ""
    cert scheduler system:kube-scheduler "" ca client ""
    cert kube-proxy system:kube-proxy "" ca client ""
    cert kubelet-client "system:node:$NODE_NAME" system:nodes ca client ""
    cert kubelet "$NODE_NAME" "" ca server "DNS:$NODE_NAME,DNS:localhost,IP:127.0.0.1,IP:$ip"
    echo "$ip" > "$pki/.node-ip"
  fi
  local server=https://127.0.0.1:6443
  kubeconfig "$KUBECONFIG_FILE" admin "$server"
  kubeconfig "$KDIR/controller-manager.kubeconfig" controller-manager "$server"
  kubeconfig "$KDIR/scheduler.kubeconfig" scheduler "$server"
  kubeconfig "$KDIR/kube-proxy.kubeconfig" kube-proxy "$server"
  kubeconfig "$KDIR/kubelet.kubeconfig" kubelet-client "$server"
}

# ---------------------------------------------------------------- host networking + CNI
host_setup() {
  [ -d /proc/sys/net/bridge ] || modprobe br_netfilter 2>/dev/null || true
  [ -d /proc/sys/net/bridge ] || die "br_netfilter unavailable (no /proc/sys/net/bridge); kube-proxy needs it"
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 >/dev/null
  # Pod volume propagation needs a shared root mount (PID 1 is not systemd here, so nobody made it shared).
  mount --make-rshared / 2>/dev/null || true
  # Docker sets the FORWARD policy to DROP; let pod traffic through (idempotent).
  local rule
  for rule in "-s $POD_CIDR -j ACCEPT" "-d $POD_CIDR -j ACCEPT"; do
    # shellcheck disable=SC2086
    iptables -C FORWARD $rule 2>/dev/null || iptables -I FORWARD 1 $rule
  done
  # Debian installs the CNI plugins in /usr/lib/cni; containerd's default bin_dir is /opt/cni/bin.
  mkdir -p /opt/cni/bin /etc/cni/net.d /var/lib/kubelet/device-plugins
  local p
  for p in /usr/lib/cni/*; do [ -e "/opt/cni/bin/$(basename "$p")" ] || ln -s "$p" "/opt/cni/bin/$(basename "$p")"; done
  cat > /etc/cni/net.d/10-longshore.conflist.new <<EOF
{
  "cniVersion": "0.4.0",
  "name": "longshore",
  "plugins": [
    {
      "type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$NODE_POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  mv /etc/cni/net.d/10-longshore.conflist.new /etc/cni/net.d/10-longshore.conflist
  cat > /etc/cni/net.d/99-loopback.conf <<'EOF'
{ "cniVersion": "0.4.0", "name": "lo", "type": "loopback" }
EOF
}

# ---------------------------------------------------------------- component configs
write_configs() {
  local ip; ip=$(node_ip)
  cat > "$KDIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDNS: [$CLUSTER_DNS_IP]
clusterDomain: $CLUSTER_DOMAIN
failSwapOn: false
resolvConf: /etc/resolv.conf
podCIDR: $NODE_POD_CIDR
maxPods: 110
serializeImagePulls: false
# A shared 2-core dev VM: no evictions for disk/memory pressure, images are only collected when the disk is full.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
registerWithTaints:
- {key: $GPU_TAINT_KEY, value: present, effect: NoSchedule}
EOF
  cat > "$KDIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KDIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
EOF
}

# ---------------------------------------------------------------- processes
start_all() {
  local ip; ip=$(node_ip)
  mkdir -p "$KDIR/etcd"
  start_daemon etcd etcd --name longshore --data-dir "$KDIR/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster longshore=http://127.0.0.1:2380 --quota-backend-bytes 2147483648 \
    --snapshot-count 10000 --log-level warn
  wait_for 60 etcd curl -sf http://127.0.0.1:2379/health || die "etcd did not become healthy ($LOGS/etcd.log)"

  start_daemon kube-apiserver "$KBIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$ip" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-cluster-ip-range="$SERVICE_CIDR" --authorization-mode=Node,RBAC --allow-privileged=true \
    --enable-admission-plugins=NodeRestriction \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-extra-headers-prefix=X-Remote-Extra- --requestheader-group-headers=X-Remote-Group \
    --requestheader-username-headers=X-Remote-User \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
    --enable-aggregator-routing=true --event-ttl=1h --v=1
  wait_for 180 apiserver kc get --raw /readyz || die "kube-apiserver not ready ($LOGS/kube-apiserver.log)"

  start_daemon kube-controller-manager "$KBIN/kube-controller-manager" \
    --kubeconfig="$KDIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$KDIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$KDIR/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --cluster-name=longshore \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --use-service-account-credentials=true --service-cluster-ip-range="$SERVICE_CIDR" \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --v=1
  start_daemon kube-scheduler "$KBIN/kube-scheduler" \
    --kubeconfig="$KDIR/scheduler.kubeconfig" --authentication-kubeconfig="$KDIR/scheduler.kubeconfig" \
    --authorization-kubeconfig="$KDIR/scheduler.kubeconfig" --bind-address=127.0.0.1 --leader-elect=false --v=1

  [ -S "$CONTAINERD_SOCK" ] || die "containerd socket $CONTAINERD_SOCK missing (proving-ground/parts/10-docker.sh up)"
  containerd_preflight
  start_daemon kubelet "$KBIN/kubelet" --config="$KDIR/kubelet.yaml" --kubeconfig="$KDIR/kubelet.kubeconfig" \
    --hostname-override="$NODE_NAME" --node-ip="$ip" \
    --node-labels="nvidia.com/gpu.present=true,nvidia.com/gpu.product=$GPU_PRODUCT,nvidia.com/gpu.count=$GPU_COUNT,node.kubernetes.io/instance-type=$INSTANCE_TYPE" \
    --v=1
  start_daemon kube-proxy "$KBIN/kube-proxy" --config="$KDIR/kube-proxy.yaml" --v=1
  start_daemon fake-gpu-device-plugin "$PLUGIN_DIR/fake-gpu-device-plugin" --fallback --count="$GPU_COUNT" \
    --product="$GPU_PRODUCT"

  wait_for 180 node kc get node "$NODE_NAME" || die "node $NODE_NAME did not register ($LOGS/kubelet.log)"
  # registerWithTaints/--node-labels only apply when the Node object is created; enforce on a kept node too.
  kc taint node "$NODE_NAME" "$GPU_TAINT_KEY=present:NoSchedule" --overwrite >/dev/null
  kc label node "$NODE_NAME" --overwrite nvidia.com/gpu.present=true "nvidia.com/gpu.product=$GPU_PRODUCT" \
    "nvidia.com/gpu.count=$GPU_COUNT" "node.kubernetes.io/instance-type=$INSTANCE_TYPE" >/dev/null
  wait_for 180 node-ready node_ready || die "node not Ready ($LOGS/kubelet.log)"
  wait_for 120 gpus gpus_allocatable || die "node does not advertise nvidia.com/gpu ($LOGS/fake-gpu-device-plugin.log)"
}

# Root here lacks CAP_SYS_RESOURCE (CapEff bit 24), so runc cannot set the negative oom_score_adj that containerd
# gives pod sandboxes (-998): every pod fails with "can't get final child's PID from pipe: EOF" unless the CRI
# plugin runs with restrict_oom_score_adj = true (set by parts/10-docker.sh). Warn when the running containerd
# was started from a config without it (e.g. started before that line existed: restart it with part 10 down/up).
containerd_preflight() {
  local capeff pid cfg
  capeff=$(sed -n 's/^CapEff:\s*//p' /proc/self/status)
  (( (16#$capeff >> 24) & 1 )) && return 0
  pid=$(pgrep -xo containerd || true)
  [ -n "$pid" ] || return 0
  cfg=$(tr '\0' '\n' < "/proc/$pid/cmdline" | sed -n '/^--config$/{n;p}')
  if [ -z "$cfg" ] || ! grep -q '^\s*restrict_oom_score_adj\s*=\s*true' "$cfg" 2>/dev/null ||
     { if [ -f "$cfg.running" ]; then ! cmp -s "$cfg" "$cfg.running"   # part 10 keeps the config it started with
       else [ "$(stat -c %Y "$cfg")" -gt "$(stat -c %Y "/proc/$pid")" ]; fi; }; then
    log "WARNING: no CAP_SYS_RESOURCE here and the running containerd (pid $pid) may lack restrict_oom_score_adj = true" \
        "(config ${cfg:-default} changed or lacks it): pod sandboxes will fail. Restart it: proving-ground/parts/10-docker.sh down; up"
  fi
}

node_ready() {
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
gpus_allocatable() {
  local n; n=$(kc get node "$NODE_NAME" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')
  [ -n "$n" ] && [ "$n" -ge 1 ]
}

kill_pods() { # stop every pod container the kubelet started (containerd namespace k8s.io)
  command -v ctr >/dev/null && [ -S "$CONTAINERD_SOCK" ] || return 0
  local t
  for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
  sleep 1
  for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks delete -f "$t" >/dev/null 2>&1 || true; done
}

check() {
  local d ok=0
  for d in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy fake-gpu-device-plugin; do
    alive "$d" || { echo "not running: $d" >&2; ok=1; }
  done
  [ $ok = 0 ] || return 1
  kc get --raw /readyz >/dev/null || { echo "apiserver not ready" >&2; return 1; }
  node_ready || { echo "node $NODE_NAME not Ready" >&2; return 1; }
  gpus_allocatable || { echo "node has no allocatable nvidia.com/gpu" >&2; return 1; }
  kc get node "$NODE_NAME" -o jsonpath='{.spec.taints}' | grep -q '"nvidia.com/gpu"' || { echo "GPU taint missing" >&2; return 1; }
  echo "kubernetes $K8S_VERSION up: node $NODE_NAME Ready, nvidia.com/gpu=$(kc get node "$NODE_NAME" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}'), kubeconfig $KUBECONFIG_FILE"
}

down() {
  stop_daemon fake-gpu-device-plugin
  stop_daemon kube-proxy
  stop_daemon kube-scheduler
  stop_daemon kube-controller-manager
  stop_daemon kubelet
  kill_pods
  stop_daemon kube-apiserver
  stop_daemon etcd
}

case "${1:-}" in
  build) host_packages; build ;;
  up)
    if check >/dev/null 2>&1; then check; exit 0; fi
    t0=$(date +%s)
    host_packages
    build
    ensure_pki
    host_setup
    write_configs
    start_all
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
      ensure_image FAKE_GPU_PLUGIN_IMAGE "$REGISTRY/longshore/fake-gpu-device-plugin:$FAKE_GPU_PLUGIN_VERSION" \
        "$(cat "$PLUGIN_DIR/.stamp")" fake_gpu_image >/dev/null
      pause=$(registry_digest "$REGISTRY/longshore/pause:3.9" || true)
      [ -n "$pause" ] && set_image_env PAUSE_IMAGE "$pause"
    else
      log "docker not running: fake-gpu-device-plugin image not built (rerun up after parts/10-docker.sh)"
    fi
    log "kubernetes up in $(( $(date +%s) - t0 ))s"
    check ;;
  check) check ;;
  down) down ;;
  reset)
    down
    log "forget cluster state: $KDIR/etcd $pki /var/lib/cni/networks/longshore"
    rm -rf "$KDIR/etcd" "$pki"
    rm -rf /var/lib/cni/networks/longshore
    ;;
  *) echo "usage: $0 up|check|down|reset|build" >&2; exit 2 ;;
esac
