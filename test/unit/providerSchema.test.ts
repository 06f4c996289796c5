// provider/ gives the components to Python/Go/YAML programs: @pulumi/pulumi's component provider infers the
// package schema from the TypeScript types with its analyzer. These tests run that same analysis (an argument
// type outside what it supports fails here, not in a user's `pulumi package add`), check what other languages
// see, and construct each component the way the provider's Construct hands it inputs: Input-typed values as
// Outputs (known, or unknown during preview).
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { Analyzer } from "@pulumi/pulumi/provider/experimental/analyzer";
import { generateSchema, PackageSpec } from "@pulumi/pulumi/provider/experimental/schema";
import { getPulumiComponents } from "@pulumi/pulumi/provider/experimental/provider";
import { mockPulumi, settle, DIGEST_REF, Recorder } from "./harness";
import * as components from "../../components";

const ROOT = path.resolve(__dirname, "../..");
const PROVIDER_DIR = path.join(ROOT, "provider");
const COMPONENTS = ["WorkerImage", "ServerlessPlatform", "ServerlessEndpoint", "HttpEndpoint", "GpuNodePool", "NvidiaDevicePlugin", "Keda", "ImagePrePull", "ModelCache"];
const token = (name: string) => `longshore:index:${name}`;

type Prop = { type?: string; $ref?: string; plain?: boolean; optional?: boolean; description?: string; items?: Prop; additionalProperties?: Prop };

/** The local type a property refers to (`#/types/longshore:index:X`), or undefined. */
function localType(schema: PackageSpec, p: Prop): any {
    const m = /^#\/types\/(.+)$/.exec(p.$ref ?? "");
    return m ? (schema.types as any)[m[1]] : undefined;
}

