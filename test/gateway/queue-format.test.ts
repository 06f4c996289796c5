// Queue format 1 -> 2: jobs that Longshore 0.1 queued in BullMQ (one queue per endpoint next to the record)
// are moved into the gateway's own lists when an endpoint is registered, in order, and run.
import { strict as assert } from "assert";
import { Queue } from "bullmq";
import Redis from "ioredis";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway } from "../helpers/gateway";
import { client, until, worker } from "./util";

describe("gateway: queue format migration", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop({ removeData: true });
  });

  it("jobs queued and running in a 0.1 (BullMQ) queue survive the upgrade: queued ones run in order, running ones keep their worker", async () => {
    const prefix = "mig";
    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    const q = new Queue("ep", { connection: conn, prefix: `${prefix}:bull` });
    const now = Date.now();
    const rec = (id: string, st: string, extra: Record<string, string | number> = {}) =>
      conn.hset(`${prefix}:j:${id}`, { ep: "ep", st, in: JSON.stringify({ input: id }), ca: now, xt: 600000, ttl: 86400000, lp: 0, sy: 0, ...extra });
    // what 0.1 wrote: the record (with a key expiry while queued) and a BullMQ job of the same id
    for (const id of ["old-1", "old-2", "old-3"]) {
      await rec(id, "IN_QUEUE");
      await conn.pexpire(`${prefix}:j:${id}`, 86400000);
      await conn.zadd(`${prefix}:ttl`, now + 86400000, `ep|${id}`);
      await q.add("job", {}, { jobId: id, removeOnComplete: true });
    }
    // one job a worker held under 0.1: BullMQ's active list and the record IN_PROGRESS
    await rec("held", "IN_PROGRESS", { w: "w-old", tk: "tok", sa: now, pw: "|w-old|" });
    await conn.lpush(`${prefix}:bull:ep:active`, "held");
    await q.close();

    const gw = await startGateway({ redisUrl: redis.url, prefix });
    try {
      const wk = worker(gw, "w-new");
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push((await wk.take()).body.id);
      assert.deepEqual(got, ["old-1", "old-2", "old-3"]);
      assert.equal(await conn.ttl(`${prefix}:j:old-1`), -1, "a running job's record has no key expiry");
      // the 0.1 worker delivers its result to the new gateway
      assert.equal((await worker(gw, "w-old").done("held", { output: "ok" })).status, 200);
      await until(async () => (await client(gw).status("held")).body.status === "COMPLETED", 5000, "held job completed");
      assert.equal(await conn.exists(`${prefix}:bull:ep:wait`, `${prefix}:bull:ep:active`), 0, "BullMQ's lists are gone");
    } finally {
      await gw.close();
      conn.disconnect();
    }
  });
});
