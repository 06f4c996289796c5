import * as assert from "node:assert/strict";
import {
    ANNOTATION_COUNTS_IN_FLIGHT,
    ANNOTATION_EXECUTION_TIMEOUT,
    SCALED_OBJECT_TYPE,
    drainGraceCoversExecutionTimeout,
    gpuWorkersLimitsAndTolerations,
    imagePinnedByDigest,
    isPinnedByDigest,
    longshorePolicies,
    looksSecret,
    noPlaintextSecretEnv,
    scaledObjectCountsInFlight,
} from "../../policy";
import { DIGEST, deployment, violations } from "./policy-harness";

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const pinned = `localhost:5000/longshore/echo@${DIGEST}`;
const gpuToleration = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };

describe("policy pack", () => {
    it("exports five uniquely named resource policies, all mandatory by default", () => {
        const names = longshorePolicies.map((p) => p.name);
        assert.equal(new Set(names).size, 5);
        for (const p of longshorePolicies) {
            assert.equal(p.enforcementLevel, "mandatory", p.name);
            assert.equal(typeof p.validateResource, "function", p.name);
        }
    });
});

describe("policy: image-pinned-by-digest", () => {
    it("recognises digest references", () => {
        assert.equal(isPinnedByDigest(`repo@${DIGEST}`), true);
        assert.equal(isPinnedByDigest(`repo:1.0@${DIGEST}`), true);
        assert.equal(isPinnedByDigest("repo:1.0"), false);
        assert.equal(isPinnedByDigest("repo@sha256:abc"), false);
        assert.equal(isPinnedByDigest("repo"), false);
    });

    it("passes a Deployment whose containers and init containers are pinned", async () => {
        const props = deployment({
            initContainers: [{ name: "fetch", image: `busybox@${DIGEST}` }],
            containers: [{ name: "worker", image: pinned }],
        });
        assert.deepEqual(await violations(imagePinnedByDigest, DEPLOYMENT, props), []);
    });

    it("fails a container image by tag, naming the container path and the image", async () => {
        const props = deployment({ containers: [{ name: "worker", image: "localhost:5000/longshore/echo:latest" }] });
        const v = await violations(imagePinnedByDigest, DEPLOYMENT, props);
        assert.equal(v.length, 1);
        assert.match(v[0], /spec\.template\.spec\.containers\[0\] \("worker"\)/);
        assert.match(v[0], /"localhost:5000\/longshore\/echo:latest" is not pinned by digest/);
        assert.match(v[0], /localhost:5000\/longshore\/echo@sha256:<digest>/);
    });

    it("fails an init container by tag even when the main container is pinned", async () => {
        const props = deployment({
            initContainers: [{ name: "warm", image: "busybox:1.36" }],
            containers: [{ name: "worker", image: pinned }],
        });
        const v = await violations(imagePinnedByDigest, DEPLOYMENT, props);
        assert.equal(v.length, 1);
        assert.match(v[0], /initContainers\[0\] \("warm"\)/);
    });

    it("fails an image without tag or digest and a container without an image", async () => {
        const props = deployment({ containers: [{ name: "a", image: "redis" }, { name: "b" }] });
        const v = await violations(imagePinnedByDigest, DEPLOYMENT, props);
        assert.equal(v.length, 2);
        assert.match(v[1], /\("b"\): no image set/);
    });

    it("checks StatefulSets, DaemonSets, Jobs, CronJobs and Pods at their own pod spec path", async () => {
        const spec = { containers: [{ name: "c", image: "x:1" }] };
        const cases: [string, Record<string, any>, string][] = [
            ["kubernetes:apps/v1:StatefulSet", { spec: { template: { spec } } }, "spec.template.spec.containers[0]"],
            ["kubernetes:apps/v1:DaemonSet", { spec: { template: { spec } } }, "spec.template.spec.containers[0]"],
            ["kubernetes:batch/v1:Job", { spec: { template: { spec } } }, "spec.template.spec.containers[0]"],
            [
                "kubernetes:batch/v1:CronJob",
                { spec: { schedule: "* * * * *", jobTemplate: { spec: { template: { spec } } } } },
                "spec.jobTemplate.spec.template.spec.containers[0]",
            ],
            ["kubernetes:core/v1:Pod", { spec }, "spec.containers[0]"],
        ];
        for (const [type, props, path] of cases) {
            const v = await violations(imagePinnedByDigest, type, props);
            assert.equal(v.length, 1, type);
            assert.ok(v[0].startsWith(path + " "), `${type}: ${v[0]}`);
        }
    });

    it("ignores resources without a pod template", async () => {
        const v = await violations(imagePinnedByDigest, "kubernetes:core/v1:ConfigMap", { data: { image: "x:1" } });
        assert.deepEqual(v, []);
    });

    it("lets configured image prefixes through without a digest", async () => {
        const props = deployment({ containers: [{ name: "c", image: "vendor.example/tool:2" }] });
        assert.deepEqual(
            await violations(imagePinnedByDigest, DEPLOYMENT, props, { exemptImages: ["vendor.example/"] }),
            [],
        );
    });
});

