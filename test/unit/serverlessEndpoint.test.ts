import * as assert from "assert";
import { validateSettings } from "../../contract";
import * as pulumi from "@pulumi/pulumi";
import { mockPulumi, settle, valueOf, rejectionOf, thrown, envOf, isSecretValue, containsSecret, DIGEST_REF, Recorder } from "./harness";
import { ServerlessEndpoint, ServerlessEndpointArgs, preferenceWeights, gpuProductLabel, RESERVED_WORKER_ENV } from "../../components";

const platform = {
    namespace: "longshore",
    gatewayUrl: "http://longshore-gateway.longshore.svc.cluster.local:8080",
    scalerAddress: "longshore-gateway.longshore.svc.cluster.local:9090",
};
const base = (extra: Partial<ServerlessEndpointArgs> = {}): ServerlessEndpointArgs => ({ platform, image: DIGEST_REF, ...extra });

async function build(rec: Recorder, name: string, args: ServerlessEndpointArgs) {
    const ep = new ServerlessEndpoint(name, args);
    await settle(rec);
    const dep = rec.one("kubernetes:apps/v1:Deployment").inputs;
    const so = rec.one("kubernetes:keda.sh/v1alpha1:ScaledObject").inputs;
    const secret = rec.byType("kubernetes:core/v1:Secret").find((s) => s.inputs.metadata.labels?.["longshore.dev/endpoint"]);
    return { ep, dep, so, secret, pod: dep.spec.template.spec, container: dep.spec.template.spec.containers[0] };
}

