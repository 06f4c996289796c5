// Wire compatibility with the REAL RunPod packages: the runpod-sdk npm client, the runpod PyPI
// client (runpod.Endpoint) and unmodified runpod.serverless.start workers (fixtures/*.py).
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as path from "path";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { client, PyWorker, sleep, startPyWorker, until, venvPython } from "./util";

// runpod-sdk is an ES module; Node 20 loads it through require().
// eslint-disable-next-line @typescript-eslint/no-var-requires
const runpodSdk = require("runpod-sdk").default as (key: string, o: { baseUrl: string }) => { endpoint(id: string): any };

const EPS = ["sync", "async", "stream", "progress", "error", "conc", "slow", "pyclient"].map((id) => ({ id, workerToken: `token-${id}-123456` }));

describe("gateway: real RunPod clients and workers", function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let gw: TestGateway;
  const workers: PyWorker[] = [];
  const ep = (id: string) => EPS.find((e) => e.id === id)!;
  const sdk = () => runpodSdk(gw.apiKey, { baseUrl: gw.baseUrl });

  before(async function () {
    this.timeout(120_000);
    venvPython(); // create the venv before timing anything
    redis = await startRedis();
    gw = await startGateway({ redisUrl: redis.url, endpoints: EPS });
    workers.push(startPyWorker(gw, "sync_handler.py", "py-sync-1", { ep: ep("sync") }));
    workers.push(startPyWorker(gw, "async_handler.py", "py-async-1", { ep: ep("async") }));
    workers.push(startPyWorker(gw, "stream_handler.py", "py-stream-1", { ep: ep("stream") }));
    workers.push(startPyWorker(gw, "progress_handler.py", "py-progress-1", { ep: ep("progress") }));
    workers.push(startPyWorker(gw, "error_handler.py", "py-error-1", { ep: ep("error") }));
    workers.push(startPyWorker(gw, "concurrent_handler.py", "py-conc-1", { ep: ep("conc") }));
    workers.push(startPyWorker(gw, "slow_handler.py", "py-slow-1", { ep: ep("slow") }));
    workers.push(startPyWorker(gw, "sync_handler.py", "py-pyclient-1", { ep: ep("pyclient") }));
  });
  after(async function () {
    this.timeout(30_000);
    if (this.currentTest?.state === "failed") for (const w of workers) console.log(`--- ${w.id}\n${w.output().slice(-3000)}`);
    await Promise.all(workers.map((w) => w.kill()));
    await gw?.close();
    await redis?.stop({ removeData: true });
  });

  describe("runpod-sdk (npm) client with baseUrl", () => {
    it("runSync returns the handler's output from a Python sync worker", async () => {
      const r = await sdk().endpoint("sync").runSync({ input: { hello: "world" } });
      assert.equal(r.status, "COMPLETED");
      assert.deepEqual(r.output, { echo: { hello: "world" }, worker: "py-sync-1" });
      assert.equal(r.workerId, "py-sync-1");
    });

    it("run + status polling; async handler sees s3Config", async () => {
      const e = sdk().endpoint("async");
      const r = await e.run({ input: { n: 21 }, s3Config: { bucketName: "bkt" } });
      assert.equal(r.status, "IN_QUEUE");
      const s = await until(async () => {
        const x = await e.status(r.id);
        return x.completed ? x : undefined;
      }, 20_000, "async job");
      assert.equal(s.status, "COMPLETED");
      assert.deepEqual(s.output, { doubled: 42, s3: { bucketName: "bkt" } });
      assert.ok(s.executionTime >= 40);
    });

    it("stream yields every chunk of a Python generator handler; aggregate is the final output", async () => {
      const e = sdk().endpoint("stream");
      const r = await e.run({ input: { n: 4, delay: 0.15 } });
      const chunks: unknown[] = [];
      for await (const c of e.stream(r.id)) chunks.push(c);
      assert.deepEqual(chunks, [0, 1, 2, 3].map((i) => ({ output: { chunk: i } })));
      const s = await e.status(r.id);
      assert.equal(s.status, "COMPLETED");
      assert.deepEqual(s.output, [0, 1, 2, 3].map((i) => ({ chunk: i })));
    });

    it("progress_update is visible on status while the job runs", async () => {
      const e = sdk().endpoint("progress");
      const r = await e.run({ input: { hold: 2 } });
      const seen = await until(async () => {
        const s = await e.status(r.id);
        return s.status === "IN_PROGRESS" && s.output ? s : undefined;
      }, 15_000, "progress output");
      assert.deepEqual(seen.output, { step: "half" });
      const fin = await until(async () => {
        const s = await e.status(r.id);
        return s.completed ? s : undefined;
      }, 15_000, "progress job end");
      assert.deepEqual(fin.output, { step: "done" });
    });

    it("a raised error becomes FAILED with the SDK's error JSON", async () => {
      const r = await sdk().endpoint("error").runSync({ input: { why: "bad input" } });
      assert.equal(r.status, "FAILED");
      const err = JSON.parse(r.error);
      assert.match(err.error_type, /ValueError/);
      assert.equal(err.error_message, "boom: bad input");
      assert.match(err.error_traceback, /Traceback/);
    });

    it("concurrency_modifier 4: one worker runs jobs in parallel via job-take-batch", async () => {
      const e = sdk().endpoint("conc");
      const ids = [];
      for (let i = 0; i < 4; i++) ids.push((await e.run({ input: { sleep: 1.5 } })).id);
      const outs = [];
      for (const id of ids) {
        outs.push(await until(async () => {
          const s = await e.status(id);
          return s.completed ? s : undefined;
        }, 20_000, "concurrent job"));
      }
      assert.ok(outs.every((o) => o.status === "COMPLETED" && o.workerId === "py-conc-1"));
      // at least two of them overlapped in time on the one worker
      const spans = outs.map((o) => o.output).sort((a, b) => a.start - b.start);
      assert.ok(spans.some((s, i) => i > 0 && s.start < spans[i - 1].end), `no overlap: ${JSON.stringify(spans)}`);
    });

    it("cancel stops a running job on the worker (job-stop) and the worker takes the next job", async () => {
      const e = sdk().endpoint("slow");
      const r = await e.run({ input: { seconds: 30 } });
      await until(async () => (await e.status(r.id)).status === "IN_PROGRESS", 15_000, "slow job running");
      const c = await e.cancel(r.id);
      assert.equal(c.status, "CANCELLED");
      // if the worker had not stopped the cancelled task it would still be busy for 30 s
      const t0 = Date.now();
      const next = await e.runSync({ input: { seconds: 0.1 } });
      assert.equal(next.status, "COMPLETED");
      // (< 20 s: the cancelled handler alone would have kept the worker busy for 30 s)
      assert.ok(Date.now() - t0 < 20_000, `next job took ${Date.now() - t0} ms`);
      assert.equal((await e.status(r.id)).status, "CANCELLED");
    });

    it("health and purgeQueue", async () => {
      const e = sdk().endpoint("slow");
      const busy = await e.run({ input: { seconds: 20 } });
      await until(async () => (await e.status(busy.id)).status === "IN_PROGRESS", 15_000, "slow job running");
      await e.run({ input: { seconds: 1 } });
      await e.run({ input: { seconds: 1 } });
      const h = await e.health();
      assert.equal(h.jobs.inQueue, 2);
      assert.equal(h.jobs.inProgress, 1);
      assert.ok(h.workers.running + h.workers.idle >= 1);
      const p = await e.purgeQueue();
      assert.deepEqual(p, { removed: 2, status: "completed" });
      assert.equal((await e.health()).jobs.inQueue, 0);
      await e.cancel(busy.id);
    });
  });

  describe("runpod (PyPI) client: runpod.Endpoint with RUNPOD_ENDPOINT_BASE_URL", () => {
    it("run, status, output, run_sync, stream, cancel, health, purge_queue", async () => {
      const script = `
import json, runpod
runpod.api_key = ${JSON.stringify(gw.apiKey)}
out = {}
ep = runpod.Endpoint("pyclient")
job = ep.run({"a": 1})
out["run_status"] = job.status()
out["output"] = job.output(timeout=20)
out["run_sync"] = ep.run_sync({"input": {"b": 2}}, timeout=20)
sj = runpod.Endpoint("stream").run({"input": {"n": 3, "delay": 0.1}})
out["stream"] = list(sj.stream())
slow = runpod.Endpoint("slow")
sjob = slow.run({"seconds": 30})
out["cancel"] = sjob.cancel()
out["health"] = ep.health()
out["purge"] = ep.purge_queue()
print("RESULT " + json.dumps(out))
`;
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(venvPython(), ["-c", script], { env: { ...process.env, RUNPOD_ENDPOINT_BASE_URL: gw.baseUrl }, timeout: 50_000 }, (err, so, se) =>
          err ? reject(new Error(`${err.message}\n${se}`)) : resolve(so),
        ),
      );
      const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
      assert.ok(line, stdout);
      const out = JSON.parse(line!.slice(7));
      assert.ok(["IN_QUEUE", "IN_PROGRESS", "COMPLETED"].includes(out.run_status));
      assert.deepEqual(out.output, { echo: { a: 1 }, worker: "py-pyclient-1" });
      assert.deepEqual(out.run_sync, { echo: { b: 2 }, worker: "py-pyclient-1" });
      assert.deepEqual(out.stream, [{ chunk: 0 }, { chunk: 1 }, { chunk: 2 }]);
      assert.equal(out.cancel.status, "CANCELLED");
      assert.equal(typeof out.health.jobs.completed, "number");
      assert.ok(out.health.jobs.completed >= 2);
      assert.deepEqual(out.purge, { removed: 0, status: "completed" });
    });
  });

  it("the Python worker's ping carries its running job ids (lease renewed past leaseMs)", async () => {
    // leaseMs is 3 s in tests; this job runs 5 s on one worker and must not be handed out twice
    const c = client(gw, "sync");
    const taken = async () => {
      const m = await fetch(`${gw.metricsUrl}/metrics`).then((r) => r.text());
      return Number(/longshore_jobs_taken_total\{endpoint="sync"\} (\d+)/.exec(m)?.[1] ?? 0);
    };
    const before = await taken();
    const id = (await c.run({ input: { sleep: 5 } })).body.id;
    const s = await c.waitTerminal(id, 20_000);
    assert.equal(s.status, "COMPLETED");
    assert.equal(await taken(), before + 1, "the job was handed out exactly once");
    await sleep(10);
  });
});

export const fixturesDir = path.join(__dirname, "fixtures");
