import * as assert from "assert";
import { mockPulumi, settle, valueOf, thrown, DIGEST_REF, Recorder } from "./harness";
import { ImagePrePull, ServerlessEndpoint, DEFAULT_PAUSE_IMAGE, PREPULL_LABEL } from "../../components";

const platform = {
    namespace: "longshore",
    gatewayUrl: "http://longshore-gateway.longshore.svc.cluster.local:8080",
    scalerAddress: "longshore-gateway.longshore.svc.cluster.local:9090",
};
const PAUSE_REF = `localhost:5000/longshore/pause@sha256:${"1".repeat(64)}`;
const OTHER_DIGEST_REF = `localhost:5000/longshore/echo@sha256:${"fedcba9876543210".repeat(4)}`;

describe("ImagePrePull", () => {
    let rec: Recorder;
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    it("a DaemonSet that pulls the image by digest in a no-op init container and idles on the pause image", async () => {
        const pp = new ImagePrePull("echo", { image: DIGEST_REF, namespace: "longshore" });
        await settle(rec);
        const ds = rec.one("kubernetes:apps/v1:DaemonSet").inputs;
        const pod = ds.spec.template.spec;
        assert.strictEqual(ds.metadata.name, "echo-prepull");
        assert.strictEqual(ds.metadata.namespace, "longshore");
        assert.strictEqual(pod.initContainers.length, 1);
        assert.strictEqual(pod.initContainers[0].image, DIGEST_REF);
        assert.strictEqual(pod.initContainers[0].imagePullPolicy, "IfNotPresent");
        assert.deepStrictEqual(pod.initContainers[0].command, ["sh", "-c", "exit 0"]);
        assert.strictEqual(pod.containers.length, 1);
        assert.strictEqual(pod.containers[0].image, DEFAULT_PAUSE_IMAGE);
        assert.ok(!("nvidia.com/gpu" in (pod.initContainers[0].resources.requests ?? {})), "pre-pull takes no GPU");
        assert.strictEqual(ds.spec.selector.matchLabels[PREPULL_LABEL], "echo");
        assert.strictEqual(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, "100%");
        assert.strictEqual(await valueOf(pp.image), DIGEST_REF);
        assert.strictEqual(await valueOf(pp.daemonSetName), "echo-prepull");
    });

    it("refuses a tag (image or pause image) and an empty command, naming the argument", () => {
        assert.match(thrown(() => new ImagePrePull("x", { image: "localhost:5000/w:1.0", namespace: "ns" })), /ImagePrePull "x": image .*must be pinned by digest/);
        assert.match(thrown(() => new ImagePrePull("x", { image: DIGEST_REF, namespace: "ns", command: [] })), /ImagePrePull "x": command .*non-empty list/);
        assert.match(thrown(() => new ImagePrePull("x", { image: DIGEST_REF, namespace: "ns", pauseImage: "registry.k8s.io/pause:3.10" })), /ImagePrePull "x": pauseImage .*pinned by digest/);
        assert.match(thrown(() => new ImagePrePull("x", { image: DIGEST_REF } as any)), /ImagePrePull "x": namespace is required/);
    });
});

describe("ServerlessEndpoint prePull", () => {
    let rec: Recorder;
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    it("is on by default for GPU endpoints: same tolerations, affinity and node selector as the workers", async () => {
        new ServerlessEndpoint("echo", { platform, image: DIGEST_REF, gpuTypes: ["NVIDIA-L4"], nodeSelector: { pool: "gpu" } });
        await settle(rec);
        const ds = rec.one("kubernetes:apps/v1:DaemonSet");
        const dep = rec.one("kubernetes:apps/v1:Deployment");
        const pod = ds.inputs.spec.template.spec;
        const worker = dep.inputs.spec.template.spec;
        assert.strictEqual(pod.initContainers[0].image, DIGEST_REF);
        assert.deepStrictEqual(pod.tolerations, worker.tolerations);
        assert.deepStrictEqual(pod.tolerations, [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
        assert.deepStrictEqual(pod.affinity, worker.affinity);
        assert.deepStrictEqual(pod.nodeSelector, { pool: "gpu" });
        assert.ok(rec.one("longshore:index:ImagePrePull", "echo"));
    });

    it("is off for cpuOnly endpoints and when disabled; pauseImage and command pass through", async () => {
        new ServerlessEndpoint("cpu", { platform, image: DIGEST_REF, cpuOnly: true });
        new ServerlessEndpoint("off", { platform, image: DIGEST_REF, prePull: { enabled: false } });
        new ServerlessEndpoint("on", { platform, image: OTHER_DIGEST_REF, prePull: { pauseImage: PAUSE_REF, command: ["true"] } });
        await settle(rec);
        const dss = rec.byType("kubernetes:apps/v1:DaemonSet");
        assert.strictEqual(dss.length, 1);
        const pod = dss[0].inputs.spec.template.spec;
        assert.strictEqual(dss[0].inputs.metadata.name, "on-prepull");
        assert.strictEqual(pod.initContainers[0].image, OTHER_DIGEST_REF);
        assert.deepStrictEqual(pod.initContainers[0].command, ["true"]);
        assert.strictEqual(pod.containers[0].image, PAUSE_REF);
    });

    it("a new image digest changes the pre-pull pod template (the DaemonSet rolls to the new image)", async () => {
        new ServerlessEndpoint("a", { platform, image: DIGEST_REF });
        await settle(rec);
        const first = rec.one("kubernetes:apps/v1:DaemonSet").inputs.spec.template;
        rec = await mockPulumi();
        new ServerlessEndpoint("a", { platform, image: OTHER_DIGEST_REF });
        await settle(rec);
        const second = rec.one("kubernetes:apps/v1:DaemonSet").inputs.spec.template;
        assert.notDeepStrictEqual(first, second);
        assert.strictEqual(second.spec.initContainers[0].image, OTHER_DIGEST_REF);
    });
});
