// End-to-end: the diffs users review in PRs. One line of the TypeScript example handler changes: `pulumi preview
// --diff --json` must show only the new image digest and the Deployment that uses it; `pulumi up` rolls the
// workers without losing a job in flight; a second preview shows no changes. The handler is restored in a
// finally (and deployed again), so the tree and the stack end as they were (CI's `--expect-no-changes`).
// Also: a new client API key previews as a rolling update of the gateway, not a replacement (the Secret is
// auto-named; components/serverlessPlatform.ts says why) — preview only, the key is never deployed.
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { REPO, log } from "./harness";
import { DeployedStack, STACK, deployedStack } from "./stack";
import { ExecCounter, JobClient, checkCompleted, sleep, submitJobs, waitForZero } from "./loadKit";

const HANDLER = path.join(REPO, "examples/hello-typescript/src/handler.ts");

interface Step { op: string; urn: string; diffReasons?: string[]; detailedDiff?: Record<string, { kind: string }>; newState?: { type?: string } }

/** `pulumi preview --diff --json` of the stack: its steps, and those that change something. */
function previewJson(): Promise<{ steps: Step[]; changed: Step[]; summary: Record<string, number> }> {
  return new Promise((resolve, reject) =>
    execFile("pulumi", ["preview", "--stack", STACK, "--diff", "--json", "--non-interactive"], { cwd: REPO, env: process.env, maxBuffer: 256 << 20, timeout: 15 * 60_000 },
      (e, so, se) => {
        if (e) return reject(new Error(`pulumi preview failed: ${e.message}\n${so.slice(-4000)}\n${se.slice(-4000)}`));
        const j = JSON.parse(so) as { steps?: Step[]; changeSummary?: Record<string, number> };
        const steps = j.steps ?? [];
        resolve({ steps, changed: steps.filter((s) => s.op !== "same"), summary: j.changeSummary ?? {} });
      }));
}

const typeOf = (urn: string): string => urn.split("::")[2].split("$").pop()!;
const nameOf = (urn: string): string => urn.split("::")[3];

describe("e2e: code-change and key-change diffs", function () {
  this.timeout(30 * 60_000);
  let d: DeployedStack;

  before(async function () {
    d = await deployedStack();
  });

  it("one changed line of the example handler: the preview shows only the new image and its Deployment; pulumi up rolls it without losing a job; a second preview is empty", async () => {
    const original = fs.readFileSync(HANDLER, "utf8");
    const changedLine = original.replace('console.log("working, I promise");', 'console.log("working, I promise (v2)");');
    assert.notEqual(changedLine, original, "the handler line to change is there");
    const ep = d.out("burstEndpointId");
    const dep = d.out("burstWorkerDeployment");
    const image0 = d.out("burstWorkerImage");
    const execs = new ExecCounter(d.ns, ep).start();
    try {
      fs.writeFileSync(HANDLER, changedLine);
      let t0 = Date.now();
      const pv = await previewJson();
      log(`preview after a one-line handler change (${((Date.now() - t0) / 1000).toFixed(0)} s): ${JSON.stringify(pv.summary)}; changed: ${pv.changed.map((s) => `${s.op} ${typeOf(s.urn)} ${nameOf(s.urn)} [${Object.keys(s.detailedDiff ?? {}).join(", ")}]`).join("; ")}`);
      const changed = pv.changed.filter((s) => typeOf(s.urn) !== "pulumi:pulumi:Stack");
      assert.deepEqual(changed.map((s) => [s.op, typeOf(s.urn), nameOf(s.urn)]).sort(), [
        ["update", "docker-build:index:Image", "burst-worker"],
        ["update", "kubernetes:apps/v1:Deployment", `${ep}-worker`],
      ], "only the worker image and the Deployment that runs it change, both in place");
      const depStep = changed.find((s) => typeOf(s.urn) === "kubernetes:apps/v1:Deployment")!;
      assert.deepEqual(Object.keys(depStep.detailedDiff ?? {}), ["spec.template.spec.containers[0].image"], "the Deployment's only change is its image (the new digest)");

      // pulumi up with jobs in flight: the rolling update drains the old workers (SIGTERM: finish the job in hand)
      const c = new JobClient(d.gatewayBase, d.apiKey, ep);
      const accepted = await submitJobs(c, "rollout", 40, 10);
      t0 = Date.now();
      await d.up();
      log(`pulumi up of the handler change: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      const image1 = d.out("burstWorkerImage");
      assert.notEqual(image1, image0, "a new digest was deployed");
      const final = await c.waitAll([...accepted.keys()], 10 * 60_000);
      await sleep(3000);
      checkCompleted(accepted, final, execs, "rolling update of the worker image");

      const again = await previewJson();
      assert.deepEqual(again.changed.filter((s) => typeOf(s.urn) !== "pulumi:pulumi:Stack").map((s) => `${s.op} ${s.urn}`), [], "a second preview shows no changes");
    } finally {
      execs.stop();
      fs.writeFileSync(HANDLER, original);
      await d.up();
      await waitForZero(d.ns, dep, ep, 5 * 60_000).catch((e) => log(String(e)));
    }
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
