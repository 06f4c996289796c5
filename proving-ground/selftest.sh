#!/usr/bin/env bash
# Proves the engine half of the proving ground end to end with the real Pulumi engine and the local file backend:
#   1. `pulumi up` of proving-ground/selftest (TypeScript): @pulumi/docker-build builds app/Dockerfile FROM the
#      local python-base through our buildkitd and pushes it to localhost:5000; the stack exports its digest,
#      which must then be served by the registry.
#   2. when the cluster is up ($KUBECONFIG answers), the same program also manages a ConfigMap with
#      @pulumi/kubernetes; it must exist with the digest after `up` and be gone after `destroy`.
#   3. `pulumi destroy` + `stack rm`.
#   4. a Python program (proving-ground/selftest-python) through the Python language host: config + secret round trip.
#   5. `pulumi preview --policy-pack policy/pack` (the Node.js pack started through the language host's RunPlugin) of
#      proving-ground/selftest-policy: a digest-pinned Deployment passes; a tag-only one fails on image-pinned-by-digest.
# Needs parts 10-30 up (proving-ground/pg up). Usage: proving-ground/selftest.sh [--no-kubernetes]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib.sh"
. "$here/env.sh"
for p in 10-docker 20-buildkit 30-pulumi; do bash "$here/parts/$p.sh" check >/dev/null 2>&1 || die "part $p is not up (run proving-ground/pg up)"; done

k8s=false
if [ "${1:-}" != "--no-kubernetes" ] && [ -s "$KUBECONFIG" ] && command -v kubectl >/dev/null \
   && kubectl get --raw /readyz >/dev/null 2>&1; then k8s=true; fi
log "self-test: kubernetes=$k8s"

stack="selftest-$(hostname -s)-$$"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$here/selftest"
cleanup() { pulumi destroy --yes --stack "$stack" --non-interactive >/dev/null 2>&1 || true; pulumi stack rm --yes --force --stack "$stack" >/dev/null 2>&1 || true; }
trap 'cleanup; rm -rf "$work"' EXIT
pulumi stack init "$stack" --non-interactive >/dev/null
pulumi config set --stack "$stack" kubernetes "$k8s"
pulumi config set --stack "$stack" tag selftest

t0=$(date +%s)
pulumi up --yes --stack "$stack" --non-interactive --skip-preview > "$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "pulumi up failed"; }
log "pulumi up: $(( $(date +%s) - t0 ))s"
digest=$(pulumi stack output digest --stack "$stack")
case "$digest" in sha256:*) ;; *) die "stack output digest is '$digest', expected sha256:..." ;; esac
curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' \
  "http://$LONGSHORE_REGISTRY/v2/longshore/pg-selftest/manifests/$digest" || die "registry does not serve $digest"
log "image pushed: $LONGSHORE_REGISTRY/longshore/pg-selftest@$digest"

if [ "$k8s" = true ]; then
  cm=$(pulumi stack output configMapName --stack "$stack")
  got=$(kubectl get configmap -n default "$cm" -o jsonpath='{.data.digest}') || die "ConfigMap $cm not found"
  [ "$got" = "$digest" ] || die "ConfigMap $cm has digest '$got', expected $digest"
  log "ConfigMap default/$cm carries the digest"
fi

# A second `up` with no changes must be a no-op (the engine diffs real state).
pulumi preview --stack "$stack" --non-interactive --expect-no-changes > "$work/preview.log" 2>&1 || { cat "$work/preview.log" >&2; die "second preview expected no changes"; }

t0=$(date +%s)
pulumi destroy --yes --stack "$stack" --non-interactive --skip-preview > "$work/destroy.log" 2>&1 || { cat "$work/destroy.log" >&2; die "pulumi destroy failed"; }
log "pulumi destroy: $(( $(date +%s) - t0 ))s"
if [ "$k8s" = true ]; then
  ! kubectl get configmap -n default "$cm" >/dev/null 2>&1 || die "ConfigMap $cm still exists after destroy"
fi
pulumi stack rm --yes --stack "$stack" --non-interactive >/dev/null
trap 'rm -rf "$work"' EXIT

# 4. The Python language host: a Python program with stack config (plain + secret), in a cached venv that has the
#    `pulumi` PyPI package at the engine's version.
venv="$LONGSHORE_CACHE/venv-pulumi-$PULUMI_VERSION"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pulumi' 2>/dev/null; then
  log "creating $venv (pip install pulumi==${PULUMI_VERSION#v})"
  python3 -m venv "$venv" && "$venv/bin/pip" install -q "pulumi==${PULUMI_VERSION#v}" || die "cannot create $venv"
fi
cd "$here/selftest-python"
pystack="py-$stack"
trap 'PATH="$venv/bin:$PATH" pulumi destroy --yes --stack "$pystack" --non-interactive >/dev/null 2>&1; pulumi stack rm --yes --force --stack "$pystack" >/dev/null 2>&1; rm -rf "$work"' EXIT
pulumi stack init "$pystack" --non-interactive >/dev/null
pulumi config set --stack "$pystack" who longshore
pulumi config set --stack "$pystack" --secret s "s3cret-$$"
PATH="$venv/bin:$PATH" pulumi up --yes --stack "$pystack" --non-interactive --skip-preview > "$work/py.log" 2>&1 || { cat "$work/py.log" >&2; die "pulumi up of the Python program failed"; }
[ "$(pulumi stack output greeting --stack "$pystack")" = "hello longshore" ] || die "Python program did not see its config"
[ "$(pulumi stack output secret --show-secrets --stack "$pystack")" = "s3cret-$$" ] || die "Python program did not see its secret config"
PATH="$venv/bin:$PATH" pulumi destroy --yes --stack "$pystack" --non-interactive --skip-preview >/dev/null 2>&1 || die "pulumi destroy of the Python program failed"
pulumi stack rm --yes --stack "$pystack" --non-interactive >/dev/null
trap 'rm -rf "$work"' EXIT
log "Python language host: config + secret round trip ok"

# 5. The policy pack through the engine. The program's Kubernetes provider only renders YAML, so no cluster (and
#    no KUBECONFIG, which that mode refuses) is needed.
cd "$here/selftest-policy"
polstack="pol-$stack"
trap 'pulumi stack rm --yes --force --stack "$polstack" >/dev/null 2>&1; rm -rf "$work"' EXIT
pulumi stack init "$polstack" --non-interactive >/dev/null
policy_preview() { pulumi config set --stack "$polstack" image "$1" && env -u KUBECONFIG pulumi preview --stack "$polstack" --non-interactive --policy-pack "$here/../policy/pack" > "$work/policy.log" 2>&1; }
policy_preview "$LONGSHORE_REGISTRY/longshore/pg-selftest@sha256:$(printf '%064d' 0)" || { cat "$work/policy.log" >&2; die "preview of a digest-pinned Deployment failed under the policy pack"; }
grep -q 'longshore@v0.1.0' "$work/policy.log" || { cat "$work/policy.log" >&2; die "the policy pack did not run"; }
! policy_preview "$LONGSHORE_REGISTRY/longshore/pg-selftest:selftest" || { cat "$work/policy.log" >&2; die "preview of a tag-only image passed the policy pack"; }
grep -q 'mandatory.*image-pinned-by-digest' "$work/policy.log" || { cat "$work/policy.log" >&2; die "tag-only image: no mandatory image-pinned-by-digest violation"; }
pulumi stack rm --yes --force --stack "$polstack" >/dev/null
trap 'rm -rf "$work"' EXIT
log "policy pack: digest-pinned image passes, tag-only image fails preview on image-pinned-by-digest"
log "self-test passed (kubernetes=$k8s)"
