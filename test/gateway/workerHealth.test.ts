// Operating endpoints (issue 15): the retry cap for jobs whose worker keeps dying, ping status=unhealthy,
// stopPod / refresh_worker recycling, worker states from the Kubernetes API (a stand-in API server,
// test/helpers/fakeKube.ts) merged with pings, crash-loop protection (unhealthy endpoint, Event, scale-up
// held, waiting jobs FAILED with the reason), the latency metrics and the admin status API.
import { strict as assert } from "assert";
import * as grpc from "@grpc/grpc-js";
import { loadScalerProto, metricFor } from "../../gateway/src/scaler";
import { quantiles } from "../../gateway/src/routes/admin";
import { classifyPod } from "../../gateway/src/pods";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { endpointSecret, FakeKube, pod, startFakeKube } from "../helpers/fakeKube";
import { client, http, PyWorker, sleep, startPyWorker, until, venvPython, worker } from "./util";

const ADMIN = "admin-key-0123456789";

async function metricsText(gw: TestGateway) {
  return (await http("GET", `${gw.metricsUrl}/metrics`)).text;
}
function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{")) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}
const adminStatus = (gw: TestGateway, key = ADMIN) => http("GET", `${gw.url}/admin/v1/status`, { headers: { authorization: `Bearer ${key}` } });

describe("gateway: worker health and crash-loop protection", function () {
  this.timeout(90_000);
  let redis: TestRedis;
  const workers: PyWorker[] = [];
  const gws: TestGateway[] = [];
  const kubes: FakeKube[] = [];

  before(async function () {
    this.timeout(120_000);
    venvPython();
    redis = await startRedis();
  });
  afterEach(async function () {
    if (this.currentTest?.state === "failed") for (const w of workers) console.log(`--- ${w.id}\n${w.output().slice(-2000)}`);
    await Promise.all(workers.splice(0).map((w) => w.kill()));
    await Promise.all(gws.splice(0).map((g) => g.close().catch(() => undefined)));
    await Promise.all(kubes.splice(0).map((k) => k.close()));
  });
  after(async () => {
    await redis?.stop({ removeData: true });
  });

  it("retry cap: a job whose worker is SIGKILLed on every attempt ends FAILED after maxWorkerLosses, with the reason", async () => {
    const ep = { id: "ep", workerToken: "worker-token-0-ep", maxWorkerLosses: 2 };
    const gw = await startGateway({ redisUrl: redis.url, endpoints: [ep], options: { adminKeys: [ADMIN] } });
    gws.push(gw);
    const c = client(gw);
    const id = (await c.run({ input: { seconds: 60 } })).body.id;
    for (let attempt = 1; attempt <= 2; attempt++) {
      const w = startPyWorker(gw, "slow_handler.py", `py-kill-${attempt}`, { ep });
      workers.push(w);
      await until(async () => {
        const s = (await c.status(id)).body;
        return s.status === "IN_PROGRESS" && s.workerId === w.id;
      }, 30_000, `attempt ${attempt} running on ${w.id}`);
      await w.kill(); // the pod dies: no result, no more pings, the lease lapses
      if (attempt === 1) await until(async () => (await c.status(id)).body.status === "IN_QUEUE", 15_000, "re-queued after the first loss");
    }
    const final = await c.waitTerminal(id, 20_000);
    assert.equal(final.status, "FAILED");
    assert.match(String(final.error), /lost its worker 2 times \(maxWorkerLosses 2\)/);
    assert.match(String(final.error), /last worker py-kill-2/);
    const m = await metricsText(gw);
    assert.equal(metricValue(m, "longshore_job_retries_total", { endpoint: "ep", reason: "worker_lost" }), 1);
    assert.equal(metricValue(m, "longshore_jobs_terminal_total", { endpoint: "ep", status: "FAILED" }), 1);
    const st = await adminStatus(gw);
    assert.equal(st.status, 200, st.text);
    const f = st.body.endpoints[0].recentFailures[0];
    assert.equal(f.id, id);
    assert.match(f.error, /lost its worker 2 times/);
  });

  it("ping status=unhealthy (a failing runpod fitness check) takes the worker out of dispatch and counts it unhealthy", async () => {
    const gw = await startGateway({ redisUrl: redis.url });
    gws.push(gw);
    const c = client(gw);
    const unfit = startPyWorker(gw, "unfit_handler.py", "py-unfit");
    workers.push(unfit);
    await until(async () => unfit.proc.exitCode !== null, 30_000, "the unfit worker to exit(1)");
    assert.equal(unfit.proc.exitCode, 1);
    const h = await until(async () => {
      const r = (await c.health()).body;
      return r.workers.unhealthy === 1 ? r : undefined;
    }, 5000, "/health unhealthy 1");
    assert.equal(h.workers.ready, 0);
    // the same worker id comes back (a restarted container would keep its pod name): no job for it
    const id = (await c.run({ input: { x: 1 } })).body.id;
    const w = worker(gw, "py-unfit");
    const t0 = Date.now();
    const r = await w.take();
    assert.equal(r.status, 204, "an unhealthy worker gets no job");
    assert.ok(Date.now() - t0 >= 1500, "its long-poll is held (no hot loop)");
    assert.equal((await c.status(id)).body.status, "IN_QUEUE");
    // a healthy worker takes it
    const ok = worker(gw, "healthy-1");
    const got = await ok.take();
    assert.equal(got.body.id, id);
    assert.equal((await ok.done(id, { output: 1 })).status, 200);
  });

  it("worker states from the Kubernetes API: throttled, initializing, unhealthy, idle, running — in /health, metrics and the admin status", async () => {
    const ep = { id: "k1", workerToken: "k1-token-aaaa-aaaa" };
    const kube = await startFakeKube({
      secrets: [endpointSecret(ep.id, ep.workerToken)],
      pods: [
        pod.unschedulable("k1-pending", "k1"),
        pod.creating("k1-creating", "k1"),
        pod.running("k1-starting", "k1"), // running, no ping yet
        pod.crashLooping("k1-crash", "k1"),
        pod.notReady("k1-notready", "k1", 120_000),
        pod.running("k1-idle", "k1"),
        pod.running("k1-busy", "k1"),
      ],
    });
    kubes.push(kube);
    const gw = await startGateway({ redisUrl: redis.url, endpoints: [], options: { adminKeys: [ADMIN], kubernetes: { namespace: "longshore", apiUrl: kube.url, token: "t" } } });
    gws.push(gw);
    const c = client(gw, "k1");
    await worker(gw, "k1-idle", ep).ping();
    const id = (await c.run({ input: 1 })).body.id;
    const busy = worker(gw, "k1-busy", ep);
    assert.equal((await busy.take()).body.id, id);
    await busy.ping([id]);
    // a worker outside the cluster (no pod): counted from its pings alone
    await worker(gw, "laptop-1", ep).ping();
    const h = await until(async () => {
      const r = (await c.health()).body;
      return r.workers.running === 1 ? r : undefined;
    }, 5000, "/health with pod states");
    assert.deepEqual(h.workers, { idle: 2, running: 1, ready: 3, initializing: 2, throttled: 1, unhealthy: 2 });
    assert.equal(h.status, "healthy", "some workers are up: not a crash-looping endpoint");
    const m = await metricsText(gw);
    for (const [state, n] of Object.entries({ idle: 2, running: 1, initializing: 2, throttled: 1, unhealthy: 2 })) {
      assert.equal(metricValue(m, "longshore_workers", { endpoint: "k1", state }), n, `metric workers{state=${state}}`);
    }
    const st = (await adminStatus(gw)).body.endpoints[0];
    const byId = Object.fromEntries(st.workerList.map((w: any) => [w.id, w]));
    assert.equal(byId["k1-pending"].state, "throttled");
    assert.match(byId["k1-pending"].reason, /Insufficient nvidia.com\/gpu/);
    assert.equal(byId["k1-crash"].state, "unhealthy");
    assert.match(byId["k1-crash"].reason, /crash-looping: container worker exit code 1 \(Error\), 3 restarts/);
    assert.match(byId["k1-notready"].reason, /readiness/);
    assert.equal(byId["k1-creating"].state, "initializing");
    assert.equal(byId["k1-starting"].state, "initializing");
    assert.equal(byId["k1-busy"].state, "running");
    assert.equal(byId["laptop-1"].state, "idle");
    // the watch: the unschedulable pod gets a node and starts, then pings -> idle
    kube.putPod(pod.running("k1-pending", "k1"));
    await until(async () => (await c.health()).body.workers.throttled === 0, 5000, "throttled pod scheduled");
    await worker(gw, "k1-pending", ep).ping();
    await until(async () => (await c.health()).body.workers.idle === 3, 5000, "the new worker idle after its first ping");
    await busy.done(id, { output: "ok" });
  });

  it("a crash-looping endpoint: unhealthy in /health and metrics, one Kubernetes Event, scale-up held at one worker, waiting jobs FAILED with the reason", async () => {
    const ep = { id: "bad", workerToken: "bad-token-aaaa-aaaa" };
    const kube = await startFakeKube({
      secrets: [endpointSecret(ep.id, ep.workerToken, { scalerType: "REQUEST_COUNT", scalerValue: 1, crashLoopFailAfterMs: 2500 })],
      pods: [pod.creating("bad-1", "bad")],
    });
    kubes.push(kube);
    const gw = await startGateway({ redisUrl: redis.url, endpoints: [], options: { adminKeys: [ADMIN], kubernetes: { namespace: "longshore", apiUrl: kube.url, token: "t" } } });
    gws.push(gw);
    const c = client(gw, "bad");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await c.run({ input: i })).body.id);
    const Scaler = loadScalerProto().ExternalScaler as grpc.ServiceClientConstructor;
    const sc = new Scaler(gw.scalerAddress, grpc.credentials.createInsecure()) as any;
    const ref = { name: "bad", namespace: "longshore", scalerMetadata: { endpointId: "bad" } };
    const getMetric = () => new Promise<number>((res, rej) => sc.GetMetrics({ scaledObjectRef: ref, metricName: "m" }, (e: Error, r: any) => (e ? rej(e) : res(r.metricValues[0].metricValueFloat))));
    try {
      assert.equal(await getMetric(), 5, "starting (not crashing yet): one worker per job");
      assert.equal((await c.health()).body.status, "healthy");
      // the image exits at start: the kubelet reports CrashLoopBackOff
      kube.putPod(pod.crashLooping("bad-1", "bad", 2));
      kube.putPod(pod.crashLooping("bad-2", "bad", 1));
      const t0 = Date.now();
      const h = await until(async () => {
        const r = (await c.health()).body;
        return r.status === "unhealthy" ? r : undefined;
      }, 5000, "/health unhealthy");
      console.log(`      (crash loop reported ${Date.now() - t0} ms after the pod status)`);
      assert.match(h.reason, /workers cannot start: 2 of 2 pod\(s\) crash-looping \(bad-1: crash-looping: container worker exit code 1/);
      assert.equal(h.workers.unhealthy, 2);
      assert.equal(await getMetric(), 1, "scale-up held at one worker while crash-looping");
      assert.equal(metricValue(await metricsText(gw), "longshore_endpoint_unhealthy", { endpoint: "bad" }), 1);
      await until(async () => kube.events.some((e) => e.reason === "EndpointCrashLooping"), 3000, "the Event");
      const ev = kube.events.filter((e) => e.reason === "EndpointCrashLooping");
      assert.equal(ev.length, 1, "one Event per crash loop, not one per check");
      assert.equal(ev[0].involvedObject.name, "bad-1");
      // after crashLoopFailAfterMs the waiting jobs end FAILED, the crash as their reason
      for (const id of ids) {
        const s = await c.waitTerminal(id, 10_000);
        assert.equal(s.status, "FAILED");
        assert.match(String(s.error), /endpoint bad workers cannot start: .*crash-looping.*gave up after \d+ s \(crashLoopFailAfterMs 2500\)/);
      }
      assert.equal(metricValue(await metricsText(gw), "longshore_jobs_terminal_total", { endpoint: "bad", status: "FAILED" }), 5);
      const st = (await adminStatus(gw)).body.endpoints[0];
      assert.equal(st.status, "unhealthy");
      assert.match(st.recentFailures[0].error, /workers cannot start/);
      // a fixed image: a worker starts and pings -> healthy, the hold is lifted
      kube.removePod("bad-1");
      kube.removePod("bad-2");
      kube.putPod(pod.running("bad-3", "bad"));
      await worker(gw, "bad-3", ep).ping();
      await until(async () => (await c.health()).body.status === "healthy", 5000, "healthy again");
      assert.equal(metricValue(await metricsText(gw), "longshore_endpoint_unhealthy", { endpoint: "bad" }), 0);
    } finally {
      sc.close();
    }
  });

  it("stopPod (handler returned refresh_worker): the result is kept, the worker leaves dispatch and its pod is deleted", async () => {
    const ep = { id: "rf", workerToken: "rf-token-aaaa-aaaa" };
    const kube = await startFakeKube({ secrets: [endpointSecret(ep.id, ep.workerToken)], pods: [pod.running("rf-pod-1", "rf")], deleteRemovesPod: false });
    kubes.push(kube);
    const gw = await startGateway({ redisUrl: redis.url, endpoints: [], options: { kubernetes: { namespace: "longshore", apiUrl: kube.url, token: "t" } } });
    gws.push(gw);
    const c = client(gw, "rf");
    const w = startPyWorker(gw, "refresh_handler.py", "rf-pod-1", { ep });
    workers.push(w);
    const first = await c.runsync({ input: { n: 1 } });
    assert.equal(first.body.status, "COMPLETED", first.text);
    assert.deepEqual(first.body.output, { echo: { n: 1 } });
    await until(async () => kube.deletes.includes("rf-pod-1"), 5000, "the pod delete");
    // until it is gone, the worker gets no more jobs
    const second = (await c.run({ input: { n: 2 } })).body.id;
    await sleep(2500);
    assert.equal((await c.status(second)).body.status, "IN_QUEUE", "the recycled worker took no job");
    const h = (await c.health()).body;
    assert.equal(h.workers.ready, 0);
    // a worker that is not a pod of the endpoint asks for stopPod: nothing is deleted, it keeps working
    const other = worker(gw, "not-a-pod", ep);
    const t = await other.take();
    assert.equal(t.body.id, second);
    assert.equal((await other.done(second, { output: 2, stopPod: true })).status, 200);
    const third = (await c.run({ input: 3 })).body.id;
    assert.equal((await other.take()).body.id, third);
    assert.deepEqual(kube.deletes, ["rf-pod-1"]);
  });

  it("delay and execution histograms per endpoint, and p50/p90 in the admin status; the admin API needs an admin key", async () => {
    const gw = await startGateway({ redisUrl: redis.url, options: { adminKeys: [ADMIN] } });
    gws.push(gw);
    const c = client(gw);
    const w = worker(gw, "w-lat");
    for (let i = 0; i < 4; i++) {
      const id = (await c.run({ input: i })).body.id;
      await sleep(100);
      assert.equal((await w.take()).body.id, id);
      await sleep(200);
      await w.done(id, { output: i });
    }
    const m = await metricsText(gw);
    assert.equal(metricValue(m, "longshore_job_delay_seconds_count", { endpoint: "ep" }), 4);
    assert.equal(metricValue(m, "longshore_job_execution_seconds_count", { endpoint: "ep" }), 4);
    assert.equal(metricValue(m, "longshore_job_execution_seconds_bucket", { endpoint: "ep", le: "0.1" }), 0, "every execution took >= 200 ms");
    assert.equal(metricValue(m, "longshore_job_execution_seconds_bucket", { endpoint: "ep", le: "5" }), 4);
    assert.equal(metricValue(m, "longshore_jobs_terminal_total", { endpoint: "ep", status: "COMPLETED" }), 4);
    const st = (await adminStatus(gw)).body.endpoints[0];
    assert.equal(st.latency.samples, 4);
    assert.ok(st.latency.executionMs.p50 >= 200 && st.latency.executionMs.p50 < 2000, JSON.stringify(st.latency));
    assert.ok(st.latency.delayMs.p90 >= 100, JSON.stringify(st.latency));
    assert.equal((await adminStatus(gw, gw.apiKey)).status, 401, "a client API key is not an admin key");
    assert.equal((await http("GET", `${gw.url}/admin/v1/status`)).status, 401);
    assert.equal((await http("GET", `${gw.url}/admin/v1/status?endpoint=nope`, { headers: { authorization: ADMIN } })).status, 404);
  });

  it("classifyPod, quantiles and the held scaler metric (units)", () => {
    const c = { waiting: 7, waitingLow: 0, active: 0, oldestCreatedAt: Date.now() - 60_000 };
    assert.deepEqual(metricFor({ endpointId: "e", scalerType: "REQUEST_COUNT", scalerValue: 2 }, c, Date.now(), true), { metric: 2, target: 2, active: true });
    assert.deepEqual(metricFor({ endpointId: "e", scalerType: "QUEUE_DELAY", scalerValue: 4 }, c, Date.now(), true), { metric: 1, target: 1, active: true });
    assert.equal(metricFor({ endpointId: "e", scalerType: "QUEUE_DELAY", scalerValue: 4 }, c, Date.now(), false).metric, 7);
    assert.equal(classifyPod({ metadata: { name: "x", labels: { "longshore.dev/endpoint": "e" }, deletionTimestamp: "2026-01-01T00:00:00Z" } }), undefined, "terminating");
    assert.equal(classifyPod({ metadata: { name: "x", labels: { "longshore.dev/endpoint": "e" } }, status: { phase: "Succeeded" } }), undefined);
    const pull = classifyPod({ metadata: { name: "x", labels: { "longshore.dev/endpoint": "e" } }, status: { phase: "Pending", containerStatuses: [{ name: "w", state: { waiting: { reason: "ImagePullBackOff", message: "not found" } } }] } });
    assert.equal(pull?.state, "unhealthy");
    assert.equal(pull?.crash, true);
    assert.match(pull!.reason!, /cannot start: ImagePullBackOff: not found/);
    assert.equal(classifyPod(pod.notReady("n", "e", 5_000) as any)?.state, "initializing", "not ready for a short while: still starting");
    assert.deepEqual(quantiles([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]), { p50: 5, p90: 9, p98: 10 });
    assert.equal(quantiles([]), null);
  });
});
