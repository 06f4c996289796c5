// provider/host.ts: the prebuilt provider the engine starts (schema generated at build time). Construct under
// Pulumi's mocks the way the engine's Construct call reaches it, and the refusals that keep a stale build from
// serving components other than the package's. The schema itself is checked by providerSchema.test.ts (the same
// analysis the build runs) and, as the packed package serves it, by test/package/install.test.ts.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { PrebuiltComponentProvider, loadBuiltSchema } from "../../provider/host";
import { BuiltSchema, componentNames } from "../../provider/schema";
import * as exported from "../../provider/index";
import { mockPulumi, settle, DIGEST_REF } from "./harness";

const NAMES = componentNames(exported);

function built(outputs: Record<string, string[]> = {}): BuiltSchema {
    const resources: Record<string, unknown> = {};
    const components: BuiltSchema["components"] = {};
    for (const n of NAMES) {
        resources[`longshore:index:${n}`] = { isComponent: true };
        components[n] = { outputs: Object.fromEntries((outputs[n] ?? []).map((k) => [k, {}])) };
    }
    return { schema: { name: "longshore", version: "9.9.9", resources } as any, components };
}

describe("provider/host.ts: the prebuilt component provider", function () {
    this.timeout(60_000);

    it("serves the prebuilt schema as is, with its version", async () => {
        const b = built();
        const p = new PrebuiltComponentProvider(b);
        assert.deepStrictEqual(JSON.parse(await p.getSchema()), b.schema);
        assert.strictEqual(p.version, "9.9.9");
    });

    it("construct builds the component and returns exactly the outputs the schema lists", async () => {
        const rec = await mockPulumi();
        const p = new PrebuiltComponentProvider(built({ ServerlessEndpoint: ["endpointId", "jobUrl"] }));
        const platform = { namespace: "longshore", gatewayUrl: "http://gw:8080", scalerAddress: "gw:9090" };
        const res = await p.construct("ep", "longshore:index:ServerlessEndpoint", { platform, image: DIGEST_REF, endpointId: "from-python" } as any, {});
        await settle(rec);
        assert.deepStrictEqual(Object.keys(res.state).sort(), ["endpointId", "jobUrl"]);
        const endpointId = await new Promise((r) => pulumi.output(res.state.endpointId).apply(r));
        assert.strictEqual(endpointId, "from-python");
        assert.ok(rec.byType("kubernetes:keda.sh/v1alpha1:ScaledObject").length === 1, "its child resources were registered");
        assert.ok(pulumi.Output.isInstance(res.urn));
    });

    it("an unknown type or package is an error naming it", async () => {
        await mockPulumi();
        const p = new PrebuiltComponentProvider(built());
        await assert.rejects(p.construct("x", "longshore:index:Nope", {}, {}), /unknown resource type longshore:index:Nope/);
        await assert.rejects(p.construct("x", "other:index:Keda", {}, {}), /unknown resource type other:index:Keda/);
    });

    it("refuses a schema built from other components than the package exports (a stale build)", () => {
        const b = built();
        delete b.components[NAMES[0]];
        b.components.Gone = { outputs: {} };
        assert.throws(() => new PrebuiltComponentProvider(b), /does not match the components .*rebuild the package \(npm run build\)/);
    });

    it("loadBuiltSchema reads the build's schema.json", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-host-"));
        const f = path.join(dir, "schema.json");
        fs.writeFileSync(f, JSON.stringify(built()));
        assert.deepStrictEqual(loadBuiltSchema(f), built());
        fs.rmSync(dir, { recursive: true });
    });

    it("serves every ComponentResource class components/ exports (new components need no edit in provider/)", () => {
        const lib = Object.entries(require("../../components"))
            .filter(([, v]) => typeof v === "function" && (v as any).prototype instanceof pulumi.ComponentResource)
            .map(([k]) => k).sort();
        assert.deepStrictEqual(NAMES, lib);
    });
});
