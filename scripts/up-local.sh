#!/usr/bin/env bash
# The main job: bring up the local proving ground (first run builds it; later runs reuse the cache), then
# deploy the whole Longshore platform with `pulumi up` on the `local` stack (any kubeconfig context works;
# by default the proving ground's cluster). Prints how to call the example endpoint. Extra arguments go to
# `pulumi up` (CI's second run passes --expect-no-changes).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib.sh
use_node  # Node.js >= 22 first on PATH for everything below (package.json engines; scripts/lib.sh)
bash scripts/install-deps.sh
bash proving-ground/pg up
. proving-ground/env.sh
# Your stack's config file (Pulumi.local.yaml, not committed) gets the committed defaults it lacks.
node scripts/seed-stack-config.js local
pulumi stack select --create local >/dev/null
if ! pulumi config get longshore:apiKeys >/dev/null 2>&1; then
  key="lsk-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  pulumi config set --secret longshore:apiKeys "$key"
  log "generated a client API key (in Pulumi.local.yaml, encrypted): bash scripts/api-key.sh"
fi
t0=$(date +%s)
pulumi up --yes --stack local "$@"
log "pulumi up in $(( $(date +%s) - t0 )) s"
ns=$(pulumi stack output namespace)
ip=$(kubectl -n "$ns" get service longshore-gateway -o jsonpath='{.spec.clusterIP}')
cat <<EOT

Longshore is up. From this machine:
  curl -s -H "Authorization: Bearer \$(bash $root/scripts/api-key.sh)" \\
       -d '{"input":{"name":"you"}}' http://$ip:8080/v2/$(pulumi stack output endpointId)/runsync
EOT
