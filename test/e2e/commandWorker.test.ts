// End-to-end: a command endpoint (docs/bring-any-image.md) on the proving ground. The local stack's
// `cli-model` endpoint runs examples/cli-model — a model image whose ENTRYPOINT is a CLI, built unchanged —
// behind the longshore-adapter that ServerlessEndpoint injects (init container + emptyDir). The real runpod-sdk
// wakes it from zero, a failing command comes back FAILED with its stderr, and `longshore test` runs the
// example's own .github/tests.json against the deployed endpoint.
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as path from "path";
import { REPO, kubectlJson, log, waitFor } from "./harness";
import { DeployedStack, deployedStack } from "./stack";

const TERMINAL = ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"];
const ROW0 = [14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0];

describe("e2e: command worker (examples/cli-model behind the adapter)", function () {
  this.timeout(20 * 60_000);
  let d: DeployedStack;
  let ep: any;
  let endpointId = "";

  before(async function () {
    d = await deployedStack();
    endpointId = d.out("cliModelEndpointId");
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const runpodSdk = require("runpod-sdk").default ?? require("runpod-sdk");
    ep = runpodSdk(d.apiKey, { baseUrl: `${d.gatewayBase}/v2` }).endpoint(endpointId);
  });

  const finished = (id: string, ms = 300_000) =>
    waitFor(`job ${id} to finish`, ms, async () => {
      const s = await ep.status(id);
      return TERMINAL.includes(s.status) ? s : undefined;
    }, 1000);

  it("pulumi up injected the adapter: an init container from the adapter image, the image's own ENTRYPOINT (read from the registry) after it", async () => {
    const dep = await kubectlJson(["-n", d.ns, "get", "deployment", d.out("cliModelDeployment")]);
    const spec = dep.spec.template.spec;
    assert.match(spec.initContainers[0].image, /^localhost:5000\/longshore\/adapter@sha256:[0-9a-f]{64}$/);
    assert.deepEqual(spec.initContainers[0].command, ["/longshore-adapter", "copy", "/longshore/bin/longshore-adapter"]);
    const c = spec.containers[0];
    assert.match(c.image, /^localhost:5000\/longshore\/cli-model@sha256:/);
    assert.deepEqual(c.command, ["/longshore/bin/longshore-adapter", "run", "--", "python", "/var/cli-model/cli.py"]);
    const workerSpec = JSON.parse(c.env.find((e: { name: string }) => e.name === "LONGSHORE_WORKER_SPEC").value);
    assert.deepEqual(workerSpec.command.args, ["predict", "--features", "{input.features}", "--top", "{input.top=1}"]);
    await waitFor("zero cli-model workers", 180_000, async () => {
      const x = await kubectlJson(["-n", d.ns, "get", "deployment", d.out("cliModelDeployment")]);
      return (x.spec.replicas ?? 0) === 0 && !(x.status.replicas > 0) ? true : undefined;
    }, 2000);
  });

  it("a runpod-sdk job wakes the command endpoint from zero and returns the CLI's output", async () => {
    const t0 = Date.now();
    const started = await ep.run({ input: { features: [ROW0], top: 2 } });
    assert.equal(started.status, "IN_QUEUE");
    const done = await finished(started.id);
    log(`cli-model cold start → ${done.status} in ${((Date.now() - t0) / 1000).toFixed(1)} s (delayTime ${done.delayTime} ms, executionTime ${done.executionTime} ms)`);
    assert.equal(done.status, "COMPLETED", JSON.stringify(done));
    assert.deepEqual(done.output, { classes: [["class_0", "class_1"]] });
    const pods = await kubectlJson(["-n", d.ns, "get", "pods", "-l", `longshore.dev/endpoint=${endpointId}`]);
    assert.ok(pods.items.some((p: { metadata: { name: string } }) => p.metadata.name === done.workerId), `workerId ${done.workerId} is a cli-model pod`);
  });

  it("a failing command gives FAILED with its exit code and stderr", async () => {
    const r = await ep.runSync({ input: { features: [[1, 2]] } }, 120_000);
    const s = TERMINAL.includes(r.status) ? r : await finished(r.id);
    assert.equal(s.status, "FAILED", JSON.stringify(s));
    const e = JSON.parse(s.error);
    assert.equal(e.error_type, "CommandFailed");
    assert.equal(e.exit_code, 2);
    assert.match(e.error_message, /^command exited with code 2: wine-cli: error: --features must be a non-empty list of rows of 13 numbers$/);
    assert.match(e.stderr, /usage: wine-cli/);
  });

  it("`longshore test` runs examples/cli-model/.github/tests.json against the deployed endpoint", async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, ["-r", "ts-node/register", path.join(REPO, "cli/main.ts"), "test",
        "--endpoint-url", `${d.gatewayBase}/v2/${endpointId}`, "--api-key", d.apiKey, "--timeout", "240"],
        { cwd: path.join(REPO, "examples/cli-model"), env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" }, timeout: 600_000 },
        (err, so, se) => resolve({ code: err ? (typeof (err as any).code === "number" ? (err as any).code : 1) : 0, stdout: so, stderr: se })));
    log(`longshore test (cli-model):\n${stdout}`);
    assert.equal(code, 0, `longshore test failed:\n${stdout}\n${stderr}`);
    assert.match(stdout, /2\/2 tests passed, 0 failed/);
  });
});
