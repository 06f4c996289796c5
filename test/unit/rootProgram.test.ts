// The root program (index.ts) under mocks: `local` and `eks` stacks from config, and config errors.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { mockPulumi, settle, valueOf, containsSecret, envOf, Recorder } from "./harness";

const KEDA_YAML = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: scaledobjects.keda.sh}
spec: {group: keda.sh, names: {kind: ScaledObject, plural: scaledobjects}, scope: Namespaced, versions: []}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: keda-operator, namespace: keda}
spec: {template: {spec: {containers: [{name: keda-operator, image: "ghcr.io/kedacore/keda:main"}]}}}
`;

function runProgram(): Record<string, any> {
    const modPath = require.resolve("../../index");
    delete require.cache[modPath];
    const main = require(modPath);
    assert.strictEqual(typeof main, "function", "index.ts exports the program function (Pulumi calls it)");
    return main();
}

function config(values: Record<string, unknown>, secrets: string[] = ["longshore:apiKeys"]) {
    const c: Record<string, string> = {};
    for (const [k, v] of Object.entries(values)) c[k] = typeof v === "string" ? v : JSON.stringify(v);
    pulumi.runtime.setAllConfig(c, secrets);
}

describe("root program (index.ts)", function () {
    this.timeout(60000);
    let rec: Recorder;
    let kedaFile: string;
    before(() => {
        kedaFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "longshore-root-")), "keda.yaml");
        fs.writeFileSync(kedaFile, KEDA_YAML);
    });
    after(() => pulumi.runtime.setAllConfig({}, []));

    describe("local stack", () => {
        let outputs: Record<string, any>;
        before(async () => {
            rec = await mockPulumi({ stack: "local" });
            config({
                "longshore:apiKeys": "key-one, key-two",
                "longshore:kedaManifests": kedaFile,
                "longshore:kedaImages": { operator: "localhost:5000/longshore/keda:2.16.1" },
                "longshore:devicePluginImage": "localhost:5000/longshore/fake-gpu-device-plugin:0.1.0",
                "longshore:redisStorage": "ephemeral",
                "longshore:endpoint": { id: "hello", maxWorkers: 2, gpuTypes: ["NVIDIA-H100-80GB-HBM3"] },
            });
            outputs = runProgram();
            await settle(rec, 150);
        });

        it("composes Keda, the device plugin, the platform, both images and the endpoint", () => {
            for (const t of ["longshore:index:Keda", "longshore:index:NvidiaDevicePlugin", "longshore:index:ServerlessPlatform", "longshore:index:ServerlessEndpoint"]) {
                assert.strictEqual(rec.byType(t).length, 1, t);
            }
            const images = rec.byType("docker-build:index:Image").map((i) => i.inputs.tags[0]).sort();
            assert.deepStrictEqual(images, ["localhost:5000/longshore/gateway:0.1.0", "localhost:5000/longshore/hello:0.1.0"]);
            const gw = rec.byType("docker-build:index:Image").find((i) => i.inputs.tags[0].includes("gateway"))!.inputs;
            assert.deepStrictEqual(gw.dockerfile, { location: "gateway/Dockerfile" });
            // the configured tag is pinned to the digest the registry serves (WorkerImage.pin), never deployed as a tag
            const plugin = rec.byType("kubernetes:apps/v1:DaemonSet").find((d) => !d.inputs.metadata.labels?.["longshore.dev/prepull"])!;
            assert.match(plugin.inputs.spec.template.spec.containers[0].image,
                /^localhost:5000\/longshore\/fake-gpu-device-plugin@sha256:[0-9a-f]{64}$/);
        });

        it("workers and gateway run images by digest; the endpoint scales via the gateway's scaler", async () => {
            const deps = rec.byType("kubernetes:apps/v1:Deployment").map((d) => d.inputs);
            const worker = deps.find((d) => d.metadata.name === "hello-worker")!;
            const gateway = deps.find((d) => d.metadata.name === "longshore-gateway")!;
            assert.match(worker.spec.template.spec.containers[0].image, /^localhost:5000\/longshore\/hello@sha256:/);
            assert.match(gateway.spec.template.spec.containers[0].image, /^localhost:5000\/longshore\/gateway@sha256:/);
            const so = rec.one("kubernetes:keda.sh/v1alpha1:ScaledObject").inputs;
            assert.strictEqual(so.spec.maxReplicaCount, 2);
            assert.strictEqual(so.spec.triggers[0].metadata.scalerAddress, "longshore-gateway.longshore.svc.cluster.local:9090");
            assert.strictEqual(await valueOf(outputs.jobUrl), "http://longshore-gateway.longshore.svc.cluster.local:8080/v2/hello");
            assert.deepStrictEqual(envOf(worker.spec.template.spec.containers[0]).RUNPOD_AI_API_KEY.valueFrom.secretKeyRef, { name: "longshore-endpoint-hello", key: "workerToken" });
        });

        it("API keys from the secret config value, split and kept secret", () => {
            const s = rec.byType("kubernetes:core/v1:Secret").find((x) => x.name === "platform-api-keys")!;
            assert.strictEqual(s.inputs.stringData.apiKeys, "key-one,key-two");
            assert.ok(containsSecret(s.raw.stringData));
        });
    });

    describe("local stack with the extras of local.defaults.yaml (TypeScript burst endpoint, 2 gateway replicas, Redis on a node directory)", () => {
        let outputs: Record<string, any>;
        before(async () => {
            rec = await mockPulumi({ stack: "local" });
            config({
                "longshore:apiKeys": "key-one",
                "longshore:kedaManifests": kedaFile,
                "longshore:devicePluginImage": "localhost:5000/longshore/fake-gpu-device-plugin:0.1.0",
                "longshore:redisStorage": "ephemeral",
                "longshore:redisHostPath": "/var/lib/longshore/redis",
                "longshore:gatewayReplicas": "2",
                "longshore:endpoint": { id: "hello", maxWorkers: 2 },
                "longshore:burstEndpoint": { id: "hello-ts", maxWorkers: 3, scalerType: "REQUEST_COUNT", scalerValue: 1, env: { SLEEP_TIME: "1" } },
            });
            outputs = runProgram();
            await settle(rec, 150);
        });

        it("a second endpoint runs examples/hello-typescript (built from the repository root), pinned by digest, with its own ScaledObject", async () => {
            assert.strictEqual(rec.byType("longshore:index:ServerlessEndpoint").length, 2);
            const img = rec.byType("docker-build:index:Image").find((i) => i.inputs.tags[0] === "localhost:5000/longshore/hello-ts:0.1.0")!.inputs;
            assert.deepStrictEqual(img.dockerfile, { location: "examples/hello-typescript/Dockerfile" });
            const worker = rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "hello-ts-worker")!.inputs;
            assert.match(worker.spec.template.spec.containers[0].image, /^localhost:5000\/longshore\/hello-ts@sha256:/);
            assert.strictEqual(envOf(worker.spec.template.spec.containers[0]).SLEEP_TIME.value, "1");
            const so = rec.byType("kubernetes:keda.sh/v1alpha1:ScaledObject").find((x) => x.inputs.metadata.name === "hello-ts")!.inputs;
            assert.strictEqual(so.spec.maxReplicaCount, 3);
            assert.strictEqual(await valueOf(outputs.burstEndpointId), "hello-ts");
            assert.strictEqual(await valueOf(outputs.burstWorkerDeployment), "hello-ts-worker");
        });

        it("two gateway replicas, and Redis's AOF on the node directory instead of an emptyDir", () => {
            const gw = rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "longshore-gateway")!.inputs;
            assert.strictEqual(gw.spec.replicas, 2);
            const sts = rec.one("kubernetes:apps/v1:StatefulSet").inputs;
            assert.deepStrictEqual(sts.spec.template.spec.volumes, [{ name: "data", hostPath: { path: "/var/lib/longshore/redis", type: "DirectoryOrCreate" } }]);
        });
    });

    describe("eks stack", () => {
        let outputs: Record<string, any>;
        before(async () => {
            rec = await mockPulumi({ stack: "eks" });
            config({
                "aws:region": "us-east-1",
                "longshore:apiKeys": "k1",
                "longshore:kedaManifests": kedaFile,
                "longshore:gpuInstanceTypes": ["g5.xlarge"],
                "longshore:gpuCapacityType": "SPOT",
                "longshore:redis": "elasticache",
                "longshore:endpoint": { id: "hello", maxWorkers: 4 },
            });
            outputs = runProgram();
            await settle(rec, 200);
        });

        it("VPC, EKS with KMS-encrypted secrets and API access entries, no default node group", () => {
            assert.strictEqual(rec.byType("aws:ec2/vpc:Vpc").length, 1);
            assert.strictEqual(rec.byType("aws:ec2/subnet:Subnet").length, 4);
            const c = rec.one("eks:index:Cluster").inputs;
            assert.strictEqual(c.skipDefaultNodeGroup, true);
            assert.strictEqual(c.authenticationMode, "API");
            assert.strictEqual(c.createOidcProvider, true);
            assert.strictEqual(c.encryptionConfigKeyArn, "arn:aws:mock:us-east-1:123456789012:longshore-secrets", "Secrets envelope-encrypted with the stack's KMS key");
            assert.strictEqual(rec.one("aws:kms/key:Key").inputs.enableKeyRotation, true);
        });

        it("GPU pool (spot, min 0) with scale-from-zero tags, cluster-autoscaler with IRSA, device plugin, KEDA", () => {
            const ng = rec.byType("aws:eks/nodeGroup:NodeGroup").find((n) => n.inputs.amiType === "AL2023_x86_64_NVIDIA")!.inputs;
            assert.strictEqual(ng.capacityType, "SPOT");
            assert.strictEqual(ng.scalingConfig.minSize, 0);
            assert.ok(rec.byType("aws:autoscaling/tag:Tag").some((t) => t.inputs.tag.key === "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"));
            const ca = rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "cluster-autoscaler")!.inputs;
            assert.ok(ca.spec.template.spec.containers[0].args.includes("--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/longshore"));
            const sa = rec.byType("kubernetes:core/v1:ServiceAccount").find((s) => s.inputs.metadata.name === "cluster-autoscaler")!.inputs;
            assert.match(sa.metadata.annotations["eks.amazonaws.com/role-arn"], /^arn:aws:iam::/);
            const trust = JSON.parse(rec.byType("aws:iam/role:Role").find((r) => r.name === "cluster-autoscaler-irsa")!.inputs.assumeRolePolicy);
            assert.strictEqual(trust.Statement[0].Condition.StringEquals["oidc.eks.us-east-1.amazonaws.com/id/ABC:sub"], "system:serviceaccount:kube-system:cluster-autoscaler");
            assert.strictEqual(rec.byType("longshore:index:NvidiaDevicePlugin").length, 1);
            assert.strictEqual(rec.byType("longshore:index:Keda").length, 1);
            for (const lt of rec.byType("aws:ec2/launchTemplate:LaunchTemplate")) assert.strictEqual(lt.inputs.metadataOptions.httpTokens, "required", "IMDSv2 only");
        });

        it("ECR repositories (immutable tags) feed WorkerImage; the endpoint prefers the pool's GPU", async () => {
            const repos = rec.byType("aws:ecr/repository:Repository").map((r) => r.inputs);
            assert.deepStrictEqual(repos.map((r) => r.name).sort(), ["longshore/gateway", "longshore/hello"]);
            for (const r of repos) assert.strictEqual(r.imageTagMutability, "IMMUTABLE");
            const tags = rec.byType("docker-build:index:Image").map((i) => i.inputs.tags[0]).sort();
            assert.deepStrictEqual(tags, ["123456789012.dkr.ecr.us-east-1.amazonaws.com/longshore/gateway:0.1.0", "123456789012.dkr.ecr.us-east-1.amazonaws.com/longshore/hello:0.1.0"]);
            const worker = rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "hello-worker")!.inputs;
            assert.deepStrictEqual(worker.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values, ["NVIDIA-A10G"]);
            assert.match(worker.spec.template.spec.containers[0].image, /^123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/longshore\/hello@sha256:/);
            assert.strictEqual(await valueOf(outputs.endpointId), "hello");
        });

        it("ElastiCache queue: TLS, at-rest encryption, AUTH token; the URL reaches the gateway only as a secret", () => {
            const rg = rec.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs;
            assert.strictEqual(rg.transitEncryptionEnabled, true);
            assert.strictEqual(rg.atRestEncryptionEnabled, true);
            assert.ok(rg.authToken);
            assert.strictEqual(rec.byType("kubernetes:apps/v1:StatefulSet").length, 0);
            const s = rec.byType("kubernetes:core/v1:Secret").find((x) => x.inputs.metadata.name === "longshore-redis")!;
            assert.match(s.inputs.stringData.url, /^rediss:\/\/:.+@master\.longshore\.cache\.amazonaws\.com:6379$/);
            assert.ok(containsSecret(s.raw.stringData));
        });
    });

    describe("local stack in preview", () => {
        it("registers the whole graph with no invoke (no registry or cloud call from the program)", async () => {
            rec = await mockPulumi({ stack: "local", preview: true });
            config({ "longshore:apiKeys": "k", "longshore:kedaManifests": kedaFile, "longshore:buildRedis": "true" });
            runProgram();
            await settle(rec, 150);
            assert.strictEqual(pulumi.runtime.isDryRun(), true);
            assert.strictEqual(rec.invokes.length, 0);
            for (const t of ["longshore:index:Keda", "longshore:index:ServerlessPlatform", "longshore:index:ServerlessEndpoint", "kubernetes:keda.sh/v1alpha1:ScaledObject"]) {
                assert.strictEqual(rec.byType(t).length, 1, t);
            }
            const builds = rec.byType("docker-build:index:Image").map((i) => i.inputs);
            assert.strictEqual(builds.length, 3, "gateway, worker and redis images");
            for (const b of builds) assert.strictEqual(b.buildOnPreview, false);
            const redis = builds.find((b) => b.tags[0].startsWith("localhost:5000/longshore/redis:"))!;
            assert.deepStrictEqual(redis.context, { location: "stacks/redis-image" });
            assert.strictEqual(redis.buildArgs.BASE_IMAGE, "localhost:5000/longshore/python-base:3.11-bookworm");
        });
    });

    describe("config errors", () => {
        it("a missing required key (apiKeys) names the key and how to set it", async () => {
            rec = await mockPulumi({ stack: "local" });
            config({ "longshore:kedaManifests": kedaFile }, []);
            assert.throws(() => runProgram(), /Missing required configuration variable 'longshore:apiKeys'[\s\S]*pulumi config set --secret longshore:apiKeys/);
        });
        it("an unknown stack name needs longshore:target", async () => {
            rec = await mockPulumi({ stack: "staging" });
            config({ "longshore:apiKeys": "k" });
            assert.throws(() => runProgram(), /config longshore:target is required for stack "staging": set it to "local" or "eks"/);
            config({ "longshore:apiKeys": "k", "longshore:target": "gke" });
            assert.throws(() => runProgram(), /config longshore:target \("gke"\) must be "local" or "eks"/);
        });
        it("eks needs aws:region", async () => {
            rec = await mockPulumi({ stack: "eks" });
            config({ "longshore:apiKeys": "k" });
            assert.throws(() => runProgram(), /Missing required configuration variable 'aws:region'/);
        });
    });
});
