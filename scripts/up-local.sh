#!/usr/bin/env bash
# The main job: bring up the local proving ground (first run builds it; later runs reuse the cache), then
# deploy the whole Longshore platform with `pulumi up` on the `local` stack (any kubeconfig context works;
# by default the proving ground's cluster). Prints how to call the example endpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bash scripts/install-deps.sh
bash proving-ground/pg up
. proving-ground/env.sh
pulumi stack select --create local >/dev/null
if ! pulumi config get longshore:apiKeys >/dev/null 2>&1; then
  key="lsk-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  pulumi config set --secret longshore:apiKeys "$key"
  log "generated a client API key: pulumi config get longshore:apiKeys"
fi
pulumi up --yes --stack local "$@"
ns=$(pulumi stack output namespace)
ip=$(kubectl -n "$ns" get service longshore-gateway -o jsonpath='{.spec.clusterIP}')
cat <<EOT

Longshore is up. From this machine:
  curl -s -H "Authorization: Bearer \$(pulumi config get longshore:apiKeys | cut -d, -f1)" \\
       -d '{"input":{"name":"you"}}' http://$ip:8080/v2/$(pulumi stack output endpointId)/runsync
EOT
