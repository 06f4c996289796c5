// The TypeScript worker SDK against the REAL gateway and a real redis-server: every handler shape,
// progress, streaming, errors, concurrency, job-stop, drain on SIGTERM and refresh.
import { strict as assert } from "assert";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { Client, spawnWorker, stopWorkers, WorkerProc, sleep, waitStarted } from "./harness";

describe("worker SDK against the gateway", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let gw: TestGateway;
  let client: Client;
  const workers: WorkerProc[] = [];
  const worker = (opts: Parameters<typeof spawnWorker>[1] = {}) => {
    const w = spawnWorker(gw, opts);
    workers.push(w);
    return w;
  };

  before(async function () {
    this.timeout(60_000);
    redis = await startRedis();
    gw = await startGateway({
      redisUrl: redis.url,
      endpoints: [
        { id: "ep", workerToken: "worker-token-0-ep" },
        { id: "agg", workerToken: "worker-token-0-agg" },
        { id: "drain", workerToken: "worker-token-0-drain" },
        { id: "conc", workerToken: "worker-token-0-conc" },
        { id: "refresh", workerToken: "worker-token-0-refresh" },
      ],
    });
    client = new Client(gw);
  });
  after(async () => {
    await stopWorkers(workers);
    await gw?.close();
    await redis?.stop({ removeData: true });
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") {
      for (const w of workers) process.stderr.write(`--- worker ${w.id} ---\n${w.logs().slice(-1500)}\n`);
    }
  });

  describe("one long-lived worker (default options)", () => {
    let main: WorkerProc;
    before(() => {
      main = worker();
    });

    it("sync handler: output returned; extra job keys (s3Config) reach the handler", async () => {
      const id = await client.run({ kind: "sync", value: 42 });
      const s = await client.terminal(id);
      assert.equal(s.status, "COMPLETED", JSON.stringify(s));
      assert.deepEqual(s.output, { echo: 42, extra: null });
      const s3Config = { accessId: "a", accessSecret: "b", bucketName: "c", endpointUrl: "http://127.0.0.1:9/" };
      const id2 = await client.run({ kind: "sync", value: 1 }, { s3Config });
      assert.deepEqual((await client.terminal(id2)).output, { echo: 1, extra: s3Config });
    });

    it("async handler: awaited output", async () => {
      const id = await client.run({ kind: "async", value: "x" });
      const s = await client.terminal(id);
      assert.equal(s.status, "COMPLETED");
      assert.equal(s.output, "async:x");
    });

    it("generator handler: every yield is streamed in order; final output is [] without aggregation", async () => {
      const id = await client.run({ kind: "generator", n: 4 });
      const { chunks, final } = await client.streamAll(id);
      assert.deepEqual(chunks, ["chunk-0", "chunk-1", "chunk-2", "chunk-3"]);
      assert.equal(final.status, "COMPLETED");
      assert.deepEqual(final.output ?? [], []);
    });

    it("async generator handler: objects streamed", async () => {
      const id = await client.run({ kind: "asyncgen", n: 3 });
      const { chunks, final } = await client.streamAll(id);
      assert.deepEqual(chunks, [{ i: 0 }, { i: 1 }, { i: 2 }]);
      assert.equal(final.status, "COMPLETED");
    });

    it("a generator that throws fails the job after the chunks it yielded", async () => {
      const id = await client.run({ kind: "streamError" });
      const { chunks, final } = await client.streamAll(id);
      assert.deepEqual(chunks, ["first"]);
      assert.equal(final.status, "FAILED");
      assert.match(JSON.stringify(final.error), /stream broke/);
    });

    it("progress updates show on /status while IN_PROGRESS, then the final output", async () => {
      const id = await client.run({ kind: "progress", holdMs: 1200 });
      const bodies = await client.waitFor(id, (s) => s.status === "COMPLETED");
      const progress = bodies.filter((b) => b.status === "IN_PROGRESS" && b.output !== undefined).map((b) => b.output);
      assert.deepEqual(progress[0], { step: 1, of: 2 }, JSON.stringify(bodies));
      assert.ok(progress.some((p) => p.step === 2), JSON.stringify(bodies));
      assert.equal(bodies[bodies.length - 1].output, "progress done");
    });

    it("a thrown error FAILS the job with RunPod's error_type/error_message JSON", async () => {
      const id = await client.run({ kind: "throws" });
      const s = await client.terminal(id);
      assert.equal(s.status, "FAILED");
      const err = typeof s.error === "string" ? JSON.parse(s.error) : s.error;
      assert.equal(err.error_type, "TypeError");
      assert.equal(err.error_message, "handler exploded on purpose");
      assert.match(err.error_traceback, /handlers\.(ts|js)/);
    });

    it("returning {error} FAILS the job with that message", async () => {
      const id = await client.run({ kind: "errorObject" });
      const s = await client.terminal(id);
      assert.equal(s.status, "FAILED");
      assert.match(JSON.stringify(s.error), /bad input: value missing/);
    });

    it("an unknown kind (handler bug) fails only that job; the worker keeps serving", async () => {
      const bad = await client.run({ kind: "nope" });
      assert.equal((await client.terminal(bad)).status, "FAILED");
      const ok = await client.run({ kind: "string" });
      const s = await client.terminal(ok);
      assert.equal(s.status, "COMPLETED");
      assert.equal(s.output, "Hello World");
    });

    it("heartbeat: a job running longer than the gateway's lease is kept alive by pings listing it, and runs once", async () => {
      const id = await client.run({ kind: "slow", ms: 4500 }); // TEST_TIMINGS.leaseMs is 3000
      const s = await client.terminal(id, 20_000);
      assert.equal(s.status, "COMPLETED", JSON.stringify(s));
      const starts = main.logs().split("\n").filter((l) => l.includes(`${id} | started`));
      assert.equal(starts.length, 1, "the job was handed out again while it was running");
    });

    it("cancel of a running job aborts the handler's signal (job-stop) and frees the worker", async () => {
      const id = await client.run({ kind: "abortable", ms: 20_000 });
      await client.waitFor(id, (s) => s.status === "IN_PROGRESS");
      const c = await client.req("POST", `/cancel/${id}`, {});
      assert.equal(c.status, 200);
      assert.equal((await client.status(id)).status, "CANCELLED");
      const w = main;
      const deadline = Date.now() + 10_000;
      while (!w.logs().includes(`ABORTED ${id}`) && Date.now() < deadline) await sleep(100);
      assert.ok(w.logs().includes(`ABORTED ${id}`), "handler signal was not aborted");
      // the worker took the next job (concurrency 1): the stopped job no longer holds its slot
      const next = await client.run({ kind: "string" });
      assert.equal((await client.terminal(next, 10_000)).status, "COMPLETED");
      await sleep(300);
      assert.equal((await client.status(id)).status, "CANCELLED", "a late result must not overwrite CANCELLED");
    });
  });

  describe("a worker with returnAggregateStream", () => {
    before(() => {
      worker({ endpointIndex: 1, env: { AGGREGATE: "1" } });
    });

    it("the official runpod-sdk npm client drives a TS worker: runSync, run + stream", async () => {
      // runpod-sdk is an ES module; Node 20 loads it through require()
      const runpodSdk = require("runpod-sdk").default as (key: string, o: { baseUrl: string }) => { endpoint(id: string): any };
      const e = runpodSdk(gw.apiKey, { baseUrl: gw.baseUrl }).endpoint("agg");
      const r = await e.runSync({ input: { kind: "sync", value: "via runpod-sdk" } });
      assert.equal(r.status, "COMPLETED", JSON.stringify(r));
      assert.deepEqual(r.output, { echo: "via runpod-sdk", extra: null });
      const job = await e.run({ input: { kind: "asyncgen", n: 3 } });
      const chunks: unknown[] = [];
      for await (const c of e.stream(job.id)) chunks.push(c);
      assert.deepEqual(chunks, [0, 1, 2].map((i) => ({ output: { i } })));
      const s = await e.status(job.id);
      assert.deepEqual(s.output, [{ i: 0 }, { i: 1 }, { i: 2 }]);
    });

    it("returnAggregateStream: the final output is the array of all chunks", async () => {
      const agg = new Client(gw, "agg");
      const id = await agg.run({ kind: "generator", n: 3 });
      const s = await agg.terminal(id);
      assert.equal(s.status, "COMPLETED");
      assert.deepEqual(s.output, ["chunk-0", "chunk-1", "chunk-2"]);
    });
  });

  it("concurrency: a worker with concurrency 3 runs three jobs at once (job-take-batch)", async () => {
    const conc = new Client(gw, "conc");
    const ids = await Promise.all([1, 2, 3].map(() => conc.run({ kind: "slow", ms: 1500 })));
    worker({ endpointIndex: 3, env: { CONCURRENCY: "3" } });
    const results = await Promise.all(ids.map((id) => conc.terminal(id, 20_000)));
    for (const r of results) assert.equal(r.status, "COMPLETED", JSON.stringify(r));
    assert.equal(Math.max(...results.map((r) => r.output.peak)), 3, JSON.stringify(results.map((r) => r.output)));
    assert.equal(new Set(results.map((r) => r.output.pid)).size, 1, "all three ran in the one worker");
  });

  it("concurrency as a function (like concurrency_modifier): ramps up to the value it returns", async () => {
    const conc = new Client(gw, "conc");
    await stopWorkers(workers);
    const ids = await Promise.all([1, 2, 3, 4].map(() => conc.run({ kind: "slow", ms: 1500 })));
    worker({ endpointIndex: 3, env: { CONCURRENCY: "fn:2" } });
    const results = await Promise.all(ids.map((id) => conc.terminal(id, 20_000)));
    for (const r of results) assert.equal(r.status, "COMPLETED", JSON.stringify(r));
    assert.equal(Math.max(...results.map((r) => r.output.peak)), 2, JSON.stringify(results.map((r) => r.output)));
  });

  it("an output over the gateway's body limit FAILS the job with a clear reason (not left to be re-run)", async () => {
    const small = await startGateway({ redisUrl: redis.url, endpoints: [{ id: "ep", workerToken: "worker-token-0-ep" }], options: { limits: { doneBodyBytes: 4096 } } });
    try {
      const w = spawnWorker(small);
      workers.push(w);
      const c = new Client(small);
      const id = await c.run({ kind: "big", bytes: 10_000 });
      const s = await c.terminal(id);
      assert.equal(s.status, "FAILED", JSON.stringify(s).slice(0, 500));
      const err = JSON.parse(s.error);
      assert.equal(err.error_type, "OutputTooLarge");
      assert.match(err.error_message, /job output is \d+ bytes, over the gateway's limit/);
      const ok = await c.run({ kind: "big", bytes: 100 });
      assert.equal((await c.terminal(ok)).output, "x".repeat(100));
    } finally {
      await stopWorkers(workers);
      await small.close();
    }
  });

  describe("SIGTERM drain", () => {
    // each test owns the "drain" endpoint: no worker from an earlier test may take its jobs
    beforeEach(() => stopWorkers(workers));
    it("finishes the job in hand, posts its result, takes nothing new, exits 0 — nothing is lost", async () => {
      const drain = new Client(gw, "drain");
      const w = worker({ endpointIndex: 2 });
      const inHand = await drain.run({ kind: "slow", ms: 2500 });
      await drain.waitFor(inHand, (s) => s.status === "IN_PROGRESS");
      w.kill("SIGTERM");
      await sleep(200);
      const queuedAfter = await drain.run({ kind: "sync", value: "after-sigterm" });
      const exit = await w.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, w.logs().slice(-2000));
      const s = await drain.status(inHand);
      assert.equal(s.status, "COMPLETED", JSON.stringify(s));
      assert.equal(s.output.slept, 2500);
      // the draining worker did not take the later job: it waits for the next worker, then completes
      assert.equal((await drain.status(queuedAfter)).status, "IN_QUEUE");
      worker({ endpointIndex: 2 });
      const later = await drain.terminal(queuedAfter);
      assert.equal(later.status, "COMPLETED");
      assert.deepEqual(later.output, { echo: "after-sigterm", extra: null });
    });

    it("an idle worker exits on SIGTERM without waiting out its job-take long poll; later jobs are still served", async () => {
      // a gateway that holds job-take for 60 s: waiting the poll out would take that long
      const slowPoll = await startGateway({ redisUrl: redis.url, endpoints: [{ id: "drain", workerToken: "worker-token-0-drain" }], timings: { takeWaitMs: 60_000 } });
      try {
        const w = spawnWorker(slowPoll);
        workers.push(w);
        await waitStarted(w); // a SIGTERM before start() installs its handlers would just kill the process
        await sleep(500); // now inside a job-take long poll
        const t0 = Date.now();
        w.kill("SIGTERM");
        const exit = await w.exited;
        assert.deepEqual(exit, { code: 0, signal: null });
        assert.ok(Date.now() - t0 < 30_000, `waited ${Date.now() - t0} ms: the long poll was not abandoned`);
        // the abandoned poll took nothing with it: a job submitted now is served by the next worker
        const drain = new Client(slowPoll, "drain");
        const id = await drain.run({ kind: "string" });
        workers.push(spawnWorker(slowPoll));
        assert.equal((await drain.terminal(id)).status, "COMPLETED");
      } finally {
        await stopWorkers(workers);
        await slowPoll.close();
      }
    });

    it("a job cancelled while its worker drains is still stopped (job-stop stays open during the drain)", async () => {
      const drain = new Client(gw, "drain");
      const w = worker({ endpointIndex: 2 });
      const id = await drain.run({ kind: "abortable", ms: 20_000 });
      await drain.waitFor(id, (s) => s.status === "IN_PROGRESS");
      w.kill("SIGTERM");
      await sleep(300);
      assert.equal((await drain.req("POST", `/cancel/${id}`, {})).status, 200);
      const exit = await Promise.race([w.exited, sleep(10_000).then(() => "still running")]);
      assert.deepEqual(exit, { code: 0, signal: null }, w.logs().slice(-2000));
      assert.match(w.logs(), new RegExp(`ABORTED ${id}`));
      assert.equal((await drain.status(id)).status, "CANCELLED");
    });

    it("a worker killed outright (SIGKILL) mid-job: its pings stop, the job is re-queued and completed by the next worker", async () => {
      const drain = new Client(gw, "drain");
      const w = worker({ endpointIndex: 2 });
      const id = await drain.run({ kind: "slow", ms: 1000 });
      await drain.waitFor(id, (s) => s.status === "IN_PROGRESS");
      w.kill("SIGKILL");
      await w.exited;
      const next = worker({ endpointIndex: 2 });
      const s = await drain.terminal(id, 25_000);
      assert.equal(s.status, "COMPLETED", JSON.stringify(s));
      assert.equal(s.output.pid, next.proc.pid, "completed by the replacement worker");
    });

    it("past the execution timeout the job in hand is failed, and the worker still exits 0", async () => {
      const drain = new Client(gw, "drain");
      const w = worker({ endpointIndex: 2, env: { EXEC_TIMEOUT_MS: "1500" } });
      const id = await drain.run({ kind: "abortable", ms: 20_000 });
      await drain.waitFor(id, (s) => s.status === "IN_PROGRESS");
      w.kill("SIGTERM");
      const exit = await w.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, w.logs().slice(-2000));
      const s = await drain.terminal(id);
      assert.ok(["FAILED", "TIMED_OUT"].includes(s.status), JSON.stringify(s));
      assert.match(w.logs(), new RegExp(`ABORTED ${id}`));
    });
  });

  describe("refresh", () => {
    it("a handler returning {refresh_worker: true} completes the job, then the worker exits 0 to be recycled", async () => {
      const rc = new Client(gw, "refresh");
      const w = worker({ endpointIndex: 4 });
      const id = await rc.run({ kind: "refresh", value: 7 });
      const s = await rc.terminal(id);
      assert.equal(s.status, "COMPLETED");
      assert.equal(s.output.value, 7);
      assert.equal(s.output.refresh_worker, undefined, "refresh_worker is a control key, not output");
      assert.deepEqual(await w.exited, { code: 0, signal: null });
    });

    it("refreshWorker option: the worker exits after every job", async () => {
      const rc = new Client(gw, "refresh");
      const w = worker({ endpointIndex: 4, env: { REFRESH_CONFIG: "1" } });
      const id = await rc.run({ kind: "pid" });
      const s = await rc.terminal(id);
      assert.equal(s.status, "COMPLETED");
      assert.equal(s.output, w.proc.pid);
      assert.deepEqual(await w.exited, { code: 0, signal: null });
    });
  });
});