describe("policy: gpu-workers-limits-and-tolerations", () => {
    it("passes a GPU worker with a GPU limit and the Exists toleration", async () => {
        const props = deployment({
            tolerations: [gpuToleration],
            containers: [{ name: "w", image: pinned, resources: { limits: { "nvidia.com/gpu": "1" } } }],
        });
        assert.deepEqual(await violations(gpuWorkersLimitsAndTolerations, DEPLOYMENT, props), []);
    });

    it("passes equal request and limit, and an Equal toleration with the taint's value", async () => {
        const props = deployment({
            tolerations: [{ key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" }],
            containers: [{ name: "w", resources: { requests: { "nvidia.com/gpu": 2 }, limits: { "nvidia.com/gpu": "2" } } }],
        });
        assert.deepEqual(await violations(gpuWorkersLimitsAndTolerations, DEPLOYMENT, props), []);
    });

    it("does not apply to pods that use no GPU", async () => {
        const props = deployment({ containers: [{ name: "cpu", resources: { limits: { cpu: "1" } } }] });
        assert.deepEqual(await violations(gpuWorkersLimitsAndTolerations, DEPLOYMENT, props), []);
    });

    it("fails a GPU request without a limit", async () => {
        const props = deployment({
            tolerations: [gpuToleration],
            containers: [{ name: "w", resources: { requests: { "nvidia.com/gpu": "1" } } }],
        });
        const v = await violations(gpuWorkersLimitsAndTolerations, DEPLOYMENT, props);
        assert.equal(v.length, 1);
        assert.match(v[0], /containers\[0\] \("w"\): requests nvidia\.com\/gpu=1 but sets no resources\.limits/);
    });

    it("fails a request that differs from the limit", async () => {
        const props = deployment({
            tolerations: [gpuToleration],
            containers: [{ name: "w", resources: { requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": "2" } } }],
        });
        const v = await violations(gpuWorkersLimitsAndTolerations, DEPLOYMENT, props);
        assert.equal(v.length, 1);
        assert.match(v[0], /differs from limits/);
    });

    it("fails a GPU worker without the toleration", async () => {
        const props = deployment({
            containers: [{ name: "w", resources: { limits: { "nvidia.com/gpu": "1" } } }],
        });
        const v = await violations(gpuWorkersLimitsAndTolerations, DEPLOYMENT, props);
        assert.equal(v.length, 1);
        assert.match(v[0], /^spec\.template\.spec\.tolerations: .*nvidia\.com\/gpu=present:NoSchedule/);
    });

    it("fails tolerations that do not match the taint (wrong value, wrong effect, other key)", async () => {
        for (const tol of [
            { key: "nvidia.com/gpu", operator: "Equal", value: "true", effect: "NoSchedule" },
            { key: "nvidia.com/gpu", operator: "Exists", effect: "NoExecute" },
            { key: "dedicated", operator: "Exists" },
            { operator: "Equal" },
        ]) {
            const props = deployment({
                tolerations: [tol],
                containers: [{ name: "w", resources: { limits: { "nvidia.com/gpu": "1" } } }],
            });
            const v = await violations(gpuWorkersLimitsAndTolerations, DEPLOYMENT, props);
            assert.equal(v.length, 1, JSON.stringify(tol));
        }
    });

    it("accepts a wildcard toleration (empty key, Exists) and a toleration without effect", async () => {
        for (const tol of [{ operator: "Exists" }, { key: "nvidia.com/gpu", operator: "Exists" }]) {
            const props = deployment({
                tolerations: [tol],
                containers: [{ name: "w", resources: { limits: { "nvidia.com/gpu": "1" } } }],
            });
            assert.deepEqual(await violations(gpuWorkersLimitsAndTolerations, DEPLOYMENT, props), [], JSON.stringify(tol));
        }
    });

    it("checks GPU init containers and uses the configured taint", async () => {
        const props = deployment({
            tolerations: [{ key: "nvidia.com/gpu", operator: "Equal", value: "true", effect: "NoSchedule" }],
            initContainers: [{ name: "probe", resources: { requests: { "nvidia.com/gpu": "1" } } }],
            containers: [{ name: "w" }],
        });
        const v = await violations(gpuWorkersLimitsAndTolerations, DEPLOYMENT, props, { taintValue: "true" });
        assert.equal(v.length, 1);
        assert.match(v[0], /initContainers\[0\] \("probe"\)/);
    });
});

function scaledObject(triggers: any[], metadata: Record<string, any> = { labels: { "longshore.dev/endpoint": "ep" } }) {
    return {
        apiVersion: "keda.sh/v1alpha1",
        kind: "ScaledObject",
        metadata: { name: "ep", ...metadata },
        spec: { scaleTargetRef: { name: "ep-worker" }, minReplicaCount: 0, triggers },
    };
}

const longshoreTrigger = {
    type: "external-push",
    metadata: {
        scalerAddress: "longshore-gateway.longshore.svc.cluster.local:9090",
        endpointId: "ep",
        scalerType: "QUEUE_DELAY",
        scalerValue: "4",
    },
};

describe("policy: scaledobject-counts-in-flight", () => {
    it("uses the type token @pulumi/kubernetes gives a KEDA ScaledObject CustomResource", async () => {
        const { CustomResource } = await import("@pulumi/kubernetes/apiextensions/customResource");
        // CustomResource registers as kubernetes:<apiVersion>:<kind>; check the SDK's own code agrees.
        const src = CustomResource.toString();
        assert.match(src, /kubernetes:\$\{args\.apiVersion\}:\$\{args\.kind\}/);
        assert.equal(SCALED_OBJECT_TYPE, "kubernetes:keda.sh/v1alpha1:ScaledObject");
    });

    it("passes the Longshore external-push trigger", async () => {
        assert.deepEqual(await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, scaledObject([longshoreTrigger])), []);
    });

    it("passes a pull-mode external trigger with REQUEST_COUNT", async () => {
        const t = { type: "external", metadata: { ...longshoreTrigger.metadata, scalerType: "REQUEST_COUNT" } };
        assert.deepEqual(await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, scaledObject([t])), []);
    });

    it("fails a plain redis list trigger: it counts only waiting jobs", async () => {
        const t = { type: "redis", metadata: { address: "redis:6379", listName: "bull:ep:wait", listLength: "1" } };
        const v = await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, scaledObject([t], {}));
        assert.equal(v.length, 1);
        assert.match(v[0], /^spec\.triggers \(redis\): no trigger counts in-flight jobs/);
        assert.match(v[0], /waiting jobs only/);
    });

    it("passes redis triggers on the waiting and the :active list", async () => {
        const triggers = [
            { type: "redis", metadata: { address: "redis:6379", listName: "bull:ep:wait", listLength: "1" } },
            { type: "redis", metadata: { address: "redis:6379", listName: "bull:ep:active", listLength: "1" } },
        ];
        assert.deepEqual(await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, scaledObject(triggers)), []);
    });

    it("fails an external-push trigger missing endpointId/scalerType, naming what is missing", async () => {
        const t = { type: "external-push", metadata: { scalerAddress: "gw:9090" } };
        const v = await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, scaledObject([t]));
        assert.equal(v.length, 2);
        assert.match(v[0], /spec\.triggers\[0\] \(external-push\): metadata endpointId, scalerType missing/);
        assert.match(v[1], /no trigger counts in-flight/);
    });

    it("fails an unknown scalerType", async () => {
        const t = { type: "external-push", metadata: { ...longshoreTrigger.metadata, scalerType: "QUEUE_LENGTH" } };
        const v = await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, scaledObject([t]));
        assert.match(v[0], /scalerType "QUEUE_LENGTH" is not one of QUEUE_DELAY, REQUEST_COUNT/);
    });

    it("fails a Longshore ScaledObject with no triggers", async () => {
        const v = await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, scaledObject([]));
        assert.equal(v.length, 1);
        assert.match(v[0], /^spec\.triggers: no triggers/);
    });

    it("accepts a custom metric annotated as counting in-flight work", async () => {
        const t = { type: "prometheus", metadata: { query: "sum(longshore_jobs{state=~'waiting|running'})" } };
        const so = scaledObject([t], { labels: { "longshore.dev/endpoint": "ep" }, annotations: { [ANNOTATION_COUNTS_IN_FLIGHT]: "true" } });
        assert.deepEqual(await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, so), []);
        const unannotated = scaledObject([t]);
        assert.equal((await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, unannotated)).length, 1);
    });

    it("leaves other teams' ScaledObjects alone unless scope is all", async () => {
        const t = { type: "cpu", metadata: { value: "60" } };
        const so = scaledObject([t], { labels: { app: "web" } });
        assert.deepEqual(await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, so), []);
        assert.equal((await violations(scaledObjectCountsInFlight, SCALED_OBJECT_TYPE, so, { scope: "all" })).length, 1);
    });

    it("ignores non-ScaledObject resources", async () => {
        assert.deepEqual(await violations(scaledObjectCountsInFlight, DEPLOYMENT, deployment({ containers: [] })), []);
    });
});

