// HTTP (load-balancing) endpoints: the gateway's reverse proxy in front of real FastAPI/uvicorn worker processes
// (fixtures/http_worker.py), with the real Redis and the KEDA scaler's gRPC server.
import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as grpc from "@grpc/grpc-js";
import * as nodeHttp from "http";
import type { Gateway } from "../../gateway/src/index";
import { applyPod } from "../../gateway/src/http/discovery";
import { loadScalerProto } from "../../gateway/src/scaler";
import { startRedis, TestRedis } from "../helpers/redis";
import { http, sleep, until } from "./util";
import { API_KEY, HttpWorkerProc, addWorker, rawRequest, startHttpGateway, startHttpWorker } from "./httpWorkers";

const AUTH = { authorization: `Bearer ${API_KEY}` };

/** What KEDA sees of an HTTP endpoint (REQUEST_COUNT 1) through one gateway's scaler: every StreamIsActive push
 *  with its arrival time, and GetMetrics on demand. */
function kedaWatch(scalerAddress: string, endpointId: string) {
  const Ctor = loadScalerProto().ExternalScaler as grpc.ServiceClientConstructor;
  const stub: any = new Ctor(scalerAddress, grpc.credentials.createInsecure());
  const ref = { name: "so", namespace: "ns", scalerMetadata: { endpointId, scalerType: "REQUEST_COUNT", scalerValue: "1" } };
  const seen: { result: boolean; at: number }[] = [];
  const stream = stub.StreamIsActive(ref);
  stream.on("data", (d: { result: boolean }) => seen.push({ result: d.result, at: Date.now() }));
  stream.on("error", () => undefined);
  const metric = () => new Promise<number>((resolve, reject) => stub.GetMetrics({ scaledObjectRef: ref, metricName: "m" }, (e: Error | null, r: any) => (e ? reject(e) : resolve(r.metricValues[0].metricValueFloat))));
  const close = () => {
    stream.cancel();
    stub.close();
  };
  return { seen, metric, close };
}

