// Gateway HTTP API against a real redis-server: every client and worker route, every status
// transition, timeouts, cancel, retry, purge, retention, webhooks, streaming, auth, limits.
import { strict as assert } from "assert";
import * as http from "http";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { client, http as req, sleep, until, worker } from "./util";

describe("gateway: HTTP API", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let gw: TestGateway;
  let c: ReturnType<typeof client>;

  before(async () => {
    redis = await startRedis();
    gw = await startGateway({
      redisUrl: redis.url,
      endpoints: [
        // the suite purges after every test: lift ep's purge limit; "other" keeps RunPod's 2 per 10 s
        { id: "ep", workerToken: "worker-token-0-ep", rateLimits: { purge: 10_000 } },
        { id: "other", workerToken: "worker-token-0-other" },
      ],
      timings: { retentionRunMs: 1500, retentionRunsyncMs: 800 },
      // the webhook receivers of this suite listen on loopback
      // (1 s execution timeouts and ttls keep the timeout tests short; the RunPod minimums are tested in hardening)
      options: { limits: { runBodyBytes: 64 * 1024, runsyncBodyBytes: 128 * 1024, streamChunkBytes: 8 * 1024, minExecutionTimeoutMs: 1000, minTtlMs: 1000 }, webhookAllowCidrs: ["127.0.0.1/32"] },
    });
    c = client(gw);
  });
  after(async () => {
    await gw?.close();
    await redis?.stop({ removeData: true });
  });
  afterEach(async () => {
    // leave no waiting job behind for the next test's worker
    await c.purge();
  });

  it("run -> job-take -> job-done: IN_QUEUE, IN_PROGRESS, COMPLETED with times and workerId", async () => {
    const r = await c.run({ input: { prompt: "hi" } });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "IN_QUEUE");
    assert.match(r.body.id, /^[0-9a-f-]{36}$/);
    assert.equal((await c.status(r.body.id)).body.status, "IN_QUEUE");

    const w = worker(gw, "w-basic");
    const t = await w.take();
    assert.equal(t.status, 200);
    assert.deepEqual(t.body, { id: r.body.id, input: { prompt: "hi" } });
    const s1 = (await c.status(r.body.id)).body;
    assert.equal(s1.status, "IN_PROGRESS");
    assert.equal(s1.workerId, "w-basic");
    assert.ok(s1.delayTime >= 0);

    await sleep(30);
    const d = await w.done(r.body.id, { output: { answer: 42 } });
    assert.equal(d.status, 200, d.text);
    const s2 = (await c.status(r.body.id)).body;
    assert.equal(s2.status, "COMPLETED");
    assert.deepEqual(s2.output, { answer: 42 });
    assert.equal(s2.workerId, "w-basic");
    assert.ok(s2.executionTime >= 25, `executionTime ${s2.executionTime}`);
  });

  it("job-take long-polls: answers 204 after the wait, and hands over a job submitted while waiting", async () => {
    const w = worker(gw, "w-poll");
    const t0 = Date.now();
    const empty = await w.take();
    assert.equal(empty.status, 204);
    assert.ok(Date.now() - t0 >= 1500, "held the request");

    const pending = w.take();
    await sleep(200);
    const r = await c.run({ input: 1 });
    const got = await pending;
    assert.equal(got.status, 200);
    assert.equal(got.body.id, r.body.id);
    await w.done(r.body.id, { output: 1 });
  });

  it("job-take-batch hands out up to batch_size jobs as an array", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await c.run({ input: i })).body.id);
    const w = worker(gw, "w-batch");
    const b = await w.takeBatch(5);
    assert.equal(b.status, 200);
    assert.ok(Array.isArray(b.body));
    assert.deepEqual(b.body.map((j: any) => j.id).sort(), [...ids].sort());
    for (const j of b.body) await w.done(j.id, { output: j.input });
    for (const id of ids) assert.equal((await c.status(id)).body.status, "COMPLETED");
  });

  it("passes s3Config through to the worker and keeps FIFO order", async () => {
    const a = (await c.run({ input: "a", s3Config: { bucketName: "b" } })).body.id;
    const b = (await c.run({ input: "b" })).body.id;
    const w = worker(gw, "w-fifo");
    const j1 = (await w.take()).body;
    const j2 = (await w.take()).body;
    assert.equal(j1.id, a);
    assert.deepEqual(j1.s3Config, { bucketName: "b" });
    assert.equal(j2.id, b);
    await w.done(a, { output: 1 });
    await w.done(b, { output: 2 });
  });

  it("lowPriority jobs are served after normal ones", async () => {
    const low = (await c.run({ input: "low", policy: { lowPriority: true } })).body.id;
    const high = (await c.run({ input: "high" })).body.id;
    const w = worker(gw, "w-prio");
    const first = (await w.take()).body;
    const second = (await w.take()).body;
    assert.equal(first.id, high);
    assert.equal(second.id, low);
    await w.done(high, { output: 1 });
    await w.done(low, { output: 1 });
  });

  it("error in job-done => FAILED with the error; retry => IN_QUEUE and runs again; retry of COMPLETED is 400", async () => {
    const id = (await c.run({ input: "x" })).body.id;
    const w = worker(gw, "w-err");
    await w.take();
    const errStr = JSON.stringify({ error_type: "<class 'ValueError'>", error_message: "boom" });
    assert.equal((await w.done(id, { error: errStr })).status, 200);
    const s = (await c.status(id)).body;
    assert.equal(s.status, "FAILED");
    assert.equal(s.error, errStr);

    const r = await c.retry(id);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { id, status: "IN_QUEUE" });
    const again = await w.take();
    assert.equal(again.body.id, id);
    await w.done(id, { output: "second time" });
    const s2 = (await c.status(id)).body;
    assert.equal(s2.status, "COMPLETED");
    assert.equal(s2.output, "second time");
    assert.equal(s2.retries, 1);
    const bad = await c.retry(id);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /only FAILED or TIMED_OUT/);
    assert.equal((await c.health()).body.jobs.retried >= 1, true);
  });

  it("progress updates show on /status without finishing the job", async () => {
    const id = (await c.run({ input: "p" })).body.id;
    const w = worker(gw, "w-prog");
    await w.take();
    assert.equal((await w.done(id, { status: "IN_PROGRESS", output: { pct: 50 } })).status, 200);
    const s = (await c.status(id)).body;
    assert.equal(s.status, "IN_PROGRESS");
    assert.deepEqual(s.output, { pct: 50 });
    await w.done(id, { output: { pct: 100 } });
    assert.deepEqual((await c.status(id)).body.output, { pct: 100 });
  });

  it("streaming: /stream returns only chunks not yet delivered, then the end-of-stream aggregate", async () => {
    const id = (await c.run({ input: "s" })).body.id;
    const w = worker(gw, "w-stream");
    await w.take();
    await w.stream(id, "a");
    await w.stream(id, { b: 1 });
    const s1 = (await c.stream(id)).body;
    assert.equal(s1.status, "IN_PROGRESS");
    assert.deepEqual(s1.stream, [{ output: "a" }, { output: { b: 1 } }]);
    // nothing new: the request waits for the next chunk
    const pending = c.stream(id);
    await sleep(150);
    await w.stream(id, "c");
    const s2 = (await pending).body;
    assert.deepEqual(s2.stream, [{ output: "c" }]);
    await w.done(id, { output: ["a", { b: 1 }, "c"] }, true);
    const s3 = (await c.stream(id)).body;
    assert.equal(s3.status, "COMPLETED");
    assert.deepEqual(s3.stream, []);
    assert.deepEqual((await c.status(id)).body.output, ["a", { b: 1 }, "c"]);
  });

  it("end-of-stream without aggregate completes with output []", async () => {
    const id = (await c.run({ input: "s" })).body.id;
    const w = worker(gw, "w-stream2");
    await w.take();
    await w.stream(id, 1);
    await w.done(id, {}, true);
    const s = (await c.status(id)).body;
    assert.equal(s.status, "COMPLETED");
    assert.deepEqual(s.output, []);
  });

  it("runsync waits for the result; answers the current status when not done within wait; status-sync waits", async () => {
    const w = worker(gw, "w-sync");
    const p = c.runsync({ input: { q: 1 } }, 5000);
    const j = (await w.take()).body;
    assert.match(j.id, /^sync-/);
    await w.done(j.id, { output: "fast" });
    const r = await p;
    assert.equal(r.body.status, "COMPLETED");
    assert.equal(r.body.output, "fast");
    assert.equal(r.body.id, j.id);

    const t0 = Date.now();
    const slow = await c.runsync({ input: { q: 2 } }, 300);
    assert.ok(Date.now() - t0 >= 280);
    assert.equal(slow.body.status, "IN_QUEUE");
    const sp = c.statusSync(slow.body.id, 5000);
    const j2 = (await w.take()).body;
    await w.done(j2.id, { output: "later" });
    const s = await sp;
    assert.equal(s.body.status, "COMPLETED");
    assert.equal(s.body.output, "later");
  });

  it("cancel a queued job: CANCELLED and never handed to a worker", async () => {
    const id = (await c.run({ input: "never" })).body.id;
    const r = await c.cancel(id);
    assert.deepEqual(r.body, { id, status: "CANCELLED" }, r.text);
    assert.equal((await c.status(id)).body.status, "CANCELLED");
    const w = worker(gw, "w-cq");
    assert.equal((await w.take()).status, 204);
  });

  it("cancel a running job: job-stop tells its worker; a late job-done is refused (409)", async () => {
    const id = (await c.run({ input: "long" })).body.id;
    const w = worker(gw, "w-cr");
    await w.take();
    const stopPoll = w.stop();
    await sleep(100);
    assert.equal((await c.cancel(id)).body.status, "CANCELLED");
    const stop = await stopPoll;
    assert.equal(stop.status, 200);
    assert.deepEqual(stop.body, { jobsToStop: [id] });
    const late = await w.done(id, { output: "too late" });
    assert.equal(late.status, 409);
    assert.equal((await c.status(id)).body.status, "CANCELLED");
    // no stop signal pending any more
    assert.equal((await w.stop()).status, 204);
  });

  it("execution timeout: TIMED_OUT, the worker is told to stop; retry runs it again", async () => {
    const id = (await c.run({ input: "t", policy: { executionTimeout: 1000 } })).body.id;
    const w = worker(gw, "w-to");
    await w.take();
    const stop = await w.stop();
    assert.deepEqual(stop.body, { jobsToStop: [id] });
    const s = (await c.status(id)).body;
    assert.equal(s.status, "TIMED_OUT");
    assert.match(String(s.error), /timeout/);
    assert.equal((await c.retry(id)).status, 200);
    const again = await w.take();
    assert.equal(again.body.id, id);
    await w.done(id, { output: "ok" });
    assert.equal((await c.status(id)).body.status, "COMPLETED");
  });

  it("ttl: a job still queued when its ttl elapses is dropped and /status is 404", async () => {
    const id = (await c.run({ input: "ttl", policy: { ttl: 1000 } })).body.id;
    assert.equal((await c.status(id)).status, 200);
    await until(async () => (await c.status(id)).status === 404, 4000, "ttl expiry");
    assert.equal((await worker(gw, "w-ttl").take()).status, 204);
  });

  it("results are retained for the configured time after completion, then 404", async () => {
    const id = (await c.run({ input: "r" })).body.id;
    const w = worker(gw, "w-ret");
    await w.take();
    await w.done(id, { output: 1 });
    assert.equal((await c.status(id)).status, 200);
    await sleep(1000);
    assert.equal((await c.status(id)).status, 200, "still there within retention (1.5 s)");
    await sleep(800);
    const gone = await c.status(id);
    assert.equal(gone.status, 404);
    assert.match(gone.body.error, /not found/);
  });

  it("purge-queue removes waiting jobs only and reports how many", async () => {
    const w = worker(gw, "w-purge");
    const running = (await c.run({ input: "running" })).body.id;
    await w.take();
    const waiting = [];
    for (let i = 0; i < 4; i++) waiting.push((await c.run({ input: i })).body.id);
    const r = await c.purge();
    assert.deepEqual(r.body, { removed: 4, status: "completed" });
    for (const id of waiting) assert.equal((await c.status(id)).body.status, "CANCELLED");
    assert.equal((await c.status(running)).body.status, "IN_PROGRESS");
    await w.done(running, { output: 1 });
  });

  it("health counts queued, running, completed, failed and workers", async () => {
    const h0 = (await c.health()).body;
    const w = worker(gw, "w-health");
    const a = (await c.run({ input: 1 })).body.id;
    await c.run({ input: 2 });
    await w.take();
    await w.ping([a]);
    const h1 = (await c.health()).body;
    assert.equal(h1.jobs.inProgress, 1);
    assert.equal(h1.jobs.inQueue, 1);
    assert.ok(h1.workers.running >= 1);
    await w.done(a, { output: 1 });
    const b = (await w.take()).body.id;
    await w.done(b, { error: "bad" });
    const h2 = (await c.health()).body;
    assert.equal(h2.jobs.completed, h0.jobs.completed + 1);
    assert.equal(h2.jobs.failed, h0.jobs.failed + 1);
    assert.equal(h2.jobs.inQueue, 0);
  });

  it("webhook: POSTs the status object on completion, retried after a failure", async () => {
    const got: any[] = [];
    let calls = 0;
    const srv = http.createServer((rq, rs) => {
      let b = "";
      rq.on("data", (d) => (b += d));
      rq.on("end", () => {
        calls++;
        if (calls === 1) {
          rs.statusCode = 500; // first attempt fails: must be retried
          return rs.end();
        }
        got.push(JSON.parse(b));
        rs.end("ok");
      });
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    try {
      const url = `http://127.0.0.1:${(srv.address() as any).port}/hook`;
      const id = (await c.run({ input: "wh", webhook: url })).body.id;
      const w = worker(gw, "w-wh");
      await w.take();
      await w.done(id, { output: { done: true } });
      await until(async () => got.length > 0, 5000, "webhook delivery");
      assert.equal(calls, 2);
      assert.equal(got[0].id, id);
      assert.equal(got[0].status, "COMPLETED");
      assert.deepEqual(got[0].output, { done: true });
    } finally {
      srv.close();
    }
  });

  it("ping renews the lease: a job outliving the lease is not re-queued while its worker pings", async () => {
    const id = (await c.run({ input: "lease" })).body.id;
    const w = worker(gw, "w-lease");
    await w.take();
    for (let i = 0; i < 5; i++) {
      await sleep(1000);
      assert.equal((await w.ping([id])).status, 200);
    }
    const s = (await c.status(id)).body;
    assert.equal(s.status, "IN_PROGRESS");
    assert.equal(s.workerId, "w-lease");
    assert.equal((await w.done(id, { output: 1 })).status, 200);
  });

  it("a worker that stops pinging loses its job to another worker; the first result wins", async () => {
    const id = (await c.run({ input: "lost" })).body.id;
    const dead = worker(gw, "w-dead");
    await dead.take();
    const alive = worker(gw, "w-alive");
    const t = await until(async () => {
      const r = await alive.take();
      return r.status === 200 ? r : undefined;
    }, 10_000, "re-queued job");
    assert.equal(t.body.id, id);
    assert.equal((await c.status(id)).body.workerId, "w-alive");
    await alive.done(id, { output: "fresh" });
    const s = (await c.status(id)).body;
    assert.equal(s.output, "fresh");
    assert.equal(s.workerId, "w-alive");
    // the former holder's late result changes nothing
    assert.equal((await dead.done(id, { output: "stale" })).status, 409);
    assert.equal((await c.status(id)).body.output, "fresh");
  });

  it("a result from a worker whose lease lapsed is still accepted (SIGTERM drain without pings)", async () => {
    // lapsed and back in the queue, nobody took it yet: accepted, and never handed out again
    const id = (await c.run({ input: "drain" })).body.id;
    const w = worker(gw, "w-drain");
    await w.take();
    await until(async () => (await c.status(id)).body.status === "IN_QUEUE", 10_000, "lease lapse");
    assert.equal((await w.done(id, { output: "late but valid" })).status, 200);
    const s = (await c.status(id)).body;
    assert.equal(s.status, "COMPLETED");
    assert.equal(s.output, "late but valid");
    assert.equal((await worker(gw, "w-next").take()).status, 204, "the finished job is not run again");

    // lapsed and re-taken by another worker: the first result wins and the other worker is told to stop
    const id2 = (await c.run({ input: "drain2" })).body.id;
    await w.take();
    const other = worker(gw, "w-other");
    const t = await until(async () => {
      const r = await other.take();
      return r.status === 200 ? r : undefined;
    }, 10_000, "re-queued job");
    assert.equal(t.body.id, id2);
    const stop = other.stop();
    assert.equal((await w.done(id2, { output: "first" })).status, 200);
    assert.deepEqual((await stop).body, { jobsToStop: [id2] });
    assert.equal((await other.done(id2, { output: "second" })).status, 409);
    const s2 = (await c.status(id2)).body;
    assert.equal(s2.output, "first");
    assert.equal(s2.workerId, "w-drain");
  });

  describe("auth", () => {
    it("client routes: 401 without a key or with a worker token; raw key and Bearer both work", async () => {
      const u = `${gw.baseUrl}/ep/run`;
      assert.equal((await req("POST", u, { body: { input: 1 } })).status, 401);
      assert.equal((await req("POST", u, { body: { input: 1 }, headers: { authorization: "Bearer nope" } })).status, 401);
      assert.equal((await req("POST", u, { body: { input: 1 }, headers: { authorization: "worker-token-0-ep" } })).status, 401);
      const raw = await req("POST", u, { body: { input: 1 }, headers: { authorization: gw.apiKey } });
      assert.equal(raw.status, 200);
      const bearer = await req("GET", `${gw.baseUrl}/ep/status/${raw.body.id}`, { headers: { authorization: `Bearer ${gw.apiKey}` } });
      assert.equal(bearer.status, 200);
    });

    it("worker routes: only the endpoint's own token; a token of another endpoint is 401", async () => {
      const u = `${gw.baseUrl}/ep/job-take/w?`;
      assert.equal((await req("GET", u)).status, 401);
      assert.equal((await req("GET", u, { headers: { authorization: gw.apiKey } })).status, 401);
      assert.equal((await req("GET", u, { headers: { authorization: "worker-token-0-other" } })).status, 401);
      const r = await req("GET", `${gw.baseUrl}/ep/ping/w?runpod_version=1`, { headers: { authorization: "Bearer worker-token-0-ep" } });
      assert.equal(r.status, 200);
    });

    it("jobs of one endpoint are invisible through another", async () => {
      const id = (await c.run({ input: 1 })).body.id;
      const other = client(gw, "other");
      assert.equal((await other.status(id)).status, 404);
      assert.equal((await other.cancel(id)).status, 404);
      assert.equal((await worker(gw, "w-x", gw.endpoints[1]).done(id, { output: 1 })).status, 404);
      assert.equal((await c.status(id)).body.status, "IN_QUEUE");
    });
  });

  describe("bad input", () => {
    const H = () => ({ authorization: `Bearer ${gw.apiKey}` });
    it("malformed JSON, missing input, bad policy -> 400 with a reason", async () => {
      const u = `${gw.baseUrl}/ep/run`;
      const bad = await req("POST", u, { headers: { ...H(), "content-type": "application/json" }, raw: "{not json" });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /malformed JSON/);
      const noInput = await req("POST", u, { headers: H(), body: { prompt: "x" } });
      assert.equal(noInput.status, 400);
      assert.match(noInput.body.error, /input/);
      const pol = await req("POST", u, { headers: H(), body: { input: 1, policy: { executionTimeout: "soon" } } });
      assert.equal(pol.status, 400);
      assert.match(pol.body.error, /executionTimeout/);
      const hook = await req("POST", u, { headers: H(), body: { input: 1, webhook: "ftp://x" } });
      assert.equal(hook.status, 400);
      assert.match(hook.body.error, /webhook/);
    });

    it("unknown endpoint, unknown job, unknown route -> 404 with a reason", async () => {
      const ep = await req("POST", `${gw.baseUrl}/nope/run`, { headers: H(), body: { input: 1 } });
      assert.equal(ep.status, 404);
      assert.match(ep.body.error, /endpoint nope not found/);
      const job = await c.status("does-not-exist");
      assert.equal(job.status, 404);
      assert.match(job.body.error, /not found/);
      assert.equal((await c.cancel("does-not-exist")).status, 404);
      assert.equal((await c.retry("does-not-exist")).status, 404);
      const route = await req("GET", `${gw.url}/v3/whatever`);
      assert.equal(route.status, 404);
      assert.match(route.body.error, /no route/);
    });

    it("oversize bodies -> 413 naming the limit (run, runsync, stream chunk)", async () => {
      const big = (n: number) => ({ input: { blob: "x".repeat(n) } });
      const run = await req("POST", `${gw.baseUrl}/ep/run`, { headers: H(), body: big(70 * 1024) });
      assert.equal(run.status, 413);
      assert.match(run.body.error, /limit of \/v2\/:ep\/run is 65536 bytes/);
      // the same body is fine on runsync (larger limit)
      const ok = await c.runsync(big(70 * 1024), 0);
      assert.equal(ok.status, 200);
      const rs = await req("POST", `${gw.baseUrl}/ep/runsync?wait=0`, { headers: H(), body: big(130 * 1024) });
      assert.equal(rs.status, 413);
      const id = (await c.run({ input: "chunky" })).body.id;
      const w = worker(gw, "w-big");
      let j = await w.take();
      while (j.body.id !== id) {
        await w.done(j.body.id, { output: null });
        j = await w.take();
      }
      const chunk = await w.stream(id, "y".repeat(9 * 1024));
      assert.equal(chunk.status, 413);
      assert.match(chunk.body.error, /stream chunk/);
      assert.equal((await w.stream(id, "small")).status, 200);
      await w.done(id, { output: 1 });
    });

    it("per-endpoint rate limit -> 429 with a reason, other endpoints unaffected", async () => {
      const o = client(gw, "other");
      assert.equal((await o.purge()).status, 200);
      assert.equal((await o.purge()).status, 200);
      const r3 = await o.purge();
      assert.equal(r3.status, 429);
      assert.match(r3.body.error, /rate limit exceeded: 2 purge requests per 10 s on endpoint other/);
      assert.equal((await c.purge()).status, 200);
    });
  });

  it("serves /healthz, /readyz, and Prometheus /metrics on the metrics port only", async () => {
    assert.equal((await req("GET", `${gw.url}/healthz`)).status, 200);
    const ready = await req("GET", `${gw.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.ready, true);
    assert.equal((await req("GET", `${gw.url}/metrics`)).status, 404, "not on the client port: it lists endpoint ids");
    const m = await req("GET", `${gw.metricsUrl}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.text, /longshore_jobs_submitted_total\{endpoint="ep",kind="run"\} \d+/);
    assert.match(m.text, /longshore_jobs_waiting\{endpoint="ep"\} \d+/);
    assert.match(m.text, /longshore_gateway_http_request_duration_seconds_bucket/);
  });
});
