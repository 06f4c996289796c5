// Boots the bundled pack (policy/pack) exactly as `pulumi preview --policy-pack policy/pack` does — through
// @pulumi/pulumi's run-policy-pack with the pack directory as working directory and the repository's node_modules —
// and drives it over the real Analyzer gRPC protocol the engine speaks.
import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import * as analyzerpb from "@pulumi/pulumi/proto/analyzer_pb";
import * as analyzergrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import { DIGEST, deployment } from "./policy-harness";

const repo = path.resolve(__dirname, "../..");
// The engine's marker for a value not known during preview (sdk/go/common/resource/plugin/rpc.go).
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

interface Diag { policyName: string; message: string; enforcementLevel: number }

describe("policy pack (runnable, over the Analyzer gRPC protocol)", function () {
    this.timeout(120_000);
    let child: ChildProcess | undefined;
    let client: any;
    let stderr = "";

    before(async () => {
        const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [path.join(repo, "policy/pack")] });
        child = spawn(process.execPath, [runner, "127.0.0.1:1", "."], {
            cwd: path.join(repo, "policy/pack"),
            stdio: ["ignore", "pipe", "pipe"],
        });
        child.stderr!.on("data", (d) => (stderr += d));
        const port = await new Promise<number>((resolve, reject) => {
            let out = "";
            child!.stdout!.on("data", (d) => {
                out += d;
                const m = /^(\d+)\s*$/m.exec(out);
                if (m) resolve(Number(m[1]));
            });
            child!.on("exit", (code) => reject(new Error(`pack exited with ${code} before serving:\n${out}\n${stderr}`)));
        });
        client = new (analyzergrpc as any).AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    });

    after(() => {
        client?.close();
        child?.kill();
    });

    function call<T>(method: string, req: unknown): Promise<T> {
        return new Promise((resolve, reject) => client[method](req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));
    }

    async function analyze(type: string, props: Record<string, any>): Promise<Diag[]> {
        const req = new analyzerpb.AnalyzeRequest();
        req.setType(type);
        req.setName("r");
        req.setUrn(`urn:pulumi:dev::longshore::${type}::r`);
        req.setProperties(Struct.fromJavaScript(JSON.parse(JSON.stringify(props))));
        req.setOptions(new analyzerpb.AnalyzerResourceOptions()); // the engine always sends options
        const res: any = await call("analyze", req);
        return res.getDiagnosticsList().map((d: any) => ({
            policyName: d.getPolicyname(),
            message: d.getMessage(),
            enforcementLevel: d.getEnforcementlevel(),
        }));
    }

    it("serves the pack named longshore with all five policies", async () => {
        const info: any = await call("getAnalyzerInfo", new Empty());
        assert.equal(info.getName(), "longshore");
        assert.equal(info.getVersion(), "0.1.0");
        const names = info.getPoliciesList().map((p: any) => p.getName()).sort();
        assert.deepEqual(names, [
            "drain-grace-covers-execution-timeout",
            "gpu-workers-limits-and-tolerations",
            "image-pinned-by-digest",
            "no-plaintext-secret-env",
            "scaledobject-counts-in-flight",
        ]);
    });

    it("reports nothing for a well-formed GPU worker Deployment", async () => {
        const props = deployment(
            {
                terminationGracePeriodSeconds: 600,
                tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
                containers: [{
                    name: "worker",
                    image: `localhost:5000/longshore/echo@${DIGEST}`,
                    resources: { limits: { "nvidia.com/gpu": "1" } },
                    env: [{ name: "RUNPOD_AI_API_KEY", valueFrom: { secretKeyRef: { name: "ep", key: "workerToken" } } }],
                }],
            },
            { "longshore.dev/execution-timeout-seconds": "600" },
        );
        assert.deepEqual(await analyze("kubernetes:apps/v1:Deployment", props), []);
    });

    it("reports each broken rule on a bad Deployment, as mandatory", async () => {
        const props = deployment(
            {
                terminationGracePeriodSeconds: 30,
                containers: [{
                    name: "worker",
                    image: "localhost:5000/longshore/echo:latest",
                    resources: { limits: { "nvidia.com/gpu": "1" } },
                    env: [{ name: "RUNPOD_AI_API_KEY", value: "literal" }],
                }],
            },
            { "longshore.dev/execution-timeout-seconds": "600" },
        );
        const diags = await analyze("kubernetes:apps/v1:Deployment", props);
        assert.deepEqual(diags.map((d) => d.policyName).sort(), [
            "drain-grace-covers-execution-timeout",
            "gpu-workers-limits-and-tolerations",
            "image-pinned-by-digest",
            "no-plaintext-secret-env",
        ]);
        const MANDATORY = analyzerpb.EnforcementLevel.MANDATORY;
        for (const d of diags) assert.equal(d.enforcementLevel, MANDATORY, d.policyName);
    });

    it("flags a ScaledObject that scales Longshore workers on a redis list alone", async () => {
        const so = {
            apiVersion: "keda.sh/v1alpha1",
            kind: "ScaledObject",
            metadata: { name: "ep", labels: { "longshore.dev/endpoint": "ep" } },
            spec: { scaleTargetRef: { name: "ep" }, triggers: [{ type: "redis", metadata: { listName: "bull:ep:wait" } }] },
        };
        const diags = await analyze("kubernetes:keda.sh/v1alpha1:ScaledObject", so);
        assert.equal(diags.length, 1);
        assert.equal(diags[0].policyName, "scaledobject-counts-in-flight");
    });

    it("downgrades to advisory when an image is not known until the build runs (preview)", async () => {
        const props = deployment({ containers: [{ name: "worker", image: UNKNOWN }] });
        const diags = await analyze("kubernetes:apps/v1:Deployment", props);
        const d = diags.find((x) => x.policyName === "image-pinned-by-digest");
        assert.ok(d, JSON.stringify(diags));
        assert.equal(d!.enforcementLevel, analyzerpb.EnforcementLevel.ADVISORY);
        assert.match(d!.message, /can't be known during preview/);
    });
});
