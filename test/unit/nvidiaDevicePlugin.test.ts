import * as assert from "assert";
import { mockPulumi, settle, valueOf, thrown, envOf, Recorder } from "./harness";
import { NvidiaDevicePlugin } from "../../components";

describe("NvidiaDevicePlugin", () => {
    let rec: Recorder;
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    it("DaemonSet with the pinned NVIDIA image, GPU toleration, GPU node selection and the device-plugin hostPath", async () => {
        const p = new NvidiaDevicePlugin("nvdp");
        await settle(rec);
        const ds = rec.one("kubernetes:apps/v1:DaemonSet").inputs;
        const pod = ds.spec.template.spec;
        const c = pod.containers[0];
        assert.strictEqual(ds.metadata.namespace, "kube-system");
        assert.strictEqual(c.image, "nvcr.io/nvidia/k8s-device-plugin:v0.17.0");
        assert.strictEqual(await valueOf(p.image), "nvcr.io/nvidia/k8s-device-plugin:v0.17.0");
        assert.ok(pod.tolerations.some((t: any) => t.key === "nvidia.com/gpu" && t.operator === "Exists" && t.effect === "NoSchedule"));
        assert.deepStrictEqual(pod.nodeSelector, { "nvidia.com/gpu.present": "true" });
        assert.strictEqual(pod.priorityClassName, "system-node-critical");
        assert.deepStrictEqual(pod.volumes, [{ name: "device-plugin", hostPath: { path: "/var/lib/kubelet/device-plugins" } }]);
        assert.deepStrictEqual(c.volumeMounts, [{ name: "device-plugin", mountPath: "/var/lib/kubelet/device-plugins" }]);
        assert.strictEqual(rec.byType("kubernetes:core/v1:ConfigMap").length, 0);
    });

    it("version pin, or a full image override (the proving ground's fake plugin) with its args/env", async () => {
        new NvidiaDevicePlugin("fake", {
            image: "localhost:5000/longshore/fake-gpu-device-plugin:0.1.0",
            args: ["--count=4"],
            env: { FAKE_GPU_PRODUCT: "NVIDIA-H100-80GB-HBM3" },
            nodeSelector: {},
            imagePullPolicy: "Always",
        });
        await settle(rec);
        const c = rec.one("kubernetes:apps/v1:DaemonSet").inputs.spec.template.spec.containers[0];
        assert.strictEqual(c.image, "localhost:5000/longshore/fake-gpu-device-plugin:0.1.0");
        assert.deepStrictEqual(c.args, ["--count=4"]);
        assert.strictEqual(envOf(c).FAKE_GPU_PRODUCT.value, "NVIDIA-H100-80GB-HBM3");
        assert.strictEqual(c.imagePullPolicy, "Always");
        assert.deepStrictEqual(rec.one("kubernetes:apps/v1:DaemonSet").inputs.spec.template.spec.nodeSelector, {});
        rec = await mockPulumi();
        new NvidiaDevicePlugin("pinned", { version: "v0.16.2" });
        await settle(rec);
        assert.strictEqual(rec.one("kubernetes:apps/v1:DaemonSet").inputs.spec.template.spec.containers[0].image, "nvcr.io/nvidia/k8s-device-plugin:v0.16.2");
    });

    it("time-slicing: a ConfigMap with the sharing config, mounted and passed as CONFIG_FILE", async () => {
        new NvidiaDevicePlugin("nvdp", { timeSlicing: { replicas: 4 } });
        await settle(rec);
        const cm = rec.one("kubernetes:core/v1:ConfigMap").inputs;
        const cfg: string = cm.data["config.yaml"];
        assert.match(cfg, /timeSlicing:/);
        assert.match(cfg, /- name: nvidia.com\/gpu\n\s+replicas: 4/);
        const pod = rec.one("kubernetes:apps/v1:DaemonSet").inputs.spec.template.spec;
        assert.strictEqual(envOf(pod.containers[0]).CONFIG_FILE.value, "/config/config.yaml");
        assert.ok(pod.volumes.some((v: any) => v.configMap?.name === cm.metadata.name));
    });

    describe("validation", () => {
        const cases: [string, any, RegExp][] = [
            ["latest image", { image: "nvcr.io/nvidia/k8s-device-plugin:latest" }, /image \(".*:latest"\) must not use the mutable `latest` tag/],
            ["untagged image", { image: "localhost:5000/fake-plugin" }, /image \("localhost:5000\/fake-plugin"\) must name a version tag or a digest/],
            ["bad version", { version: "latest" }, /version \("latest"\) must be a version such as v0.17.0/],
            ["time-slicing 1", { timeSlicing: { replicas: 1 } }, /timeSlicing\.replicas \(1\) must be >= 2/],
            ["time-slicing fraction", { timeSlicing: { replicas: 2.5 } }, /timeSlicing\.replicas \(2.5\) must be a positive integer/],
            ["bad namespace", { namespace: "Kube_System" }, /namespace \("Kube_System"\) must be a DNS-1123 label/],
            ["bad env", { env: { "A-B": "1" } }, /env\.A-B must be a valid environment variable name/],
            ["bad pull policy", { imagePullPolicy: "Sometimes" }, /imagePullPolicy \("Sometimes"\) must be one of Always, IfNotPresent, Never/],
        ];
        for (const [what, args, re] of cases) {
            it(what, () => {
                const msg = thrown(() => new NvidiaDevicePlugin("bad", args));
                assert.match(msg, /^NvidiaDevicePlugin "bad": /);
                assert.match(msg, re);
            });
        }
    });
});
