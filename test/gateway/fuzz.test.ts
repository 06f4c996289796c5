// Fuzz pass (loopback only, bounded count, seeded): malformed, oversize, deeply nested, non-finite and
// random requests against every route (HEAD included, and the metrics port). The gateway must answer each
// with a status < 500, never crash, and still work after. A second pass runs during an induced Redis
// outage — the only time a 5xx (503) is a right answer — and the gateway must recover after it.
import { strict as assert } from "assert";
import * as net from "net";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { client, sleep, until, worker } from "./util";

// small deterministic PRNG (mulberry32) so a failure is reproducible from the seed
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("gateway: fuzz", function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let gw: TestGateway;
  before(async () => {
    redis = await startRedis();
    gw = await startGateway({
      redisUrl: redis.url,
      // keep long-polls short so random job-take / job-stop calls do not dominate the run time
      timings: { takeWaitMs: 50, stopWaitMs: 50 },
      options: {
        limits: { runBodyBytes: 256 * 1024, runsyncBodyBytes: 512 * 1024, streamChunkBytes: 16 * 1024 },
        // most fuzz requests carry wrong credentials: keep the failed-auth 429 out of the way of coverage
        authFailureLimit: { max: 1_000_000 },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await redis?.stop({ removeData: true });
  });

  it("800 random requests: no 5xx, no crash", async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261123);
    const r = rng(seed);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
    // header values must be latin-1 for fetch; bodies and paths get the full range
    const randAscii = (n: number) => Array.from({ length: n }, () => String.fromCharCode(33 + Math.floor(r() * 94))).join("");
    const randStr = (n: number) => Array.from({ length: n }, () => String.fromCharCode(Math.floor(r() * 0x2fff))).join("");
    const ids = ["x", "", "..", "%00", "a".repeat(300), "sync-1", "%2e%2e%2f", "😀", "id with space"];
    // a real job id so some requests hit existing records
    const real = (await client(gw).run({ input: 1 })).body.id as string;
    ids.push(real);
    const eps = ["ep", "nope", "", "EP", "e".repeat(80), "%", "ep/../ep"];
    const routes = [
      ["POST", "/v2/{ep}/run"], ["POST", "/v2/{ep}/runsync?wait={n}"], ["GET", "/v2/{ep}/status/{id}"],
      ["GET", "/v2/{ep}/status-sync/{id}?wait={n}"], ["GET", "/v2/{ep}/stream/{id}"], ["POST", "/v2/{ep}/cancel/{id}"],
      ["POST", "/v2/{ep}/retry/{id}"], ["POST", "/v2/{ep}/purge-queue"], ["GET", "/v2/{ep}/health"],
      ["GET", "/v2/{ep}/job-take/{w}?&job_in_progress={n}"], ["GET", "/v2/{ep}/job-take-batch/{w}?&batch_size={n}"],
      ["POST", "/v2/{ep}/job-done/{w}/{id}?&isStream={b}"], ["POST", "/v2/{ep}/job-stream/{w}/{id}"],
      ["GET", "/v2/{ep}/ping/{w}?job_id={id}"], ["GET", "/v2/{ep}/job-stop/{w}"], ["GET", "/metrics"], ["GET", "/readyz"],
      ["PUT", "/v2/{ep}/run"], ["DELETE", "/v2/{ep}/status/{id}"], ["GET", "/v2/{ep}/run"], ["POST", "/{junk}"],
      ["HEAD", "/v2/{ep}/job-take/{w}"], ["HEAD", "/v2/{ep}/stream/{id}"], ["HEAD", "/v2/{ep}/job-stop/{w}"], ["HEAD", "/v2/{ep}/status/{id}"],
      ["GET", "{metrics}/metrics"], ["POST", "{metrics}/metrics"], ["GET", "{metrics}/{junk}"],
    ] as const;
    const nums = ["0", "-1", "1e309", "abc", "99999999999999999999", "5", "", "1.5", "Infinity", "-Infinity", "NaN", "0x10"];
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
    const bodies = (): string | Buffer | undefined => {
      switch (Math.floor(r() * 18)) {
        case 12: return `{"input":${deep(5000)}}`;
        case 13: return `{"output":${deep(3000)},"status":"IN_PROGRESS"}`;
        case 14: return `{"input":1,"s3Config":{"a":${deep(600)}}}`;
        case 15: return '{"input":{"x":1e309},"policy":{"executionTimeout":1e309}}';
        case 16: return JSON.stringify({ input: 1, webhook: pick(["http://169.254.169.254/", "http://[::ffff:a9fe:a9fe]/", "http://2852039166/", "http://localhost:1/", "https://example.invalid/x"]) });
        case 17: return JSON.stringify({ input: 1, policy: { executionTimeout: Math.floor(r() * 20_000), ttl: Math.floor(r() * 20_000) } });
        case 0: return undefined;
        case 1: return "";
        case 2: return "{";
        case 3: return JSON.stringify({ input: { a: randStr(20) } });
        case 4: return JSON.stringify({ input: null, policy: { executionTimeout: -5, ttl: "x", lowPriority: "yes" } });
        case 5: return JSON.stringify({ input: 1, webhook: randStr(30) });
        case 6: return Buffer.from(Array.from({ length: 200 }, () => Math.floor(r() * 256)));
        case 7: return JSON.stringify({ input: "x".repeat(600 * 1024) }); // over every limit in this suite
        case 8: return "[".repeat(5000) + "]".repeat(5000); // deep nesting
        case 9: return JSON.stringify({ output: "y".repeat(20 * 1024) });
        case 10: return JSON.stringify({ error: { nested: [1, 2, { x: null }] }, status: "IN_PROGRESS" });
        default: return JSON.stringify([1, "two", { three: 3 }]);
      }
    };
    const ctypes = ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "", "application/json; charset=utf-16"];
    const auths = [`Bearer ${gw.apiKey}`, gw.apiKey, "worker-token-0-ep", "Bearer worker-token-0-ep", "Bearer", "", randAscii(10), "Basic Zm9vOmJhcg=="];
    const fill = (t: string) =>
      t.replace("{metrics}", gw.metricsUrl).replace("{ep}", encodeURIComponent(pick(eps)).replace("%2F", "/"))
        .replace("{id}", encodeURIComponent(pick(ids)))
        .replace("{w}", encodeURIComponent(pick(["w1", "", "bad worker", "w".repeat(300), "pod-abc-123"])))
        .replace("{n}", encodeURIComponent(pick(nums)))
        .replace("{b}", pick(["true", "false", "maybe"]))
        .replace("{junk}", encodeURIComponent(randStr(8)));

    const statuses = new Map<number, number>();
    const bad: string[] = [];
    const N = 800;
    const one = async () => {
      const [method, tmpl] = pick(routes);
      const path = fill(tmpl);
      const url = path.startsWith("http") ? path : gw.url + path;
      const headers: Record<string, string> = {};
      const a = pick(auths);
      if (a) headers.authorization = a;
      const ct = pick(ctypes);
      if (ct) headers["content-type"] = ct;
      const body = method === "GET" || method === "DELETE" || method === "HEAD" ? undefined : bodies();
      let status: number;
      try {
        const res = await fetch(url, { method, headers, body });
        await res.arrayBuffer();
        status = res.status;
      } catch (e) {
        // a connection error would mean the server crashed or reset us
        bad.push(`${method} ${url.slice(0, 120)} -> ${(e as Error).message}`);
        return;
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status >= 500) bad.push(`${method} ${url.slice(0, 120)} -> ${status}`);
    };
    for (let i = 0; i < N; i += 8) await Promise.all(Array.from({ length: 8 }, one));

    // raw malformed HTTP on the socket
    for (const raw of ["GARBAGE\r\n\r\n", "GET /v2/ep/status/x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "POST /v2/ep/run HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]) {
      const reply = await new Promise<string>((resolve) => {
        const s = net.connect(Number(new URL(gw.url).port), "127.0.0.1", () => s.write(raw));
        let d = "";
        s.on("data", (x) => (d += x));
        s.on("close", () => resolve(d));
        s.on("error", () => resolve(d));
        setTimeout(() => s.destroy(), 1000);
      });
      if (/^HTTP\/1\.1 5/.test(reply)) bad.push(`raw ${JSON.stringify(raw)} -> ${reply.slice(0, 40)}`);
    }

    assert.deepEqual(bad, [], `seed ${seed}: ${bad.length} bad answers`);
    assert.ok((statuses.get(400) ?? 0) > 0 && (statuses.get(401) ?? 0) > 0 && (statuses.get(404) ?? 0) > 0, JSON.stringify([...statuses]));
    // still healthy and still working
    assert.equal((await fetch(gw.url + "/readyz")).status, 200);
    const c = client(gw);
    const id = (await c.run({ input: "after fuzz" })).body.id;
    const w = worker(gw, "w-after");
    const end = Date.now() + 20_000;
    for (;;) {
      const t = await w.take();
      if (t.status === 200 && t.body.id === id) break;
      if (t.status === 200) await w.done(t.body.id, { output: null }); // jobs the fuzz pass submitted
      assert.ok(Date.now() < end, "job submitted after the fuzz pass was never handed out");
    }
    await w.done(id, { output: "fine" });
    assert.equal((await c.status(id)).body.output, "fine");
  });

  it("during an induced Redis outage 503 is the only 5xx, and the gateway recovers after it", async () => {
    const c = client(gw);
    const W = { authorization: "worker-token-ep" };
    const H = { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json" };
    // [method, path, body, headers, bad input: a 400 whether Redis is up or not]
    const calls: [string, string, string | undefined, Record<string, string>, boolean?][] = [
      ["POST", "/v2/ep/run", '{"input":1}', H], ["POST", "/v2/ep/runsync?wait=100", '{"input":1}', H], ["GET", "/v2/ep/status/x", undefined, H],
      ["GET", "/v2/ep/health", undefined, H], ["POST", "/v2/ep/cancel/x", undefined, H], ["POST", "/v2/ep/purge-queue", undefined, H],
      ["POST", "/v2/ep/job-done/w1/x", '{"output":1}', W], ["GET", "/v2/ep/ping/w1?job_id=x", undefined, W], ["GET", "/v2/ep/stream/x", undefined, H],
      ["POST", "/v2/ep/run", `{"input":${"[".repeat(5000)}${"]".repeat(5000)}}`, H, true], ["GET", "/v2/ep/status-sync/x?wait=Infinity", undefined, H, true],
    ];
    await redis.kill();
    const during: string[] = [];
    // requests sent while Redis is down; it comes back after 2 s, so some answer 503 and some complete late
    const inFlight = Promise.all(
      calls.map(async ([method, path, body, headers, bad]) => {
        const res = await fetch(gw.url + path, { method, headers, body, signal: AbortSignal.timeout(60_000) }).catch((e: Error) => e);
        if (res instanceof Error) return void during.push(`${method} ${path} -> ${res.message}`);
        await res.arrayBuffer();
        if (res.status >= 500 && res.status !== 503) during.push(`${method} ${path} -> ${res.status}`);
        if (bad && res.status !== 400) during.push(`${method} ${path} (bad input) -> ${res.status}, not 400`);
      }),
    );
    await sleep(2000);
    await redis.restart();
    await inFlight;
    assert.deepEqual(during, [], "during the outage: only 503s, no connection errors");
    await until(async () => (await fetch(gw.url + "/readyz")).status === 200, 20_000, "readyz after Redis came back");
    const id = (await c.run({ input: "after outage" })).body.id;
    assert.ok(id, "accepts jobs again");
  });
});
