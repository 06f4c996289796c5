// End-to-end, inside the cluster: a burst onto an idle endpoint, two gateway replicas, and faults users fear
// (a gateway pod deleted under load, the Redis pod deleted) — each with jobs in flight, and every accepted job
// must end COMPLETED with its own output. (A worker killed mid-job and scale-in by `pulumi up` while busy are in
// burst-faults.pending.ts, not yet in the suite.)
// All of it runs on the local stack's own TypeScript endpoint (`burstEndpoint`: examples/hello-typescript with
// longshore/worker, maxWorkers 3, SLEEP_TIME 1 s per job), so it depends on no other endpoint. Executions are
// counted from the workers' own logs (the handler logs each job it starts): a job executed twice shows there.
import { strict as assert } from "assert";
import * as grpc from "@grpc/grpc-js";
import { kubectl, kubectlJson, log, waitFor } from "./harness";
import { DeployedStack, deployedStack } from "./stack";
import { ExecCounter, JobClient, burstEndpoint, ScaleWatch, checkCompleted, gatewayPods, sleep, submitJobs, submittedOn, waitForZero } from "./loadKit";
import { loadScalerProto } from "../../gateway/src/scaler";

const MAX_WORKERS = 3;

describe("e2e: burst, two gateway replicas and faults inside the cluster (the TypeScript endpoint)", function () {
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
    await waitForZero(d.ns, dep, ep, 240_000);
    execs = new ExecCounter(d.ns, ep).start();
  });
  after(() => {
    execs?.stop();
    for (const f of figures) log(`figure: ${f}`);
  });

  it(`burst: 200 jobs at once onto an idle endpoint scale it to ${MAX_WORKERS} workers and never above, every job COMPLETED exactly once with its own output, then back to zero`, async () => {
    const watch = new ScaleWatch(d.ns, dep, ep).start();
    try {
      const t0 = Date.now();
      const accepted = await submitJobs(c, "burst", 200, 25);
      const tAccepted = Date.now();
      const final = await c.waitAll([...accepted.keys()], 15 * 60_000);
      const tDrained = Date.now();
      await waitForZero(d.ns, dep, ep, 5 * 60_000);
      await waitFor("the watcher to see zero", 10_000, async () => (watch.zeroAt ? true : undefined));
      await sleep(3000); // let the log followers read the last pods' lines
      const r = checkCompleted(accepted, final, execs, "burst");
      assert.equal(r.duplicated, 0, "no job executed twice in a burst without faults");
      assert.equal(r.executions, 200, "each job's execution seen once in the workers' logs");
      assert.equal(watch.maxSpec, MAX_WORKERS, `scaled to maxWorkers (${MAX_WORKERS}) and never above (most replicas seen ${watch.maxSpec})`);
      assert.ok(watch.maxPods <= MAX_WORKERS, `never more than ${MAX_WORKERS} live worker pods (saw ${watch.maxPods})`);
      const workers = new Set([...final.values()].map((s) => s.workerId));
      assert.ok(workers.size >= MAX_WORKERS, `jobs ran on ${workers.size} workers`);
      const f = `burst of 200 jobs (1 s each, maxWorkers ${MAX_WORKERS}): accepted in ${((tAccepted - t0) / 1000).toFixed(1)} s, ` +
        `first worker ready ${((watch.firstReadyAt - t0) / 1000).toFixed(1)} s after the first /run, drained (all COMPLETED) in ` +
        `${((tDrained - t0) / 1000).toFixed(0)} s, back to zero ${((watch.zeroAt - tDrained) / 1000).toFixed(0)} s after the last job; ` +
        `${workers.size} worker pods, ${c.retries} client retries`;
      figures.push(f);
      log(f);
    } finally {
      watch.stop();
    }
  });

  it("two gateway replicas: the KEDA metric is the same whichever replica KEDA asks, jobs through the Service land on both, runsync and stream answer on either", async () => {
    const gws = await gatewayPods(d.ns);
    assert.equal(gws.length, 2, `two ready gateway replicas (got ${gws.map((g) => g.name).join(", ")})`);
    // 1. the scaler metric from each replica, asked at once while 12 jobs wait (the endpoint is at zero: the
    //    queue stands still for the seconds a worker pod takes to start)
    const before = await Promise.all(gws.map((g) => submittedOn(g.ip, ep)));
    const accepted = await submitJobs(c, "replicas", 12, 12);
    const pkg = loadScalerProto();
    const Ctor = pkg.ExternalScaler as grpc.ServiceClientConstructor;
    const ref = { name: dep, namespace: d.ns, scalerMetadata: { endpointId: ep, scalerType: "REQUEST_COUNT", scalerValue: "1" } };
    const metrics = await Promise.all(gws.map((g) => new Promise<number>((resolve, reject) => {
      const client = new Ctor(`${g.ip}:9090`, grpc.credentials.createInsecure());
      client.GetMetrics({ scaledObjectRef: ref, metricName: "" }, (err: Error | null, res: any) => {
        client.close();
        return err ? reject(err) : resolve(Number(res.metricValues[0].metricValue));
      });
    })));
    log(`KEDA metric (REQUEST_COUNT) from ${gws.map((g, i) => `${g.name}: ${metrics[i]}`).join(", ")}`);
    assert.equal(metrics[0], metrics[1], "both replicas answer the same metric (it is read from Redis)");
    assert.ok(metrics[0] >= 1, `the waiting jobs count (${metrics[0]})`);
    // 2. the 12 jobs above (25 connections' worth of parallel clients through the Service) landed on both
    const after = await Promise.all(gws.map((g) => submittedOn(g.ip, ep)));
    const perReplica = after.map((n, i) => n - before[i]);
    log(`jobs accepted per replica through the Service: ${perReplica.join(" / ")}`);
    // kube-proxy picks a replica per connection at random: 12 parallel connections all on one replica has a
    // probability of 2 x 2^-12; should it happen, more jobs are sent until both have taken some
    for (let round = 0; perReplica.some((n) => n === 0) && round < 5; round++) {
      for (const [id, echo] of await submitJobs(c, `replicas-more${round}`, 12, 12)) accepted.set(id, echo);
      const now = await Promise.all(gws.map((g) => submittedOn(g.ip, ep)));
      now.forEach((n, i) => (perReplica[i] = n - before[i]));
    }
    assert.ok(perReplica.every((n) => n > 0), `jobs landed on both replicas (${perReplica.join(" / ")})`);
    // 3. a job accepted by one replica is streamed from the other; runsync on each replica directly
    const a = new JobClient(`http://${gws[0].ip}:8080`, d.apiKey, ep);
    const b = new JobClient(`http://${gws[1].ip}:8080`, d.apiKey, ep);
    const streamed = await a.run({ echo: "streamed-across" });
    const sync = await Promise.all([a, b].map((x, i) => x.request("POST", `/v2/${ep}/runsync`, { input: { echo: `sync-${i}` } }, 120_000)));
    for (const [i, r] of sync.entries()) {
      // runsync answers IN_PROGRESS/IN_QUEUE after its wait (RunPod's contract): then /status on the other replica
      const s = r.body.status === "COMPLETED" ? r.body : (await (i === 0 ? b : a).waitAll([r.body.id], 120_000)).get(r.body.id)!;
      assert.equal(s.status, "COMPLETED", JSON.stringify(r.body));
      assert.equal(s.output, `sync-${i}`);
    }
    const chunks: unknown[] = [];
    const st = await waitFor("the stream on the other replica to finish", 120_000, async () => {
      const r = await b.request("GET", `/v2/${ep}/stream/${streamed}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      chunks.push(...(r.body.stream ?? []).map((x: { output: unknown }) => x.output));
      return r.body.status === "COMPLETED" ? r.body : undefined;
    }, 500);
    assert.equal(st.status, "COMPLETED");
    const final = await c.waitAll([...accepted.keys(), streamed], 120_000);
    accepted.set(streamed, "streamed-across");
    checkCompleted(accepted, final, execs, "two replicas");
  });

  it("a gateway pod deleted under load (clients retry on connection errors): every accepted job COMPLETED", async () => {
    const gws = await gatewayPods(d.ns);
    assert.equal(gws.length, 2);
    const retries0 = c.retries;
    const load = submitJobs(c, "gateway-delete", 120, 6);
    await sleep(1500);
    log(`deleting gateway pod ${gws[0].name} under load`);
    await kubectl(["-n", d.ns, "delete", "pod", gws[0].name, "--wait=false"]);
    const accepted = await load;
    const final = await c.waitAll([...accepted.keys()], 10 * 60_000);
    await sleep(3000);
    const r = checkCompleted(accepted, final, execs, "gateway pod deleted under load");
    await waitFor("two gateway replicas again", 180_000, async () => ((await gatewayPods(d.ns)).length === 2 ? true : undefined), 2000);
    figures.push(`gateway pod deleted under load: accepted ${r.accepted}, completed ${r.completed}, executions ${r.executions}, duplicated ${r.duplicated}, client retries ${c.retries - retries0}`);
  });

  it("the Redis pod deleted with jobs queued and running: the AOF on its volume brings them back, every accepted job COMPLETED", async () => {
    const sts = await kubectlJson(["-n", d.ns, "get", "statefulset", "longshore-redis"]);
    const vol = (sts.spec.template.spec.volumes ?? []).find((v: { name: string }) => v.name === "data");
    assert.ok(!vol?.emptyDir, "Redis's data is not on an emptyDir (a pod deletion would lose it)");
    const uid0 = (await kubectlJson(["-n", d.ns, "get", "pod", "longshore-redis-0"])).metadata.uid;
    const accepted = await submitJobs(c, "redis-delete", 40, 10);
    await waitFor("a job IN_PROGRESS", 180_000, async () => {
      for (const id of accepted.keys()) if ((await c.status(id)).status === "IN_PROGRESS") return true;
      return undefined;
    }, 500);
    const open = (await Promise.all([...accepted.keys()].map((id) => c.status(id)))).filter((s) => s.status === "IN_QUEUE").length;
    assert.ok(open > 0, "jobs are still waiting when Redis goes");
    log(`deleting pod longshore-redis-0 with ${open} jobs queued and others running`);
    await kubectl(["-n", d.ns, "delete", "pod", "longshore-redis-0", "--wait=true"], 120_000);
    await waitFor("a new Redis pod ready", 180_000, async () => {
      const p = await kubectlJson(["-n", d.ns, "get", "pod", "longshore-redis-0"]);
      return p.metadata.uid !== uid0 && (p.status.conditions ?? []).some((x: any) => x.type === "Ready" && x.status === "True") ? true : undefined;
    }, 2000);
    const final = await c.waitAll([...accepted.keys()], 10 * 60_000);
    await sleep(3000);
    const r = checkCompleted(accepted, final, execs, "Redis pod deleted");
    figures.push(`Redis pod deleted: accepted ${r.accepted}, completed ${r.completed}, executions ${r.executions}, duplicated ${r.duplicated}`);
  });
});