describe("ServerlessEndpoint", () => {
    let rec: Recorder;
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    it("registers the component, a worker Deployment pinned by digest, the ScaledObject and the endpoint Secret", async () => {
        const { ep, dep, container } = await build(rec, "echo", base());
        assert.ok(rec.one("longshore:index:ServerlessEndpoint", "echo"));
        assert.strictEqual(container.image, DIGEST_REF);
        assert.strictEqual(dep.metadata.name, "echo-worker");
        assert.strictEqual(dep.metadata.namespace, "longshore");
        // no volume: no empty lists (they showed as a volumes change in every image-change preview)
        assert.strictEqual(container.volumeMounts, undefined);
        assert.strictEqual(dep.spec.template.spec.volumes, undefined);
        assert.strictEqual(await valueOf(ep.endpointId), "echo");
        assert.strictEqual(await valueOf(ep.jobUrl), "http://longshore-gateway.longshore.svc.cluster.local:8080/v2/echo");
        assert.strictEqual(await valueOf(ep.deploymentName), "echo-worker");
        assert.strictEqual(await valueOf(ep.scaledObjectName), "echo");
    });

    it("builds the KEDA external-push trigger exactly as the gateway contract says", async () => {
        const { so } = await build(rec, "echo", base({ scalerType: "REQUEST_COUNT", scalerValue: 2 }));
        assert.strictEqual(so.apiVersion, "keda.sh/v1alpha1");
        assert.strictEqual(so.kind, "ScaledObject");
        assert.deepStrictEqual(so.spec.triggers, [{
            type: "external-push",
            metadata: {
                scalerAddress: "longshore-gateway.longshore.svc.cluster.local:9090",
                endpointId: "echo",
                scalerType: "REQUEST_COUNT",
                scalerValue: "2",
            },
        }]);
        assert.deepStrictEqual(so.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "echo-worker" });
    });

    it("defaults: scale from zero, max 3, QUEUE_DELAY 4 s, idle 5 s, polling 10 s", async () => {
        const { so, dep } = await build(rec, "echo", base());
        assert.strictEqual(so.spec.minReplicaCount, 0);
        assert.strictEqual(so.spec.maxReplicaCount, 3);
        assert.strictEqual(so.spec.triggers[0].metadata.scalerType, "QUEUE_DELAY");
        assert.strictEqual(so.spec.triggers[0].metadata.scalerValue, "4");
        assert.strictEqual(so.spec.cooldownPeriod, 5);
        assert.strictEqual(so.spec.pollingInterval, 10);
        assert.strictEqual(dep.spec.replicas, 0, "no worker is started before there is work");
    });

    it("maps min/max workers and idle timeout to ScaledObject bounds, cooldown and HPA scale-down behaviour", async () => {
        const { so } = await build(rec, "echo", base({ minWorkers: 1, maxWorkers: 7, idleTimeoutSeconds: 120, pollingIntervalSeconds: 5 }));
        assert.strictEqual(so.spec.minReplicaCount, 1);
        assert.strictEqual(so.spec.maxReplicaCount, 7);
        assert.strictEqual(so.spec.cooldownPeriod, 120);
        assert.strictEqual(so.spec.pollingInterval, 5);
        const behavior = so.spec.advanced.horizontalPodAutoscalerConfig.behavior;
        assert.strictEqual(behavior.scaleDown.stabilizationWindowSeconds, 120);
        assert.strictEqual(behavior.scaleUp.stabilizationWindowSeconds, 0);
        assert.ok(behavior.scaleUp.policies.some((p: any) => p.type === "Pods" && p.value === 7));
    });

    it("drain: terminationGracePeriodSeconds = executionTimeout + margin by default, or the value given", async () => {
        let r = await build(rec, "a", base({ executionTimeoutSeconds: 900 }));
        assert.strictEqual(r.pod.terminationGracePeriodSeconds, 930);
        rec = await mockPulumi();
        r = await build(rec, "b", base({ executionTimeoutSeconds: 60, terminationGracePeriodSeconds: 60 }));
        assert.strictEqual(r.pod.terminationGracePeriodSeconds, 60);
        const settings = JSON.parse(r.secret!.inputs.stringData.settings);
        assert.strictEqual(settings.executionTimeoutMs, 60000);
    });

    it("requests and limits nvidia.com/gpu, tolerates the GPU taint", async () => {
        const { container, pod } = await build(rec, "echo", base({ gpuCount: 2 }));
        assert.strictEqual(container.resources.limits["nvidia.com/gpu"], "2");
        assert.strictEqual(container.resources.requests["nvidia.com/gpu"], "2");
        assert.deepStrictEqual(pod.tolerations, [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    });

    it("GPU types: required set of allowed products plus preferred weights in the given order", async () => {
        const { pod } = await build(rec, "echo", base({ gpuTypes: ["NVIDIA H100 80GB HBM3", "NVIDIA-A100-SXM4-80GB", "NVIDIA-L4"] }));
        const na = pod.affinity.nodeAffinity;
        assert.deepStrictEqual(na.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions, [
            { key: "nvidia.com/gpu.product", operator: "In", values: ["NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB", "NVIDIA-L4"] },
        ]);
        const prefs = na.preferredDuringSchedulingIgnoredDuringExecution;
        assert.deepStrictEqual(prefs.map((p: any) => p.preference.matchExpressions[0].values[0]), ["NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB", "NVIDIA-L4"]);
        const weights = prefs.map((p: any) => p.weight);
        assert.ok(weights[0] > weights[1] && weights[1] > weights[2] && weights[2] >= 1 && weights[0] <= 100, `weights ${weights}`);
    });

    it("preferenceWeights are strictly decreasing within 1..100 for long lists; GPU names normalise to label values", () => {
        for (const n of [1, 2, 5, 20, 99]) {
            const w = preferenceWeights(n);
            assert.strictEqual(w.length, n);
            assert.strictEqual(w[0], 100);
            for (let i = 1; i < n; i++) assert.ok(w[i] < w[i - 1] && w[i] >= 1, `n=${n} ${w}`);
        }
        assert.strictEqual(gpuProductLabel(" NVIDIA GeForce RTX 4090 "), "NVIDIA-GeForce-RTX-4090");
    });

    it("cpuOnly workers carry no GPU request, toleration or affinity", async () => {
        const { container, pod } = await build(rec, "cpu", base({ cpuOnly: true, resources: { cpu: "500m", memory: "256Mi" } }));
        assert.strictEqual(container.resources.limits["nvidia.com/gpu"], undefined);
        assert.deepStrictEqual(pod.tolerations, []);
        assert.strictEqual(pod.affinity, undefined);
        assert.deepStrictEqual(container.resources.requests, { cpu: "500m", memory: "256Mi" });
        assert.deepStrictEqual(container.resources.limits, { memory: "256Mi" });
    });

    it("RunPod worker env: webhooks with $ID placeholders and '?', pod id from the pod name, token from the Secret", async () => {
        const { container } = await build(rec, "echo", base({ pingIntervalMs: 5000 }));
        const env = envOf(container);
        const B = "http://longshore-gateway.longshore.svc.cluster.local:8080/v2/echo";
        assert.strictEqual(env.RUNPOD_WEBHOOK_GET_JOB.value, `${B}/job-take/$ID?`);
        assert.strictEqual(env.RUNPOD_WEBHOOK_POST_OUTPUT.value, `${B}/job-done/$RUNPOD_POD_ID/$ID?`);
        assert.strictEqual(env.RUNPOD_WEBHOOK_POST_STREAM.value, `${B}/job-stream/$RUNPOD_POD_ID/$ID?`);
        assert.strictEqual(env.RUNPOD_WEBHOOK_PING.value, `${B}/ping/$RUNPOD_POD_ID`);
        assert.deepStrictEqual(env.RUNPOD_POD_ID.valueFrom, { fieldRef: { fieldPath: "metadata.name" } });
        assert.strictEqual(env.RUNPOD_ENDPOINT_ID.value, "echo");
        assert.strictEqual(env.RUNPOD_PING_INTERVAL.value, "5000");
        assert.strictEqual(env.RUNPOD_SKIP_AUTO_SYSTEM_CHECKS.value, "true");
        assert.strictEqual(env.RUNPOD_AI_API_KEY.value, undefined, "the token is never a plain env value");
        assert.deepStrictEqual(env.RUNPOD_AI_API_KEY.valueFrom, { secretKeyRef: { name: "longshore-endpoint-echo", key: "workerToken" } });
        for (const k of RESERVED_WORKER_ENV) assert.ok(env[k], `${k} is set`);
    });

    it("endpoint Secret follows the discovery contract and its data is marked secret", async () => {
        const { secret } = await build(rec, "echo", base({ workerToken: pulumi.secret("a-worker-token-of-32-characters!"), webhookSecret: pulumi.secret("whsec_c2lnbmluZy1rZXktb2YtMzI=") }));
        assert.ok(secret, "a Secret labelled longshore.dev/endpoint exists");
        assert.strictEqual(secret!.inputs.metadata.namespace, "longshore");
        assert.strictEqual(secret!.inputs.metadata.labels["longshore.dev/endpoint"], "echo");
        assert.ok(isSecretValue(secret!.raw.stringData), "stringData is a Pulumi secret");
        assert.strictEqual(secret!.inputs.stringData.endpointId, "echo");
        assert.strictEqual(secret!.inputs.stringData.workerToken, "a-worker-token-of-32-characters!");
        assert.strictEqual(secret!.inputs.stringData.webhookSecret, "whsec_c2lnbmluZy1rZXktb2YtMzI=", "the gateway signs this endpoint's webhooks with it");
        const settings = JSON.parse(secret!.inputs.stringData.settings);
        // only settings the gateway reads (contract EndpointSettings); worker counts live in the ScaledObject
        assert.deepStrictEqual(Object.keys(settings).sort(), ["crashLoopFailAfterMs", "executionTimeoutMs", "maxWorkerLosses", "pingIntervalMs", "scalerType", "scalerValue"]);
        assert.strictEqual(settings.maxWorkerLosses, 3, "default retry cap");
        assert.strictEqual(settings.crashLoopFailAfterMs, 600_000);
        assert.deepStrictEqual(validateSettings(settings, "settings"), settings, "the gateway accepts every setting as written");
        assert.strictEqual(rec.byType("pulumi-nodejs:dynamic/longshore:RandomToken").length, 0, "no token generated when one is given");
        // nothing secret leaks into the Deployment's plain fields
        assert.ok(!JSON.stringify(rec.one("kubernetes:apps/v1:Deployment").inputs).includes("a-worker-token-of-32-characters!"));
    });

    it("generates the worker token and the webhook secret once (RandomToken, secret output) when none is given", async () => {
        const { secret } = await build(rec, "echo", base());
        const toks = rec.byType("pulumi-nodejs:dynamic/longshore:RandomToken");
        assert.deepStrictEqual(toks.map((t) => t.name).sort(), ["echo-webhook-secret", "echo-worker-token"]);
        for (const t of toks) assert.strictEqual(t.inputs.length, 32);
        assert.strictEqual(secret!.inputs.stringData.workerToken, "mock-random-token-0123456789abcdef");
        assert.strictEqual(secret!.inputs.stringData.webhookSecret, "mock-random-token-0123456789abcdef");
        assert.ok(isSecretValue(secret!.raw.stringData));
    });

    it("secretEnv goes to a Secret and is referenced with secretKeyRef; env stays plain", async () => {
        const { container } = await build(rec, "echo", base({ env: { MODEL: "llama" }, secretEnv: { HF_TOKEN: pulumi.secret("hf_abc") } }));
        const env = envOf(container);
        assert.strictEqual(env.MODEL.value, "llama");
        assert.deepStrictEqual(env.HF_TOKEN.valueFrom, { secretKeyRef: { name: "echo-env-generated", key: "HF_TOKEN" } });
        assert.strictEqual(env.HF_TOKEN.value, undefined);
        const envSecret = rec.byType("kubernetes:core/v1:Secret").find((s) => s.name === "echo-env")!;
        assert.strictEqual(envSecret.inputs.metadata.name, undefined, "auto-named, so a secretEnv change rolls the workers");
        assert.ok(containsSecret(envSecret.raw.stringData));
        assert.strictEqual(envSecret.inputs.stringData.HF_TOKEN, "hf_abc");
    });

    it("refuses a Pulumi secret as a plain env value (it would sit in clear text in the pod spec)", async () => {
        const ep = new ServerlessEndpoint("leak", base({ env: { API_KEY: pulumi.secret("s3cr3t") } }));
        const err = await rejectionOf(ep.deploymentName);
        assert.match(err.message, /ServerlessEndpoint "leak": env\.API_KEY is a Pulumi secret: put it in secretEnv/);
    });

    it("containerDisk becomes ephemeral-storage request and limit; a volume is mounted at /runpod-volume", async () => {
        const { container, pod } = await build(rec, "echo", base({ containerDisk: "20Gi", volume: { size: "100Gi", storageClassName: "efs" } }));
        assert.strictEqual(container.resources.requests["ephemeral-storage"], "20Gi");
        assert.strictEqual(container.resources.limits["ephemeral-storage"], "20Gi");
        const pvc = rec.one("kubernetes:core/v1:PersistentVolumeClaim").inputs;
        assert.deepStrictEqual(pvc.spec.accessModes, ["ReadWriteMany"]);
        assert.strictEqual(pvc.spec.resources.requests.storage, "100Gi");
        assert.deepStrictEqual(container.volumeMounts, [{ name: "volume", mountPath: "/runpod-volume" }]);
        assert.strictEqual(pod.volumes[0].persistentVolumeClaim.claimName, "echo-volume");
    });

    it("workers in their own namespace get a copy of the token Secret there (unlabelled)", async () => {
        const { container, dep, so } = await build(rec, "echo", base({ namespace: "team-a" }));
        assert.strictEqual(dep.metadata.namespace, "team-a");
        assert.strictEqual(so.metadata.namespace, "team-a");
        const copy = rec.byType("kubernetes:core/v1:Secret").find((s) => s.inputs.metadata.namespace === "team-a")!;
        assert.strictEqual(copy.inputs.metadata.labels["longshore.dev/endpoint"], undefined);
        assert.deepStrictEqual(envOf(container).RUNPOD_AI_API_KEY.valueFrom.secretKeyRef, { name: "longshore-worker-token-echo", key: "workerToken" });
    });

    it("accepts a ServerlessPlatform-shaped input whose values are Outputs", async () => {
        const { so } = await build(rec, "echo", {
            platform: { namespace: pulumi.output("ns1"), gatewayUrl: pulumi.output("http://gw.ns1.svc:8080"), scalerAddress: pulumi.output("gw.ns1.svc:9090") },
            image: pulumi.output(DIGEST_REF),
        });
        assert.strictEqual(so.spec.triggers[0].metadata.scalerAddress, "gw.ns1.svc:9090");
    });

    describe("validation (plain values fail in the constructor, naming argument and rule)", () => {
        const cases: [string, Partial<ServerlessEndpointArgs>, RegExp][] = [
            ["max < min", { minWorkers: 2, maxWorkers: 1 }, /^ServerlessEndpoint "bad": maxWorkers \(1\) must be >= minWorkers \(2\)$/],
            ["negative minWorkers", { minWorkers: -1 }, /minWorkers \(-1\) must be a non-negative integer/],
            ["zero maxWorkers", { maxWorkers: 0 }, /maxWorkers \(0\) must be a positive integer/],
            ["fractional maxWorkers", { maxWorkers: 1.5 }, /maxWorkers \(1.5\) must be a positive integer/],
            ["negative idle timeout", { idleTimeoutSeconds: -5 }, /idleTimeoutSeconds \(-5\) must be a non-negative integer/],
            ["idle timeout above HPA cap", { idleTimeoutSeconds: 7200 }, /idleTimeoutSeconds \(7200\) must be <= 3600/],
            ["negative execution timeout", { executionTimeoutSeconds: -1 }, /executionTimeoutSeconds \(-1\) must be a positive integer/],
            ["grace below execution timeout", { executionTimeoutSeconds: 600, terminationGracePeriodSeconds: 30 }, /terminationGracePeriodSeconds \(30\) must be >= executionTimeoutSeconds \(600\)/],
            ["unknown scaler", { scalerType: "CPU" as any }, /scalerType \("CPU"\) must be one of QUEUE_DELAY, REQUEST_COUNT/],
            ["zero scaler value", { scalerValue: 0 }, /scalerValue \(0\) must be a positive integer/],
            ["zero polling", { pollingIntervalSeconds: 0 }, /pollingIntervalSeconds \(0\) must be a positive integer/],
            ["zero GPUs", { gpuCount: 0 }, /gpuCount \(0\) must be a positive integer/],
            ["fractional GPUs", { gpuCount: 0.5 }, /gpuCount \(0.5\) must be a positive integer/],
            ["GPU count with cpuOnly", { cpuOnly: true, gpuCount: 1 }, /gpuCount cannot be set with cpuOnly/],
            ["bad GPU type", { gpuTypes: ["NVIDIA/H100"] }, /gpuTypes .* must be a valid Kubernetes label value/],
            ["duplicate GPU types", { gpuTypes: ["NVIDIA L4", "NVIDIA-L4"] }, /gpuTypes .* must not contain duplicates/],
            ["tag instead of digest", { image: "localhost:5000/longshore/echo:1.0.0" }, /image \("localhost:5000\/longshore\/echo:1.0.0"\) must be pinned by digest/],
            ["latest", { image: "echo:latest" }, /image \("echo:latest"\) must be pinned by digest/],
            ["malformed digest", { image: "echo@sha256:1234" }, /image .* has a malformed digest/],
            ["bad endpoint id", { endpointId: "Echo_1" }, /endpointId \("Echo_1"\) must be a DNS-1123 label/],
            ["long endpoint id", { endpointId: "a".repeat(41) }, /endpointId .* at most 40 characters/],
            ["bad containerDisk", { containerDisk: "lots" }, /containerDisk \("lots"\) must be a Kubernetes quantity/],
            ["bad memory", { resources: { memory: "16 GB" } }, /resources\.memory \("16 GB"\) must be a Kubernetes quantity/],
            ["reserved env", { env: { RUNPOD_AI_API_KEY: "x" } }, /env\.RUNPOD_AI_API_KEY is set by ServerlessEndpoint/],
            ["bad env name", { env: { "1BAD": "x" } }, /env\.1BAD must be a valid environment variable name/],
            ["env twice", { env: { A: "1" }, secretEnv: { A: "2" } }, /env\.A is also in secretEnv/],
            ["volume without source", { volume: { mountPath: "/data" } }, /volume needs exactly one of claimName/],
            ["relative mount", { volume: { claimName: "shared", mountPath: "data" } }, /volume\.mountPath \("data"\) must be an absolute path/],
            ["short worker token (value not echoed)", { workerToken: "short" }, /workerToken must be a string of at least 16 characters$/],
            ["slow ping", { pingIntervalMs: 10 }, /pingIntervalMs \(10\) must be >= 1000/],
            ["bad gateway URL", { platform: { ...platform, gatewayUrl: "longshore-gateway:8080" } }, /platform\.gatewayUrl .* must be an http\(s\) URL/],
            ["bad scaler address", { platform: { ...platform, scalerAddress: "http://gw:9090" } }, /platform\.scalerAddress .* must be host:port/],
        ];
        for (const [what, extra, re] of cases) {
            it(what, () => {
                const msg = thrown(() => new ServerlessEndpoint("bad", base(extra)));
                assert.match(msg, re);
                assert.match(msg, /^ServerlessEndpoint "bad": /);
            });
        }

        it("missing platform and image are named", () => {
            assert.match(thrown(() => new ServerlessEndpoint("bad", { image: DIGEST_REF } as any)), /ServerlessEndpoint "bad": platform is required/);
            assert.match(thrown(() => new ServerlessEndpoint("bad", { platform } as any)), /ServerlessEndpoint "bad": image is required/);
        });
    });

    describe("validation of Output values (fails the registration during preview/up with the same message)", () => {
        const cases: [string, Partial<ServerlessEndpointArgs>, RegExp][] = [
            ["max < min", { minWorkers: 2, maxWorkers: pulumi.output(1) }, /ServerlessEndpoint "late": maxWorkers \(1\) must be >= minWorkers \(2\)/],
            ["tag-only image", { image: pulumi.output("localhost:5000/echo:1.0") }, /ServerlessEndpoint "late": image \("localhost:5000\/echo:1.0"\) must be pinned by digest/],
            ["zero GPUs", { gpuCount: pulumi.output(0) }, /ServerlessEndpoint "late": gpuCount \(0\) must be a positive integer/],
            ["unknown scaler", { scalerType: pulumi.output("CPU" as any) }, /ServerlessEndpoint "late": scalerType \("CPU"\) must be one of/],
            ["grace below execution timeout", { executionTimeoutSeconds: pulumi.output(300), terminationGracePeriodSeconds: 10 }, /terminationGracePeriodSeconds \(10\) must be >= executionTimeoutSeconds \(300\)/],
            ["negative idle timeout", { idleTimeoutSeconds: Promise.resolve(-1) as any }, /idleTimeoutSeconds \(-1\) must be a non-negative integer/],
        ];
        for (const [what, extra, re] of cases) {
            it(what, async () => {
                let ep: ServerlessEndpoint | undefined;
                assert.doesNotThrow(() => { ep = new ServerlessEndpoint("late", base(extra)); }, "Output values are checked when known, not in the constructor");
                const err = await rejectionOf(pulumi.all([ep!.deploymentName, ep!.scaledObjectName, ep!.secretName]));
                assert.match(err.message, re);
            });
        }
    });
});

describe("ServerlessEndpoint in preview", () => {
    it("registers the same resources during preview with known inputs, and validates plain values", async () => {
        const rec = await mockPulumi({ preview: true });
        assert.strictEqual(pulumi.runtime.isDryRun(), true);
        new ServerlessEndpoint("echo", base({ gpuTypes: ["NVIDIA L4"], minWorkers: 0, maxWorkers: 2 }));
        await settle(rec);
        const types = rec.resources.map((r) => r.type).sort();
        assert.deepStrictEqual(types, [
            "kubernetes:apps/v1:DaemonSet", // image pre-pull (on for GPU endpoints)
            "kubernetes:apps/v1:Deployment",
            "kubernetes:core/v1:Secret",
            "kubernetes:keda.sh/v1alpha1:ScaledObject",
            "longshore:index:ImagePrePull",
            "longshore:index:ServerlessEndpoint",
            "pulumi-nodejs:dynamic/longshore:RandomToken", // webhook secret
            "pulumi-nodejs:dynamic/longshore:RandomToken",
        ]);
        const so = rec.one("kubernetes:keda.sh/v1alpha1:ScaledObject").inputs;
        assert.strictEqual(so.spec.maxReplicaCount, 2);
        assert.strictEqual(so.spec.triggers[0].type, "external-push");
        assert.match(thrown(() => new ServerlessEndpoint("bad", base({ maxWorkers: 0 }))), /maxWorkers \(0\) must be a positive integer/);
    });
});
