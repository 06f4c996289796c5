import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { validateSettings } from "../../contract";
import { mockPulumi, settle, valueOf, rejectionOf, thrown, envOf, DIGEST_REF, Recorder } from "./harness";
import { HttpEndpoint, HttpEndpointArgs, HTTP_PRESTOP_SECONDS, ServerlessPlatform } from "../../components";

const platform = {
    namespace: "longshore",
    gatewayUrl: "http://longshore-gateway.longshore.svc.cluster.local:8080",
    scalerAddress: "longshore-gateway.longshore.svc.cluster.local:9090",
};
const base = (extra: Partial<HttpEndpointArgs> = {}): HttpEndpointArgs => ({ platform, image: DIGEST_REF, ...extra });

async function build(rec: Recorder, name: string, args: HttpEndpointArgs) {
    const ep = new HttpEndpoint(name, args);
    await settle(rec);
    const dep = rec.one("kubernetes:apps/v1:Deployment").inputs;
    const so = rec.one("kubernetes:keda.sh/v1alpha1:ScaledObject").inputs;
    const secret = rec.byType("kubernetes:core/v1:Secret").find((s) => s.inputs.metadata.labels?.["longshore.dev/endpoint"])!.inputs;
    return { ep, dep, so, secret, pod: dep.spec.template.spec, container: dep.spec.template.spec.containers[0] };
}

