// Gateway benchmark (prints figures; not a test). `npm run bench:gateway`
//
//  1. added latency: sequential /runsync through gateway + Redis queue + a protocol worker, minus the
//     time of calling the same handler directly; p50 / p99 over BENCH_LAT_N requests.
//  2. throughput: BENCH_JOBS jobs submitted with /run by BENCH_CLIENTS concurrent clients while N worker
//     loops (job-take -> handler -> job-done) drain them; end-to-end jobs/s for each N in BENCH_WORKERS.
//
// Everything is real: redis-server (AOF, appendfsync as BENCH_FSYNC: default everysec as ServerlessPlatform
// deploys it; "always" for the strict mode), the gateway as its own process (compiled, as the image runs it;
// BENCH_GATEWAY_RUN=ts-node for source), HTTP over loopback with keep-alive. Alongside the wall-clock
// figures it prints CPU time per job of the gateway, redis-server and the bench's own clients/workers
// (from /proc): on a shared machine those move far less with the other load than jobs/s does.
import { execFileSync } from "child_process";
import * as http from "http";
import * as path from "path";
import { startRedis } from "../test/helpers/redis";
import { startGateway, TestGateway } from "../test/helpers/gateway";

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const LAT_N = env("BENCH_LAT_N", 2000);
const JOBS = env("BENCH_JOBS", 6000);
const CLIENTS = env("BENCH_CLIENTS", 32);
const WORKERS = (process.env.BENCH_WORKERS ?? "1,4,16").split(",").map(Number);
const FSYNC = (process.env.BENCH_FSYNC ?? "everysec") as "always" | "everysec";

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
function call(method: string, url: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ method, host: u.hostname, port: u.port, path: u.pathname + u.search, agent, headers: { ...headers, ...(body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {}) } }, (res) => {
      let b = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (b += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

// the benchmark handler: what a trivial inference handler returns
const handler = (input: { n: number }) => ({ out: input.n * 2 });

function workerLoop(gw: TestGateway, id: string, stop: { v: boolean }, count: { n: number }) {
  const ep = gw.endpoints[0];
  const h = { authorization: ep.workerToken };
  const base = `${gw.baseUrl}/${ep.id}`;
  return (async () => {
    while (!stop.v) {
      const t = await call("GET", `${base}/job-take/${id}?&job_in_progress=0`, h);
      if (t.status !== 200) continue;
      const job = JSON.parse(t.body);
      const output = handler(job.input);
      await call("POST", `${base}/job-done/${id}/${job.id}?&isStream=false`, { ...h, "content-type": "application/x-www-form-urlencoded" }, JSON.stringify({ output }));
      count.n++;
    }
  })();
}

// CPU seconds used so far by this process's children (the gateway and redis-server) and by this process
// (clients + worker loops), from /proc (Linux). On a shared machine the wall-clock figures move with the
// other load; CPU per job does not, so it is printed next to them.
function cpuSeconds(): { gateway: number; redis: number; bench: number } {
  const fs = require("fs") as typeof import("fs");
  const tick = 100; // USER_HZ on Linux
  const read = (pid: string) => {
    const st = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / tick, cmd: fs.readFileSync(`/proc/${pid}/cmdline`, "utf8") };
  };
  const out = { gateway: 0, redis: 0, bench: read(String(process.pid)).cpu };
  try {
    for (const pid of fs.readdirSync("/proc")) {
      if (!/^[0-9]+$/.test(pid)) continue;
      let p;
      try {
        p = read(pid);
      } catch {
        continue;
      }
      if (p.ppid !== process.pid) continue;
      if (p.cmd.includes("redis-server")) out.redis += p.cpu;
      else if (p.cmd.includes("gateway")) out.gateway += p.cpu;
    }
  } catch {
    // not Linux: no CPU figures
  }
  return out;
}
const cpuLine = (a: ReturnType<typeof cpuSeconds>, b: ReturnType<typeof cpuSeconds>, jobs: number) =>
  `CPU per job: gateway ${(((b.gateway - a.gateway) * 1e6) / jobs).toFixed(0)} µs, redis ${(((b.redis - a.redis) * 1e6) / jobs).toFixed(0)} µs, bench clients+workers ${(((b.bench - a.bench) * 1e6) / jobs).toFixed(0)} µs`;

// Redis commands per job in each phase, by command and in total (INFO commandstats; commands run inside
// Lua scripts are counted too, so evalsha is the number of script calls). A figure that does not move with
// the machine's load. BENCH_REDIS_STATS=0 turns it off.
const REDIS_STATS = process.env.BENCH_REDIS_STATS !== "0";
function commandStats(port: number): Map<string, number> {
  const out = execFileSync("redis-cli", ["-p", String(port), "info", "commandstats"]).toString();
  const m = new Map<string, number>();
  for (const l of out.split("\n")) {
    const r = /^cmdstat_([^:]+):calls=(\d+)/.exec(l.trim());
    if (r) m.set(r[1], Number(r[2]));
  }
  return m;
}
function statsLine(a: Map<string, number>, b: Map<string, number>, jobs: number): string {
  const per = [...b].map(([k, v]) => [k, (v - (a.get(k) ?? 0)) / jobs] as const).filter(([k]) => k !== "info");
  const total = per.reduce((x, [, v]) => x + v, 0);
  const shown = per.filter(([, v]) => v >= 0.05).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`);
  return `total ${total.toFixed(1)} — ${shown.join(", ")}`;
}

// The substrate alone: a bare BullMQ producer + Worker (concurrency n) on the same Redis, same handler and
// job count, no HTTP and no job record. Longshore's jobs/s divided by this is the cost of the protocol and
// the record on top of a queue, comparable across machines.
async function bareBullmq(redisUrl: string, port: number, n: number): Promise<{ jobsPerS: number; redisCpuUs: number; stats: string }> {
  const { Queue, Worker } = require("bullmq") as typeof import("bullmq");
  const IORedis = require("ioredis") as typeof import("ioredis").default;
  const conn = new IORedis(redisUrl, { maxRetriesPerRequest: null });
  const name = `bare-${n}-${Date.now()}`;
  const queue = new Queue(name, { connection: conn });
  let done = 0;
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((r) => (finished = r));
  const c0 = cpuSeconds();
  const s0 = REDIS_STATS ? commandStats(port) : undefined;
  const t0 = Date.now();
  const worker = new Worker(name, async (job) => handler(job.data), { connection: conn, concurrency: n, removeOnComplete: { count: 0 } });
  worker.on("completed", () => ++done >= JOBS && finished());
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < JOBS) {
      next++;
      await queue.add("job", { n: next }, { removeOnComplete: true });
    }
  }));
  await allDone;
  const dt = (Date.now() - t0) / 1000;
  const c1 = cpuSeconds();
  const stats = s0 ? statsLine(s0, commandStats(port), JOBS) : "";
  await worker.close();
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  conn.disconnect();
  return { jobsPerS: JOBS / dt, redisCpuUs: ((c1.redis - c0.redis) * 1e6) / JOBS, stats };
}

const pct = (a: number[], p: number) => a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))];

async function main() {
  // BENCH_GATEWAY_RUN=dist (default): the gateway as the image runs it, `node dist/gateway/src/main.js`
  // compiled with gateway/tsconfig.build.json (what gateway/Dockerfile does), NODE_ENV=production.
  // BENCH_GATEWAY_RUN=ts-node: from source through ts-node, as the tests run it. ts-node costs CPU on every
  // request, not only at start: it loads node's REPL, which loads `domain`, and from then on every
  // EventEmitter.emit goes through the domain-aware path (figures before 2026-11-23 10:00 were taken this way).
  const RUN = process.env.BENCH_GATEWAY_RUN ?? "dist";
  if (RUN !== "dist" && RUN !== "ts-node") throw new Error(`BENCH_GATEWAY_RUN must be dist or ts-node, got ${RUN}`);
  const root = path.resolve(__dirname, "..");
  const nodeArgs = process.env.BENCH_GATEWAY_NODE_ARGS ? process.env.BENCH_GATEWAY_NODE_ARGS.split(" ") : [];
  if (RUN === "dist") {
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(root, "gateway/tsconfig.build.json")], { cwd: root, stdio: "inherit" });
    // The test helper starts `node [nodeArgs] -r ts-node/register gateway/src/main.ts`. Node runs the first
    // argument that is not an option as the program, so with the compiled main.js last in nodeArgs it runs
    // that, and the helper's trailing arguments only end up in process.argv (which the gateway ignores).
    nodeArgs.push(path.join(root, "dist/gateway/src/main.js"));
  }
  const redis = await startRedis({ appendfsync: FSYNC });
  const gw = await startGateway({
    redisUrl: redis.url,
    mode: "child",
    endpoints: [{ id: "bench", workerToken: "bench-worker-token", rateLimits: { run: 1e9, runsync: 1e9, status: 1e9 } }],
    timings: { takeWaitMs: 10_000, leaseMs: 30_000, stalledIntervalMs: 5_000 },
    env: { LOG_LEVEL: "warn", ...(RUN === "dist" ? { NODE_ENV: "production" } : {}) },
    // BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the gateway process
    nodeArgs,
  });
  const auth = { authorization: `Bearer ${gw.apiKey}` };
  const base = `${gw.baseUrl}/bench`;
  console.log(`gateway benchmark — redis appendfsync=${FSYNC}, gateway in its own process (${RUN === "dist" ? "compiled, node dist/gateway/src/main.js" : "ts-node"}), loopback HTTP keep-alive`);
  console.log(`machine: ${require("os").cpus().length} cores, load average ${require("os").loadavg().map((x: number) => x.toFixed(1)).join(" ")}`);

  // 1. added latency
  {
    // direct call cost of the handler
    const direct: number[] = [];
    for (let i = 0; i < LAT_N; i++) {
      const t0 = process.hrtime.bigint();
      handler({ n: i });
      direct.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    direct.sort((a, b) => a - b);
    const stop = { v: false };
    const count = { n: 0 };
    const loops = [workerLoop(gw, "lat-w1", stop, count), workerLoop(gw, "lat-w2", stop, count)];
    const warm = 200;
    const lat: number[] = [];
    let c0 = cpuSeconds();
    let s0 = REDIS_STATS ? commandStats(redis.port) : new Map<string, number>();
    for (let i = 0; i < LAT_N + warm; i++) {
      const t0 = process.hrtime.bigint();
      const r = await call("POST", `${base}/runsync?wait=10000`, auth, JSON.stringify({ input: { n: i } }));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 200 || !r.body.includes("COMPLETED")) throw new Error(`runsync: ${r.status} ${r.body}`);
      if (i >= warm) lat.push(ms);
      if (i === warm - 1) {
        c0 = cpuSeconds();
        if (REDIS_STATS) s0 = commandStats(redis.port);
      }
    }
    const c1 = cpuSeconds();
    const s1 = REDIS_STATS ? commandStats(redis.port) : undefined;
    stop.v = true;
    lat.sort((a, b) => a - b);
    const d50 = pct(direct, 50);
    const d99 = pct(direct, 99);
    console.log(`\nadded latency of /runsync (gateway + queue + worker round trip) over ${LAT_N} sequential jobs:`);
    console.log(`  direct handler call: p50 ${d50.toFixed(4)} ms  p99 ${d99.toFixed(4)} ms`);
    console.log(`  through the gateway: p50 ${pct(lat, 50).toFixed(2)} ms  p99 ${pct(lat, 99).toFixed(2)} ms  max ${lat[lat.length - 1].toFixed(2)} ms`);
    console.log(`  overhead:            p50 ${(pct(lat, 50) - d50).toFixed(2)} ms  p99 ${(pct(lat, 99) - d99).toFixed(2)} ms   (target <= 3 ms / <= 15 ms)`);
    console.log(`  ${cpuLine(c0, c1, LAT_N)}`);
    if (s1) console.log(`  Redis commands per job: ${statsLine(s0, s1, LAT_N)}`);
    // release the two latency workers (their long-polls end with the next jobs or their wait)
    await call("POST", `${base}/run`, auth, JSON.stringify({ input: { n: -1 } }));
    await call("POST", `${base}/run`, auth, JSON.stringify({ input: { n: -1 } }));
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 11_000))]);
  }

  // 2. throughput
  console.log(`\nthroughput: ${JOBS} jobs via /run from ${CLIENTS} concurrent clients, drained by N worker loops:`);
  for (const n of WORKERS) {
    await call("POST", `${base}/purge-queue`, auth);
    const stop = { v: false };
    const count = { n: 0 };
    const c0 = cpuSeconds();
    const s0 = REDIS_STATS ? commandStats(redis.port) : undefined;
    const t0 = Date.now();
    const loops = Array.from({ length: n }, (_, i) => workerLoop(gw, `tp-${n}-${i}`, stop, count));
    let next = 0;
    let submitted = 0;
    const clients = Array.from({ length: CLIENTS }, async () => {
      while (next < JOBS) {
        next++;
        const r = await call("POST", `${base}/run`, auth, JSON.stringify({ input: { n: next } }));
        if (r.status !== 200) throw new Error(`run: ${r.status} ${r.body}`);
        submitted++;
      }
    });
    await Promise.all(clients);
    const tSubmit = Date.now() - t0;
    while (count.n < JOBS) await new Promise((r) => setTimeout(r, 5));
    const dt = (Date.now() - t0) / 1000;
    stop.v = true;
    const c1 = cpuSeconds();
    const s1 = REDIS_STATS ? commandStats(redis.port) : undefined;
    console.log(`  N=${String(n).padStart(2)} workers: ${(JOBS / dt).toFixed(0).padStart(5)} jobs/s end-to-end (${submitted} accepted in ${(tSubmit / 1000).toFixed(2)} s = ${((submitted * 1000) / tSubmit).toFixed(0)}/s submit rate; all done in ${dt.toFixed(2)} s)   (target >= 2000 jobs/s)`);
    const bare = await bareBullmq(redis.url, redis.port, n);
    console.log(`         bare BullMQ (producer + Worker concurrency ${n}, same Redis): ${bare.jobsPerS.toFixed(0)} jobs/s, redis CPU ${bare.redisCpuUs.toFixed(0)} µs/job -> Longshore/BullMQ ratio ${(JOBS / dt / bare.jobsPerS).toFixed(2)}`);
    if (bare.stats) console.log(`         bare BullMQ Redis commands per job: ${bare.stats}`);
    console.log(`         ${cpuLine(c0, c1, JOBS)}; load average now ${require("os").loadavg()[0].toFixed(1)}`);
    if (s0 && s1) console.log(`         Redis commands per job: ${statsLine(s0, s1, JOBS)}`);
    // let the loops' pending long-polls end
    for (let i = 0; i < n; i++) void call("POST", `${base}/run`, auth, JSON.stringify({ input: { n: -1 } }));
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 11_000))]);
  }

  await gw.close();
  await redis.stop({ removeData: true });
  agent.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
