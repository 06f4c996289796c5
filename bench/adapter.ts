// longshore-adapter benchmark (prints figures; not a test). `npm run bench:adapter`
//
// The adapter's own time per job, the program's run excluded: BENCH_N sequential /runsync jobs through a real
// gateway + redis-server, the adapter as the worker running a trivial program (`cat`: the input JSON from stdin
// is the output). The adapter logs, per job, the time before the program starts (input decode, templates, job
// dir), the program's run (fork/exec to exit: the "process start" this figure excludes), and the time after it
// (output parse, result post to the gateway). Printed: p50/p90 of each, and, as a baseline measured in the same
// run, the same jobs answered by the TypeScript SDK worker (in-process handler, no process per job) — the
// client-seen /runsync latency of both, so the ratio (adapter − program) / SDK says what the adapter costs
// relative to a native worker on this machine.
import { spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { startRedis } from "../test/helpers/redis";
import { startGateway, workerEnv, TestGateway } from "../test/helpers/gateway";
import { adapterBinary } from "../test/helpers/adapter";
import { compiledFixture } from "../test/worker/harness";

const N = Number(process.env.BENCH_N ?? 300);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function runsync(gw: TestGateway, ep: string, input: unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${gw.baseUrl}/${ep}/runsync?wait=30000`, {
    method: "POST", headers: { Authorization: `Bearer ${gw.apiKey}`, "Content-Type": "application/json" }, body: JSON.stringify({ input }),
  });
  const body: any = await res.json();
  if (body.status !== "COMPLETED") throw new Error(`job ${JSON.stringify(body)}`);
  return Number(process.hrtime.bigint() - t0) / 1e3;
}

function start(cmd: string[], env: Record<string, string>): { proc: ChildProcess; logs: () => string } {
  let out = "";
  const proc = spawn(cmd[0], cmd.slice(1), { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  return { proc, logs: () => out };
}

async function main() {
  const bin = adapterBinary();
  const redis = await startRedis();
  const gw = await startGateway({ redisUrl: redis.url, endpoints: [{ id: "adapter", workerToken: "tok-adapter-0123" }, { id: "sdk", workerToken: "tok-sdk-0123456" }] });
  const jobs = fs.mkdtempSync(path.join(os.tmpdir(), "bench-adapter-"));
  const adapter = start([bin, "run", "--", "cat"], {
    ...workerEnv(gw.url, gw.endpoints[0], "bench-adapter", { pingIntervalMs: 10000 }),
    LONGSHORE_ADAPTER_TIMINGS: "1", LONGSHORE_JOBS_DIR: jobs,
  });
  const sdk = start([process.execPath, compiledFixture()], workerEnv(gw.url, gw.endpoints[1], "bench-sdk", { pingIntervalMs: 10000 }));
  try {
    const input = { kind: "sync", value: 1, prompt: "a small prompt", n: 3 };
    for (let i = 0; i < 20; i++) { await runsync(gw, "adapter", input); await runsync(gw, "sdk", input); } // warm-up
    const before = (adapter.logs().match(/timing /g) ?? []).length;
    const a: number[] = [], s: number[] = [];
    for (let i = 0; i < N; i++) {
      a.push(await runsync(gw, "adapter", input));
      s.push(await runsync(gw, "sdk", input));
    }
    await new Promise((r) => setTimeout(r, 200));
    const t = [...adapter.logs().matchAll(/timing prep_us=(\d+) process_us=(\d+) post_us=(\d+)/g)].slice(before).map((m) => m.slice(1).map(Number));
    const prep = t.map((x) => x[0]), proc = t.map((x) => x[1]), post = t.map((x) => x[2]);
    const own = t.map((x) => x[0] + x[2]);
    const f = (us: number) => (us / 1000).toFixed(2) + " ms";
    console.log(`longshore-adapter per-job overhead, ${t.length} sequential jobs (program: cat), ${os.cpus().length} CPUs, ${new Date().toISOString().slice(0, 10)}`);
    console.log(`  adapter before the program (input, templates, job dir)   p50 ${f(pct(prep, 50))}  p90 ${f(pct(prep, 90))}`);
    console.log(`  adapter after the program (output, job-done POST)        p50 ${f(pct(post, 50))}  p90 ${f(pct(post, 90))}`);
    console.log(`  adapter's own time per job (before + after)              p50 ${f(pct(own, 50))}  p90 ${f(pct(own, 90))}`);
    console.log(`  the program's run (fork/exec → exit; excluded above)     p50 ${f(pct(proc, 50))}  p90 ${f(pct(proc, 90))}`);
    console.log(`  /runsync latency, adapter worker                         p50 ${f(pct(a, 50))}  p90 ${f(pct(a, 90))}`);
    console.log(`  /runsync latency, TS SDK worker (baseline, same run)     p50 ${f(pct(s, 50))}  p90 ${f(pct(s, 90))}`);
    const exProc = pct(a, 50) - pct(proc, 50);
    console.log(`  adapter /runsync minus the program's run, p50            ${f(exProc)}  = ${(exProc / pct(s, 50)).toFixed(2)} × the SDK worker's`);
  } finally {
    adapter.proc.kill("SIGKILL");
    sdk.proc.kill("SIGKILL");
    await gw.close();
    await redis.stop({ removeData: true });
    fs.rmSync(jobs, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
