// The CRUD logic of Longshore's two dynamic providers, called directly (the Pulumi engine calls the same
// functions through pulumi-resource-pulumi-nodejs during `up`).
import * as assert from "assert";
import { randomTokenProvider, registryDigestProvider } from "../../components";

describe("RandomToken provider", () => {
    it("create: a base64url token of the requested entropy; a fresh one each time", async () => {
        const a = await randomTokenProvider.create!({ kind: "longshore:RandomToken", length: 32, keepers: {} });
        const b = await randomTokenProvider.create!({ kind: "longshore:RandomToken", length: 32, keepers: {} });
        assert.match(a.outs.result, /^[A-Za-z0-9_-]{43}$/);
        assert.strictEqual(Buffer.from(a.outs.result, "base64url").length, 32);
        assert.notStrictEqual(a.outs.result, b.outs.result);
        assert.notStrictEqual(a.id, b.id);
    });
    it("diff: unchanged inputs keep the token; length or keepers replace it", async () => {
        const olds = { length: 32, keepers: { rotation: "1" }, result: "x" };
        assert.deepStrictEqual((await randomTokenProvider.diff!("id", olds, { length: 32, keepers: { rotation: "1" } })).changes, false);
        const d1 = await randomTokenProvider.diff!("id", olds, { length: 32, keepers: { rotation: "2" } });
        assert.strictEqual(d1.changes, true);
        assert.ok(d1.replaces!.length > 0);
        assert.strictEqual((await randomTokenProvider.diff!("id", olds, { length: 48, keepers: { rotation: "1" } })).changes, true);
    });
    it("read keeps the state (a refresh never rotates the token)", async () => {
        const props = { length: 32, keepers: {}, result: "keep-me" };
        assert.deepStrictEqual((await randomTokenProvider.read!("id", props)).props, props);
    });
});

describe("RegistryDigest provider", () => {
    it("diff compares inputs only (no registry call during preview); a new image replaces", async () => {
        const olds = { image: "127.0.0.1:1/none:1.0", digest: "sha256:" + "0".repeat(64) };
        // Port 1 refuses connections: a network call here would throw.
        const same = await registryDigestProvider.diff!("id", olds, { image: "127.0.0.1:1/none:1.0" });
        assert.strictEqual(same.changes, false);
        const moved = await registryDigestProvider.diff!("id", olds, { image: "127.0.0.1:1/none:1.1" });
        assert.strictEqual(moved.changes, true);
        assert.deepStrictEqual(moved.replaces, ["image"]);
    });
    it("create resolves through the registry and reports its errors", async () => {
        await assert.rejects(registryDigestProvider.create!({ image: "127.0.0.1:1/none:1.0" }), /ECONNREFUSED/);
    });
});
