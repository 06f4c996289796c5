// End-to-end, the Python SDK as a package: the wheel `npm run release` builds (release/python, or built here
// from the provider's schema when missing) installed with pip into a fresh venv, and a Python program in a temp
// directory OUTSIDE the repository deploys a ServerlessEndpoint with it onto the platform of the `local` stack;
// a runpod-sdk job then wakes the endpoint from zero. The program finds the component provider through its
// Pulumi.yaml `packages:` entry (the provider/ directory, prebuilt) and the components' Node.js dynamic
// resources through provider/dynamic — what docs/packages.md tells a Python user to write.
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace, OutputMap, Stack } from "@pulumi/pulumi/automation";
import { REPO, kubectlJson, log } from "./harness";
import { DeployedStack, deployedStack } from "./stack";
import { runpodSdkHello } from "./loadKit";

const STACK = "python-wheel-e2e";
const ENDPOINT = "hello-wheel";

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd, env: process.env, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 }, (e, so, se) =>
      e ? reject(new Error(`${cmd} ${args.join(" ")} failed: ${e.message}\n${so}\n${se}`)) : resolve(`${so}${se}`)));
}

/** The release's wheel of this version; built (npm run build if needed, then scripts/build-python-sdk.sh) when missing. */
async function wheel(): Promise<string> {
  const version = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version;
  const f = process.env.LONGSHORE_PYTHON_WHEEL ?? path.join(REPO, `release/python/pulumi_longshore-${version}-py3-none-any.whl`);
  if (fs.existsSync(f)) return f;
  let t0 = Date.now();
  if (!fs.existsSync(path.join(REPO, "dist/provider/schema.json"))) {
    await run("node", ["scripts/build-package.js"], REPO, 900_000);
    log(`npm run build: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  t0 = Date.now();
  await run("bash", ["scripts/build-python-sdk.sh", "release/python"], REPO, 900_000);
  log(`Python SDK wheel + sdist built: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  assert.ok(fs.existsSync(f), `scripts/build-python-sdk.sh did not write ${f}`);
  return f;
}

describe("e2e: the pulumi_longshore wheel in a fresh venv deploys an endpoint from a program outside the repository", function () {
  this.timeout(40 * 60_000);
  let d: DeployedStack;
  let tmp: string;
  let stack: Stack | undefined;
  let outputs: OutputMap;
  let installed = "";
  const out = (k: string): string => {
    const v = outputs[k]?.value;
    assert.ok(v !== undefined, `wheel stack output ${k} is missing`);
    return String(v);
  };

  before(async function () {
    d = await deployedStack();
    const whl = await wheel();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-wheel-"));
    const program = path.join(tmp, "program");
    fs.mkdirSync(program);
    fs.copyFileSync(path.join(REPO, "examples/python-program/__main__.py"), path.join(program, "__main__.py"));
    fs.writeFileSync(path.join(program, "Pulumi.yaml"), [
      "name: longshore-wheel-e2e",
      "runtime:",
      "  name: python",
      "  options:",
      "    virtualenv: venv",
      "packages:",
      `  longshore: ${path.join(REPO, "provider")}`,
      "plugins:",
      "  providers:",
      "    - name: pulumi-nodejs",
      `      path: ${path.join(REPO, "provider/dynamic")}`,
      "",
    ].join("\n"));
    fs.writeFileSync(path.join(program, "requirements.txt"), `${whl}\n`);
    let t0 = Date.now();
    await run("python3", ["-m", "venv", path.join(program, "venv")], program, 120_000);
    await run(path.join(program, "venv/bin/pip"), ["install", "-q", "-r", "requirements.txt"], program, 600_000);
    installed = await run(path.join(program, "venv/bin/pip"), ["show", "-f", "pulumi_longshore"], program, 60_000);
    log(`fresh venv + pip install of ${path.basename(whl)}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    stack = await LocalWorkspace.createOrSelectStack({ stackName: STACK, workDir: program });
    await stack.setAllConfig({
      platformNamespace: { value: d.out("namespace") },
      gatewayUrl: { value: d.out("gatewayUrl") },
      scalerAddress: { value: d.out("scalerAddress") },
      image: { value: d.out("workerImage") },
      endpointId: { value: ENDPOINT },
      // image pre-pull (on for GPU endpoints) idles on the proving ground's pause image, by digest
      prePullPauseImage: { value: d.out("prePullPauseImage") },
    });
    t0 = Date.now();
    const up = await stack.up({ color: "never", onOutput: (s) => process.env.LONGSHORE_E2E_VERBOSE && process.stdout.write(s) });
    log(`pulumi up (Python program from the wheel): ${up.summary.result} in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${JSON.stringify(up.summary.resourceChanges)}`);
    outputs = up.outputs;
  });

  after(async function () {
    if (stack) {
      log(`pulumi destroy --stack ${STACK} (Python program from the wheel)`);
      await stack.destroy({ color: "never" });
      await stack.workspace.removeStack(STACK);
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("pip installed pulumi_longshore from the wheel into the fresh venv (site-packages, not a source tree)", () => {
    assert.match(installed, /^Version: \d+\.\d+\.\d+/m);
    assert.match(installed, /^Location: .*\/venv\/lib\/python3\.\d+\/site-packages$/m);
    assert.match(installed, /pulumi_longshore\/serverless_endpoint\.py/);
  });

  it("the endpoint's Deployment and ScaledObject are in the cluster, running the given image", async () => {
    assert.equal(out("endpointId"), ENDPOINT);
    const dep = await kubectlJson(["-n", d.ns, "get", "deployment", out("workerDeployment")]);
    assert.equal(dep.spec.template.spec.containers[0].image, d.out("workerImage"));
    const so = await kubectlJson(["-n", d.ns, "get", "scaledobject", out("scaledObject")]);
    assert.equal(so.spec.minReplicaCount ?? 0, 0);
  });

  it("runpod-sdk wakes the wheel-deployed endpoint from zero and the worker answers", async () => {
    await runpodSdkHello(d.gatewayBase, d.apiKey, ENDPOINT, "wheel", "wheel-deployed endpoint");
  });
});
