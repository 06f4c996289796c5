// End-to-end: the diffs users review in PRs, asserted on `pulumi preview --diff --json`. A new client API key
// previews as a rolling update of the gateway, not a replacement (the Secret is auto-named;
// components/serverlessPlatform.ts says why) — preview only, the key is never deployed, and the stack's config
// file is restored byte for byte. (The handler-change diff and its rollout are in diffs-handler.pending.ts, not
// yet in the suite.)
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { REPO, log } from "./harness";
import { DeployedStack, deployedStack } from "./stack";
import { nameOf, previewJson, typeOf } from "./preview";

describe("e2e: key-change diff", function () {
  this.timeout(30 * 60_000);
  let d: DeployedStack;

  before(async function () {
    d = await deployedStack();
  });

  it("a new client API key previews as a rolling update of the gateway (a new Secret, the Deployment updated in place), never a replacement", async () => {
    const cfgFile = path.join(REPO, `Pulumi.${d.stack.name}.yaml`);
    const saved = fs.readFileSync(cfgFile, "utf8");
    try {
      await d.stack.setConfig("longshore:apiKeys", { value: `${d.apiKey},lsk-e2e-preview-only-key`, secret: true });
      const pv = await previewJson();
      const ops = pv.changed.filter((s) => typeOf(s.urn) !== "pulumi:pulumi:Stack").map((s) => [s.op, typeOf(s.urn), nameOf(s.urn)]);
      log(`preview of a new API key: ${JSON.stringify(ops)}`);
      assert.ok(!ops.some(([op, type]) => type === "kubernetes:apps/v1:Deployment" && op !== "update"), `the gateway Deployment is updated in place: ${JSON.stringify(ops)}`);
      assert.ok(ops.some(([op, type, name]) => op === "update" && type === "kubernetes:apps/v1:Deployment" && name === "platform-gateway"), "the gateway rolls to read the new keys");
      // the Secret is replaced (its data is immutable to the provider); auto-named, so create-before-delete —
      // a delete-before-replace would have dragged the gateway Deployment into a replacement (asserted above)
      assert.ok(ops.some(([op, type, name]) => ["replace", "create-replacement"].includes(op) && type === "kubernetes:core/v1:Secret" && name === "platform-api-keys"),
        "the key Secret is replaced by a new one");
    } finally {
      fs.writeFileSync(cfgFile, saved);
    }
  });
});
