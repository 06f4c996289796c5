// The `local` stack's cold-start block (stacks/coldStart.ts) under mocks: the ModelCache on a hostPath volume
// filled from the proving ground's S3 (read from images.env), the `coldstart` endpoint mounting it read-only,
// and image pre-pull on the proving ground's pause image.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { mockPulumi, settle, valueOf, Recorder } from "./harness";
import { coldStartBlock } from "../../stacks/coldStart";

const SHA = "829979a3dc235d5f9b36210f2fd84ada1dd5c76e67272d91c9ddd2d0cb3b928f";
const platform = {
    namespace: "longshore",
    gatewayUrl: "http://longshore-gateway.longshore.svc.cluster.local:8080",
    scalerAddress: "longshore-gateway.longshore.svc.cluster.local:9090",
};
const PAUSE = `localhost:5000/longshore/pause@sha256:${"2".repeat(64)}`;

describe("local stack: cold-start block (stacks/coldStart.ts)", function () {
    this.timeout(60000);
    let rec: Recorder;
    const saved = process.env.LONGSHORE_CACHE;
    let cache: string;
    before(() => {
        cache = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-cs-"));
        fs.mkdirSync(path.join(cache, "run"));
        fs.writeFileSync(path.join(cache, "run", "images.env"),
            "S3_ENDPOINT=http://old:8333\nS3_ENDPOINT=http://192.0.2.2:8333\nS3_ACCESS_KEY=longshore\nS3_SECRET_KEY=longshore-proving-ground\n");
        process.env.LONGSHORE_CACHE = cache;
    });
    after(() => {
        if (saved === undefined) delete process.env.LONGSHORE_CACHE;
        else process.env.LONGSHORE_CACHE = saved;
        pulumi.runtime.setAllConfig({}, []);
    });
    const cfgWith = (cs: unknown) => {
        pulumi.runtime.setAllConfig(cs === undefined ? {} : { "longshore:coldStart": JSON.stringify(cs) }, []);
        return new pulumi.Config("longshore");
    };

    it("fills the cache from the proving ground's S3 and mounts it read-only into the coldstart workers", async () => {
        rec = await mockPulumi({ stack: "local" });
        const out = coldStartBlock(cfgWith({ enabled: true, bucket: "longshore-models", key: "tiny/model.bin", version: "tiny-v1", sha256: SHA }),
            platform, "localhost:5000", PAUSE, {}, []);
        await settle(rec, 150);
        const job = rec.one("kubernetes:batch/v1:Job").inputs;
        const env = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
        assert.strictEqual(env.MC_SOURCE_URL, "s3://longshore-models/tiny/model.bin");
        assert.strictEqual(env.MC_S3_ENDPOINT, "http://192.0.2.2:8333", "the last S3_ENDPOINT line of images.env wins");
        assert.strictEqual(env.MC_SHA256, SHA);
        assert.deepStrictEqual(job.spec.template.spec.tolerations, [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
        const pv = rec.one("kubernetes:core/v1:PersistentVolume").inputs;
        assert.deepStrictEqual(pv.spec.claimRef, { namespace: "longshore", name: "coldstart-models" });
        const dep = rec.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "coldstart-worker")!.inputs;
        const c = dep.spec.template.spec.containers[0];
        assert.deepStrictEqual(c.volumeMounts, [{ name: "volume", mountPath: "/models", readOnly: true }]);
        assert.strictEqual(dep.spec.template.spec.volumes[0].persistentVolumeClaim.claimName, "coldstart-models");
        assert.strictEqual(c.env.find((e: any) => e.name === "MODEL_PATH").value, "/models/tiny-v1");
        const ds = rec.one("kubernetes:apps/v1:DaemonSet").inputs;
        assert.strictEqual(ds.metadata.name, "coldstart-prepull");
        assert.strictEqual(ds.spec.template.spec.containers[0].image, PAUSE);
        assert.strictEqual(await valueOf(pulumi.output(out.modelCacheSha256 as string)), SHA);
        const images = rec.byType("docker-build:index:Image").map((i) => i.inputs.tags[0]).sort();
        assert.deepStrictEqual(images, ["localhost:5000/longshore/coldstart:0.1.0", "localhost:5000/longshore/model-cache-fill:0.1.0"]);
    });

    it("is left out without the config or with enabled: false; without the S3 server it says how to start it", async () => {
        rec = await mockPulumi({ stack: "local" });
        assert.deepStrictEqual(coldStartBlock(cfgWith(undefined), platform, "localhost:5000", PAUSE, {}, []), {});
        assert.deepStrictEqual(coldStartBlock(cfgWith({ enabled: false }), platform, "localhost:5000", PAUSE, {}, []), {});
        fs.writeFileSync(path.join(cache, "run", "images.env"), "PAUSE_IMAGE=x\n");
        assert.throws(() => coldStartBlock(cfgWith({ enabled: true, sha256: SHA }), platform, "localhost:5000", PAUSE, {}, []),
            /proving ground's S3 server .*run proving-ground\/pg up \(part 70-s3\)/);
        await settle(rec);
        assert.strictEqual(rec.byType("kubernetes:batch/v1:Job").length, 0);
    });
});
