// The SDK's local test mode (no RUNPOD_WEBHOOK_GET_JOB): one job from --test-input / --test_input /
// test_input.json, result JSON on stdout, exit 0 on success and 1 on failure — like runpod's rp_local.
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { compiledFixture } from "./harness";
import { start } from "../../worker/index";

function runLocal(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("RUNPOD_")) delete env[k];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [compiledFixture(), ...args], { cwd, env });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("worker SDK local test mode", function () {
  this.timeout(20_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-local-mode-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("--test-input runs one job and prints its result (exit 0)", async () => {
    const r = await runLocal(["--test-input", JSON.stringify({ input: { kind: "sync", value: 5 } })], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), { output: { echo: 5, extra: null } });
  });

  it("--test_input=… (the Python SDK's spelling) works too; a generator's chunks come back as a list", async () => {
    const r = await runLocal([`--test_input=${JSON.stringify({ input: { kind: "generator", n: 2 } })}`], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), { output: ["chunk-0", "chunk-1"] });
  });

  it("reads test_input.json from the working directory", async () => {
    const d = fs.mkdtempSync(path.join(dir, "file-"));
    fs.writeFileSync(path.join(d, "test_input.json"), JSON.stringify({ input: { kind: "string" } }));
    const r = await runLocal([], d);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), { output: "Hello World" });
    assert.match(r.stderr, /running one job from test_input\.json/);
  });

  it("a failing handler exits 1 with the error", async () => {
    const r = await runLocal(["--test-input", JSON.stringify({ input: { kind: "throws" } })], dir);
    assert.equal(r.code, 1);
    assert.match(JSON.parse(r.stdout.trim()).error, /handler exploded on purpose/);
  });

  it("no input anywhere, bad JSON, or no \"input\" key: exit 1 with a reason", async () => {
    let r = await runLocal([], fs.mkdtempSync(path.join(dir, "empty-")));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no --test-input and no test_input\.json/);
    r = await runLocal(["--test-input", "{oops"], dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--test-input is not valid JSON/);
    r = await runLocal(["--test-input", JSON.stringify({ kind: "sync" })], dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /has no "input"/);
  });

  it("start() rejects bad options at once, naming the option and the rule", () => {
    const handler = () => 1;
    assert.throws(() => start({ handler: undefined as any }), /start\(\{ handler \}\): handler must be a function/);
    assert.throws(() => start({ handler, concurrency: 0 }), /start\(\{ concurrency \}\): must be an integer >= 1/);
    assert.throws(() => start({ handler, concurrency: "2" as any }), /start\(\{ concurrency \}\)/);
    assert.throws(() => start({ handler, executionTimeoutMs: -5 }), /start\(\{ executionTimeoutMs \}\): must be a positive number/);
  });
});