describe("policy: drain-grace-covers-execution-timeout", () => {
    const ann = (s: string) => ({ [ANNOTATION_EXECUTION_TIMEOUT]: s });

    it("passes when the grace period equals or exceeds the execution timeout", async () => {
        for (const grace of [600, 660]) {
            const props = deployment({ terminationGracePeriodSeconds: grace, containers: [{ name: "w" }] }, ann("600"));
            assert.deepEqual(await violations(drainGraceCoversExecutionTimeout, DEPLOYMENT, props), [], String(grace));
        }
    });

    it("fails a grace period shorter than the execution timeout, giving both numbers", async () => {
        const props = deployment({ terminationGracePeriodSeconds: 60, containers: [{ name: "w" }] }, ann("600"));
        const v = await violations(drainGraceCoversExecutionTimeout, DEPLOYMENT, props);
        assert.equal(v.length, 1);
        assert.match(v[0], /terminationGracePeriodSeconds is 60 but the execution timeout is 600s/);
        assert.match(v[0], /at least 600/);
    });

    it("counts an unset grace period as Kubernetes' default 30 s", async () => {
        const short = deployment({ containers: [{ name: "w" }] }, ann("120"));
        const v = await violations(drainGraceCoversExecutionTimeout, DEPLOYMENT, short);
        assert.equal(v.length, 1);
        assert.match(v[0], /unset \(Kubernetes default 30\)/);
        const fits = deployment({ containers: [{ name: "w" }] }, ann("30"));
        assert.deepEqual(await violations(drainGraceCoversExecutionTimeout, DEPLOYMENT, fits), []);
    });

    it("fails an annotation that is not a number", async () => {
        const props = deployment({ terminationGracePeriodSeconds: 600, containers: [] }, ann("10m"));
        const v = await violations(drainGraceCoversExecutionTimeout, DEPLOYMENT, props);
        assert.equal(v.length, 1);
        assert.match(v[0], /spec\.template\.metadata\.annotations\["longshore\.dev\/execution-timeout-seconds"\]="10m" is not a number/);
    });

    it("does not apply to workloads without the annotation", async () => {
        const props = deployment({ terminationGracePeriodSeconds: 1, containers: [] });
        assert.deepEqual(await violations(drainGraceCoversExecutionTimeout, DEPLOYMENT, props), []);
    });
});

