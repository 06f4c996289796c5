// HTTP-endpoint proxy benchmark (prints figures; not a test). `npm run bench:http`
//
//  1. added latency: BENCH_HTTP_N sequential requests (GET, and POST with a 1 KB JSON body), each sent once
//     straight to the upstream server and once through the gateway's proxy, interleaved so both see the same
//     machine load; p50 / p99 of each and of the difference (proxy - direct, per pair).
//  2. throughput: BENCH_HTTP_CLIENTS concurrent keep-alive clients for BENCH_HTTP_SECONDS, direct, through a
//     bare node:http proxy (the floor of a node proxy, a baseline measured in the same run) and through the
//     gateway (BENCH_HTTP_UPSTREAMS upstream processes): requests/s and each proxy's CPU time per request.
//
// Real processes over loopback: the upstream is a node http server (bench/httpUpstream.js, the cheapest
// possible worker so the proxy's cost is what is measured), the gateway its own process (bench/httpGatewayProc.ts:
// createGateway with the upstreams as the endpoint's workers), redis-server as the gateway needs it.
// BENCH_HTTP_PROF=<dir> writes a V8 CPU profile of the gateway process there.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { startRedis } from "../test/helpers/redis";

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const N = env("BENCH_HTTP_N", 2000);
const CLIENTS = env("BENCH_HTTP_CLIENTS", 32);
const SECONDS = env("BENCH_HTTP_SECONDS", 5);
const UPSTREAMS = env("BENCH_HTTP_UPSTREAMS", 2);
const root = path.resolve(__dirname, "..");

function startProc(args: string[], extraEnv: Record<string, string>): Promise<{ proc: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { cwd: root, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true", ...extraEnv }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    proc.stdout!.on("data", (d) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) resolve({ proc, line: m[1] });
    });
    proc.once("exit", (c) => reject(new Error(`${args.join(" ")} exited ${c}: ${out}`)));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
function call(url: URL, method: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ method, host: url.hostname, port: url.port, path: url.pathname, agent, headers: { authorization: "Bearer bench-key", ...(body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {}) } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve(res.statusCode) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x: number) => x.toFixed(3);

function cpuOf(pid: number): number {
  const st = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function latency(direct: URL, proxied: URL, method: string, body?: string) {
  const d: number[] = [];
  const p: number[] = [];
  const diff: number[] = [];
  for (let i = 0; i < 200; i++) {
    await call(direct, method, body);
    await call(proxied, method, body);
  }
  for (let i = 0; i < N; i++) {
    const order = i % 2 === 0;
    const once = async (u: URL) => {
      const t = process.hrtime.bigint();
      await call(u, method, body);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    let a: number, b: number;
    if (order) {
      a = await once(direct);
      b = await once(proxied);
    } else {
      b = await once(proxied);
      a = await once(direct);
    }
    d.push(a);
    p.push(b);
    diff.push(b - a);
  }
  console.log(`  ${method.padEnd(4)} direct p50 ${ms(pct(d, 50))} ms p99 ${ms(pct(d, 99))} ms | through the gateway p50 ${ms(pct(p, 50))} ms p99 ${ms(pct(p, 99))} ms | added p50 ${ms(pct(diff, 50))} ms p99 ${ms(pct(diff, 99))} ms`);
  return pct(diff, 50);
}

async function throughput(urls: URL[], label: string, gatewayPid?: number): Promise<number> {
  let n = 0;
  let stop = false;
  const cpu0 = gatewayPid ? cpuOf(gatewayPid) : 0;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    const u = urls[i % urls.length];
    while (!stop) {
      await call(u, "GET");
      n++;
      if (Date.now() - t0 >= SECONDS * 1000) stop = true;
    }
  }));
  const s = (Date.now() - t0) / 1000;
  const cpu = gatewayPid ? ((cpuOf(gatewayPid) - cpu0) / n) * 1000 : undefined;
  console.log(`  ${label}: ${(n / s).toFixed(0)} requests/s (${CLIENTS} clients, ${s.toFixed(1)} s)${cpu !== undefined ? `, its CPU ${cpu.toFixed(3)} ms per request` : ""}`);
  return n / s;
}

async function main() {
  const redis = await startRedis({ appendfsync: "everysec" });
  const procs: ChildProcess[] = [];
  try {
    const ups: number[] = [];
    for (let i = 0; i < UPSTREAMS; i++) {
      const u = await startProc([path.join(root, "bench/httpUpstream.js")], {});
      procs.push(u.proc);
      ups.push(Number(u.line));
    }
    const g = await startProc([...(process.env.BENCH_HTTP_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_HTTP_PROF}`] : []), "-r", "ts-node/register", path.join(root, "bench/httpGatewayProc.ts")], { REDIS_URL: redis.url, BENCH_UPSTREAMS: ups.join(",") });
    procs.push(g.proc);
    const gwUrl = g.line;
    const bare = await startProc([path.join(root, "bench/httpUpstream.js")], { PROXY_TO: ups.join(",") });
    procs.push(bare.proc);
    const load = fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0];
    console.log(`HTTP-endpoint proxy benchmark (${new Date().toISOString().slice(0, 10)}, load average ${load}, ${UPSTREAMS} upstream node http servers)`);
    console.log(`1. added latency, ${N} sequential requests each way, interleaved:`);
    const direct = new URL(`http://127.0.0.1:${ups[0]}/predict`);
    const proxied = new URL(`${gwUrl}/http/bench/predict`);
    const added = await latency(direct, proxied, "GET");
    await latency(direct, proxied, "POST", JSON.stringify({ features: Array.from({ length: 100 }, (_, i) => i * 1.2345678) }).padEnd(1024, " "));
    console.log(`   target <= 1 ms added at p50: ${added <= 1 ? "met" : "NOT met"} (${ms(added)} ms)`);
    console.log(`2. throughput:`);
    const directRate = await throughput(ups.map((p) => new URL(`http://127.0.0.1:${p}/predict`)), "direct to the upstreams");
    const bareRate = await throughput([new URL(`http://127.0.0.1:${bare.line}/predict`)], "through a bare node:http proxy (baseline)", bare.proc.pid);
    const proxyRate = await throughput([proxied], "through one gateway", g.proc.pid);
    console.log(`   through the gateway / direct: ${(proxyRate / directRate).toFixed(2)}; / the bare proxy: ${(proxyRate / bareRate).toFixed(2)}`);
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await redis.stop({ removeData: true });
    agent.destroy();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
