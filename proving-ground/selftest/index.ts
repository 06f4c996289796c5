// Proving-ground self-test program (run by proving-ground/selftest.sh with the local file backend):
// a real image build + push through our buildkitd with @pulumi/docker-build, and, with config
// `kubernetes: true`, a ConfigMap in the local cluster through @pulumi/kubernetes carrying the digest.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as dockerBuild from "@pulumi/docker-build";
import * as k8s from "@pulumi/kubernetes";

const config = new pulumi.Config();
const registry = process.env.LONGSHORE_REGISTRY ?? "localhost:5000";
const builder = process.env.LONGSHORE_BUILDER ?? "longshore";
const tag = config.get("tag") ?? "selftest";
const useKubernetes = config.getBoolean("kubernetes") ?? false;

const image = new dockerBuild.Image("selftest", {
    context: { location: path.join(__dirname, "app") },
    buildArgs: { BASE_IMAGE: `${registry}/longshore/python-base:3.11-bookworm` },
    tags: [`${registry}/longshore/pg-selftest:${tag}`],
    push: true,
    builder: { name: builder },
});

export const digest = image.digest;
export const ref = image.ref;

let configMap: k8s.core.v1.ConfigMap | undefined;
if (useKubernetes) {
    configMap = new k8s.core.v1.ConfigMap("selftest", {
        metadata: { namespace: "default", labels: { "app.kubernetes.io/part-of": "longshore-selftest" } },
        data: { digest: image.digest, ref: image.ref },
    });
}
export const configMapName = configMap ? configMap.metadata.name : "";
