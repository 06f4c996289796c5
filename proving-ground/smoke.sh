#!/usr/bin/env bash
# Smoke test of the proving ground's Kubernetes half (needs `proving-ground/pg up`). Proves, for real:
#   1. GPU scheduling: a pod requesting nvidia.com/gpu: 1 that tolerates the GPU taint runs and prints the device
#      the (fake) device plugin allocated; the same pod without the toleration is refused by the scheduler.
#   2. Service + DNS: a pod resolves a Service by its cluster DNS names and fetches from it through kube-proxy.
#   3. KEDA (installed by the stack: run after `npm run up`): a ScaledObject with a `redis` trigger (redis-server from Debian, a host process on the node address)
#      scales a Deployment 0 -> 2 when the list fills and 2 -> 0 when it drains.
# Exits non-zero on the first failure, with diagnostics. Prints what it proved.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$root/scripts/lib.sh"
. "$root/proving-ground/k8s/common.sh"

NS=longshore-smoke
BASE_IMAGE="${BASE_IMAGE:-$REGISTRY/longshore/python-base:3.11-bookworm}"
REDIS_PORT="${SMOKE_REDIS_PORT:-16379}"
IP=$(node_ip)
redis_pid=
t_start=$(date +%s)
proved=()

cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  kc delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() {
  log "SMOKE FAILED: $*"
  kc -n "$NS" get all,scaledobjects,hpa -o wide >&2 2>/dev/null || true
  kc -n "$NS" get events --sort-by=.lastTimestamp 2>/dev/null | tail -25 >&2 || true
  exit 1
}
ok() { proved+=("$*"); log "ok: $*"; }
until_true() { # SECONDS CMD... — polls every 2 s
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 2; done
}

kc get --raw /readyz >/dev/null 2>&1 || die "cluster not running: proving-ground/pg up"
registry_digest "$BASE_IMAGE" >/dev/null || die "$BASE_IMAGE not in the registry (engine half: proving-ground/parts/10-docker.sh up)"
apt_install redis-server redis-tools

kc delete namespace "$NS" --ignore-not-found --timeout=120s >/dev/null
kc create namespace "$NS" >/dev/null
until_true 60 kc -n "$NS" get serviceaccount default >/dev/null 2>&1 || fail "default ServiceAccount never appeared"

# ------------------------------------------------------------------ 1. GPU pod
gpu_pod() { # NAME TOLERATE(true|false)
  local tol=""
  [ "$2" = true ] && tol='  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]'
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $NS}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  nodeSelector: {nvidia.com/gpu.present: "true"}
$tol
  containers:
  - name: main
    image: $BASE_IMAGE
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo gpu-pod-ran NVIDIA_VISIBLE_DEVICES=\$NVIDIA_VISIBLE_DEVICES product=\$LONGSHORE_FAKE_GPU"]
    resources: {limits: {nvidia.com/gpu: 1}}
EOF
}
gpu_pod gpu "true" | kc apply -f - >/dev/null
gpu_pod gpu-untolerated "false" | kc apply -f - >/dev/null
phase() { kc -n "$NS" get pod "$1" -o jsonpath='{.status.phase}'; }
phase_in() { local p; p=$(phase "$1"); shift; for x in "$@"; do [ "$p" = "$x" ] && return 0; done; return 1; }
until_true 180 phase_in gpu Succeeded Failed || fail "GPU pod did not finish (phase $(phase gpu))"
[ "$(phase gpu)" = Succeeded ] || fail "GPU pod failed"
out=$(kc -n "$NS" logs gpu)
echo "  gpu pod printed: $out"
[[ "$out" == *"gpu-pod-ran NVIDIA_VISIBLE_DEVICES=fake-gpu-"* ]] || fail "GPU pod output lacks an allocated device: $out"
ok "pod requesting nvidia.com/gpu: 1 and tolerating nvidia.com/gpu:NoSchedule ran; device plugin allocated ${out#*NVIDIA_VISIBLE_DEVICES=}"
unsched() { kc -n "$NS" get pod gpu-untolerated -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}' | grep -q 'nvidia.com/gpu'; }
until_true 60 unsched || fail "pod without the toleration was not refused for the GPU taint"
[ "$(phase gpu-untolerated)" = Pending ] || fail "untolerated pod is $(phase gpu-untolerated)"
ok "same pod without the toleration stays Pending: $(kc -n "$NS" get pod gpu-untolerated -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')"
kc -n "$NS" delete pod gpu-untolerated --wait=false >/dev/null

