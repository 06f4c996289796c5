// `longshore test` against a live gateway + redis-server with a real worker process: pass, mismatch,
// timeout, FAILED (exit codes and the table), both file formats, bad files, and --local mode.
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Writable } from "stream";
import { main } from "../../cli/main";
import { parseTests, TestsFileError } from "../../cli/testsFile";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { compiledFixture, ROOT, spawnWorker, stopWorkers, WorkerProc } from "../worker/harness";

class Capture extends Writable {
  text = "";
  _write(chunk: any, _enc: string, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new Capture();
  const err = new Capture();
  const code = await main(args, out, err);
  return { code, out: out.text, err: err.text };
}

describe("longshore test (CLI runner)", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let gw: TestGateway;
  let dir: string;
  const workers: WorkerProc[] = [];
  const file = (name: string, content: unknown) => {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, typeof content === "string" ? content : JSON.stringify(content));
    return p;
  };
  const endpointArgs = () => ["--endpoint-url", `${gw.baseUrl}/ep`, "--api-key", gw.apiKey];

  before(async function () {
    this.timeout(60_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-cli-"));
    redis = await startRedis();
    gw = await startGateway({ redisUrl: redis.url });
    workers.push(spawnWorker(gw, { env: { CONCURRENCY: "2" } }));
  });
  after(async () => {
    await stopWorkers(workers);
    await gw?.close();
    await redis?.stop({ removeData: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") for (const w of workers) process.stderr.write(`--- worker ---\n${w.logs().slice(-3000)}\n`);
  });

  it("all tests pass: exit 0, a table with PASS rows (test-runner format, output and expectedOutput)", async () => {
    const f = file("pass/.github/tests.json", [
      { input: { kind: "sync", value: 1 }, output: { echo: 1, extra: null } },
      { input: { kind: "string" }, expectedOutput: "Hello World", hardwareConfig: { endpointConfig: { gpuIds: "ADA_24" } } },
      { input: { kind: "async", value: "q" } },
    ]);
    const r = await cli(["test", "--file", f, ...endpointArgs()]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /3 test\(s\) from .* \(test-runner format\)/);
    const rows = r.out.split("\n").filter((l) => /^\d+\s+\|/.test(l));
    assert.equal(rows.length, 3, r.out);
    for (const row of rows) assert.match(row, /\| PASS\s+\| COMPLETED/);
    assert.match(r.out, /3\/3 tests passed, 0 failed/);
  });

  it("an output mismatch fails: exit 1, the row says what was expected and what came back", async () => {
    const f = file("mismatch.json", [
      { input: { kind: "string" }, output: "Hello World" },
      { input: { kind: "sync", value: 2 }, output: { echo: 3, extra: null } },
    ]);
    const r = await cli(["test", "--file", f, ...endpointArgs()]);
    assert.equal(r.code, 1, r.out + r.err);
    const row = r.out.split("\n").find((l) => /^2\s+\|/.test(l))!;
    assert.match(row, /FAIL\s+\| COMPLETED/);
    assert.match(row, /output mismatch: expected \{"echo":3,"extra":null\} got \{"echo":2,"extra":null\}/);
    assert.match(r.out, /1\/2 tests passed, 1 failed/);
  });

  it("a FAILED job fails the test with the worker's error message", async () => {
    const f = file("failed.json", [{ input: { kind: "throws" }, output: "never" }]);
    const r = await cli(["test", "--file", f, ...endpointArgs()]);
    assert.equal(r.code, 1);
    assert.match(r.out, /FAIL\s+\| FAILED\s+\|.*TypeError: handler exploded on purpose/);
  });

  it("a job past --timeout fails as TIMEOUT and is cancelled on the endpoint", async () => {
    const f = file("timeout.json", [{ input: { kind: "abortable", ms: 20_000 } }]);
    const t0 = Date.now();
    const r = await cli(["test", "--file", f, "--timeout", "1.5", ...endpointArgs()]);
    assert.equal(r.code, 1);
    assert.ok(Date.now() - t0 < 10_000);
    assert.match(r.out, /FAIL\s+\| TIMEOUT\s+\|.*no terminal status after 2 s/);
    const jobId = /\(job ([^)]+)\) — TIMEOUT/.exec(r.out)?.[1];
    assert.ok(jobId, r.out);
    const st = await fetch(`${gw.baseUrl}/ep/status/${jobId}`, { headers: { Authorization: `Bearer ${gw.apiKey}` } }).then((x) => x.json() as Promise<any>);
    assert.equal(st.status, "CANCELLED");
  });

  it("shows progress while waiting (one line per change when not a terminal)", async () => {
    const f = file("progress.json", [{ input: { kind: "progress", holdMs: 800 }, output: "progress done" }]);
    const r = await cli(["test", "--file", f, ...endpointArgs()]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /… \[1\/1\] test 1: IN_PROGRESS [\d.]+s progress: \{"step":1,"of":2\}/);
  });

  it("hub format (.runpod/tests.json) with names and per-test timeouts (ms)", async () => {
    const f = file("hubproj/.runpod/tests.json", {
      tests: [
        { name: "hello", input: { kind: "string" }, timeout: 10_000 },
        { name: "too slow", input: { kind: "abortable", ms: 20_000 }, timeout: 1000 },
      ],
      config: { gpuTypeId: "NVIDIA GeForce RTX 4090", gpuCount: 1 },
    });
    const r = await cli(["test", "--file", f, ...endpointArgs()]);
    assert.equal(r.code, 1);
    assert.match(r.out, /\(hub format\)/);
    assert.match(r.out, /1\s+\| hello\s+\| PASS/);
    assert.match(r.out, /2\s+\| too slow\s+\| FAIL\s+\| TIMEOUT/);
  });

  it("bad usage and bad files exit 2 with a clear reason, before submitting anything", async () => {
    const bad = file("bad.json", [{ output: 1 }]);
    let r = await cli(["test", "--file", bad, ...endpointArgs()]);
    assert.equal(r.code, 2);
    assert.match(r.err, /test #1: has no "input"/);
    r = await cli(["test", "--file", file("notjson.json", "{nope"), ...endpointArgs()]);
    assert.equal(r.code, 2);
    assert.match(r.err, /not valid JSON/);
    r = await cli(["test", "--file", path.join(dir, "missing.json"), ...endpointArgs()]);
    assert.equal(r.code, 2);
    assert.match(r.err, /tests file not found/);
    r = await cli(["test", "--file", file("ok.json", [{ input: {} }])]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--endpoint-url is required/);
    r = await cli(["test", "--file", file("ok2.json", [{ input: {} }]), ...endpointArgs(), "--timeout", "abc"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--timeout must be a positive number/);
    r = await cli(["frobnicate"]);
    assert.equal(r.code, 2);
    r = await cli(["test", "--local", "--file", file("ok3.json", [{ input: {} }])]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--local needs exactly one of --command/);
  });

  it("a wrong API key is reported per test, not as a crash (exit 1)", async () => {
    const f = file("key.json", [{ input: { kind: "string" } }]);
    const r = await cli(["test", "--file", f, "--endpoint-url", `${gw.baseUrl}/ep`, "--api-key", "wrong-key"]);
    assert.equal(r.code, 1);
    assert.match(r.out, /ERROR\s+\|.*submitting failed: POST \/v2\/ep\/run answered 401/);
  });

  it("--local --command: runs the worker against a private gateway + Redis, then drains it", async () => {
    const f = file("local/.github/tests.json", [
      { input: { kind: "sync", value: "L" }, output: { echo: "L", extra: null } },
      { input: { kind: "generator", n: 2 }, output: [] },
    ]);
    const r = await cli(["test", "--file", f, "--local", "--command", `${process.execPath} ${compiledFixture()}`, "--cwd", ROOT]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /local gateway http:\/\/127\.0\.0\.1:\d+, worker local-/);
    assert.match(r.out, /2\/2 tests passed, 0 failed/);
  });

  it("--local fails fast with the worker's output when the worker dies", async () => {
    const f = file("dies.json", [{ input: { kind: "string" } }]);
    const r = await cli(["test", "--file", f, "--local", "--command", `${process.execPath} -e "console.error('boom at start'); process.exit(3)"`, "--timeout", "20"]);
    assert.equal(r.code, 1);
    assert.match(r.out, /worker exited early \(code 3\)/);
    assert.match(r.err, /boom at start/);
  });

  it("--local interrupted (SIGINT) stops submitting, drains and removes the worker, exits 1", async () => {
    const f = file("interrupt.json", [{ input: { kind: "abortable", ms: 60_000 } }, { input: { kind: "string" } }]);
    const pidFile = path.join(dir, "worker.pid");
    const cmd = `/bin/sh -c "echo \\$\\$ > ${pidFile}; exec ${process.execPath} ${compiledFixture()}"`;
    const p = spawn(process.execPath, ["-r", "ts-node/register", path.join(ROOT, "cli/main.ts"), "test", "--file", f, "--local", "--command", cmd], {
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
    });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!/IN_PROGRESS/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /IN_PROGRESS/);
    const workerPid = Number(fs.readFileSync(pidFile, "utf8"));
    p.kill("SIGINT");
    assert.equal(await exited, 1, out);
    assert.match(out, /interrupted by SIGINT/);
    assert.match(out, /2\s+\| test 2\s+\| FAIL\s+\| ERROR\s+\| 0\.0s \| not run: interrupted by SIGINT/);
    assert.throws(() => process.kill(workerPid, 0), /ESRCH/, "the worker process was left running");
  });

  it("the bin runs as a process (node -r ts-node/register cli/main.ts) with the same exit codes", async () => {
    // async spawn: the gateway runs in this process, so a spawnSync would block it
    const run = (f: string) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const p = spawn(process.execPath, ["-r", "ts-node/register", path.join(ROOT, "cli/main.ts"), "test", "--file", f, ...endpointArgs()], {
          env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
        });
        let stdout = "";
        p.stdout.on("data", (d) => (stdout += d));
        p.stderr.on("data", (d) => (stdout += d));
        p.on("exit", (code) => resolve({ code, stdout }));
      });
    const ok = await run(file("bin.json", [{ input: { kind: "string" }, output: "Hello World" }]));
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /1\/1 tests passed/);
    const bad = await run(file("bin-bad.json", [{ input: { kind: "string" }, output: "Goodbye" }]));
    assert.equal(bad.code, 1, bad.stdout);
  });
});

describe("tests file parsing", () => {
  it("reads both formats and names the test and rule on errors", () => {
    const a = parseTests(JSON.stringify([{ input: 1, output: null }]));
    assert.deepEqual(a.tests[0].expected, { value: null }, "an expected null is still compared");
    const h = parseTests(JSON.stringify({ tests: [{ name: "n", input: {}, timeout: 5 }], config: { x: 1 } }));
    assert.equal(h.format, "hub");
    assert.equal(h.tests[0].timeoutMs, 5);
    assert.equal(h.tests[0].expected, undefined);
    assert.throws(() => parseTests("[]"), TestsFileError);
    assert.throws(() => parseTests(JSON.stringify({ tests: [{ input: {}, timeout: "10" }] })), /test #1: "timeout" must be a positive number/);
    assert.throws(() => parseTests(JSON.stringify({ foo: 1 })), /expected an array of tests/);
  });
});
