import * as assert from "assert";
import { mockPulumi, settle, valueOf, thrown, DIGEST_REF, Recorder } from "./harness";
import { ModelCache, ModelCacheArgs, fillKey, MODEL_CACHE_EXIT } from "../../components";

const SHA = "a".repeat(64);
const base = (extra: Partial<ModelCacheArgs> = {}): ModelCacheArgs => ({
    namespace: "longshore",
    version: "v1",
    sha256: SHA,
    source: { url: "s3://models/tiny/model.bin", s3Endpoint: "http://10.0.0.5:8333", credentials: { accessKeyId: "ak", secretAccessKey: "sk" } },
    storage: { size: "10Gi", storageClassName: "nfs" },
    fillImage: DIGEST_REF,
    ...extra,
});

describe("ModelCache", () => {
    let rec: Recorder;
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    it("creates a ReadWriteMany claim and one fill Job keyed by version/checksum/source, with the S3 settings and credentials from a Secret", async () => {
        const mc = new ModelCache("tiny", base());
        await settle(rec);
        const pvc = rec.one("kubernetes:core/v1:PersistentVolumeClaim").inputs;
        assert.deepStrictEqual(pvc.spec.accessModes, ["ReadWriteMany"]);
        assert.strictEqual(pvc.spec.resources.requests.storage, "10Gi");
        assert.strictEqual(pvc.spec.storageClassName, "nfs");
        const job = rec.one("kubernetes:batch/v1:Job").inputs;
        const key = fillKey("v1", SHA, "s3://models/tiny/model.bin", false);
        assert.strictEqual(job.metadata.name, `tiny-fill-${key}`);
        const pod = job.spec.template.spec;
        assert.strictEqual(pod.restartPolicy, "Never");
        const c = pod.containers[0];
        assert.strictEqual(c.image, DIGEST_REF);
        const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
        assert.strictEqual(env.MC_SOURCE_URL, "s3://models/tiny/model.bin");
        assert.strictEqual(env.MC_SHA256, SHA);
        assert.strictEqual(env.MC_VERSION, "v1");
        assert.strictEqual(env.MC_S3_ENDPOINT, "http://10.0.0.5:8333");
        const secret = rec.one("kubernetes:core/v1:Secret").inputs;
        assert.deepStrictEqual(secret.stringData, { AWS_ACCESS_KEY_ID: "ak", AWS_SECRET_ACCESS_KEY: "sk" });
        assert.deepStrictEqual(pod.volumes[0].persistentVolumeClaim, { claimName: "tiny-model-cache" });
        // the first failed pod fails the Job (Pulumi's awaiter then fails `up` at once: BackoffLimitExceeded);
        // fill.py retries transient errors itself, and an eviction is not counted
        assert.strictEqual(job.spec.backoffLimit, 0);
        assert.deepStrictEqual(job.spec.podFailurePolicy.rules, [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }]);
        assert.strictEqual(await valueOf(mc.claimName), "tiny-model-cache");
        assert.strictEqual(await valueOf(mc.modelPath), "/models/v1");
    });

    it("the same key gives the same Job name; a new version or checksum gives a new Job", () => {
        const a = fillKey("v1", SHA, "s3://m/k", false);
        assert.strictEqual(fillKey("v1", SHA.toUpperCase(), "s3://m/k", false), a);
        assert.notStrictEqual(fillKey("v2", SHA, "s3://m/k", false), a);
        assert.notStrictEqual(fillKey("v1", "b".repeat(64), "s3://m/k", false), a);
        assert.notStrictEqual(fillKey("v1", SHA, "s3://m/other", false), a);
        assert.notStrictEqual(fillKey("v1", SHA, "s3://m/k", true), a);
    });

    it("an existing claim is used as is; an HTTP source needs no S3 settings", async () => {
        new ModelCache("web", base({ storage: { claimName: "shared-models" }, source: { url: "https://example.com/m/model.safetensors" } }));
        await settle(rec);
        assert.strictEqual(rec.byType("kubernetes:core/v1:PersistentVolumeClaim").length, 0);
        assert.strictEqual(rec.byType("kubernetes:core/v1:Secret").length, 0);
        const job = rec.one("kubernetes:batch/v1:Job").inputs;
        const env = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
        assert.strictEqual(env.MC_SOURCE_URL, "https://example.com/m/model.safetensors");
        assert.ok(!("MC_S3_ENDPOINT" in env));
        assert.strictEqual(job.spec.template.spec.volumes[0].persistentVolumeClaim.claimName, "shared-models");
    });

    it("bad arguments fail at preview naming the argument", () => {
        const cases: [Partial<ModelCacheArgs>, RegExp][] = [
            [{ sha256: "abc" }, /ModelCache "bad": sha256 .*64 hex/],
            [{ version: "../v1" }, /ModelCache "bad": version .*directory/],
            [{ source: { url: "ftp://x/y" } }, /ModelCache "bad": source.url .*s3:\/\/bucket\/key or http/],
            [{ source: { url: "s3://models" } }, /ModelCache "bad": source.url .*<bucket>\/<key>/],
            [{ source: { url: "https://x/y", s3Endpoint: "http://s3:8333" } }, /ModelCache "bad": source.s3Endpoint is only for s3:\/\/ sources/],
            [{ storage: {} }, /ModelCache "bad": storage needs exactly one of size/],
            [{ storage: { size: "10Gi", claimName: "x" } }, /ModelCache "bad": storage needs exactly one of size/],
            [{ storage: { size: "lots" } }, /ModelCache "bad": storage.size/],
            [{ fillImage: "localhost:5000/fill:1" }, /ModelCache "bad": fillImage .*digest/],
            [{ fileName: "a/b" }, /ModelCache "bad": fileName .*plain file name/],
        ];
        for (const [extra, re] of cases) assert.match(thrown(() => new ModelCache("bad", base(extra))), re);
        assert.match(thrown(() => new ModelCache("bad", { ...base(), fillImage: undefined } as any)), /ModelCache "bad": fillImage is required/);
    });
});
