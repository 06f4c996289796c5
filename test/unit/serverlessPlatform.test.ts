import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { mockPulumi, settle, valueOf, rejectionOf, thrown, envOf, containsSecret, DIGEST_REF, Recorder } from "./harness";
import { ServerlessPlatform, ServerlessPlatformArgs, ServerlessEndpoint } from "../../components";

const base = (extra: Partial<ServerlessPlatformArgs> = {}): ServerlessPlatformArgs => ({
    gatewayImage: DIGEST_REF,
    apiKeys: [pulumi.secret("client-key-1"), pulumi.secret("client-key-2")],
    ...extra,
});

describe("ServerlessPlatform", () => {
    let rec: Recorder;
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    it("registers namespace, gateway Deployment + Service (8080 http, 9090 scaler), RBAC, Redis and Secrets", async () => {
        const p = new ServerlessPlatform("lp", base());
        await settle(rec);
        assert.strictEqual(rec.one("kubernetes:core/v1:Namespace").inputs.metadata.name, "longshore");
        const svc = rec.byType("kubernetes:core/v1:Service").find((s) => s.inputs.metadata.name === "longshore-gateway")!.inputs;
        assert.deepStrictEqual(svc.spec.ports.map((x: any) => [x.name, x.port]), [["http", 8080], ["scaler", 9090]]);
        assert.strictEqual(svc.spec.type, "ClusterIP");
        assert.strictEqual(await valueOf(p.namespace), "longshore");
        assert.strictEqual(await valueOf(p.gatewayUrl), "http://longshore-gateway.longshore.svc.cluster.local:8080");
        assert.strictEqual(await valueOf(p.scalerAddress), "longshore-gateway.longshore.svc.cluster.local:9090");
        assert.strictEqual(await valueOf(p.apiKeySecretName), "longshore-api-keys");
        const role = rec.one("kubernetes:rbac.authorization.k8s.io/v1:Role").inputs;
        assert.deepStrictEqual(role.rules, [
            { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] },
            { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
        ]);
        const rb = rec.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").inputs;
        assert.deepStrictEqual(rb.subjects, [{ kind: "ServiceAccount", name: "longshore-gateway", namespace: "longshore" }]);
        assert.strictEqual(rb.roleRef.name, "longshore-gateway");
    });

    it("gateway: image by digest, env per contract with secrets from Secrets, probes on /healthz and /readyz", async () => {
        new ServerlessPlatform("lp", base({ gatewayEnv: { LOG_LEVEL: "debug" } }));
        await settle(rec);
        const dep = rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "longshore-gateway")!.inputs;
        const pod = dep.spec.template.spec;
        const c = pod.containers[0];
        assert.strictEqual(c.image, DIGEST_REF);
        assert.strictEqual(pod.serviceAccountName, "longshore-gateway");
        const env = envOf(c);
        assert.strictEqual(env.PORT.value, "8080");
        assert.strictEqual(env.SCALER_PORT.value, "9090");
        assert.strictEqual(env.LONGSHORE_ENDPOINT_DISCOVERY.value, "kubernetes");
        assert.deepStrictEqual(env.LONGSHORE_NAMESPACE.valueFrom, { fieldRef: { fieldPath: "metadata.namespace" } });
        assert.deepStrictEqual(env.REDIS_URL.valueFrom, { secretKeyRef: { name: "longshore-redis", key: "url" } });
        assert.deepStrictEqual(env.LONGSHORE_API_KEYS.valueFrom, { secretKeyRef: { name: "longshore-api-keys", key: "apiKeys" } });
        assert.strictEqual(env.LONGSHORE_API_KEYS.value, undefined);
        assert.strictEqual(env.LOG_LEVEL.value, "debug");
        assert.strictEqual(c.livenessProbe.httpGet.path, "/healthz");
        assert.strictEqual(c.readinessProbe.httpGet.path, "/readyz");
        assert.ok(!JSON.stringify(dep).includes("client-key-1"), "API keys never in the Deployment");
    });

    it("gateway: memory limit matching its body budget (heap capped below it), /metrics on its own port off the Service", async () => {
        new ServerlessPlatform("lp", base({ serviceType: "LoadBalancer", webhookAllowCidrs: ["10.96.0.0/12", "fd00::/8"] }));
        await settle(rec);
        const dep = rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "longshore-gateway")!.inputs;
        const c = dep.spec.template.spec.containers[0];
        assert.deepStrictEqual(c.resources, { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } });
        const env = envOf(c);
        assert.strictEqual(env.NODE_OPTIONS.value, "--max-old-space-size=384");
        assert.strictEqual(env.METRICS_PORT.value, "9091");
        assert.strictEqual(env.LONGSHORE_WEBHOOK_ALLOW_CIDRS.value, "10.96.0.0/12,fd00::/8");
        assert.ok(c.ports.some((p: any) => p.name === "metrics" && p.containerPort === 9091));
        assert.strictEqual(dep.spec.template.metadata.annotations["prometheus.io/port"], "9091");
        const svc = rec.byType("kubernetes:core/v1:Service").find((s) => s.inputs.metadata.name === "longshore-gateway")!.inputs;
        assert.ok(!svc.spec.ports.some((p: any) => p.port === 9091), "a LoadBalancer Service must not publish the metrics");
    });

    it("gateway: own resources leave the heap to the user (no NODE_OPTIONS), no allow-list by default", async () => {
        new ServerlessPlatform("lp", base({ gatewayResources: { limits: { memory: "1Gi" } } }));
        await settle(rec);
        const dep = rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "longshore-gateway")!.inputs;
        const env = envOf(dep.spec.template.spec.containers[0]);
        assert.strictEqual(env.NODE_OPTIONS, undefined);
        assert.strictEqual(env.LONGSHORE_WEBHOOK_ALLOW_CIDRS, undefined);
    });

    it("API keys and the Redis URL are Secrets whose data is marked secret", async () => {
        new ServerlessPlatform("lp", base());
        await settle(rec);
        const secrets = rec.byType("kubernetes:core/v1:Secret");
        const keys = secrets.find((s) => s.inputs.metadata.name === "longshore-api-keys")!;
        assert.ok(containsSecret(keys.raw.stringData));
        assert.strictEqual(keys.inputs.stringData.apiKeys, "client-key-1,client-key-2");
        const redis = secrets.find((s) => s.inputs.metadata.name === "longshore-redis")!;
        assert.ok(containsSecret(redis.raw.stringData));
        assert.strictEqual(redis.inputs.stringData.url, "redis://:mock-random-token-0123456789abcdef@longshore-redis.longshore.svc.cluster.local:6379");
    });

    it("in-cluster Redis: AOF persistence, noeviction, password from a Secret, PVC by default", async () => {
        new ServerlessPlatform("lp", base({ redis: { storageSize: "20Gi", storageClassName: "gp3" } }));
        await settle(rec);
        const sts = rec.one("kubernetes:apps/v1:StatefulSet").inputs;
        const c = sts.spec.template.spec.containers[0];
        assert.strictEqual(c.image, "docker.io/library/redis:7.2.5");
        const args: string[] = c.args;
        assert.strictEqual(args[args.indexOf("--appendonly") + 1], "yes");
        assert.strictEqual(args[args.indexOf("--maxmemory-policy") + 1], "noeviction");
        assert.strictEqual(args[args.indexOf("--requirepass") + 1], "$(REDIS_PASSWORD)");
        assert.deepStrictEqual(envOf(c).REDIS_PASSWORD.valueFrom, { secretKeyRef: { name: "longshore-redis-auth", key: "password" } });
        assert.strictEqual(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "20Gi");
        assert.strictEqual(sts.spec.volumeClaimTemplates[0].spec.storageClassName, "gp3");
        assert.deepStrictEqual(sts.spec.template.spec.volumes, []);
        const np = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs;
        assert.deepStrictEqual(np.spec.ingress[0].from, [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "longshore-gateway" } } }]);
    });

    it("tolerations and node selector apply to the gateway and Redis pods (none by default)", async () => {
        const tol = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];
        new ServerlessPlatform("lp", base({ tolerations: tol, nodeSelector: { "longshore.dev/pool": "system" } }));
        await settle(rec);
        const pods = [
            rec.one("kubernetes:apps/v1:StatefulSet").inputs.spec.template.spec,
            rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "longshore-gateway")!.inputs.spec.template.spec,
        ];
        for (const p of pods) {
            assert.deepStrictEqual(p.tolerations, tol);
            assert.deepStrictEqual(p.nodeSelector, { "longshore.dev/pool": "system" });
        }
        rec = await mockPulumi();
        new ServerlessPlatform("lp", base());
        await settle(rec);
        assert.strictEqual(rec.one("kubernetes:apps/v1:StatefulSet").inputs.spec.template.spec.tolerations, undefined);
    });

    it("ephemeral Redis uses emptyDir; a given image and password are used", async () => {
        new ServerlessPlatform("lp", base({ redis: { storage: "ephemeral", image: "localhost:5000/longshore/redis:7.0.15", password: pulumi.secret("a-redis-password") } }));
        await settle(rec);
        const sts = rec.one("kubernetes:apps/v1:StatefulSet").inputs;
        assert.deepStrictEqual(sts.spec.volumeClaimTemplates, []);
        assert.deepStrictEqual(sts.spec.template.spec.volumes, [{ name: "data", emptyDir: {} }]);
        assert.strictEqual(sts.spec.template.spec.containers[0].image, "localhost:5000/longshore/redis:7.0.15");
        assert.strictEqual(rec.byType("pulumi-nodejs:dynamic/longshore:RandomToken").length, 0);
    });

    it("external Redis (ElastiCache): no StatefulSet, the URL goes into the Secret", async () => {
        new ServerlessPlatform("lp", base({ redis: { url: pulumi.secret("rediss://:tok@master.abc.cache.amazonaws.com:6379") }, namespace: "prod", createNamespace: false }));
        await settle(rec);
        assert.strictEqual(rec.byType("kubernetes:apps/v1:StatefulSet").length, 0);
        assert.strictEqual(rec.byType("kubernetes:core/v1:Namespace").length, 0);
        const s = rec.byType("kubernetes:core/v1:Secret").find((x) => x.inputs.metadata.name === "longshore-redis")!;
        assert.strictEqual(s.inputs.metadata.namespace, "prod");
        assert.strictEqual(s.inputs.stringData.url, "rediss://:tok@master.abc.cache.amazonaws.com:6379");
        assert.ok(containsSecret(s.raw.stringData));
    });

    it("an endpoint attached to a platform uses its namespace, gateway URL and scaler address", async () => {
        const p = new ServerlessPlatform("lp", base({ namespace: "ls" }));
        const ep = new ServerlessEndpoint("echo", { platform: p, image: DIGEST_REF });
        await settle(rec);
        const so = rec.one("kubernetes:keda.sh/v1alpha1:ScaledObject").inputs;
        assert.strictEqual(so.metadata.namespace, "ls");
        assert.strictEqual(so.spec.triggers[0].metadata.scalerAddress, "longshore-gateway.ls.svc.cluster.local:9090");
        assert.strictEqual(await valueOf(ep.jobUrl), "http://longshore-gateway.ls.svc.cluster.local:8080/v2/echo");
    });

    describe("validation", () => {
        const cases: [string, Partial<ServerlessPlatformArgs>, RegExp][] = [
            ["gateway image by tag", { gatewayImage: "localhost:5000/longshore/gateway:0.1.0" }, /gatewayImage \(".*"\) must be pinned by digest/],
            ["no API keys", { apiKeys: [] }, /apiKeys must contain at least one API key/],
            ["API key with comma (value not echoed)", { apiKeys: ["a,b"] }, /apiKeys must not contain ',' in a key \(the gateway reads them comma-separated\)$/],
            ["bad namespace", { namespace: "Long_Shore" }, /namespace \("Long_Shore"\) must be a DNS-1123 label/],
            ["zero replicas", { gatewayReplicas: 0 }, /gatewayReplicas \(0\) must be a positive integer/],
            ["bad service type", { serviceType: "Ingress" as any }, /serviceType \("Ingress"\) must be one of ClusterIP, NodePort, LoadBalancer/],
            ["redis latest", { redis: { image: "redis:latest" } }, /redis\.image \("redis:latest"\) must not use the mutable `latest` tag/],
            ["redis untagged", { redis: { image: "redis" } }, /redis\.image \("redis"\) must name a version tag or a digest/],
            ["redis storage", { redis: { storage: "disk" as any } }, /redis\.storage \("disk"\) must be one of persistent, ephemeral/],
            ["redis size", { redis: { storageSize: "big" } }, /redis\.storageSize \("big"\) must be a Kubernetes quantity/],
            ["redis url scheme", { redis: { url: "http://cache:6379" } }, /redis\.url must be a redis:\/\/ or rediss:\/\/ URL/],
            ["reserved gateway env", { gatewayEnv: { REDIS_URL: "x" } }, /gatewayEnv\.REDIS_URL is set by ServerlessPlatform/],
            ["bad webhook allow CIDR", { webhookAllowCidrs: ["10.0.0.0/33"] }, /webhookAllowCidrs\[0\] "10\.0\.0\.0\/33" is not a CIDR/],
            ["redis url with in-cluster settings", { redis: { url: "rediss://cache:6379", image: "redis:7.2.5", storage: "ephemeral" } },
                /redis\.url cannot be combined with the in-cluster Redis settings redis\.image, redis\.storage: give either url \(external Redis\) or in-cluster settings$/],
            ["redis url (an Output) with a password", { redis: { url: pulumi.secret("rediss://:tok@cache:6379"), password: pulumi.secret("pw") } },
                /redis\.url cannot be combined with the in-cluster Redis settings redis\.password:/],
        ];
        for (const [what, extra, re] of cases) {
            it(what, () => {
                const msg = thrown(() => new ServerlessPlatform("bad", base(extra)));
                assert.match(msg, /^ServerlessPlatform "bad": /);
                assert.match(msg, re);
            });
        }
        it("a redis url mixed with in-cluster settings registers nothing (the error comes before any child)", async () => {
            const rec = await mockPulumi();
            thrown(() => new ServerlessPlatform("bad", base({ redis: { url: "redis://cache:6379", storageSize: "1Gi" } })));
            await settle(rec);
            assert.deepStrictEqual(rec.resources.filter((r) => r.type !== "longshore:index:ServerlessPlatform"), []);
        });
        it("a null in-cluster field (as another language may send an unset one) is not a mix", async () => {
            const rec = await mockPulumi();
            new ServerlessPlatform("ext", base({ redis: { url: "redis://cache:6379", image: null as any } }));
            await settle(rec);
            assert.strictEqual(rec.byType("kubernetes:apps/v1:StatefulSet").length, 0, "external Redis: no in-cluster StatefulSet");
        });
        it("missing gatewayImage / apiKeys are named", () => {
            assert.match(thrown(() => new ServerlessPlatform("bad", { apiKeys: ["k"] } as any)), /gatewayImage is required/);
            assert.match(thrown(() => new ServerlessPlatform("bad", { gatewayImage: DIGEST_REF } as any)), /apiKeys is required/);
        });
        it("Output values are checked when known", async () => {
            const p = new ServerlessPlatform("late", base({ gatewayImage: pulumi.output("gw:1.0"), apiKeys: pulumi.output([] as string[]) }));
            const err = await rejectionOf(p.gatewayServiceName.apply(() => p.apiKeySecretName));
            assert.match(err.message, /ServerlessPlatform "late": (gatewayImage|apiKeys)/);
        });
    });
});

describe("ServerlessPlatform in preview", () => {
    it("registers its resources with known inputs and no network", async () => {
        const rec = await mockPulumi({ preview: true });
        new ServerlessPlatform("lp", base());
        await settle(rec);
        assert.ok(rec.byType("kubernetes:apps/v1:Deployment").some((d) => d.inputs.spec.template.spec.containers[0].image === DIGEST_REF));
        assert.strictEqual(rec.invokes.length, 0);
    });
});