describe("policy: no-plaintext-secret-env", () => {
    it("classifies names", () => {
        for (const n of ["RUNPOD_AI_API_KEY", "LONGSHORE_API_KEYS", "HF_TOKEN", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "client-secret"]) {
            assert.equal(looksSecret(n), true, n);
        }
        for (const n of ["RUNPOD_WEBHOOK_GET_JOB", "RUNPOD_ENDPOINT_ID", "TOKEN_URL", "API_KEY_SECRET_NAME", "SSH_KEY_FILE", "KEYBOARD", "MONKEY"]) {
            assert.equal(looksSecret(n), false, n);
        }
    });

    it("passes secret-looking vars taken from a Secret, and plain vars with values", async () => {
        const props = deployment({
            containers: [{
                name: "w",
                env: [
                    { name: "RUNPOD_AI_API_KEY", valueFrom: { secretKeyRef: { name: "ep", key: "workerToken" } } },
                    { name: "RUNPOD_WEBHOOK_GET_JOB", value: "http://gw:8080/v2/ep/job-take/$RUNPOD_POD_ID" },
                    { name: "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS", value: "true" },
                ],
            }],
        });
        assert.deepEqual(await violations(noPlaintextSecretEnv, DEPLOYMENT, props), []);
    });

    it("fails RUNPOD_AI_API_KEY with a literal value, naming the container and variable", async () => {
        const props = deployment({
            containers: [{ name: "w", env: [{ name: "X", value: "1" }, { name: "RUNPOD_AI_API_KEY", value: "rpa_123" }] }],
        });
        const v = await violations(noPlaintextSecretEnv, DEPLOYMENT, props);
        assert.equal(v.length, 1);
        assert.match(v[0], /containers\[0\] \("w"\)\.env\[1\] RUNPOD_AI_API_KEY: a secret-looking variable has a literal value/);
        assert.ok(!v[0].includes("rpa_123"), "the message must not echo the secret");
    });

    it("fails literal secrets in init containers and in a Pod", async () => {
        const pod = { spec: { initContainers: [{ name: "i", env: [{ name: "HF_TOKEN", value: "hf_x" }] }], containers: [] } };
        const v = await violations(noPlaintextSecretEnv, "kubernetes:core/v1:Pod", pod);
        assert.equal(v.length, 1);
        assert.match(v[0], /^spec\.initContainers\[0\] \("i"\)\.env\[0\] HF_TOKEN/);
    });

    it("allows configured names", async () => {
        const props = deployment({ containers: [{ name: "w", env: [{ name: "CACHE_KEY", value: "v1" }] }] });
        assert.equal((await violations(noPlaintextSecretEnv, DEPLOYMENT, props)).length, 1);
        assert.deepEqual(await violations(noPlaintextSecretEnv, DEPLOYMENT, props, { allowNames: ["CACHE_KEY"] }), []);
    });
});
