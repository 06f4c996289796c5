# Source me: `. proving-ground/env.sh` — the proving ground's environment for scripts, tests and people.
# Puts the locally built Pulumi CLI + plugins (ambient plugins), BuildKit and Kubernetes tools on PATH and points
# Pulumi at a local file backend with passphrase secrets. Sourcing has no side effects beyond exports and mkdir.
_pg_env_dir=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)
: "${LONGSHORE_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/longshore}"
export LONGSHORE_CACHE
. "$_pg_env_dir/engine-versions.sh"
_pg_path_add() { case ":$PATH:" in *":$1:"*) ;; *) PATH="$1:$PATH" ;; esac; }
_pg_path_add "$LONGSHORE_CACHE/buildkit-$BUILDKIT_VERSION/bin"
_pg_path_add "$LONGSHORE_CACHE/kubernetes-${K8S_VERSION:-v1.30.14}/bin"
_pg_path_add "$LONGSHORE_CACHE/pulumi-$PULUMI_VERSION/bin"
export PATH
unset -f _pg_path_add
export PULUMI_HOME="${PULUMI_HOME:-$LONGSHORE_CACHE/pulumi-home}"
mkdir -p "$PULUMI_HOME" "$LONGSHORE_CACHE/pulumi-state" "$LONGSHORE_CACHE/run"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$LONGSHORE_CACHE/pulumi-state}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-longshore-local}"
export PULUMI_SKIP_UPDATE_CHECK=true
# TypeScript programs run transpile-only (the repo typechecks them in `npm test`): saves ~40 s per operation.
export PULUMI_NODEJS_TRANSPILE_ONLY="${PULUMI_NODEJS_TRANSPILE_ONLY:-true}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true
# BuildKit (part 20): buildctl reads BUILDKIT_HOST; the docker-build provider uses the buildx builder
# "longshore" (remote driver → the same buildkitd) registered in BUILDX_CONFIG.
export BUILDKIT_HOST="${BUILDKIT_HOST:-unix:///run/longshore/buildkitd.sock}"
export BUILDX_CONFIG="${BUILDX_CONFIG:-$LONGSHORE_CACHE/buildx}"
export LONGSHORE_BUILDER="${LONGSHORE_BUILDER:-longshore}"
export LONGSHORE_REGISTRY="${LONGSHORE_REGISTRY:-localhost:5000}"
# Kubernetes (parts 40+ write it when the cluster is up).
export KUBECONFIG="${KUBECONFIG:-$LONGSHORE_CACHE/run/kubeconfig}"
unset _pg_env_dir
