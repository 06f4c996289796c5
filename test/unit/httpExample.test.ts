// The `local` stack's HTTP endpoint (stacks/httpExample.ts) under mocks: the committed defaults' config builds the
// seed-004 server image, a hostPath volume reserved for its claim, and the HttpEndpoint.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import * as pulumi from "@pulumi/pulumi";
import { mockPulumi, settle, valueOf, Recorder } from "./harness";

describe("local stack: the HTTP endpoint example (stacks/httpExample.ts)", function () {
    this.timeout(60000);
    let rec: Recorder;
    let outputs: Record<string, any>;
    before(async () => {
        const defaults = (yaml.load(fs.readFileSync(path.join(__dirname, "../../stacks/local.defaults.yaml"), "utf8")) as { config: Record<string, unknown> }).config;
        rec = await mockPulumi({ stack: "local" });
        const c: Record<string, string> = {};
        for (const [k, v] of Object.entries({ ...defaults, "longshore:apiKeys": "k1", "longshore:installKeda": "false" })) c[k] = typeof v === "string" ? v : JSON.stringify(v);
        pulumi.runtime.setAllConfig(c, ["longshore:apiKeys"]);
        const modPath = require.resolve("../../index");
        delete require.cache[modPath];
        outputs = require(modPath)();
        await settle(rec, 150);
    });
    after(() => pulumi.runtime.setAllConfig({}, []));

    it("builds examples/ai-api-server and deploys it as an HttpEndpoint with maxWorkers 2 and a short idle timeout", async () => {
        const img = rec.byType("docker-build:index:Image").find((i) => i.inputs.tags[0].includes("ai-api"))!.inputs;
        assert.deepStrictEqual(img.context, { location: "examples/ai-api-server" });
        assert.strictEqual(rec.byType("longshore:index:HttpEndpoint").length, 1);
        const so = rec.byType("kubernetes:keda.sh/v1alpha1:ScaledObject").find((s) => s.inputs.metadata.name === "ai-api")!.inputs;
        assert.strictEqual(so.spec.maxReplicaCount, 2);
        assert.strictEqual(so.spec.cooldownPeriod, 10);
        assert.strictEqual(await valueOf(outputs.httpEndpointUrl), "http://longshore-gateway.longshore.svc.cluster.local:8080/http/ai-api");
        const dep = rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "ai-api-worker")!.inputs;
        assert.match(dep.spec.template.spec.containers[0].image, /^localhost:5000\/longshore\/ai-api@sha256:/);
        assert.deepStrictEqual(dep.spec.template.spec.containers[0].volumeMounts, [{ name: "volume", mountPath: "/app/data" }]);
    });

    it("its SQLite volume: a hostPath PersistentVolume reserved for the endpoint's claim (no provisioner on one node)", () => {
        const pv = rec.one("kubernetes:core/v1:PersistentVolume", "ai-api-volume").inputs;
        const pvc = rec.one("kubernetes:core/v1:PersistentVolumeClaim", "ai-api-volume").inputs;
        assert.deepStrictEqual(pv.spec.claimRef, { namespace: "longshore", name: pvc.metadata.name });
        assert.strictEqual(pv.spec.storageClassName, "");
        assert.strictEqual(pvc.spec.storageClassName, "");
        assert.strictEqual(pv.spec.hostPath.path, "/var/lib/longshore/volumes/ai-api");
    });
});
