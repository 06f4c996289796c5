// The `local` stack's command endpoint (stacks/cliModel.ts) under mocks: with `longshore:cliModel` set, the root
// program deploys examples/cli-model behind the adapter with the declaration from examples/cli-model/worker.json.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { mockPulumi, settle, envOf, MOCK_IMAGE_CONFIG, Recorder } from "./harness";

const ADAPTER = `localhost:5000/longshore/adapter@sha256:${"cd".repeat(32)}`;

function runProgram(): Record<string, any> {
    const modPath = require.resolve("../../index");
    delete require.cache[modPath];
    return require(modPath)();
}

describe("local stack: the cli-model command endpoint (longshore:cliModel)", function () {
    this.timeout(60000);
    let rec: Recorder;
    let kedaFile: string;
    before(() => {
        kedaFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "longshore-cli-stack-")), "keda.yaml");
        fs.writeFileSync(kedaFile, [
            "apiVersion: apiextensions.k8s.io/v1", "kind: CustomResourceDefinition", "metadata: {name: scaledobjects.keda.sh}",
            "spec: {group: keda.sh, names: {kind: ScaledObject, plural: scaledobjects}, scope: Namespaced, versions: []}",
        ].join("\n") + "\n");
    });
    after(() => pulumi.runtime.setAllConfig({}, []));

    const deploy = async (extra: Record<string, unknown>) => {
        rec = await mockPulumi({ stack: "local" });
        const c: Record<string, string> = { "longshore:apiKeys": "k", "longshore:kedaManifests": kedaFile, "longshore:installDevicePlugin": "false" };
        for (const [k, v] of Object.entries(extra)) c[k] = typeof v === "string" ? v : JSON.stringify(v);
        pulumi.runtime.setAllConfig(c, ["longshore:apiKeys"]);
        runProgram();
        await settle(rec, 150);
        return rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "cli-model-worker");
    };

    it("deploys the example image behind the given adapter image, with worker.json's arguments, on the platform's tolerations", async () => {
        const tolerations = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];
        const dep = await deploy({ "longshore:cliModel": { maxWorkers: 1 }, "longshore:adapterImage": ADAPTER, "longshore:platformTolerations": tolerations });
        assert.ok(dep, "a cli-model-worker Deployment");
        const pod = dep!.inputs.spec.template.spec;
        assert.strictEqual(pod.initContainers[0].image, ADAPTER);
        assert.deepStrictEqual(pod.containers[0].command.slice(3), MOCK_IMAGE_CONFIG.entrypoint);
        const decl = JSON.parse(fs.readFileSync(path.join(__dirname, "../../examples/cli-model/worker.json"), "utf8"));
        assert.deepStrictEqual(JSON.parse(envOf(pod.containers[0]).LONGSHORE_WORKER_SPEC.value).command.args, decl.command.args);
        assert.strictEqual(pod.containers[0].resources.limits["nvidia.com/gpu"], undefined, "CPU-only");
        assert.deepStrictEqual(pod.tolerations, tolerations);
        const build = rec.byType("docker-build:index:Image").find((i) => i.inputs.tags[0].includes("cli-model"));
        assert.deepStrictEqual(build?.inputs.context, { location: "examples/cli-model" });
    });

    it("without longshore:cliModel there is no such endpoint", async () => {
        assert.strictEqual(await deploy({}), undefined);
        assert.strictEqual(rec.byType("pulumi-nodejs:dynamic/longshore:ImageConfig").length, 0);
    });
});
