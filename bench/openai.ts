// OpenAI-route streaming benchmark (prints figures; not a test). `npm run bench:openai`
//
// Time to first streamed chunk through the gateway vs the worker's own yield, in the same run: BENCH_OAI_N
// sequential `stream: true` chat completions on /v2/<ep>/openai/v1/chat/completions (HTTP, SSE parsed by the
// client) served by a protocol worker in this process (job-take long-poll -> job-stream per token -> job-done,
// what runpod.serverless does per yield). Per request it records, on one clock:
//   yield:  the worker's job-stream POST for its first token (its own cost of yielding: the baseline)
//   relay:  from that POST's start to the client reading the token's SSE event (the gateway's added latency)
//   ttft:   from the client's request to that event (queueing + hand-out + relay)
// Real redis-server, the gateway in its own process (ts-node, as the tests run it), loopback keep-alive.
import * as http from "http";
import { startRedis } from "../test/helpers/redis";
import { startGateway } from "../test/helpers/gateway";

const N = Number(process.env.BENCH_OAI_N ?? 200);
const TOKENS = Number(process.env.BENCH_OAI_TOKENS ?? 8);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ method: "POST", host: u.hostname, port: u.port, path: u.pathname + u.search, agent, headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let b = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (b += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ method: "GET", host: u.hostname, port: u.port, path: u.pathname + u.search, agent, headers }, (res) => {
      let b = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (b += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on("error", reject);
    req.end();
  });
}

const now = () => Number(process.hrtime.bigint()) / 1e6;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main() {
  const redis = await startRedis({ appendfsync: "everysec" });
  const ep = { id: "bench", workerToken: "bench-worker-token-1" };
  const gw = await startGateway({ redisUrl: redis.url, endpoints: [ep], mode: "child", env: { LOG_LEVEL: "warn" } });
  const wh = { authorization: ep.workerToken };
  const base = `${gw.baseUrl}/${ep.id}`;
  const yieldAt = new Map<string, number>();
  const yieldMs: number[] = [];
  const relay: number[] = [];
  const ttft: number[] = [];
  let stop = false;

  const workerLoop = (async () => {
    while (!stop) {
      const t = await get(`${base}/job-take/bench-w1?&job_in_progress=0`, wh);
      if (t.status !== 200) continue;
      const job = JSON.parse(t.body) as { id: string };
      for (let i = 0; i < TOKENS; i++) {
        const chunk = `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: ` t${i}` }, finish_reason: null }] })}\n\n`;
        const t0 = now();
        if (i === 0) yieldAt.set(job.id, t0);
        await post(`${base}/job-stream/bench-w1/${job.id}?&isStream=false`, wh, JSON.stringify({ output: chunk }));
        if (i === 0) yieldMs.push(now() - t0);
      }
      await post(`${base}/job-done/bench-w1/${job.id}?&isStream=true`, wh, JSON.stringify({ output: [] }));
    }
  })();

  const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], stream: true });
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const u = new URL(`${base}/openai/v1/chat/completions`);
      const t0 = now();
      const req = http.request({ method: "POST", host: u.hostname, port: u.port, path: u.pathname, agent, headers: { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
        const id = String(res.headers["x-longshore-job-id"]);
        let buf = "";
        let first = false;
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          buf += d;
          if (!first && buf.includes("\n\n")) {
            first = true;
            const t = now();
            ttft.push(t - t0);
            relay.push(t - (yieldAt.get(id) ?? NaN));
            yieldAt.delete(id);
          }
        });
        res.on("end", () => (buf.endsWith("data: [DONE]\n\n") ? resolve() : reject(new Error(`stream did not end with [DONE]: ${buf.slice(-200)}`))));
      });
      req.on("error", reject);
      req.end(body);
    });

  console.log(`OpenAI-route streaming benchmark — ${N} sequential stream:true chat completions, ${TOKENS} chunks each; gateway in its own process (ts-node), redis appendfsync=everysec, loopback keep-alive`);
  console.log(`machine: ${require("os").cpus().length} cores, load average ${require("os").loadavg().map((x: number) => x.toFixed(1)).join(" ")}`);
  for (let i = 0; i < Math.min(20, N); i++) await one(); // warm-up
  relay.length = ttft.length = yieldMs.length = 0;
  for (let i = 0; i < N; i++) await one();
  stop = true;
  const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} ms  p95 ${pct(xs, 95).toFixed(2)} ms`;
  console.log(`  worker's own yield (job-stream POST of the first token):  ${f(yieldMs)}`);
  console.log(`  first token: worker yield -> client reads its SSE event:  ${f(relay)}`);
  console.log(`  relay / yield (p50):                                      ${(pct(relay, 50) / pct(yieldMs, 50)).toFixed(2)}x`);
  console.log(`  time to first token from the client's request:            ${f(ttft)}`);
  await Promise.race([workerLoop, new Promise((r) => setTimeout(r, 3000))]);
  await gw.close();
  await redis.stop({ removeData: true });
  agent.destroy();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