describe("HttpEndpoint", () => {
    let rec: Recorder;
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    it("deploys the server image by digest with RunPod's PORT / PORT_HEALTH, labelled for the gateway's pod watch", async () => {
        const { ep, dep, container, pod } = await build(rec, "api", base({ port: 8000 }));
        assert.ok(rec.one("longshore:index:HttpEndpoint", "api"));
        assert.strictEqual(container.image, DIGEST_REF);
        const env = envOf(container);
        assert.strictEqual(env.PORT.value, "8000");
        assert.strictEqual(env.PORT_HEALTH.value, "8000", "PORT_HEALTH defaults to PORT");
        assert.deepStrictEqual(env.RUNPOD_POD_ID.valueFrom, { fieldRef: { fieldPath: "metadata.name" } });
        assert.deepStrictEqual(container.ports, [{ name: "http", containerPort: 8000 }]);
        assert.strictEqual(dep.spec.template.metadata.labels["longshore.dev/endpoint"], "api");
        assert.strictEqual(dep.spec.template.metadata.labels["app.kubernetes.io/component"], "http-worker");
        assert.strictEqual(dep.spec.replicas, 0, "scales from zero");
        assert.ok(!("RUNPOD_WEBHOOK_GET_JOB" in env), "no job-protocol env");
        assert.strictEqual(await valueOf(ep.url), "http://longshore-gateway.longshore.svc.cluster.local:8080/http/api");
        assert.strictEqual(await valueOf(ep.namespace), "longshore");
        // scale-in: a preStop pause lets the gateway stop routing before SIGTERM; the grace covers a full request
        assert.deepStrictEqual(container.lifecycle, { preStop: { sleep: { seconds: HTTP_PRESTOP_SECONDS } } });
        assert.strictEqual(pod.terminationGracePeriodSeconds, 600 + 30 + HTTP_PRESTOP_SECONDS);
        assert.deepStrictEqual(container.resources.limits, { "nvidia.com/gpu": "1" });
        assert.deepStrictEqual(pod.tolerations, [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    });

    it("writes the proxy's settings into the endpoint Secret and scales on (in flight + waiting) / targetConcurrency", async () => {
        const { so, secret } = await build(rec, "api", base({
            port: 8000, healthPort: 8001, healthPath: "/healthz", targetConcurrency: 4, queueTimeoutSeconds: 30, requestTimeoutSeconds: 90,
            maxQueued: 50, minWorkers: 1, maxWorkers: 5, idleTimeoutSeconds: 20,
        }));
        const data = secret.stringData;
        assert.strictEqual(data.endpointId, "api");
        assert.strictEqual(data.workerToken, undefined, "HTTP workers never call the gateway");
        const s = validateSettings(JSON.parse(data.settings), "settings");
        assert.deepStrictEqual(s.http, { port: 8000, healthPort: 8001, healthPath: "/healthz", targetConcurrency: 4, queueTimeoutMs: 30_000, requestTimeoutMs: 90_000, maxQueued: 50 });
        assert.strictEqual(so.spec.minReplicaCount, 1);
        assert.strictEqual(so.spec.maxReplicaCount, 5);
        assert.strictEqual(so.spec.cooldownPeriod, 20);
        assert.deepStrictEqual(so.spec.triggers, [{
            type: "external-push",
            metadata: { scalerAddress: platform.scalerAddress, endpointId: "api", scalerType: "REQUEST_COUNT", scalerValue: "4" },
        }]);
    });

    it("a separate health port is a second container port; env, secretEnv, volume and CPU-only workers work as on ServerlessEndpoint", async () => {
        const { container, pod } = await build(rec, "api", base({
            port: 8000, healthPort: 8001, cpuOnly: true, env: { MODEL: "iris" }, secretEnv: { TOKEN: "t0ps3cret" },
            volume: { size: "1Gi", mountPath: "/app/data", storageClassName: "" },
        }));
        assert.deepStrictEqual(container.ports, [{ name: "http", containerPort: 8000 }, { name: "health", containerPort: 8001 }]);
        const env = envOf(container);
        assert.strictEqual(env.MODEL.value, "iris");
        assert.deepStrictEqual(env.TOKEN.valueFrom, { secretKeyRef: { name: "api-worker-env", key: "TOKEN" } });
        assert.deepStrictEqual(container.volumeMounts, [{ name: "volume", mountPath: "/app/data" }]);
        assert.strictEqual(pod.volumes[0].persistentVolumeClaim.claimName, "api-volume");
        const pvc = rec.one("kubernetes:core/v1:PersistentVolumeClaim").inputs;
        assert.strictEqual(pvc.spec.storageClassName, "");
        assert.deepStrictEqual(container.resources.limits ?? {}, {});
        assert.deepStrictEqual(pod.tolerations, []);
    });

    describe("bad arguments fail at preview naming the argument", () => {
        const cases: [Partial<HttpEndpointArgs>, RegExp][] = [
            [{ port: 0 }, /HttpEndpoint "bad": port \(0\) must be a port number/],
            [{ port: 70000 }, /port \(70000\) must be a port number/],
            [{ healthPort: 1.5 }, /healthPort \(1.5\) must be a port number/],
            [{ healthPath: "ping" }, /healthPath \("ping"\) must be a path starting with '\/'/],
            [{ targetConcurrency: 0 }, /targetConcurrency \(0\) must be a positive integer/],
            [{ minWorkers: 3, maxWorkers: 2 }, /maxWorkers \(2\) must be >= minWorkers \(3\)/],
            [{ queueTimeoutSeconds: 0 }, /queueTimeoutSeconds \(0\) must be a positive integer/],
            [{ requestTimeoutSeconds: 100, terminationGracePeriodSeconds: 50 }, /terminationGracePeriodSeconds \(50\) must be >= requestTimeoutSeconds \(100\)/],
            [{ cpuOnly: true, gpuCount: 1 }, /gpuCount cannot be set with cpuOnly: true/],
            [{ env: { PORT: "9000" } }, /env.PORT is set by HttpEndpoint/],
            [{ secretEnv: { PORT_HEALTH: "1" } }, /secretEnv.PORT_HEALTH is set by HttpEndpoint/],
            [{ image: "localhost:5000/api:1.0" }, /image .* digest/],
            [{ volume: {} }, /volume needs exactly one of claimName .* or size/],
        ];
        for (const [extra, msg] of cases) {
            it(`${JSON.stringify(extra)} -> ${msg.source.slice(0, 60)}`, () => {
                assert.match(thrown(() => new HttpEndpoint("bad", base(extra))), msg);
            });
        }
        it("an Output argument is checked when known and fails the resources with the same message", async () => {
            const ep = new HttpEndpoint("bad", base({ port: pulumi.output(Promise.resolve(0)) }));
            const err = await rejectionOf(ep.deploymentName);
            assert.match(err.message, /HttpEndpoint "bad": port \(0\) must be a port number/);
        });
        it("a Pulumi secret in env is refused (it would be plain text in the pod spec)", async () => {
            const ep = new HttpEndpoint("bad", base({ env: { KEY: pulumi.secret("s3cr3t") } }));
            const err = await rejectionOf(ep.deploymentName);
            assert.match(err.message, /env.KEY is a Pulumi secret: put it in secretEnv/);
        });
    });

    it("ServerlessPlatform: the gateway may watch pods (HTTP workers) and gets LONGSHORE_HTTP_DOMAIN from httpDomain", async () => {
        new ServerlessPlatform("p", { gatewayImage: DIGEST_REF, apiKeys: ["k1"], httpDomain: "api.example.com" });
        await settle(rec);
        const role = rec.one("kubernetes:rbac.authorization.k8s.io/v1:Role").inputs;
        assert.ok(role.rules.some((r: any) => r.resources.includes("pods") && ["get", "list", "watch"].every((v) => r.verbs.includes(v))), JSON.stringify(role.rules));
        const gw = rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "longshore-gateway")!.inputs;
        assert.strictEqual(envOf(gw.spec.template.spec.containers[0]).LONGSHORE_HTTP_DOMAIN.value, "api.example.com");
        assert.match(thrown(() => new ServerlessPlatform("q", { gatewayImage: DIGEST_REF, apiKeys: ["k1"], httpDomain: "Not A Domain" })), /httpDomain .* must be a lowercase DNS name/);
    });
});
