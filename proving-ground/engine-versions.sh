# Pinned versions of the engine half of the proving ground (Docker/BuildKit/Pulumi parts 10-30, env.sh).
# Why these: docs/proving-ground.md ("Pinned versions"). The Go module proxy reachable here serves only some
# versions (e.g. pulumi/pkg/v3 v3.260.0's zip is refused), so each pin is the newest that builds here.
: "${PULUMI_VERSION:=v3.259.0}"            # github.com/pulumi/pulumi/{pkg,sdk}/v3 — the CLI and the Go SDK
: "${PULUMI_DOCKER_BUILD_VERSION:=v0.0.22}" # github.com/pulumi/pulumi-docker-build (matches @pulumi/docker-build 0.0.22)
# github.com/pulumi/pulumi-kubernetes/provider/v4 has no module tags; the newest pseudo-version the proxy serves
# here is a January 2026 commit between v4.24.1 and v4.25.0 (the sum database does not list it: GONOSUMDB).
: "${PULUMI_KUBERNETES_MODULE_VERSION:=v4.0.0-20260115033456-f47bc2d6f199}"
: "${PULUMI_KUBERNETES_SDK_MODULE_VERSION:=v4.24.0}" # replaces the provider's ../sdk
: "${PULUMI_KUBERNETES_VERSION:=4.25.0-dev.20260115+f47bc2d6f199}"  # what the plugin reports (between 4.24.1 and 4.25.0)
: "${BUILDKIT_VERSION:=v0.31.1}"            # github.com/moby/buildkit (docker-build v0.0.22 uses the v0.31 client)
: "${DEBIAN_SUITE:=bookworm}"
# Every Go build of the proving ground: no file paths and no debug info in the binaries (-ldflags -s -w at each
# build), and no DWARF generated at compile time either (less compile work; nobody debugs these binaries here).
: "${PG_GO_BUILD_FLAGS:=-trimpath -gcflags=all=-dwarf=false}"
