// The TS worker SDK riding out a gateway restart (gateway as a child process, SIGKILLed and started again
// on the same port and Redis): the worker keeps polling, the result of the job in hand is retried until the
// gateway is back, and the job ends COMPLETED — an accepted job is never lost.
import { strict as assert } from "assert";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { Client, spawnWorker, stopWorkers, WorkerProc, sleep } from "./harness";

describe("worker SDK across a gateway restart", function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let gw: TestGateway;
  const workers: WorkerProc[] = [];

  before(async function () {
    this.timeout(60_000);
    redis = await startRedis();
    gw = await startGateway({ redisUrl: redis.url, mode: "child" });
  });
  after(async () => {
    await stopWorkers(workers);
    await gw?.close();
    await redis?.stop({ removeData: true });
  });

  it("a job in hand while the gateway is down completes once it is back; new jobs are taken after", async () => {
    const client = new Client(gw);
    const w = spawnWorker(gw);
    workers.push(w);
    const id = await client.run({ kind: "slow", ms: 1500 });
    await client.waitFor(id, (s) => s.status === "IN_PROGRESS");
    await gw.kill("SIGKILL");
    await sleep(1500); // the handler finishes while the gateway is down: its result post must be retried
    await gw.restart();
    const s = await client.terminal(id, 30_000);
    assert.equal(s.status, "COMPLETED", `${JSON.stringify(s)}\n${w.logs().slice(-2000)}`);
    assert.equal(s.output.slept, 1500);
    assert.match(w.logs(), new RegExp(`${id} \\| posting result failed`), "the result post was retried through the outage");
    const next = await client.run({ kind: "string" });
    assert.equal((await client.terminal(next, 20_000)).output, "Hello World");
    assert.ok(w.isRunning(), "the worker survived the outage");
  });
});
