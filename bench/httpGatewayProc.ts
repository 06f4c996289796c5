// The gateway process of `npm run bench:http`: createGateway with one HTTP endpoint whose workers are the
// upstream ports given in BENCH_UPSTREAMS (what the pod watch would add). Prints its URL once ready.
import { createGateway } from "../gateway/src/index";

async function main() {
  const ports = (process.env.BENCH_UPSTREAMS ?? "").split(",").filter(Boolean).map(Number);
  const gw = await createGateway({
    redisUrl: process.env.REDIS_URL!,
    port: 0,
    host: "127.0.0.1",
    scalerPort: 0,
    metricsPort: null,
    apiKeys: ["bench-key"],
    endpoints: [{ id: "bench", workerToken: "worker-token-0-bench", http: { port: 1, targetConcurrency: Number(process.env.BENCH_TARGET ?? 64) } }],
    logLevel: "warn",
    prefix: "bench-http",
  });
  ports.forEach((p, i) => gw.http.poolFor("bench").upsert({ id: `w${i}`, host: "127.0.0.1", port: p }));
  while (gw.http.pool("bench")!.readyCount() < ports.length) await new Promise((r) => setTimeout(r, 50));
  process.stdout.write(`READY ${gw.url}\n`);
  process.on("SIGTERM", () => void gw.close().then(() => process.exit(0)));
}
main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e));
  process.exit(1);
});
