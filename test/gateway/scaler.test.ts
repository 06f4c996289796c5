// KEDA external scaler (gRPC) served by the gateway, called as KEDA's external-push scaler calls it.
import { strict as assert } from "assert";
import * as grpc from "@grpc/grpc-js";
import { loadScalerProto, metricFor } from "../../gateway/src/scaler";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { client, sleep, until, worker } from "./util";

type Md = Record<string, string>;

describe("gateway: KEDA external scaler", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let gw: TestGateway;
  let stub: any;
  const ref = (scalerMetadata: Md) => ({ name: "so", namespace: "ns", scalerMetadata: { scalerAddress: gw.scalerAddress, ...scalerMetadata } });
  const call = <T>(m: string, arg: unknown) =>
    new Promise<T>((resolve, reject) => stub[m](arg, (err: Error | null, r: T) => (err ? reject(err) : resolve(r))));

  before(async () => {
    redis = await startRedis();
    gw = await startGateway({
      redisUrl: redis.url,
      endpoints: [
        { id: "rc", workerToken: "worker-token-0-rc", rateLimits: { purge: 1000 } },
        { id: "qd", workerToken: "worker-token-0-qd", rateLimits: { purge: 1000 } },
        { id: "idle", workerToken: "worker-token-0-idle" },
      ],
    });
    const pkg = loadScalerProto();
    const Ctor = pkg.ExternalScaler as grpc.ServiceClientConstructor;
    stub = new Ctor(gw.scalerAddress, grpc.credentials.createInsecure());
  });
  after(async () => {
    stub?.close();
    await gw?.close();
    await redis?.stop({ removeData: true });
  });

  it("GetMetricSpec: REQUEST_COUNT target = scalerValue; QUEUE_DELAY target = 1", async () => {
    const a: any = await call("GetMetricSpec", ref({ endpointId: "rc", scalerType: "REQUEST_COUNT", scalerValue: "3" }));
    assert.equal(a.metricSpecs.length, 1);
    assert.equal(a.metricSpecs[0].targetSizeFloat, 3);
    assert.equal(Number(a.metricSpecs[0].targetSize), 3);
    const b: any = await call("GetMetricSpec", ref({ endpointId: "qd", scalerType: "QUEUE_DELAY", scalerValue: "2" }));
    assert.equal(b.metricSpecs[0].targetSizeFloat, 1);
  });

  it("bad metadata is INVALID_ARGUMENT / NOT_FOUND with a reason", async () => {
    await assert.rejects(call("IsActive", ref({})), /endpointId is required/);
    await assert.rejects(call("IsActive", ref({ endpointId: "nope" })), (e: any) => e.code === grpc.status.NOT_FOUND && /nope/.test(e.details));
    await assert.rejects(call("GetMetricSpec", ref({ endpointId: "rc", scalerType: "CPU" })), /QUEUE_DELAY or REQUEST_COUNT/);
    await assert.rejects(call("GetMetricSpec", ref({ endpointId: "rc", scalerType: "REQUEST_COUNT", scalerValue: "0" })), /positive/);
  });

  it("REQUEST_COUNT: IsActive and metric = waiting + in-flight; lowPriority jobs never count as waiting", async () => {
    const md = { endpointId: "rc", scalerType: "REQUEST_COUNT", scalerValue: "2" };
    const metric = async () => ((await call<any>("GetMetrics", { scaledObjectRef: ref(md), metricName: "m" })).metricValues[0].metricValueFloat as number);
    const c = client(gw, "rc");
    assert.equal((await call<any>("IsActive", ref(md))).result, false);
    assert.equal(await metric(), 0);
    await c.run({ input: 1, policy: { lowPriority: true } });
    assert.equal((await call<any>("IsActive", ref(md))).result, false, "lowPriority alone never activates");
    assert.equal(await metric(), 0);
    const a = (await c.run({ input: 2 })).body.id;
    await c.run({ input: 3 });
    assert.equal((await call<any>("IsActive", ref(md))).result, true);
    assert.equal(await metric(), 2);
    const w = worker(gw, "w-rc", gw.endpoints[0]);
    const j = (await w.take()).body;
    assert.equal(j.id, a);
    assert.equal(await metric(), 2, "1 waiting + 1 in flight");
    await w.done(a, { output: 1 });
    // the BullMQ lock is released just after job-done answers
    await until(async () => (await metric()) === 1, 3000, "metric 1 after job-done");
    await c.purge();
    assert.equal(await metric(), 0);
  });

  it("QUEUE_DELAY: in-flight jobs always count; waiting ones once the oldest waited longer than scalerValue s", async () => {
    const md = { endpointId: "qd", scalerType: "QUEUE_DELAY", scalerValue: "1" };
    const metric = async () => ((await call<any>("GetMetrics", { scaledObjectRef: ref(md), metricName: "m" })).metricValues[0].metricValueFloat as number);
    const c = client(gw, "qd");
    await c.run({ input: 1 });
    await c.run({ input: 2 });
    assert.equal((await call<any>("IsActive", ref(md))).result, true, "activation does not wait for the delay");
    assert.equal(await metric(), 0);
    await sleep(1200);
    assert.equal(await metric(), 2);
    const w = worker(gw, "w-qd", gw.endpoints[1]);
    const j = (await w.take()).body;
    // the remaining waiting job is also older than 1 s: 1 in flight + 1 waiting
    assert.equal(await metric(), 2);
    await c.purge();
    assert.equal(await metric(), 1);
    await w.done(j.id, { output: 1 });
    await until(async () => (await metric()) === 0, 3000, "metric 0 after job-done");
  });

  it("metricFor formula", () => {
    const now = 100_000;
    assert.deepEqual(metricFor({ endpointId: "x", scalerType: "REQUEST_COUNT", scalerValue: 4 }, { waiting: 5, waitingLow: 9, active: 3, oldestCreatedAt: now - 1 }, now), { metric: 8, target: 4, active: true });
    assert.deepEqual(metricFor({ endpointId: "x", scalerType: "QUEUE_DELAY", scalerValue: 10 }, { waiting: 5, waitingLow: 0, active: 3, oldestCreatedAt: now - 9_000 }, now), { metric: 3, target: 1, active: true });
    assert.deepEqual(metricFor({ endpointId: "x", scalerType: "QUEUE_DELAY", scalerValue: 10 }, { waiting: 5, waitingLow: 0, active: 3, oldestCreatedAt: now - 11_000 }, now), { metric: 8, target: 1, active: true });
    assert.deepEqual(metricFor({ endpointId: "x", scalerType: "QUEUE_DELAY", scalerValue: 10 }, { waiting: 0, waitingLow: 7, active: 0, oldestCreatedAt: -1 }, now), { metric: 0, target: 1, active: false });
  });

  it("StreamIsActive pushes activation within 1 s of the first job on an idle endpoint (not for lowPriority)", async () => {
    const md = { endpointId: "idle", scalerType: "QUEUE_DELAY", scalerValue: "30" };
    const stream = stub.StreamIsActive(ref(md));
    const seen: { result: boolean; at: number }[] = [];
    stream.on("data", (d: { result: boolean }) => seen.push({ result: d.result, at: Date.now() }));
    stream.on("error", () => undefined);
    try {
      await sleep(500);
      assert.deepEqual(seen.map((s) => s.result), [false], "initial state pushed");
      const c = client(gw, "idle");
      await c.run({ input: 1, policy: { lowPriority: true } });
      await sleep(600);
      assert.deepEqual(seen.map((s) => s.result), [false], "lowPriority job does not activate");
      const t0 = Date.now();
      await c.run({ input: 2 });
      while (seen.length < 2 && Date.now() - t0 < 3000) await sleep(10);
      assert.equal(seen[1]?.result, true);
      const latency = seen[1].at - t0;
      assert.ok(latency < 1000, `activation pushed after ${latency} ms`);
    } finally {
      stream.cancel();
    }
  });
});
