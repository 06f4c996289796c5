// NOT YET IN THE SUITE (the name does not match test/e2e/**/*.test.ts): written for issue 14, not yet seen
// passing on the proving ground (no cluster turn left before the deadline). Run it alone, holding the lock:
//   npx mocha --no-config --no-package --require ts-node/register --timeout 2400000 --exit test/e2e/diffs-handler.pending.ts
// One line of the TypeScript example handler changes: `pulumi preview --diff --json` must show only the new image
// digest and the Deployment that uses it; `pulumi up` rolls the workers without losing a job in flight; a second
// preview shows no changes. The handler is restored in a finally (and deployed again), so the tree and the stack
// end as they were (CI's `--expect-no-changes`). Seen on 2026-12-01: the preview's resources were right (update of
// the docker-build Image and of the hello-ts Deployment, 64 same) but the Deployment's detailedDiff also listed
// spec.template.spec.volumes and containers[0].volumeMounts — ServerlessEndpoint sent empty lists; it now omits
// them (commit "no empty volumes/volumeMounts lists"), which this test has not yet been run against.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { REPO, log } from "./harness";
import { DeployedStack, deployedStack } from "./stack";
import { ExecCounter, JobClient, checkCompleted, sleep, submitJobs, waitForZero } from "./loadKit";
import { nameOf, previewJson, typeOf } from "./preview";

const HANDLER = path.join(REPO, "examples/hello-typescript/src/handler.ts");

describe("e2e: a one-line handler change, previewed and rolled", function () {
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

});