describe("gateway: HTTP (load-balancing) endpoints", function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let gw: Gateway;
  const procs: HttpWorkerProc[] = [];
  let w1: HttpWorkerProc, w2: HttpWorkerProc, w3: HttpWorkerProc;
  const u = (ep: string, p: string) => `${gw.url}/http/${ep}${p}`;

  before(async function () {
    this.timeout(120_000);
    redis = await startRedis();
    gw = await startHttpGateway(redis.url, [
      { id: "web", workerToken: "worker-token-0-web", http: { port: 1, targetConcurrency: 4, queueTimeoutMs: 5_000, requestTimeoutMs: 10_000 } },
      { id: "tight", workerToken: "worker-token-0-tight", http: { port: 1, targetConcurrency: 1, queueTimeoutMs: 5_000, requestTimeoutMs: 1_500 } },
      { id: "cold", workerToken: "worker-token-0-cold", http: { port: 1, targetConcurrency: 1, queueTimeoutMs: 20_000 } },
      { id: "nobody", workerToken: "worker-token-0-nobody", http: { port: 1, queueTimeoutMs: 800 } },
      { id: "jobs", workerToken: "worker-token-0-jobs" },
    ], { httpDomain: "lb.test", limits: { httpBodyBytes: 16 * 1024 * 1024 } });
    [w1, w2, w3] = await Promise.all([startHttpWorker("w1"), startHttpWorker("w2"), startHttpWorker("w3")]);
    procs.push(w1, w2, w3);
    for (const w of [w1, w2, w3]) addWorker(gw, "web", w);
    addWorker(gw, "tight", w1);
    await until(async () => gw.http.pool("web")!.readyCount() === 3 && gw.http.pool("tight")!.readyCount() === 1, 10_000, "workers ready");
  });
  after(async () => {
    await gw?.close();
    await Promise.all(procs.map((p) => p.kill()));
    await redis?.stop({ removeData: true });
  });

  it("passes method, path, query, headers, body and status through, and says which worker answered", async () => {
    const r = await http("PATCH", u("web", "/echo/a/b?x=1&y=two"), { headers: { ...AUTH, "x-trace": "t-1", "content-type": "text/plain" }, raw: "hello body" });
    assert.equal(r.status, 200);
    assert.equal(r.body.method, "PATCH");
    assert.equal(r.body.path, "/echo/a/b");
    assert.equal(r.body.query, "x=1&y=two");
    assert.equal(r.body.body, "hello body");
    assert.equal(r.body.headers["x-trace"], "t-1");
    assert.equal(r.body.headers["content-type"], "text/plain");
    assert.equal(r.body.headers["x-forwarded-prefix"], "/http/web");
    assert.equal(r.body.headers.authorization, undefined, "the platform's API key is not forwarded to the worker");
    const res = await fetch(u("web", "/echo/s?status=418"), { headers: AUTH });
    assert.equal(res.status, 418);
    assert.equal(res.headers.get("x-custom-answer"), "yes");
    const wid = res.headers.get("x-longshore-worker-id");
    assert.ok(["w1", "w2", "w3"].includes(wid!), `worker id header: ${wid}`);
    assert.equal(res.headers.get("x-runpod-worker-id"), wid);
    assert.equal(((await res.json()) as { worker: string }).worker, wid);
  });

  it("host-based form: <endpoint>.<domain>/<path> reaches the same endpoint", async () => {
    const r = await rawRequest(`${gw.url}/echo/host?q=1`, { headers: { ...AUTH, host: "web.lb.test" } });
    assert.equal(r.status, 200);
    const b = JSON.parse(r.body.toString());
    assert.equal(b.path, "/echo/host");
    assert.equal(b.query, "q=1");
    assert.equal(b.headers.host, "web.lb.test");
  });

  it("uses the gateway's API keys and answers unknown endpoints and queue endpoints with a reason", async () => {
    const noKey = await http("GET", u("web", "/echo/x"));
    assert.equal(noKey.status, 401);
    assert.match(noKey.body.error, /API key/);
    const bad = await http("GET", u("web", "/echo/x"), { headers: { authorization: "Bearer wrong" } });
    assert.equal(bad.status, 401);
    const hostNoKey = await rawRequest(`${gw.url}/echo/x`, { headers: { host: "web.lb.test" } });
    assert.equal(hostNoKey.status, 401);
    const unknown = await http("GET", u("nope", "/x"), { headers: AUTH });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error, /endpoint nope not found/);
    const queue = await http("GET", u("jobs", "/x"), { headers: AUTH });
    assert.equal(queue.status, 404);
    assert.match(queue.body.error, /queue endpoint/);
    const job = await http("POST", `${gw.url}/v2/web/run`, { headers: AUTH, body: { input: {} } });
    assert.equal(job.status, 400);
    assert.match(job.body.error, /HTTP endpoint/);
  });

  it("streams an SSE response as the worker writes it (first event long before the last)", async () => {
    const r = await rawRequest(u("web", "/stream?n=5&gap=0.4"), { headers: AUTH });
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /text\/event-stream/);
    assert.equal(r.body.toString(), [0, 1, 2, 3, 4].map((i) => `data: ${i}\n\n`).join(""));
    const first = r.chunkTimes[0];
    const last = r.chunkTimes[r.chunkTimes.length - 1];
    assert.ok(r.chunkTimes.length >= 4, `events arrived in ${r.chunkTimes.length} chunks`);
    assert.ok(last - first >= 1200, `first chunk at ${first} ms, last at ${last} ms: the proxy did not buffer`);
  });

  it("forwards a large body intact and refuses one over the limit with 413", async () => {
    const big = crypto.randomBytes(12 * 1024 * 1024);
    const r = await http("POST", u("web", "/upload"), { headers: { ...AUTH, "content-type": "application/octet-stream" }, raw: big });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.bytes, big.length);
    assert.equal(r.body.sha256, crypto.createHash("sha256").update(big).digest("hex"));
    const tooBig = await http("POST", u("web", "/upload"), { headers: AUTH, raw: Buffer.alloc(17 * 1024 * 1024) });
    assert.equal(tooBig.status, 413);
    assert.match(tooBig.body.error, /too large: the limit of HTTP endpoints is 16777216 bytes/);
    const chunked = await rawRequest(u("web", "/upload"), { method: "POST", headers: { ...AUTH, "transfer-encoding": "chunked" }, body: Buffer.alloc(17 * 1024 * 1024) });
    assert.equal(chunked.status, 413);
  });

  it("waits for a slow answer, and a worker that sends nothing within requestTimeout is a 504 with a reason", async () => {
    const t0 = Date.now();
    const slow = await http("GET", u("web", "/slow?s=2"), { headers: AUTH });
    assert.equal(slow.status, 200);
    assert.ok(Date.now() - t0 >= 1900);
    const late = await http("GET", u("tight", "/slow?s=3"), { headers: AUTH });
    assert.equal(late.status, 504);
    assert.match(late.body.error, /did not start answering within 1.5 s/);
    await sleep(1600); // w1's slow request finishes
  });

  it("a worker that dies before answering is a prompt 502 with the reason; one that dies mid-stream cuts the response", async () => {
    const d1 = await startHttpWorker("dying-1");
    const d2 = await startHttpWorker("dying-2");
    procs.push(d1, d2);
    gw.registry.set({ id: "dies", workerToken: "worker-token-0-dies", http: { port: 1, targetConcurrency: 1, queueTimeoutMs: 2_000 } });
    addWorker(gw, "dies", d1);
    await until(async () => gw.http.pool("dies")!.readyCount() === 1, 10_000, "dying-1 ready");
    const t0 = Date.now();
    const r = await http("GET", u("dies", "/die-before"), { headers: AUTH });
    assert.equal(r.status, 502);
    assert.match(r.body.error, /worker dying-1 (closed the connection before answering|reset the connection, then refused a new one)/);
    assert.ok(Date.now() - t0 < 5000, "answered promptly");
    gw.http.pool("dies")!.remove("dying-1");
    addWorker(gw, "dies", d2);
    await until(async () => gw.http.pool("dies")!.readyCount() === 1, 10_000, "dying-2 ready");
    const t1 = Date.now();
    const cut = await rawRequest(u("dies", "/die-mid"), { headers: AUTH, timeoutMs: 10_000 }).then(() => undefined, (e) => e as Error & { partial?: string });
    assert.ok(cut instanceof Error, "the client sees an error, not a clean end");
    assert.notEqual(cut.message, "client timeout", "not a hang");
    assert.ok(Date.now() - t1 < 5000);
    // the dead worker is taken out: the next request waits for a ready one and says why it found none
    const after = await http("GET", u("dies", "/echo/x"), { headers: AUTH });
    assert.equal(after.status, 503);
    assert.match(after.body.error, /no worker became ready within 2 s/);
    assert.match(after.body.error, /dying-2: health check \/ping/);
  });

  it("least outstanding requests: 12 concurrent requests over 3 workers at target 4 go 4/4/4, a 13th waits for a slot", async () => {
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 13 }, () => http("GET", u("web", "/slow?s=1.5"), { headers: AUTH })));
    const took = Date.now() - t0;
    const per: Record<string, number> = {};
    for (const r of rs) {
      assert.equal(r.status, 200, r.text);
      per[r.body.worker] = (per[r.body.worker] ?? 0) + 1;
    }
    const counts = Object.values(per).sort();
    assert.deepEqual(Object.keys(per).sort(), ["w1", "w2", "w3"]);
    assert.deepEqual(counts, [4, 4, 5], JSON.stringify(per));
    // never above the target on one worker: the worker's own peak concurrency
    assert.ok(rs.every((r) => r.body.concurrent <= 4), JSON.stringify(rs.map((r) => r.body.concurrent)));
    assert.ok(took >= 2900, `the 13th request waited in the gateway for a slot (all done after ${took} ms)`);
  });

  it("least outstanding, not round robin: a worker busy with a long request gets no new ones while others are idle", async () => {
    const long = http("GET", u("web", "/slow?s=3"), { headers: AUTH });
    await sleep(200);
    const busy = (await until(async () => [...gw.http.pool("web")!.workers.values()].find((w) => w.inflight === 1), 2000, "one busy worker")).id;
    for (let i = 0; i < 6; i++) {
      const r = await http("GET", u("web", "/echo/q"), { headers: AUTH });
      assert.notEqual(r.body.worker, busy, `request ${i} went to the busy worker`);
    }
    assert.equal((await long).status, 200);
  });

  it("scale-in: a draining worker gets no new requests and finishes the one in flight", async () => {
    const pool = gw.http.pool("web")!;
    const inflight = http("GET", u("web", "/slow?s=1.5"), { headers: AUTH });
    const busy = (await until(async () => [...pool.workers.values()].find((w) => w.inflight === 1), 2000, "busy worker"));
    pool.upsert({ id: busy.id, host: busy.host, port: busy.port, draining: true });
    for (let i = 0; i < 4; i++) assert.notEqual((await http("GET", u("web", "/echo/d"), { headers: AUTH })).body.worker, busy.id);
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.body.worker, busy.id);
    pool.upsert({ id: busy.id, host: busy.host, port: busy.port }); // a new pod of the same name would be a new worker; here: undo
    pool.remove(busy.id);
    addWorker(gw, "web", procs.find((p) => p.name === busy.id)!);
    await until(async () => pool.readyCount() === 3, 5000, "worker back");
  });

  it("from zero: a request is held while the worker starts and initializes (/ping 204), pushed to KEDA at once, then answered", async () => {
    const { seen, metric, close } = kedaWatch(gw.scalerAddress, "cold");
    try {
      await until(async () => seen.length === 1, 3000, "initial state");
      assert.equal(seen[0].result, false);
      const t0 = Date.now();
      const held = http("GET", u("cold", "/echo/wake"), { headers: AUTH });
      const held2 = http("GET", u("cold", "/echo/wake2"), { headers: AUTH });
      await until(async () => seen.length >= 2, 3000, "activation pushed");
      assert.equal(seen[1].result, true);
      assert.ok(seen[1].at - t0 < 500, `activation pushed ${seen[1].at - t0} ms after the request`);
      assert.equal(await metric(), 2, "metric = waiting requests (2) / target");
      // the "pod" starts: listening, but initializing for 5 s (/ping 204)
      const w = await startHttpWorker("cold-1", { readyAfterS: 5 });
      procs.push(w);
      addWorker(gw, "cold", w);
      await until(async () => /initializing/.test([...gw.http.pool("cold")!.workers.values()][0].state), 3000, "first health check");
      assert.equal(gw.http.pool("cold")!.readyCount(), 0, "204 is not ready");
      assert.equal(gw.http.pool("cold")!.counts().waiting, 2, "still held");
      const [r1, r2] = await Promise.all([held, held2]);
      assert.equal(r1.status, 200);
      assert.equal(r2.status, 200);
      assert.equal(r1.body.worker, "cold-1");
      await until(async () => seen.length >= 3, 3000, "idle pushed");
      assert.equal(seen[2].result, false, "back to idle once answered");
      assert.equal(await metric(), 0);
    } finally {
      close();
    }
  });

  it("two replicas: a request held in one is in the KEDA signal of the other (the replica KEDA asks), pushed within a second", async () => {
    // KEDA keeps one gRPC connection to one replica behind the scaler Service; the request may wait in another
    const prefix = `h2${Math.random().toString(36).slice(2, 8)}`;
    const eps = [{ id: "split", workerToken: "worker-token-0-split", http: { port: 1, targetConcurrency: 1, queueTimeoutMs: 4_000 } }];
    const a = await startHttpGateway(redis.url, eps, { prefix });
    const b = await startHttpGateway(redis.url, eps, { prefix });
    const { seen, metric, close } = kedaWatch(a.scalerAddress, "split");
    try {
      await until(async () => seen.length === 1, 3000, "initial state");
      assert.equal(seen[0].result, false);
      const t0 = Date.now();
      const held = [1, 2].map((i) => http("GET", `${b.url}/http/split/x${i}`, { headers: AUTH })); // held in b, no worker
      await until(async () => seen.length >= 2, 3000, "activation pushed by a");
      assert.equal(seen[1].result, true);
      assert.ok(seen[1].at - t0 < 1500, `replica a pushed the activation ${seen[1].at - t0} ms after b got the request`);
      assert.equal(await metric(), 2, "a's metric counts the 2 requests waiting in b");
      const res = await Promise.all(held);
      assert.deepEqual(res.map((r) => r.status), [503, 503], "no worker came: b answers 503 after its queue timeout");
      await until(async () => seen.length >= 3, 3000, "idle pushed by a");
      assert.equal(seen[2].result, false);
      assert.equal(await metric(), 0);
      // a replica that goes away takes its counts with it
      const c = http("GET", `${b.url}/http/split/x3`, { headers: AUTH });
      await until(async () => (await metric()) === 1, 3000, "counted again");
      await b.close();
      await c.catch(() => undefined);
      assert.equal(await metric(), 0, "b closed: its field is gone");
    } finally {
      close();
      await a.close();
      await b.close();
    }
  });

  it("a held request times out with 503 and the reason when no worker becomes ready", async () => {
    const t0 = Date.now();
    const r = await http("GET", u("nobody", "/x"), { headers: AUTH });
    assert.equal(r.status, 503);
    assert.match(r.body.error, /endpoint nobody: no worker became ready within 0.8 s \(no worker pod is running yet\)/);
    assert.ok(Date.now() - t0 >= 700);
    const res = await fetch(u("nobody", "/x"), { headers: AUTH });
    assert.equal(res.headers.get("retry-after"), "1");
  });

  it("a client that gives up while held leaves the queue (it is not forwarded later)", async () => {
    gw.registry.set({ id: "giveup", workerToken: "worker-token-0-giveup", http: { port: 1, queueTimeoutMs: 10_000 } });
    // a plain node request (undici's fetch re-opens a spare connection after an abort)
    const req = nodeHttp.request(u("giveup", "/echo/x"), { headers: AUTH, agent: false });
    const failed = new Promise((r) => req.on("error", r));
    req.end();
    const pool = gw.http.pool("giveup")!;
    await until(async () => pool.counts().waiting === 1, 2000, "held");
    req.destroy();
    await failed;
    await until(async () => pool.counts().waiting === 0, 2000, "withdrawn");
  });

  it("pod discovery: a running pod with an IP is a worker, a terminating one drains, a finished one is removed", () => {
    gw.registry.set({ id: "pods", workerToken: "worker-token-0-pods", http: { port: 8000 } });
    const pod = (name: string, phase: string, ip?: string, deleting = false) => ({
      metadata: { name, labels: { "longshore.dev/endpoint": "pods" }, ...(deleting ? { deletionTimestamp: "2026-12-01T00:00:00Z" } : {}) },
      status: { phase, podIP: ip },
    });
    assert.equal(applyPod(gw.http, pod("p1", "Pending")), "pods");
    const pool = gw.http.pool("pods")!;
    assert.equal(pool.workers.size, 0);
    applyPod(gw.http, pod("p1", "Running", "10.0.0.7"));
    assert.equal(pool.workers.get("p1")?.host, "10.0.0.7");
    assert.equal(pool.portOf(pool.workers.get("p1")!), 8000);
    applyPod(gw.http, pod("p1", "Running", "10.0.0.7", true));
    assert.equal(pool.workers.get("p1")?.draining, true);
    applyPod(gw.http, pod("p1", "Succeeded", "10.0.0.7", true));
    assert.equal(pool.workers.has("p1"), false);
    assert.equal(applyPod(gw.http, { metadata: { name: "x" } }), undefined, "unlabelled pods are ignored");
  });
});
