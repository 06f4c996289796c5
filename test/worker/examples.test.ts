// Each example worker's handler, run as a process the way its image runs it (Python ones with the real
// runpod==1.12.0 SDK, the TypeScript one with the Longshore SDK), tested with its own .github/tests.json
// through `longshore test --local` (private gateway + redis-server).
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as path from "path";
import { Writable } from "stream";
import { main } from "../../cli/main";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { ALIAS, Client, ROOT, spawnWorker, stopWorkers, WorkerProc } from "./harness";

class Capture extends Writable {
  text = "";
  _write(chunk: any, _enc: string, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}

async function localTest(example: string, command: string, env: Record<string, string> = {}) {
  const dir = path.join(ROOT, "examples", example);
  const out = new Capture();
  const err = new Capture();
  const envArgs = Object.entries(env).flatMap(([k, v]) => ["--env", `${k}=${v}`]);
  const code = await main(["test", "--file", path.join(dir, ".github/tests.json"), "--local", "--command", command, "--cwd", dir, "--timeout", "60", ...envArgs], out, err);
  return { code, out: out.text, err: err.text };
}

describe("example workers with their tests.json", function () {
  this.timeout(90_000);
  let python: string;

  before(function () {
    this.timeout(300_000);
    python = execFileSync("bash", [path.join(ROOT, "scripts/setup-python.sh")], { encoding: "utf8" }).trim();
  });

  it("hello-python (seed handler, real runpod SDK) passes its tests", async () => {
    const r = await localTest("hello-python", `${python} -u src/handler.py`, { SLEEP_TIME: "1" });
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /2\/2 tests passed, 0 failed/);
  });

  it("hello-typescript (Longshore SDK) passes its tests", async () => {
    const r = await localTest("hello-typescript", `${process.execPath} -r ts-node/register -r ${ALIAS} src/handler.ts`, {
      SLEEP_TIME: "1",
      TS_NODE_TRANSPILE_ONLY: "true",
      TS_NODE_PROJECT: path.join(ROOT, "tsconfig.json"),
    });
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /2\/2 tests passed, 0 failed/);
  });

  it("stream-typescript (async generator + returnAggregateStream) passes its tests", async () => {
    const r = await localTest("stream-typescript", `${process.execPath} -r ts-node/register -r ${ALIAS} src/handler.ts`, {
      TS_NODE_TRANSPILE_ONLY: "true",
      TS_NODE_PROJECT: path.join(ROOT, "tsconfig.json"),
    });
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /2\/2 tests passed, 0 failed/);
  });

  it("stream-python (generator + return_aggregate_stream) passes its tests", async () => {
    const r = await localTest("stream-python", `${python} -u src/handler.py`);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /2\/2 tests passed, 0 failed/);
  });

  describe("iris-classifier (model baked at build time)", () => {
    let venvPython: string;
    let model: string;
    before(function () {
      // First run creates a cached venv with scikit-learn and bakes the model (about 2 minutes, once).
      this.timeout(600_000);
      const lines = execFileSync("bash", [path.join(ROOT, "examples/iris-classifier/scripts/dev-setup.sh")], { encoding: "utf8" }).trim().split("\n");
      [venvPython, model] = lines.slice(-2);
    });

    it("passes its tests with the baked model, offline", async () => {
      const r = await localTest("iris-classifier", `${venvPython} -u src/handler.py`, { MODEL_PATH: model, HF_HUB_OFFLINE: "1" });
      assert.equal(r.code, 0, r.out + r.err);
      assert.match(r.out, /2\/2 tests passed, 0 failed/);
    });

    it("refuses to start without the baked model (never downloads one)", async () => {
      const r = await localTest("iris-classifier", `${venvPython} -u src/handler.py`, { MODEL_PATH: "/nonexistent/iris.joblib" });
      assert.equal(r.code, 1);
      assert.match(r.out, /worker exited early \(code 1\)/);
      assert.match(r.err, /must be baked into the image at build time/);
    });
  });

  describe("scale-in of an unmodified Python worker (hello-python)", () => {
    let redis: TestRedis;
    let gw: TestGateway;
    const workers: WorkerProc[] = [];
    before(async () => {
      redis = await startRedis();
      gw = await startGateway({ redisUrl: redis.url });
    });
    after(async () => {
      await stopWorkers(workers);
      await gw?.close();
      await redis?.stop({ removeData: true });
    });

    it("SIGTERM with a job in hand: runpod finishes it, the result is posted, the process exits 0", async () => {
      const client = new Client(gw);
      const w = spawnWorker(gw, { cmd: [python, "-u", "src/handler.py"], cwd: path.join(ROOT, "examples/hello-python"), env: { SLEEP_TIME: "3" } });
      workers.push(w);
      const id = await client.run({ name: "scale-in" });
      await client.waitFor(id, (s) => s.status === "IN_PROGRESS", 30_000);
      w.kill("SIGTERM");
      const exit = await w.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, w.logs().slice(-2000));
      const s = await client.status(id);
      assert.equal(s.status, "COMPLETED", JSON.stringify(s));
      assert.equal(s.output, "Hello World");
    });

    it("start({refresh_worker: True}): the Python worker exits 0 after its job, as the guide says", async () => {
      const client = new Client(gw);
      const w = spawnWorker(gw, { cmd: [python, "-u", path.join(__dirname, "fixtures/py_refresh.py")] });
      workers.push(w);
      const id = await client.run({ value: 9 });
      const s = await client.terminal(id, 30_000);
      assert.equal(s.status, "COMPLETED", JSON.stringify(s));
      assert.equal(s.output.value, 9);
      assert.equal(s.output.pid, w.proc.pid);
      const exit = await w.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, w.logs().slice(-2000));
    });
  });
});
