// /runsync and /status-sync answers. A job finished on the replica that holds the waiting request is answered
// from the job-done itself (no second read of the record); one finished on another replica through Redis
// pub/sub and a read. Either way the answer must be exactly what /status reads from the record.
import { strict as assert } from "assert";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { client, sleep, worker } from "./util";

describe("gateway: runsync / status-sync answers", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let a: TestGateway;
  let b: TestGateway;

  before(async () => {
    redis = await startRedis();
    // two replicas on one Redis (same key prefix), as two gateway pods behind one Service
    a = await startGateway({ redisUrl: redis.url, prefix: "sync2r" });
    b = await startGateway({ redisUrl: redis.url, prefix: "sync2r" });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop({ removeData: true });
  });

  const sameAsRecord = async (gw: TestGateway, answer: Record<string, unknown>) => {
    const rec = (await client(gw).status(String(answer.id))).body;
    assert.deepEqual(answer, rec);
  };

  it("same replica: COMPLETED with output, times and workerId equal to /status", async () => {
    const c = client(a);
    const w = worker(a, "w-local");
    const p = c.runsync({ input: { q: 1 } }, 5000);
    const j = (await w.take()).body;
    await sleep(20);
    await w.done(j.id, { output: { nested: [1, "two", { three: null }] } });
    const r = (await p).body;
    assert.equal(r.status, "COMPLETED");
    assert.deepEqual(r.output, { nested: [1, "two", { three: null }] });
    assert.equal(r.workerId, "w-local");
    assert.ok(r.executionTime >= 15, `executionTime ${r.executionTime}`);
    assert.ok(r.delayTime >= 0);
    await sameAsRecord(a, r);
  });

  it("same replica: FAILED with the error; after retry status-sync shows retries and the new result", async () => {
    const c = client(a);
    const w = worker(a, "w-fail");
    const p = c.runsync({ input: {} }, 5000);
    const j = (await w.take()).body;
    await w.done(j.id, { error: "boom" });
    const r = (await p).body;
    assert.equal(r.status, "FAILED");
    assert.equal(r.error, "boom");
    assert.equal(r.output, undefined);
    await sameAsRecord(a, r);

    assert.equal((await c.retry(j.id)).status, 200);
    const sp = c.statusSync(j.id, 5000);
    const j2 = (await w.take()).body;
    assert.equal(j2.id, j.id);
    await w.done(j.id, { output: 7 });
    const s = (await sp).body;
    assert.equal(s.status, "COMPLETED");
    assert.equal(s.output, 7);
    assert.equal(s.retries, 1);
    await sameAsRecord(a, s);
  });

  it("same replica: end of stream without aggregate answers output []", async () => {
    const c = client(a);
    const w = worker(a, "w-stream");
    const p = c.runsync({ input: {} }, 5000);
    const j = (await w.take()).body;
    await w.stream(j.id, "chunk");
    await w.done(j.id, {}, true);
    const r = (await p).body;
    assert.equal(r.status, "COMPLETED");
    assert.deepEqual(r.output, []);
    await sameAsRecord(a, r);
  });

  it("other replica: the job is taken and finished through B while A holds the runsync", async () => {
    const p = client(a).runsync({ input: { via: "b" } }, 5000);
    const w = worker(b, "w-remote");
    const j = (await w.take()).body;
    assert.match(j.id, /^sync-/);
    await w.done(j.id, { output: "from b" });
    const r = (await p).body;
    assert.equal(r.status, "COMPLETED");
    assert.equal(r.output, "from b");
    assert.equal(r.workerId, "w-remote");
    await sameAsRecord(a, r);
    await sameAsRecord(b, r);
  });

  it("a job-done that is refused (409) wakes no waiter with a wrong answer", async () => {
    const c = client(a);
    const w = worker(a, "w-holder");
    const p = c.runsync({ input: {} }, 1500);
    const j = (await w.take()).body;
    // a worker that never held the job
    const stranger = await worker(a, "w-stranger").done(j.id, { output: "not mine" });
    assert.equal(stranger.status, 409);
    const r = (await p).body;
    assert.equal(r.status, "IN_PROGRESS");
    await w.done(j.id, { output: "mine" });
    assert.equal((await c.status(j.id)).body.output, "mine");
  });
});
