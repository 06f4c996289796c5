// End-to-end (issue 14): one line of the TypeScript example handler changes. `pulumi preview --diff --json` must
// show only the new image digest, the Deployment that uses it and the image pre-pull DaemonSet that keeps it on
// the nodes; `pulumi up` rolls the workers while a feeder keeps jobs flowing (none lost, none run twice, jobs
// answered by the old and the new ReplicaSet); a second preview shows no changes. The handler is restored in a
// finally (and deployed again), so the tree and the stack end as they were (CI's `--expect-no-changes`).
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

  it("one changed line of the example handler: the preview shows only the new image, its Deployment and its pre-pull; pulumi up rolls it under load without losing a job; a second preview is empty", async () => {
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
      // the image, the Deployment that runs it, and (a GPU endpoint pre-pulls its image) the pre-pull DaemonSet
      // that keeps the new digest on the nodes — nothing else, all in place
      assert.deepEqual(changed.map((s) => [s.op, typeOf(s.urn), nameOf(s.urn)]).sort(), [
        ["update", "docker-build:index:Image", "burst-worker"],
        ["update", "kubernetes:apps/v1:DaemonSet", `${ep}-prepull`],
        ["update", "kubernetes:apps/v1:Deployment", `${ep}-worker`],
      ], "only the worker image, the Deployment that runs it and its pre-pull change, all in place");
      const depStep = changed.find((s) => typeOf(s.urn) === "kubernetes:apps/v1:Deployment")!;
      assert.deepEqual(Object.keys(depStep.detailedDiff ?? {}), ["spec.template.spec.containers[0].image"], "the Deployment's only change is its image (the new digest)");
      const dsStep = changed.find((s) => typeOf(s.urn) === "kubernetes:apps/v1:DaemonSet")!;
      assert.deepEqual(Object.keys(dsStep.detailedDiff ?? {}), ["spec.template.spec.initContainers[0].image"], "the pre-pull's only change is the image it pulls");

      // pulumi up with jobs in flight: the rolling update drains the old workers (SIGTERM: finish the job in hand)
      // a feeder keeps the workers busy through the whole `pulumi up` (the image build is most of it; the
      // Deployment rolls at its end), so the rollout replaces workers that hold jobs
      const c = new JobClient(d.gatewayBase, d.apiKey, ep);
      const accepted = new Map<string, string>();
      let feeding = true;
      let n = 0;
      const feeder = (async () => {
        while (feeding) {
          for (const [id, echo] of await submitJobs(c, `rollout-${n++}`, 3, 3)) accepted.set(id, echo);
          await sleep(1000);
        }
      })();
      t0 = Date.now();
      try {
        await d.up();
        log(`pulumi up of the handler change: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
        await sleep(5000); // a few more jobs onto the new workers
      } finally {
        feeding = false;
        await feeder;
      }
      const image1 = d.out("burstWorkerImage");
      assert.notEqual(image1, image0, "a new digest was deployed");
      const final = await c.waitAll([...accepted.keys()], 10 * 60_000);
      await sleep(3000);
      const r = checkCompleted(accepted, final, execs, "rolling update of the worker image");
      // the jobs were answered by workers of both ReplicaSets (pod names <deployment>-<template hash>-<id>): the
      // rollout happened while jobs were flowing
      const sets = new Set([...final.values()].map((s) => String(s.workerId).split("-").slice(-2, -1)[0]));
      log(`rollout under load: ${r.accepted} accepted / ${r.completed} completed / ${r.duplicated} run twice, answered by workers of ${sets.size} ReplicaSets`);
      assert.ok(sets.size >= 2, `jobs ran on the old and the new workers (ReplicaSets: ${[...sets].join(", ")})`);

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
