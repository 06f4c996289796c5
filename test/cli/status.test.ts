// `longshore status` against a live gateway (real Redis): the --json shape (the admin API's answer), the
// screen as a person sees it (the command runs with --watch in a real terminal, tmux, and the pane is
// captured), the errors a user meets (wrong key, missing flags), and `longshore logs` filtering one job.
import { strict as assert } from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as path from "path";
import { Writable } from "stream";
import { main } from "../../cli/main";
import { duration, formatStatus } from "../../cli/status";
import { logsArgs, runLogs } from "../../cli/logs";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { client, sleep, worker } from "../gateway/util";

class Capture extends Writable {
  text = "";
  _write(chunk: any, _enc: string, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}
async function cli(args: string[]) {
  const out = new Capture();
  const err = new Capture();
  const code = await main(args, out, err);
  return { code, out: out.text, err: err.text };
}

const ADMIN = "status-admin-key-0123456789";
const ROOT = path.resolve(__dirname, "../..");

describe("longshore status (CLI)", function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let gw: TestGateway;
  let failedId: string;
  let pinger: NodeJS.Timeout | undefined;

  before(async () => {
    redis = await startRedis();
    gw = await startGateway({
      redisUrl: redis.url,
      endpoints: [{ id: "alpha", workerToken: "alpha-token-aaaa-aaaa" }, { id: "beta", workerToken: "beta-token-bbbb-bbbb" }],
      options: { adminKeys: [ADMIN] },
    });
    const a = client(gw, "alpha");
    const w = worker(gw, "alpha-w1", gw.endpoints[0]);
    const ok = (await a.run({ input: 1 })).body.id;
    assert.equal((await w.take()).body.id, ok);
    await sleep(150);
    await w.done(ok, { output: 1 });
    failedId = (await a.run({ input: 2 })).body.id;
    assert.equal((await w.take()).body.id, failedId);
    await w.done(failedId, { error: "CUDA out of memory: tried to allocate 2.00 GiB" });
    await w.ping();
    // a live worker keeps pinging (the screen test starts ts-node in tmux, which takes longer than workerGoneMs)
    pinger = setInterval(() => void w.ping().catch(() => undefined), 1000);
    await client(gw, "beta").run({ input: "waiting" });
  });
  after(async () => {
    clearInterval(pinger);
    await gw?.close();
    await redis?.stop({ removeData: true });
  });

  it("--json prints the admin status: one object per endpoint with workers, queue, latency and recent failures", async () => {
    const r = await cli(["status", "--gateway-url", gw.url, "--admin-key", ADMIN, "--json"]);
    assert.equal(r.code, 0, r.err);
    const s = JSON.parse(r.out);
    assert.deepEqual(Object.keys(s).sort(), ["at", "endpoints"]);
    assert.deepEqual(s.endpoints.map((e: any) => e.id), ["alpha", "beta"]);
    const [alpha, beta] = s.endpoints;
    assert.deepEqual(Object.keys(alpha).sort(), ["id", "jobs", "latency", "queue", "recentFailures", "status", "workerList", "workers"]);
    assert.equal(alpha.status, "healthy");
    assert.deepEqual(alpha.workers, { idle: 1, running: 0, ready: 1, initializing: 0, throttled: 0, unhealthy: 0 });
    assert.deepEqual(alpha.workerList.map((w: any) => [w.id, w.state]), [["alpha-w1", "idle"]]);
    assert.deepEqual(alpha.jobs, { completed: 1, failed: 1, retried: 0 });
    assert.equal(alpha.latency.samples, 2);
    assert.deepEqual(Object.keys(alpha.latency.executionMs).sort(), ["p50", "p90", "p98"]);
    assert.equal(alpha.recentFailures.length, 1);
    assert.equal(alpha.recentFailures[0].id, failedId);
    assert.equal(alpha.recentFailures[0].status, "FAILED");
    assert.equal(alpha.recentFailures[0].worker, "alpha-w1");
    assert.match(alpha.recentFailures[0].error, /CUDA out of memory/);
    assert.deepEqual(Object.keys(beta.queue).sort(), ["inProgress", "oldestWaitingSeconds", "waiting", "waitingLowPriority"]);
    assert.equal(beta.queue.waiting, 1);
    assert.ok(beta.queue.oldestWaitingSeconds >= 0);
    assert.equal(beta.latency.delayMs, null);
    // --endpoint narrows it
    const one = JSON.parse((await cli(["status", "--gateway-url", gw.url, "--admin-key", ADMIN, "--json", "--endpoint", "beta"])).out);
    assert.deepEqual(one.endpoints.map((e: any) => e.id), ["beta"]);
  });

  it("the screen, as a terminal shows it (tmux, --watch redraws)", async function () {
    const session = `ls-status-${process.pid}`;
    const cmd = [process.execPath, "-r", "ts-node/register", path.join(ROOT, "cli/main.ts"), "status", "--gateway-url", gw.url, "--admin-key", ADMIN, "--watch", "--interval", "1"]
      .map((a) => `'${a}'`).join(" ");
    execFileSync("tmux", ["new-session", "-d", "-s", session, "-x", "150", "-y", "40", `TS_NODE_TRANSPILE_ONLY=true ${cmd}`], { cwd: ROOT });
    try {
      let pane = "";
      const end = Date.now() + 30_000;
      while (Date.now() < end) {
        pane = execFileSync("tmux", ["capture-pane", "-p", "-t", session], { encoding: "utf8" });
        if (pane.includes("Recent failures")) break;
        await sleep(300);
      }
      const lines = pane.split("\n");
      assert.match(lines[0], new RegExp(`^longshore status — ${gw.url.replace(/[./]/g, "\\$&")} — \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC$`), pane);
      const header = lines.find((l) => l.startsWith("ENDPOINT"))!;
      assert.match(header, /^ENDPOINT\s+STATUS\s+IDLE\s+RUN\s+INIT\s+THROT\s+UNHLTH\s+QUEUED\s+IN-PROG\s+OLDEST\s+DELAY p50\/p90\s+EXEC p50\/p90$/);
      assert.match(lines.find((l) => l.startsWith("alpha"))!, /^alpha\s+healthy\s+1\s+0\s+0\s+0\s+0\s+0\s+0\s+-\s+\S+ \/ \S+\s+\S+ \/ \S+$/);
      assert.match(lines.find((l) => l.startsWith("beta"))!, /^beta\s+healthy\s+0\s+0\s+0\s+0\s+0\s+1\s+0\s+\S+\s+-\s+-$/);
      const fail = lines.find((l) => l.includes(failedId))!;
      assert.match(fail, /^\s+\d\d:\d\d:\d\d\s+alpha\s+\S+\s+FAILED\s+CUDA out of memory: tried to allocate 2.00 GiB$/);
      assert.ok(lines.some((l) => l === "One job's logs: longshore logs <job-id> --endpoint <id>"), pane);
      assert.ok(lines.every((l) => l.length <= 150), "nothing wider than the terminal");
      // --watch redraws: a new job shows up in beta's queue without restarting the command
      await client(gw, "beta").run({ input: "second" });
      const end2 = Date.now() + 10_000;
      let redrawn = false;
      while (Date.now() < end2 && !redrawn) {
        pane = execFileSync("tmux", ["capture-pane", "-p", "-t", session], { encoding: "utf8" });
        redrawn = /^beta\s+healthy\s+0\s+0\s+0\s+0\s+0\s+2\s/m.test(pane);
        await sleep(300);
      }
      assert.ok(redrawn, `the watch redrew with 2 queued on beta:\n${pane}`);
    } finally {
      spawnSync("tmux", ["kill-session", "-t", session]);
    }
  });

  it("a client API key or a wrong key: exit 1 saying what key is needed; missing flags: exit 2", async () => {
    const r = await cli(["status", "--gateway-url", gw.url, "--admin-key", gw.apiKey]);
    assert.equal(r.code, 1);
    assert.match(r.err, /refused the admin key \(401\).*not a client API key/);
    const m = await cli(["status", "--gateway-url", gw.url]);
    assert.equal(m.code, 2);
    assert.match(m.err, /--admin-key is required/);
    const u = await cli(["status", "--gateway-url", "gateway:8080", "--admin-key", ADMIN]);
    assert.equal(u.code, 2);
    assert.match(u.err, /must be an http\(s\) URL/);
  });

  it("formatStatus: an unhealthy endpoint's reason and throttled workers are listed under Problems; durations read as people write them", () => {
    const text = formatStatus({
      at: Date.parse("2026-12-01T10:00:00Z"),
      endpoints: [{
        id: "broken", status: "unhealthy", reason: "workers cannot start: 1 of 1 pod(s) crash-looping (broken-1: crash-looping: container worker exit code 3 (Error), 4 restarts)",
        workers: { idle: 0, running: 0, ready: 0, initializing: 0, throttled: 1, unhealthy: 1 },
        workerList: [{ id: "broken-1", state: "unhealthy", reason: "crash-looping" }, { id: "broken-2", state: "throttled", reason: "cannot be scheduled: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu." }],
        queue: { waiting: 3, waitingLowPriority: 0, inProgress: 0, oldestWaitingSeconds: 125 },
        jobs: { completed: 0, failed: 0, retried: 0 },
        recentFailures: [],
        latency: { samples: 0, delayMs: null, executionMs: null },
      }],
    }, { gatewayUrl: "http://gw:8080", namespace: "longshore" });
    assert.match(text, /^broken\s+UNHEALTHY\s+0\s+0\s+0\s+1\s+1\s+3\s+0\s+2m05s\s+-\s+-$/m);
    assert.match(text, /^Problems\n {2}broken: workers cannot start: 1 of 1 pod\(s\) crash-looping/m);
    assert.match(text, /^ {2}broken\/broken-2 throttled: cannot be scheduled: .*Insufficient nvidia.com\/gpu/m);
    assert.match(text, /^Recent failures\n {2}none$/m);
    assert.match(text, /^ {2}or: kubectl logs -n longshore -l longshore.dev\/endpoint=<id> --prefix --tail=-1 \| grep <job-id>$/m);
    assert.deepEqual([duration(850), duration(12_345), duration(245_000), duration(7_500_000)], ["850ms", "12.3s", "4m05s", "2h05m"]);
  });

  it("longshore logs: the gateway's and the endpoint's worker pods' lines that mention the job, via kubectl", async () => {
    const calls: string[][] = [];
    const out = new Capture();
    const err = new Capture();
    const code = await runLogs({
      jobId: "job-123", endpoint: "hello", namespace: "longshore", out, err,
      kubectl: async (args) => {
        calls.push(args);
        return args.includes("app.kubernetes.io/name=longshore-gateway")
          ? `[pod/longshore-gateway-1/gateway] {"level":40,"ep":"hello","jobId":"job-123","msg":"lease lapsed (worker gone): job re-queued"}\n[pod/longshore-gateway-1/gateway] {"msg":"other"}\n`
          : `[pod/hello-worker-a/worker] {"requestId": "job-123", "message": "Started.", "level": "INFO"}\n[pod/hello-worker-a/worker] {"requestId": "job-999", "message": "Started."}\n`;
      },
    });
    assert.equal(code, 0);
    assert.deepEqual(out.text.trim().split("\n").map((l) => l.slice(0, l.indexOf("]") + 1)), ["[pod/longshore-gateway-1/gateway]", "[pod/hello-worker-a/worker]"]);
    assert.deepEqual(calls[1], logsArgs({ namespace: "longshore" }, "longshore.dev/endpoint=hello,app.kubernetes.io/component=worker"));
    assert.ok(calls[1].includes("--prefix"));
    const none = await runLogs({ jobId: "nope", endpoint: "hello", namespace: "longshore", out: new Capture(), err, kubectl: async () => "" });
    assert.equal(none, 1);
    assert.match(err.text, /no line mentions job nope/);
  });
});
