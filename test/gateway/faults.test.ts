// Faults: a worker dies mid-job, the gateway is SIGKILLed under load, Redis is killed and restarted.
// The rule under test: an accepted job (answered with an id) is never lost.
import { strict as assert } from "assert";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { client, PyWorker, sleep, startPyWorker, until, venvPython, worker } from "./util";

describe("gateway: faults", function () {
  this.timeout(90_000);
  let redis: TestRedis;
  const workers: PyWorker[] = [];
  const gws: TestGateway[] = [];

  before(async function () {
    this.timeout(120_000);
    venvPython();
    redis = await startRedis();
  });
  afterEach(async function () {
    if (this.currentTest?.state === "failed") {
      for (const w of workers) console.log(`--- ${w.id}\n${w.output().slice(-2000)}`);
      for (const g of gws) console.log(`--- gateway\n${g.logs().slice(-3000)}`);
    }
    await Promise.all(workers.splice(0).map((w) => w.kill()));
    await Promise.all(gws.splice(0).map((g) => g.close().catch(() => undefined)));
  });
  after(async () => {
    await redis?.stop({ removeData: true });
  });

  it("a worker killed mid-job: the job is re-queued and completed by another worker", async () => {
    const gw = await startGateway({ redisUrl: redis.url });
    gws.push(gw);
    const c = client(gw);
    const a = startPyWorker(gw, "sync_handler.py", "py-a");
    workers.push(a);
    const id = (await c.run({ input: { sleep: 4 } })).body.id;
    const running = await until(async () => {
      const s = (await c.status(id)).body;
      return s.status === "IN_PROGRESS" ? s : undefined;
    }, 30_000, "job picked up");
    assert.equal(running.workerId, "py-a");
    const b = startPyWorker(gw, "sync_handler.py", "py-b");
    workers.push(b);
    await sleep(300);
    await a.kill(); // whole process group, heartbeat included: its pings stop, the lease lapses
    const s = await c.waitTerminal(id, 40_000);
    assert.equal(s.status, "COMPLETED");
    assert.equal(s.workerId, "py-b");
    assert.deepEqual(s.output, { echo: { sleep: 4 }, worker: "py-b" });
  });

  it("the gateway SIGKILLed under load and restarted: every job answered with an id completes", async () => {
    // this test polls /status for every job: lift the per-endpoint limits (they have their own test)
    const gw = await startGateway({
      redisUrl: redis.url,
      mode: "child",
      endpoints: [{ id: "ep", workerToken: "worker-token-0-ep", rateLimits: { run: 1e6, status: 1e6 } }],
    });
    gws.push(gw);
    // one real Python worker plus protocol-level worker loops (the Python SDK takes about one job per
    // second per worker by design: it sleeps 1 s between takes when busy)
    workers.push(startPyWorker(gw, "sync_handler.py", "py-load-1"));
    let workersStop = false;
    const loop = async (n: number) => {
      const w = worker(gw, `loop-${n}`);
      while (!workersStop) {
        try {
          const t = await w.take();
          if (t.status === 200) await w.done(t.body.id, { output: t.body.input });
          else if (t.status !== 204) await sleep(100);
        } catch {
          await sleep(100); // gateway down: the job in hand (if any) is re-queued when its lease lapses
        }
      }
    };
    const loops = [0, 1, 2, 3].map(loop);
    const c = client(gw);
    const accepted: string[] = [];
    let stop = false;
    let refused = 0;
    const submitter = async (k: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await c.run({ input: { k, i } });
          if (r.status === 200 && r.body?.id) accepted.push(r.body.id);
          else refused++;
        } catch {
          refused++; // connection refused/reset while the gateway is down: not accepted, nothing promised
          await sleep(50);
        }
      }
    };
    const load = [0, 1, 2, 3].map(submitter);
    await until(async () => accepted.length >= 10, 20_000, "load to build up");
    const before = accepted.length;
    await gw.kill("SIGKILL");
    await sleep(500);
    await gw.restart();
    await sleep(1500);
    stop = true;
    await Promise.all(load);
    assert.ok(before >= 10, `load was running (${before} accepted before the kill)`);
    assert.ok(accepted.length > before, "accepted more after the restart");
    // every accepted job reaches COMPLETED (jobs whose result post was lost with the gateway are
    // re-queued when their lease lapses and run again)
    const pending = new Set(accepted);
    const end = Date.now() + 60_000;
    while (pending.size && Date.now() < end) {
      for (const id of [...pending]) {
        const s = await c.status(id);
        if (s.status === 200 && s.body.status === "COMPLETED") pending.delete(id);
        else if (s.status !== 200 || ["FAILED", "CANCELLED", "TIMED_OUT"].includes(s.body.status)) {
          assert.fail(`job ${id}: ${s.status} ${s.text}`);
        }
      }
      if (pending.size) await sleep(500);
    }
    workersStop = true;
    await Promise.all(loops);
    assert.equal(pending.size, 0, `${pending.size} of ${accepted.length} accepted jobs did not complete`);
    console.log(`      (${accepted.length} jobs accepted, ${before} before the kill, ${refused} submissions refused while down)`);
  });

  it("Redis killed (SIGKILL) and restarted: queued, running and finished jobs survive (AOF)", async () => {
    const gw = await startGateway({ redisUrl: redis.url });
    gws.push(gw);
    const c = client(gw);
    const w = worker(gw, "w-redis");
    const finished = (await c.run({ input: "finished" })).body.id;
    await w.take();
    await w.done(finished, { output: "kept" });
    const running = (await c.run({ input: "running" })).body.id;
    assert.equal((await w.take()).body.id, running);
    const queued = (await c.run({ input: "queued" })).body.id;

    await redis.kill();
    await sleep(300);
    await redis.restart();

    const fin = await until(async () => {
      const r = await c.status(finished).catch(() => undefined);
      return r && r.status === 200 ? r.body : undefined;
    }, 20_000, "gateway reconnected");
    assert.equal(fin.status, "COMPLETED");
    assert.equal(fin.output, "kept");
    assert.equal((await c.status(running)).body.status, "IN_PROGRESS");
    assert.equal((await c.status(queued)).body.status, "IN_QUEUE");
    assert.equal((await w.done(running, { output: "after restart" })).status, 200);
    const t = await until(async () => {
      const r = await w.take();
      return r.status === 200 ? r : undefined;
    }, 20_000, "queued job after restart");
    assert.equal(t.body.id, queued);
    await w.done(queued, { output: "also" });
    assert.equal((await c.status(running)).body.output, "after restart");
    assert.equal((await c.status(queued)).body.status, "COMPLETED");
  });
});