describe("provider/: the components' schema for other languages (Pulumi component analysis)", function () {
    let schema: PackageSpec;
    const providerPkg = JSON.parse(fs.readFileSync(path.join(PROVIDER_DIR, "package.json"), "utf8"));
    const resource = (name: string) => (schema.resources as any)[token(name)];

    before(function () {
        // The analysis builds a TypeScript program over provider/ and the components (tens of seconds on 2 cores).
        this.timeout(180_000);
        const analyzer = new Analyzer(PROVIDER_DIR, "longshore", providerPkg, new Set(COMPONENTS));
        const { components: defs, typeDefinitions, dependencies } = analyzer.analyze();
        schema = generateSchema("longshore", providerPkg.version, providerPkg.description, defs, typeDefinitions, dependencies);
    });

    it("every component is a component resource longshore:index:<Name>", () => {
        for (const name of COMPONENTS) {
            assert.ok(resource(name), `${token(name)} missing from the schema`);
            assert.strictEqual(resource(name).isComponent, true, name);
        }
        assert.deepStrictEqual(Object.keys(schema.resources).sort(), COMPONENTS.map(token).sort());
    });

    it("provider/index.ts exports exactly the ComponentResource classes of components/index.ts", () => {
        // What the Node.js plugin host serves: the ComponentResource classes exported by provider/index.ts.
        const served = getPulumiComponents(require(path.join(PROVIDER_DIR, "index.ts"))).map((c) => c.name).sort();
        const library = Object.entries(components)
            .filter(([, v]) => typeof v === "function" && (v as any).prototype instanceof pulumi.ComponentResource)
            .map(([k]) => k)
            .sort();
        assert.deepStrictEqual(served, library, "a component added to components/ must be exported by provider/index.ts too");
        assert.deepStrictEqual(library, [...COMPONENTS].sort(), "and listed in COMPONENTS here, so its schema is checked");
    });

    it("provider/package.json has the library's version", () => {
        const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
        assert.strictEqual(providerPkg.version, rootPkg.version);
        assert.strictEqual(schema.version, rootPkg.version);
    });

    it("ServerlessEndpoint: platform and image are required; outputs endpointId and jobUrl", () => {
        const ep = resource("ServerlessEndpoint");
        assert.deepStrictEqual([...ep.requiredInputs].sort(), ["image", "platform"]);
        for (const k of ["endpointId", "jobUrl", "namespace", "deploymentName", "scaledObjectName", "secretName"]) {
            assert.ok(ep.properties[k], `output ${k}`);
            assert.ok(ep.required.includes(k), `output ${k} is always set`);
        }
        const platform = localType(schema, ep.inputProperties.platform);
        assert.deepStrictEqual(Object.keys(platform.properties).sort(), ["gatewayUrl", "namespace", "scalerAddress"]);
    });

    it("ServerlessEndpoint.scalerType is an enum of exactly QUEUE_DELAY and REQUEST_COUNT", () => {
        const t = localType(schema, resource("ServerlessEndpoint").inputProperties.scalerType);
        assert.ok(t, "scalerType refers to a named type");
        assert.strictEqual(t.type, "string");
        assert.deepStrictEqual(t.enum.map((e: any) => e.value).sort(), ["QUEUE_DELAY", "REQUEST_COUNT"]);
        assert.deepStrictEqual(t.enum.map((e: any) => e.value).sort(), [...components.SCALER_TYPES].sort());
    });

    it("every enum type has the values of the TypeScript constant callers use", () => {
        const consts: Record<string, readonly string[]> = {
            ScalerType: components.SCALER_TYPES,
            RedisStorage: components.REDIS_STORAGE_TYPES,
            GatewayServiceType: components.GATEWAY_SERVICE_TYPES,
            ImagePullPolicy: components.IMAGE_PULL_POLICIES,
            GpuCapacityType: components.GPU_CAPACITY_TYPES,
            GpuAmiType: components.GPU_AMI_TYPES,
            WorkerStdin: components.WORKER_STDIN,
            WorkerOutputFrom: components.WORKER_OUTPUT_FROM,
        };
        const enums = Object.entries(schema.types as any).filter(([, t]: [string, any]) => t.enum);
        assert.deepStrictEqual(enums.map(([k]) => k).sort(), Object.keys(consts).map(token).sort());
        for (const [k, t] of enums as [string, any][]) {
            assert.deepStrictEqual(t.enum.map((e: any) => e.value).sort(), [...consts[k.split(":")[2]]].sort(), k);
        }
    });

    it("ServerlessPlatform.redis is one object type with the external url and the in-cluster settings", () => {
        const redis = localType(schema, resource("ServerlessPlatform").inputProperties.redis);
        assert.ok(redis, "redis refers to an object type");
        assert.strictEqual(redis.type, "object");
        assert.deepStrictEqual(Object.keys(redis.properties).sort(), ["url", ...components.IN_CLUSTER_REDIS_KEYS].sort());
        assert.deepStrictEqual(redis.required ?? [], [], "every field optional: url or in-cluster settings");
        assert.ok(localType(schema, redis.properties.storage)?.enum, "redis.storage is an enum");
    });

    it("ServerlessEndpoint.worker is one object type: command or http, plus the adapter image", () => {
        const worker = localType(schema, resource("ServerlessEndpoint").inputProperties.worker);
        assert.deepStrictEqual(Object.keys(worker.properties).sort(), ["adapterImage", "command", "concurrency", "http", "registryPassword", "registryUsername"]);
        assert.deepStrictEqual(worker.required, ["adapterImage"]);
        const command = localType(schema, worker.properties.command);
        assert.deepStrictEqual(Object.keys(command.properties).sort(), ["args", "entrypoint", "inputFiles", "killGraceSeconds", "output", "stdin", "stream"]);
        assert.ok(localType(schema, command.properties.stdin)?.enum, "command.stdin is an enum");
        assert.deepStrictEqual(localType(schema, worker.properties.http).required, ["port"]);
    });

    it("Keda.source is one object type with manifests and chart", () => {
        const source = localType(schema, resource("Keda").inputProperties.source);
        assert.deepStrictEqual(Object.keys(source.properties).sort(), ["chart", "manifests"]);
        const chart = localType(schema, source.properties.chart);
        assert.deepStrictEqual(Object.keys(chart.properties).sort(), ["name", "path", "repo", "values"]);
    });

    it("refers to no other package: child resources are TypeScript-only getters, so SDK generation needs no other plugin", () => {
        assert.deepStrictEqual(schema.dependencies ?? [], []);
        const refs = JSON.stringify(schema).match(/"\$ref":"[^"#][^"]*"/g) ?? [];
        assert.deepStrictEqual(refs.filter((r) => !r.includes("pulumi.json#/Any")), []);
        // ... and stay reachable from TypeScript.
        assert.ok(Object.getOwnPropertyDescriptor(components.ServerlessEndpoint.prototype, "deployment")?.get);
    });

    it("every component and every input and output property carries documentation (it becomes the SDK docs)", () => {
        const missing: string[] = [];
        for (const name of COMPONENTS) {
            const r = resource(name);
            if (!r.description) missing.push(name);
            for (const section of ["inputProperties", "properties"]) {
                for (const [k, p] of Object.entries(r[section] as Record<string, Prop>)) if (!p.description) missing.push(`${name}.${section}.${k}`);
            }
        }
        for (const [k, t] of Object.entries(schema.types as Record<string, any>)) {
            for (const [pk, p] of Object.entries((t.properties ?? {}) as Record<string, Prop>)) if (!p.description) missing.push(`${k}.${pk}`);
        }
        assert.deepStrictEqual(missing, []);
    });

    describe("construct with inputs as the provider's Construct passes them", () => {
        const platform = {
            namespace: "longshore",
            gatewayUrl: "http://longshore-gateway.longshore.svc.cluster.local:8080",
            scalerAddress: "longshore-gateway.longshore.svc.cluster.local:9090",
        };
        const toleration = [{ key: "dedicated", operator: "Equal", value: "ml", effect: "NoSchedule" }];
        // Every argument given, so every Input-typed field is exercised.
        const samples: Record<string, any> = {
            WorkerImage: {
                context: "examples/echo", dockerfile: "examples/echo/Dockerfile", buildArgs: { BASE_IMAGE: "localhost:5000/longshore/python-base:3.11-bookworm" },
                target: "runtime", platforms: ["linux/amd64"], cacheFrom: ["localhost:5000/longshore/echo:cache"], cacheTo: "localhost:5000/longshore/echo:cache",
                repository: "localhost:5000/longshore/echo", tags: ["1.0.0"], push: true, registry: { username: "u", password: "p" },
                buildOnPreview: false, builderName: "longshore",
            },
            ServerlessPlatform: {
                namespace: "lp", createNamespace: true, gatewayImage: DIGEST_REF, gatewayReplicas: 2,
                gatewayResources: { requests: { cpu: "200m", memory: "256Mi" } }, gatewayEnv: { LOG_LEVEL: "debug" }, apiKeys: ["key-1", "key-2"],
                redis: {
                    image: "localhost:5000/longshore/redis:7.0.15", storage: "persistent", storageSize: "1Gi", storageClassName: "standard",
                    password: "a-redis-password", resources: { requests: { cpu: "100m" } },
                },
                serviceType: "NodePort", imagePullSecrets: ["regcred"], networkPolicies: true, labels: { team: "ml" },
                tolerations: toleration, nodeSelector: { pool: "cpu" },
            },
            ServerlessEndpoint: {
                platform, endpointId: "echo", image: DIGEST_REF, namespace: "workers", minWorkers: 0, maxWorkers: 2, idleTimeoutSeconds: 30,
                executionTimeoutSeconds: 300, terminationGracePeriodSeconds: 330, scalerType: "REQUEST_COUNT", scalerValue: 2,
                pollingIntervalSeconds: 5, gpuCount: 1, gpuTypes: ["NVIDIA H100 80GB HBM3", "NVIDIA-A10G"], cpuOnly: false,
                resources: { cpu: "2", memory: "8Gi", cpuLimit: "4", memoryLimit: "16Gi" }, containerDisk: "20Gi",
                env: { LOG_LEVEL: "debug" }, secretEnv: { HF_TOKEN: "hf_0123456789" },
                volume: { size: "10Gi", storageClassName: "efs", accessModes: ["ReadWriteMany"], mountPath: "/runpod-volume", readOnly: false },
                workerToken: "0123456789abcdef0123", pingIntervalMs: 5000, imagePullSecrets: ["regcred"], nodeSelector: { pool: "gpu" },
                tolerations: toleration, labels: { team: "ml" },
                worker: {
                    adapterImage: DIGEST_REF, concurrency: 1, registryUsername: "u", registryPassword: "p",
                    command: {
                        entrypoint: ["/bin/predict"], args: ["--x", "{input.x}"], stdin: "none", inputFiles: [{ field: "image", name: "in.png" }],
                        output: { from: "files", dir: "out", inlineLimitBytes: 1000, stdoutLimitBytes: 2000 }, stream: false, killGraceSeconds: 5,
                    },
                },
                prePull: { enabled: true, pauseImage: DIGEST_REF, command: ["true"] },
            },
            ImagePrePull: {
                image: DIGEST_REF, namespace: "workers", command: ["sh", "-c", "exit 0"], pauseImage: DIGEST_REF, nodeSelector: { pool: "gpu" },
                tolerations: toleration, affinity: { nodeAffinity: {} }, imagePullSecrets: ["regcred"], labels: { team: "ml" },
            },
            ModelCache: {
                namespace: "workers", version: "v1", sha256: "a".repeat(64),
                source: { url: "s3://models/tiny/model.bin", s3Endpoint: "http://s3.local:8333", region: "us-east-1", credentials: { accessKeyId: "ak", secretAccessKey: "sk" } },
                storage: { size: "10Gi", storageClassName: "efs", accessModes: ["ReadWriteMany"] }, fillImage: DIGEST_REF, fileName: "model.bin",
                extract: false, mountPath: "/models", tolerations: toleration, nodeSelector: { pool: "gpu" }, timeoutSeconds: 600,
            },
            HttpEndpoint: {
                platform, endpointId: "api", image: DIGEST_REF, port: 8000, healthPort: 8001, healthPath: "/ping", targetConcurrency: 4,
                minWorkers: 0, maxWorkers: 2, idleTimeoutSeconds: 30, queueTimeoutSeconds: 60, requestTimeoutSeconds: 300, maxQueued: 100,
                terminationGracePeriodSeconds: 330, pollingIntervalSeconds: 5, gpuCount: 1, gpuTypes: ["NVIDIA H100 80GB HBM3"], cpuOnly: false,
                resources: { cpu: "2", memory: "8Gi" }, containerDisk: "20Gi", env: { LOG_LEVEL: "debug" }, secretEnv: { HF_TOKEN: "hf_0123456789" },
                volume: { size: "1Gi", mountPath: "/app/data" }, imagePullSecrets: ["regcred"], nodeSelector: { pool: "gpu" },
                tolerations: toleration, labels: { team: "ml" },
            },
            GpuNodePool: {
                clusterName: "longshore", subnetIds: ["subnet-1", "subnet-2"], instanceTypes: ["g5.xlarge"], capacityType: "SPOT",
                amiType: "BOTTLEROCKET_x86_64_NVIDIA", minSize: 0, maxSize: 2, desiredSize: 0, diskSizeGiB: 100, labels: { team: "ml" },
                attachCniPolicy: true, kubernetesVersion: "1.30", tags: { team: "ml" }, imageCacheSnapshotId: "snap-0123456789abcdef0",
            },
            NvidiaDevicePlugin: {
                namespace: "kube-system", version: "v0.17.0", imagePullPolicy: "Always", nodeSelector: { "nvidia.com/gpu.present": "true" },
                tolerations: toleration, timeSlicing: { replicas: 4, renameByDefault: true }, args: ["--fail-on-init-error=false"],
                env: { LOG_LEVEL: "debug" }, resources: { requests: { cpu: "50m" } }, priorityClassName: "system-node-critical", imagePullSecrets: ["regcred"],
            },
            Keda: {
                version: "2.17.2", source: { chart: { path: "/charts/keda", values: { operator: { replicaCount: 2 } } } },
                images: { operator: "mirror.local/kedacore/keda:2.17.2" }, webhooks: true, imagePullPolicy: "IfNotPresent",
            },
        };

        /** Replaces every Input-typed (non-plain) value, as the schema marks it, with `wrap(value)`. */
        function asConstructInputs(props: Record<string, Prop>, value: any, wrap: (v: unknown) => pulumi.Output<unknown>, where: string): any {
            const out: any = {};
            for (const [k, v] of Object.entries(value)) {
                const p = props[k];
                assert.ok(p, `${where}.${k} is not in the schema`);
                out[k] = wrapProp(p, v, wrap, `${where}.${k}`);
            }
            return out;
        }
        function wrapProp(p: Prop, v: any, wrap: (v: unknown) => pulumi.Output<unknown>, where: string): any {
            if (!p.plain) return wrap(v);
            const t = localType(schema, p);
            if (t?.properties) return asConstructInputs(t.properties, v, wrap, where);
            if (p.type === "array" && p.items) return (v as unknown[]).map((x, i) => wrapProp(p.items!, x, wrap, `${where}[${i}]`));
            if (p.type === "object" && p.additionalProperties) {
                return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wrapProp(p.additionalProperties!, x, wrap, `${where}.${k}`)]));
            }
            return v;
        }

        function containsOutput(v: unknown): boolean {
            if (pulumi.Output.isInstance(v)) return true;
            return !!v && typeof v === "object" && Object.values(v).some(containsOutput);
        }

        async function construct(rec: Recorder, name: string, args: any) {
            new (components as any)[name]("c", args);
            await settle(rec);
            return rec.resources.map((r) => ({ type: r.type, name: r.name, inputs: r.inputs })).sort((a, b) => `${a.type}/${a.name}`.localeCompare(`${b.type}/${b.name}`));
        }

        for (const name of COMPONENTS) {
            it(`${name}: Input values arriving as Outputs give the same resources as plain values`, async () => {
                const props = resource(name).inputProperties;
                let rec = await mockPulumi();
                const plain = await construct(rec, name, samples[name]);
                assert.ok(plain.length > 1, "the sample creates child resources");
                rec = await mockPulumi();
                const wrapped = asConstructInputs(props, samples[name], (v) => pulumi.output(Promise.resolve(v)), name);
                assert.ok(containsOutput(wrapped), "the sample has Input-typed fields");
                assert.deepStrictEqual(await construct(rec, name, wrapped), plain);
            });

            it(`${name}: unknown Input values during preview do not fail the preview`, async () => {
                let rec = await mockPulumi({ preview: true });
                const plain = (await construct(rec, name, samples[name])).map((r) => `${r.type}/${r.name}`);
                rec = await mockPulumi({ preview: true });
                const unknown = () => new (pulumi.Output as any)(new Set(), Promise.resolve(undefined), Promise.resolve(false), Promise.resolve(false), Promise.resolve(new Set()));
                const args = asConstructInputs(resource(name).inputProperties, samples[name], unknown, name);
                assert.deepStrictEqual((await construct(rec, name, args)).map((r) => `${r.type}/${r.name}`), plain);
            });
        }
    });
});
