// longshore-adapter (adapter/, Go) as the worker of a REAL gateway on a real redis-server, with the real
// runpod-sdk as the client: a CLI runs once per job (argument templates, stdin, exit codes, cancel, timeout,
// streaming, SIGTERM drain), and HTTP-on-queue forwards jobs to a stand-in HTTP server (fixtures/http-model.js).
import { strict as assert } from "assert";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import runpodSdk from "runpod-sdk";
import { startRedis, TestRedis, freePort } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { adapterBinary } from "../helpers/adapter";
import { execFileSync, spawn, ChildProcess } from "child_process";
import { Client, spawnWorker, stopWorkers, WorkerProc, sleep } from "./harness";

const HTTP_MODEL = path.join(__dirname, "fixtures/http-model.js");

describe("longshore-adapter as the worker (command and HTTP-on-queue)", function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let gw: TestGateway;
  let bin: string;
  let jobsDir: string;
  const workers: WorkerProc[] = [];
  const EPS = ["cli", "fail", "slow", "stream", "drain", "http", "files"];
  const idx = (ep: string) => EPS.indexOf(ep);
  const adapter = (ep: string, spec: object, program: string[], env: Record<string, string> = {}) => {
    const w = spawnWorker(gw, {
      endpointIndex: idx(ep),
      cmd: [bin, "run", "--", ...program],
      env: { LONGSHORE_WORKER_SPEC: JSON.stringify(spec), LONGSHORE_JOBS_DIR: jobsDir, ...env },
    });
    workers.push(w);
    return w;
  };
  const client = (ep: string) => new Client(gw, ep);
  const sdk = (ep: string) => runpodSdk(gw.apiKey, { baseUrl: gw.baseUrl }).endpoint(ep)!;

  before(async function () {
    this.timeout(300_000); // the first go build on 2 cores
    bin = adapterBinary();
    jobsDir = fs.mkdtempSync(path.join(os.tmpdir(), "adapter-jobs-"));
    redis = await startRedis();
    gw = await startGateway({
      redisUrl: redis.url,
      endpoints: EPS.map((id) => ({ id, workerToken: `worker-token-0-${id}` })),
      options: { limits: { minExecutionTimeoutMs: 1000 } as any, webhookAllowCidrs: ["127.0.0.1/32"] },
    });
  });
  after(async () => {
    await stopWorkers(workers);
    await gw?.close();
    await redis?.stop({ removeData: true });
    fs.rmSync(jobsDir, { recursive: true, force: true });
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") for (const w of workers) process.stderr.write(`--- ${w.id} ---\n${w.logs().slice(-2000)}\n`);
  });

  describe("command", () => {
    before(() => {
      // a CLI in the shape of seed 003: flags in, JSON out; it also echoes what it read on stdin
      adapter("cli", { command: { args: ["--name", "{input.name}", "--times={input.times=1}"] } }, ["/bin/sh", "-c",
        `while [ $# -gt 0 ]; do case "$1" in --name) n="$2"; shift;; --times=*) t="\${1#--times=}";; esac; shift; done
         read -r stdin; printf '{"greeting":"hello %s","times":%s,"stdin":%s}\\n' "$n" "$t" "$stdin"`, "cli"]);
    });

    it("runpod-sdk runSync: the CLI's JSON stdout is the output; templated args and stdin reach it", async () => {
      const r: any = await sdk("cli").runSync({ input: { name: "Ada Lovelace", times: 3 } });
      assert.equal(r.status, "COMPLETED", JSON.stringify(r));
      assert.deepEqual(r.output, { greeting: "hello Ada Lovelace", times: 3, stdin: { name: "Ada Lovelace", times: 3 } });
    });

    it("a job missing a templated field fails with a clear error naming it; the next job runs", async () => {
      const id = await client("cli").run({ nam: "typo" });
      const s = await client("cli").terminal(id);
      assert.equal(s.status, "FAILED");
      const e = JSON.parse(s.error);
      assert.equal(e.error_type, "InputError");
      assert.match(e.error_message, /the job input has no input\.name/);
      const ok = await client("cli").terminal(await client("cli").run({ name: "x" }));
      assert.equal(ok.output.greeting, "hello x");
    });

    it("exit code != 0: FAILED with the exit code and the tail of stderr; /retry runs the command again", async () => {
      const runs = path.join(jobsDir, "fail-runs");
      adapter("fail", {}, ["/bin/sh", "-c", `echo run >> ${runs}; echo "loading model" >&2; echo "RuntimeError: CUDA out of memory" >&2; exit 7`]);
      const r: any = await sdk("fail").runSync({ input: {} });
      assert.equal(r.status, "FAILED", JSON.stringify(r));
      const e = JSON.parse(r.error);
      assert.equal(e.error_type, "CommandFailed");
      assert.equal(e.exit_code, 7);
      assert.equal(e.error_message, "command exited with code 7: RuntimeError: CUDA out of memory");
      assert.equal(e.stderr, "loading model\nRuntimeError: CUDA out of memory\n");
      assert.equal((await client("fail").req("POST", `/retry/${r.id}`)).body.status, "IN_QUEUE");
      const again = await client("fail").terminal(r.id);
      assert.equal(again.status, "FAILED");
      assert.equal(fs.readFileSync(runs, "utf8"), "run\nrun\n", "the retry ran the program a second time");
    });

    it("cancel stops the running process (SIGTERM, then SIGKILL after the grace) and the worker takes the next job", async () => {
      const marks = fs.mkdtempSync(path.join(os.tmpdir(), "adapter-marks-"));
      adapter("slow", { command: { args: ["{input.ms}"], killGraceSeconds: 1 } }, ["/bin/sh", "-c",
        `echo $$ > ${marks}/$LONGSHORE_JOB_ID; trap '' TERM; i=0; while [ $i -lt $1 ]; do sleep 0.1; i=$((i+100)); done; echo done`, "slow"]);
      const c = client("slow");
      const id = await c.run({ ms: 30000 });
      await c.waitFor(id, (s) => s.status === "IN_PROGRESS");
      let pid = 0;
      for (let i = 0; i < 100 && !pid; i++, await sleep(50)) pid = Number(fs.existsSync(`${marks}/${id}`) && fs.readFileSync(`${marks}/${id}`, "utf8"));
      assert.ok(pid > 0, "the job's process started");
      assert.equal((await c.req("POST", `/cancel/${id}`)).body.status, "CANCELLED");
      const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
      const t0 = Date.now();
      while (alive() && Date.now() - t0 < 10_000) await sleep(50);
      assert.ok(!alive(), "the process is gone after the cancel");
      assert.equal((await c.status(id)).status, "CANCELLED");
      const next = await c.terminal(await c.run({ ms: 100 }));
      assert.equal(next.status, "COMPLETED");
      assert.equal(next.output, "done");
    });

    it("execution timeout: the process is stopped and the job does not complete", async () => {
      const c = client("slow");
      const id = await c.run({ ms: 60000 }, { policy: { executionTimeout: 1500 } });
      const s = await c.terminal(id, 20_000);
      assert.ok(["TIMED_OUT", "FAILED"].includes(s.status), JSON.stringify(s));
      if (s.status === "FAILED") assert.match(s.error, /ExecutionTimeout/);
      // the worker is free again
      assert.equal((await c.terminal(await c.run({ ms: 100 }))).output, "done");
    });

    it("stream: each stdout line is a /stream chunk; progress lines on stderr show on /status", async () => {
      adapter("stream", { command: { stream: true, args: ["{input.n}"] } }, ["/bin/sh", "-c",
        `echo 'LONGSHORE_PROGRESS {"stage":"warming up"}' >&2; sleep 0.5; i=1; while [ $i -le $1 ]; do echo "{\\"token\\":$i}"; sleep 0.1; i=$((i+1)); done`, "s"]);
      const c = client("stream");
      const id = await c.run({ n: 4 });
      const seen = await c.waitFor(id, (s) => s.status === "COMPLETED");
      assert.ok(seen.some((s) => s.status === "IN_PROGRESS" && s.output?.stage === "warming up"), JSON.stringify(seen));
      const chunks: unknown[] = [];
      for await (const chunk of sdk("stream").stream(await c.run({ n: 3 }))) chunks.push((chunk as any).output ?? chunk);
      assert.deepEqual(chunks, [{ token: 1 }, { token: 2 }, { token: 3 }]);
      assert.deepEqual(seen[seen.length - 1].output, [{ token: 1 }, { token: 2 }, { token: 3 }, { token: 4 }]);
    });

    it("SIGTERM drain: the job in hand finishes and is posted, then the adapter exits 0", async () => {
      const w = adapter("drain", {}, ["/bin/sh", "-c", "sleep 2; echo drained-ok"]);
      const c = client("drain");
      const id = await c.run({});
      await c.waitFor(id, (s) => s.status === "IN_PROGRESS");
      w.kill("SIGTERM");
      const queued = await c.run({}); // must stay queued: the draining worker takes nothing new
      const s = await c.terminal(id);
      assert.equal(s.status, "COMPLETED");
      assert.equal(s.output, "drained-ok");
      const exit = await w.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, w.logs());
      assert.equal((await c.status(queued)).status, "IN_QUEUE");
    });
  });

  describe("output files: inline, or uploaded to a real S3-compatible server (moto) through the job's s3Config", () => {
    let moto: ChildProcess;
    let s3 = "";
    let py = "";
    // reads an object back with boto3 (a real S3 client, signed), as the job's client would
    const getObject = (key: string) => execFileSync(py, ["-c",
      "import boto3, sys; s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='AKIDEXAMPLE', aws_secret_access_key='secret', region_name='us-east-1'); " +
      "sys.stdout.write(s3.get_object(Bucket='results', Key=sys.argv[2])['Body'].read().decode())", s3, key], { encoding: "utf8" });
    before(async function () {
      this.timeout(300_000);
      py = execFileSync("bash", [path.join(__dirname, "../../scripts/setup-python.sh")], { encoding: "utf8" }).trim();
      const port = await freePort();
      s3 = `http://127.0.0.1:${port}`;
      moto = spawn(path.join(path.dirname(py), "moto_server"), ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
      for (let i = 0; ; i++) {
        try {
          if ((await fetch(s3)).status < 500) break;
        } catch { /* not yet listening */ }
        if (i > 300) throw new Error("moto_server did not start");
        await sleep(100);
      }
      assert.equal((await fetch(`${s3}/results`, { method: "PUT" })).status, 200, "create the bucket");
      adapter("files", { command: { args: ["{input.text}", "{input.bytes}"], output: { from: "files", inlineLimitBytes: 1000 } } }, ["/bin/sh", "-c",
        `printf '%s' "$1" > "$LONGSHORE_OUTPUT_DIR/answer.txt"; head -c "$2" /dev/zero | tr '\\0' z > "$LONGSHORE_OUTPUT_DIR/pad.bin"`, "f"]);
    });
    after(() => moto?.kill());

    it("small files come back inline as base64", async () => {
      const s = await client("files").terminal(await client("files").run({ text: "forty-two", bytes: 10 }));
      assert.equal(s.status, "COMPLETED", JSON.stringify(s));
      const files = Object.fromEntries(s.output.files.map((f: any) => [f.name, Buffer.from(f.base64, "base64").toString()]));
      assert.deepEqual(files, { "answer.txt": "forty-two", "pad.bin": "z".repeat(10) });
    });

    it("over the inline limit they are PUT to the bucket and the output names them", async () => {
      const s3Config = { accessId: "AKIDEXAMPLE", accessSecret: "secret", bucketName: "results", endpointUrl: s3 };
      const id = await client("files").run({ text: "large answer", bytes: 5000 }, { s3Config });
      const s = await client("files").terminal(id);
      assert.equal(s.status, "COMPLETED", JSON.stringify(s));
      const byName = Object.fromEntries(s.output.files.map((f: any) => [f.name, f]));
      assert.equal(byName["pad.bin"].size, 5000);
      assert.equal(byName["answer.txt"].key, `${id}/answer.txt`);
      assert.equal(byName["answer.txt"].url, `${s3}/results/${id}/answer.txt`);
      assert.equal(getObject(`${id}/answer.txt`), "large answer");
      assert.equal(getObject(`${id}/pad.bin`), "z".repeat(5000));
      // without an s3Config the same job fails clearly
      const bad = await client("files").terminal(await client("files").run({ text: "x", bytes: 5000 }));
      assert.equal(bad.status, "FAILED");
      assert.match(JSON.parse(bad.error).error_message, /over output.inlineLimitBytes \(1000\): give the job an s3Config/);
    });
  });

  describe("HTTP on the queue", () => {
    let port: number;
    before(async () => {
      port = await freePort();
      adapter("http", { kind: "http", http: { port, path: "/predict", healthPath: "/health" } },
        [process.execPath, HTTP_MODEL, String(port)], { READY_AFTER_MS: "1500" });
    });

    it("waits for the health check, then /runsync returns the server's answer", async () => {
      const r: any = await sdk("http").runSync({ input: { a: 2, b: 40 } });
      assert.equal(r.status, "COMPLETED", JSON.stringify(r));
      assert.equal(r.output.sum, 42);
    });

    it("/run + webhook: the webhook gets the server's answer; a 4xx from the server is FAILED with its reason", async () => {
      const got: any[] = [];
      const hook = http.createServer((q, s) => {
        let b = "";
        q.on("data", (c) => (b += c));
        q.on("end", () => { got.push(JSON.parse(b)); s.end("ok"); });
      });
      await new Promise<void>((r) => hook.listen(0, "127.0.0.1", () => r()));
      try {
        const url = `http://127.0.0.1:${(hook.address() as any).port}/hook`;
        const id = await client("http").run({ a: 1, b: 1 }, { webhook: url });
        for (let i = 0; i < 100 && !got.length; i++) await sleep(100);
        assert.equal(got.length, 1);
        assert.equal(got[0].id, id);
        assert.equal(got[0].status, "COMPLETED");
        assert.equal(got[0].output.sum, 2);
      } finally {
        hook.close();
      }
      const bad = await client("http").terminal(await client("http").run({ status: 422, reason: "no prompt" }));
      assert.equal(bad.status, "FAILED");
      const e = JSON.parse(bad.error);
      assert.equal(e.error_type, "HTTPError");
      assert.equal(e.status_code, 422);
      assert.match(e.error_message, /answered 422: .*refused: no prompt/);
    });
  });
});
