// Proving-ground self-test of the policy pack through the real engine (proving-ground/selftest.sh runs
// `pulumi preview --policy-pack policy/pack` on it): one Deployment whose container image is stack config `image`.
// The Kubernetes provider only renders YAML (renderYamlToDirectory), so the preview needs no cluster.
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";

const config = new pulumi.Config();
const provider = new k8s.Provider("render", {
    renderYamlToDirectory: path.join(os.tmpdir(), `longshore-selftest-policy-${pulumi.getStack()}`),
});
const labels = { app: "selftest-policy" };
new k8s.apps.v1.Deployment("worker", {
    metadata: { namespace: "default" },
    spec: {
        selector: { matchLabels: labels },
        template: {
            metadata: { labels },
            spec: { containers: [{ name: "worker", image: config.require("image") }] },
        },
    },
}, { provider });
