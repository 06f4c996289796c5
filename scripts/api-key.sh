#!/usr/bin/env bash
# Prints the first client API key of a stack deployed from this checkout (default: local), for curl:
#   curl -H "Authorization: Bearer $(bash scripts/api-key.sh)" …
# Works from any shell: it loads the proving ground's environment (pulumi on PATH, the local backend) itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. proving-ground/env.sh
pulumi config get longshore:apiKeys --stack "${1:-local}" | cut -d, -f1
