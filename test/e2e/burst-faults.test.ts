// End-to-end, inside the cluster (issue 14), beside burst.test.ts on the TypeScript endpoint:
//  - a worker SIGKILLed mid-job (no drain: the lease lapses, the job is re-queued and runs again) beside a worker
//    pod deleted mid-job (SIGTERM: the job in hand finishes). The SIGKILL comes from the host (the proving
//    ground's node is this machine): with `kubectl delete --force --grace-period=0` the kubelet still sends
//    SIGTERM first, and the 1 s job finished on the same worker.
//  - maxWorkers lowered 3 -> 1 by `pulumi up` while a feeder keeps 3 workers busy, then the idle scale-in (a
//    version that submitted 90 jobs before the up proved nothing: they had drained before the ScaledObject changed).
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { REPO, kubectl, kubectlJson, log, waitFor } from "./harness";
import { DeployedStack, deployedStack } from "./stack";
import { ExecCounter, JobClient, burstEndpoint, checkCompleted, sleep, submitJobs, waitForZero, workerPid } from "./loadKit";

const MAX_WORKERS = 3;

describe("e2e: worker faults and scale-in while busy (the TypeScript endpoint)", function () {
  this.timeout(30 * 60_000);
  let d: DeployedStack;
  let c: JobClient;
  let ep = "";
  let dep = "";
  let execs: ExecCounter;
  const figures: string[] = [];

  before(async function () {
    d = await deployedStack();
    ({ ep, dep, c } = await burstEndpoint(d));
    execs = new ExecCounter(d.ns, ep).start();
  });
  after(() => {
    execs?.stop();
    for (const f of figures) log(`figure: ${f}`);
  });

  it("a worker killed mid-job (SIGKILL, as an OOM kill or a node fault does) and a worker pod deleted mid-job: every accepted job COMPLETED, the cut one re-queued", async () => {
    const accepted = await submitJobs(c, "worker-kill", 60, 10);
    const busy = async (notOn?: string): Promise<{ id: string; workerId: string }> => waitFor("a job IN_PROGRESS on a worker, seen in its log", 180_000, async () => {
      for (const id of accepted.keys()) {
        const s = await c.status(id);
        if (s.status === "IN_PROGRESS" && s.workerId && s.workerId !== notOn && execs.count(id) >= 1) return { id, workerId: s.workerId };
      }
      return undefined;
    }, 300);
    // 1. SIGKILL: no drain, the job's lease lapses and the gateway re-queues it. The proving ground's node is
    //    this machine, so the worker's process is found by its RUNPOD_POD_ID and killed from the host.
    //    Jobs take 1 s, so a job seen IN_PROGRESS may be done by the time the signal lands: the worker is frozen
    //    first (SIGSTOP: it can post nothing more), the job checked still IN_PROGRESS, and only then killed.
    let cut: { id: string; workerId: string } | undefined;
    let pid = 0;
    for (let attempt = 0; attempt < 10 && !cut; attempt++) {
      const b = await busy();
      pid = workerPid(b.workerId);
      process.kill(pid, "SIGSTOP");
      await sleep(500);
      if ((await c.status(b.id)).status === "IN_PROGRESS") cut = b;
      else process.kill(pid, "SIGCONT");
    }
    assert.ok(cut, "froze a worker in the middle of a job");
    log(`SIGKILL to worker ${cut.workerId} (pid ${pid}, frozen) while it runs job ${cut.id}`);
    process.kill(pid, "SIGKILL");
    // 2. a pod deletion: SIGTERM, the worker finishes the job in hand and takes no more
    const drained = await busy(cut.workerId); // another worker: the killed one's job still shows IN_PROGRESS
    log(`deleting worker pod ${drained.workerId} while it runs job ${drained.id}`);
    await kubectl(["-n", d.ns, "delete", "pod", drained.workerId, "--wait=false"]);
    const final = await c.waitAll([...accepted.keys()], 10 * 60_000);
    await sleep(3000);
    const r = checkCompleted(accepted, final, execs, "worker killed / pod deleted mid-job");
    assert.ok(execs.count(cut.id) >= 2, `the SIGKILLed job ran again (executions seen: ${execs.count(cut.id)})`);
    figures.push(`worker SIGKILLed mid-job + a worker pod deleted mid-job, 60 jobs: accepted ${r.accepted}, completed ${r.completed}, executions ${r.executions}, duplicated ${r.duplicated}`);
  });

  it("scale-in while workers are busy (maxWorkers lowered with pulumi up, then the idle scale-in): no job cut, none lost", async () => {
    const cfgFile = path.join(REPO, `Pulumi.${d.stack.name}.yaml`);
    const saved = fs.readFileSync(cfgFile, "utf8");
    const cfg = JSON.parse((await d.stack.getConfig("longshore:burstEndpoint")).value);
    assert.equal(cfg.maxWorkers, MAX_WORKERS);
    // a feeder keeps the workers busy for the whole `pulumi up` (the ScaledObject changes at its end), so the
    // HPA's scale-in from 3 to 1 lands on busy workers
    const accepted = new Map<string, string>();
    let feeding = true;
    let n = 0;
    const feeder = (async () => {
      while (feeding) {
        const batch = await submitJobs(c, `scale-in-${n++}`, 3, 3); // ~2.7 jobs/s: 3 workers of 1 s jobs stay busy, little backlog
        for (const [id, echo] of batch) accepted.set(id, echo);
        await sleep(1000);
      }
    })();
    try {
      await waitFor(`${MAX_WORKERS} workers up`, 180_000, async () => {
        const x = await kubectlJson(["-n", d.ns, "get", "deployment", dep]);
        return (x.status.readyReplicas ?? 0) >= MAX_WORKERS ? true : undefined;
      }, 1000);
      await d.stack.setConfig("longshore:burstEndpoint", { value: JSON.stringify({ ...cfg, maxWorkers: 1 }) });
      await d.up();
      await waitFor("the HPA to scale the busy workers in to 1", 120_000, async () => {
        const x = await kubectlJson(["-n", d.ns, "get", "deployment", dep]);
        return x.spec.replicas === 1 && x.status.replicas === 1 ? true : undefined;
      }, 1000);
      log("workers scaled in to 1 while busy; the feeder stops");
      feeding = false;
      await feeder;
      const final = await c.waitAll([...accepted.keys()], 10 * 60_000);
      await sleep(3000);
      const r = checkCompleted(accepted, final, execs, "maxWorkers lowered while busy");
      assert.equal(r.duplicated, 0, "a worker scaled in finishes the job in hand: nothing runs twice");
      figures.push(`maxWorkers 3 -> 1 by pulumi up while 3 workers were busy: accepted ${r.accepted}, completed ${r.completed}, executions ${r.executions}, duplicated ${r.duplicated}`);
    } finally {
      feeding = false;
      await feeder.catch(() => undefined);
      fs.writeFileSync(cfgFile, saved);
      await d.up();
    }
    // the idle scale-in: the last jobs drained, KEDA takes the endpoint back to zero
    await waitForZero(d.ns, dep, ep, 5 * 60_000);
  });
});
