// Process lifecycle and configuration: env contract, graceful SIGTERM, Kubernetes endpoint discovery
// (list + watch of labelled Secrets, against a local stand-in for the API server).
import { strict as assert } from "assert";
import * as http from "http";
import { optionsFromEnv } from "../../gateway/src/config";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway } from "../helpers/gateway";
import { client, http as req, sleep, until, worker } from "./util";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const secret = (name: string, rv: string, data: Record<string, string>) => ({
  metadata: { name, resourceVersion: rv, labels: { "longshore.dev/endpoint": data.endpointId ?? name } },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

describe("gateway: configuration and lifecycle", function () {
  this.timeout(40_000);
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop({ removeData: true });
  });

  describe("env contract (optionsFromEnv)", () => {
    it("reads PORT, SCALER_PORT, REDIS_URL, LONGSHORE_API_KEYS, LONGSHORE_ENDPOINTS", () => {
      const o = optionsFromEnv({
        PORT: "8081",
        SCALER_PORT: "9091",
        REDIS_URL: "redis://r:6379",
        LONGSHORE_API_KEYS: "a, b,,c",
        LONGSHORE_ENDPOINTS: JSON.stringify([{ id: "ep1", workerToken: "tok-1234567890ab", executionTimeoutMs: 5000, pingIntervalMs: 10000, minWorkers: 0 }]),
      });
      assert.equal(o.port, 8081);
      assert.equal(o.scalerPort, 9091);
      assert.equal(o.redisUrl, "redis://r:6379");
      assert.deepEqual(o.apiKeys, ["a", "b", "c"]);
      // unknown settings keys (the component also writes minWorkers, idleTimeoutSeconds...) are ignored
      assert.deepEqual(o.endpoints, [{ id: "ep1", workerToken: "tok-1234567890ab", executionTimeoutMs: 5000, pingIntervalMs: 10000 }]);
      assert.equal(o.kubernetes, undefined);
      const k = optionsFromEnv({ LONGSHORE_ENDPOINT_DISCOVERY: "kubernetes", LONGSHORE_NAMESPACE: "longshore" });
      assert.deepEqual(k.kubernetes, { namespace: "longshore" });
      assert.equal(k.port, 8080);
      assert.equal(k.scalerPort, 9090);
    });

    it("names the variable and the rule on bad input", () => {
      assert.throws(() => optionsFromEnv({ PORT: "http" }), /PORT must be a non-negative integer/);
      assert.throws(() => optionsFromEnv({ LONGSHORE_ENDPOINTS: "{" }), /LONGSHORE_ENDPOINTS is not valid JSON/);
      assert.throws(() => optionsFromEnv({ LONGSHORE_ENDPOINTS: "[{\"id\":\"x\"}]" }), /LONGSHORE_ENDPOINTS\[0\]\.workerToken/);
      assert.throws(() => optionsFromEnv({ LONGSHORE_ENDPOINTS: "[{\"id\":\"a b\",\"workerToken\":\"0123456789abcdef\"}]" }), /\.id must be a DNS-1123 label .*at most 40 characters/);
      assert.throws(() => optionsFromEnv({ LONGSHORE_ENDPOINTS: JSON.stringify([{ id: "x".repeat(41), workerToken: "0123456789abcdef" }]) }), /\.id must be a DNS-1123 label/);
      assert.throws(() => optionsFromEnv({ LONGSHORE_ENDPOINTS: JSON.stringify([{ id: "Ep_1", workerToken: "0123456789abcdef" }]) }), /\.id must be a DNS-1123 label/);
      assert.throws(() => optionsFromEnv({ LONGSHORE_ENDPOINTS: JSON.stringify([{ id: "a", workerToken: "0123456789abcde" }]) }), /workerToken must be a string of at least 16 characters/);
      assert.throws(() => optionsFromEnv({ LONGSHORE_ENDPOINT_DISCOVERY: "consul" }), /must be "static" or "kubernetes"/);
      assert.throws(() => optionsFromEnv({ LONGSHORE_ENDPOINTS: JSON.stringify([{ id: "a", workerToken: "0123456789abcdef", scalerType: "CPU" }]) }), /scalerType must be QUEUE_DELAY or REQUEST_COUNT/);
    });
  });

  it("an endpoint's pingIntervalMs stretches its lease to 3.5 pings (a slow-pinging worker keeps its job)", async () => {
    const gw = await startGateway({ redisUrl: redis.url, endpoints: [{ id: "slowping", workerToken: "worker-token-0-sp", pingIntervalMs: 2000 }] });
    try {
      const c = client(gw, "slowping");
      const id = (await c.run({ input: 1 })).body.id;
      await worker(gw, "w-sp", gw.endpoints[0]).take();
      const t0 = Date.now();
      await sleep(4500); // past the 3 s test lease, within 3.5 x 2 s
      assert.equal((await c.status(id)).body.status, "IN_PROGRESS");
      await until(async () => (await c.status(id)).body.status === "IN_QUEUE", 10_000, "re-queue after 7 s without pings");
      assert.ok(Date.now() - t0 >= 6000, `re-queued after ${Date.now() - t0} ms`);
    } finally {
      await gw.close();
    }
  });

  it("a changed pingIntervalMs applies to the next lease (settings re-read, not cached at registration)", async () => {
    const ep = { id: "reping", workerToken: "worker-token-0-reping" };
    const gw = await startGateway({ redisUrl: redis.url, endpoints: [ep] });
    try {
      // as a MODIFIED endpoint Secret does: same endpoint, new settings
      gw.registry!.set({ ...ep, pingIntervalMs: 2000 });
      const c = client(gw, "reping");
      const id = (await c.run({ input: 1 })).body.id;
      await worker(gw, "w-rp", ep).take();
      await sleep(4500); // past the 3 s test lease, within 3.5 x 2 s
      assert.equal((await c.status(id)).body.status, "IN_PROGRESS");
    } finally {
      await gw.close();
    }
  });

  it("SIGTERM: stops accepting, answers waiting long-polls, finishes in-flight requests, exits 0", async () => {
    const gw = await startGateway({ redisUrl: redis.url, mode: "child", timings: { takeWaitMs: 20_000 } });
    const w = worker(gw, "w-term");
    const c = client(gw);
    const t0 = Date.now();
    const longPoll = w.take();
    const inflight = c.runsync({ input: "x" }, 20_000);
    await sleep(500);
    const exited = gw.kill("SIGTERM");
    const [lp, rs] = await Promise.all([longPoll, inflight]);
    await exited;
    // the long-poll either got the runsync job or was released with 204 at once, not after 20 s
    assert.ok(lp.status === 204 || lp.status === 200, `take -> ${lp.status}`);
    assert.equal(rs.status, 200, rs.text);
    assert.ok(["IN_QUEUE", "IN_PROGRESS"].includes(rs.body.status), "runsync answered with its current status");
    assert.ok(rs.body.id);
    assert.ok(Date.now() - t0 < 10_000, "did not wait for the long-poll timeouts");
    assert.match(gw.logs(), /SIGTERM, shutting down/);
    assert.match(gw.logs(), /closed cleanly/);
  });

  it("Kubernetes discovery: lists labelled Secrets, then follows ADDED / MODIFIED / DELETED from the watch", async () => {
    const seenAuth: string[] = [];
    let watchRes: http.ServerResponse | undefined;
    const api = http.createServer((rq, rs) => {
      seenAuth.push(String(rq.headers.authorization));
      const u = new URL(rq.url!, "http://x");
      if (u.pathname !== "/api/v1/namespaces/longshore/secrets" || u.searchParams.get("labelSelector") !== "longshore.dev/endpoint") {
        rs.statusCode = 404;
        return rs.end("{}");
      }
      if (u.searchParams.get("watch")) {
        rs.writeHead(200, { "content-type": "application/json" });
        watchRes = rs;
        return;
      }
      rs.end(JSON.stringify({ metadata: { resourceVersion: "10" }, items: [secret("sec-k1", "9", { endpointId: "k1", workerToken: "k1-token-aaaa-aaaa", settings: '{"executionTimeoutMs":1000}' })] }));
    });
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", () => r()));
    const apiUrl = `http://127.0.0.1:${(api.address() as any).port}`;
    const gw = await startGateway({ redisUrl: redis.url, endpoints: [], options: { kubernetes: { namespace: "longshore", apiUrl, token: "sa-token" } } });
    try {
      const k1 = { id: "k1", workerToken: "k1-token-aaaa-aaaa" };
      assert.equal((await client(gw, "k1").run({ input: 1 })).status, 200);
      assert.equal((await client(gw, "k2").run({ input: 1 })).status, 404);
      assert.equal((await worker(gw, "w", k1).ping()).status, 200);
      assert.ok(seenAuth.every((a) => a === "Bearer sa-token"));
      // settings from the Secret apply: executionTimeoutMs 1000
      const id = (await client(gw, "k1").run({ input: "t" })).body.id;
      const wk = worker(gw, "w1", k1);
      let t = await wk.take();
      while (t.body.id !== id) t = await wk.take();
      await until(async () => (await client(gw, "k1").status(id)).body.status === "TIMED_OUT", 5000, "endpoint setting executionTimeoutMs");

      await until(async () => !!watchRes, 5000, "watch request");
      watchRes!.write(JSON.stringify({ type: "ADDED", object: secret("sec-k2", "11", { endpointId: "k2", workerToken: "k2-token-bbbb-bbbb" }) }) + "\n");
      await until(async () => (await client(gw, "k2").run({ input: 1 })).status === 200, 5000, "k2 added");
      watchRes!.write(JSON.stringify({ type: "MODIFIED", object: secret("sec-k1", "12", { endpointId: "k1", workerToken: "k1-token-rotated" }) }) + "\n");
      await until(async () => (await worker(gw, "w", { id: "k1", workerToken: "k1-token-rotated" }).ping()).status === 200, 5000, "k1 token rotated");
      assert.equal((await worker(gw, "w", k1).ping()).status, 401, "the old worker token no longer works");
      watchRes!.write(JSON.stringify({ type: "DELETED", object: secret("sec-k2", "13", { endpointId: "k2", workerToken: "k2-token-bbbb-bbbb" }) }) + "\n");
      await until(async () => (await client(gw, "k2").run({ input: 1 })).status === 404, 5000, "k2 deleted");
      // a Secret with a bad token is ignored (logged), not fatal
      watchRes!.write(JSON.stringify({ type: "ADDED", object: secret("sec-bad", "14", { endpointId: "bad", workerToken: "short" }) }) + "\n");
      await sleep(200);
      assert.equal((await client(gw, "bad").run({ input: 1 })).status, 404);
      assert.equal((await req("GET", `${gw.url}/readyz`)).status, 200);
    } finally {
      watchRes?.end();
      await gw.close();
      api.close();
    }
  });

  it("Kubernetes discovery without RBAC: start-up fails naming the permission", async () => {
    const api = http.createServer((_rq, rs) => {
      rs.statusCode = 403;
      rs.end('{"kind":"Status","message":"secrets is forbidden"}');
    });
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", () => r()));
    try {
      await assert.rejects(
        startGateway({ redisUrl: redis.url, endpoints: [], options: { kubernetes: { namespace: "ns", apiUrl: `http://127.0.0.1:${(api.address() as any).port}`, token: "t" } } }),
        /HTTP 403.*needs RBAC get\/list\/watch on secrets/,
      );
    } finally {
      api.close();
    }
  });
});