# ------------------------------------------------------------------ 2. Service + DNS
kc apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      containers:
      - name: web
        image: $BASE_IMAGE
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /srv && echo hello-from-web > /srv/hello.txt && cd /srv && exec python3 -m http.server 8080"]
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $NS}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
kc -n "$NS" rollout status deploy/web --timeout=180s >&2 || fail "web Deployment not ready"
svc_ip=$(kc -n "$NS" get svc web -o jsonpath='{.spec.clusterIP}')
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: dns-client, namespace: $NS}
spec:
  restartPolicy: Never
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  containers:
  - name: main
    image: $BASE_IMAGE
    imagePullPolicy: IfNotPresent
    command:
    - python3
    - -c
    - |
      import socket, urllib.request
      for name in ["web", "web.$NS", "web.$NS.svc.$CLUSTER_DOMAIN"]:
          print("resolve", name, socket.gethostbyname(name))
      print("fetch", urllib.request.urlopen("http://web/hello.txt", timeout=10).read().decode().strip())
EOF
until_true 120 phase_in dns-client Succeeded Failed || fail "dns-client did not finish"
out=$(kc -n "$NS" logs dns-client)
echo "$out" | sed 's/^/  dns-client: /'
[ "$(phase dns-client)" = Succeeded ] || fail "dns-client failed"
[ "$(echo "$out" | grep -c "^resolve .* $svc_ip\$")" = 3 ] || fail "Service names did not resolve to $svc_ip"
echo "$out" | grep -q '^fetch hello-from-web$' || fail "fetch through the Service failed"
ok "Service web resolved by cluster DNS (web, web.$NS, web.$NS.svc.$CLUSTER_DOMAIN -> $svc_ip) and answered through kube-proxy"

# ------------------------------------------------------------------ 3. KEDA 0 -> 2 -> 0 on a Redis list
kc get crd scaledobjects.keda.sh >/dev/null 2>&1 || fail "KEDA CRDs missing: the stack installs KEDA (npm run up), the proving ground does not"
rdir=$(mktemp -d)
redis-server --port "$REDIS_PORT" --bind "$IP" --protected-mode no --save '' --appendonly no --dir "$rdir" \
  --logfile "$LOGS/smoke-redis.log" &
redis_pid=$!
rc() { redis-cli -h "$IP" -p "$REDIS_PORT" "$@"; }
until_true 20 rc ping >/dev/null 2>&1 || fail "redis-server did not start on $IP:$REDIS_PORT"
rc del smoke-jobs >/dev/null
kc apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: consumer, namespace: $NS}
spec:
  replicas: 0
  selector: {matchLabels: {app: consumer}}
  template:
    metadata: {labels: {app: consumer}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      containers:
      - name: main
        image: $BASE_IMAGE
        imagePullPolicy: IfNotPresent
        command: ["sleep", "infinity"]
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: consumer, namespace: $NS}
spec:
  scaleTargetRef: {name: consumer}
  minReplicaCount: 0
  maxReplicaCount: 2
  pollingInterval: 3
  cooldownPeriod: 10
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown: {stabilizationWindowSeconds: 0}
        scaleUp: {stabilizationWindowSeconds: 0}
  triggers:
  - type: redis
    metadata: {address: "$IP:$REDIS_PORT", listName: smoke-jobs, listLength: "2", activationListLength: "0"}
EOF
ready() { [ "$(kc -n "$NS" get scaledobject consumer -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
until_true 90 ready || fail "ScaledObject never became Ready"
replicas() { kc -n "$NS" get deploy consumer -o jsonpath='{.status.readyReplicas}'; }
ready_is() { [ "$(replicas)" = "$1" ] || { [ "$1" = 0 ] && [ -z "$(replicas)" ]; }; }
spec_is() { [ "$(kc -n "$NS" get deploy consumer -o jsonpath='{.spec.replicas}')" = "$1" ]; }
sleep 5
ready_is 0 || fail "consumer not at 0 replicas with an empty list"
ok "ScaledObject Ready; Deployment consumer idle at 0 replicas with the Redis list empty"
rc rpush smoke-jobs j1 j2 j3 j4 >/dev/null
t0=$(date +%s)
until_true 240 ready_is 2 || fail "consumer did not scale to 2 (list length 4, listLength 2)"
ok "LPUSHed 4 items: KEDA activated and the HPA (external metric via KEDA's metrics API server) scaled consumer 0 -> 2 in $(( $(date +%s) - t0 ))s"
rc del smoke-jobs >/dev/null
t0=$(date +%s)
until_true 240 spec_is 0 || fail "consumer did not scale back to 0"
until_true 60 ready_is 0 || fail "consumer pods did not go away"
ok "list drained: KEDA scaled consumer 2 -> 0 in $(( $(date +%s) - t0 ))s (cooldownPeriod 10s)"

echo
echo "SMOKE PASSED in $(( $(date +%s) - t_start ))s — proved:"
for p in "${proved[@]}"; do echo "  - $p"; done
