// End-to-end, other languages: examples/python-program, a Python Pulumi program, deploys a ServerlessEndpoint
// through the SDK that `pulumi package add ../../provider` generates from the TypeScript components, onto the
// platform of the `local` stack (platform.test.ts registers this suite inside its own, so it runs while that
// stack is up). Every step is the real one a Python user takes:
//   1. `pulumi package add ../../provider`: the engine starts provider/ (PulumiPlugin.yaml, runtime nodejs)
//      through the Node.js language host, reads the schema Pulumi's TypeScript analysis infers, the Python host
//      generates sdks/longshore, links it into requirements.txt and pip installs it into the program's venv;
//   2. `pulumi up` of the Python program: the engine runs the component provider again and constructs the
//      endpoint in it (Construct), whose Deployment/ScaledObject/Secret go to the real cluster;
//   3. a RunPod client job wakes the endpoint's workers from zero.
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { LocalWorkspace, Stack, OutputMap } from "@pulumi/pulumi/automation";
import { REPO, kubectlJson, log } from "./harness";
import { runpodSdkHello } from "./loadKit";

export interface PlatformContext {
  /** A stack output of the `local` stack. */
  out(key: string): string;
  apiKey(): string;
  /** http://<gateway clusterIP>:8080 */
  gatewayBase(): string;
}

const PROGRAM = path.join(REPO, "examples/python-program");
const STACK = "python-e2e";
const COMPONENTS = ["serverless_endpoint", "serverless_platform", "worker_image", "keda", "gpu_node_pool", "nvidia_device_plugin"];

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd, env: process.env, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 }, (e, so, se) =>
      e ? reject(new Error(`${cmd} ${args.join(" ")} failed: ${e.message}\n${so}\n${se}`)) : resolve(`${so}${se}`)));
}

/** The program's `venv` (Pulumi.yaml runtime option) links to a venv cached outside the work tree, keyed by requirements.txt. */
async function linkCachedVenv(): Promise<void> {
  const key = crypto.createHash("sha256").update(fs.readFileSync(path.join(PROGRAM, "requirements.txt"))).digest("hex").slice(0, 12);
  // LONGSHORE_CACHE comes from proving-ground/env.sh (loadProvingGroundEnv), which owns its default
  const cache = process.env.LONGSHORE_CACHE;
  assert.ok(cache, "LONGSHORE_CACHE is not set: the suite loads it from proving-ground/env.sh");
  const venv = path.join(cache, `venv-python-program-${key}`);
  if (!fs.existsSync(path.join(venv, "bin/python"))) await run("python3", ["-m", "venv", venv], REPO, 120_000);
  const link = path.join(PROGRAM, "venv");
  fs.rmSync(link, { force: true, recursive: true });
  fs.symlinkSync(venv, link);
}

export function pythonProgramSuite(platform: PlatformContext): void {
  describe("examples/python-program: a Python program deploys an endpoint through the generated SDK", function () {
    let stack: Stack | undefined;
    let outputs: OutputMap;
    const tracked = ["Pulumi.yaml", "requirements.txt"];
    const committed = new Map(tracked.map((f) => [f, fs.readFileSync(path.join(PROGRAM, f), "utf8")]));
    const out = (k: string): string => {
      const v = outputs[k]?.value;
      assert.ok(v !== undefined, `python stack output ${k} is missing`);
      return String(v);
    };

    before(async function () {
      await linkCachedVenv();
      let t0 = Date.now();
      const added = await run("pulumi", ["package", "add", "../../provider"], PROGRAM, 900_000);
      log(`pulumi package add ../../provider: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      assert.match(added, /import pulumi_longshore as longshore/, `package add output:\n${added}`);
      stack = await LocalWorkspace.createOrSelectStack({ stackName: STACK, workDir: PROGRAM });
      await stack.setAllConfig({
        platformNamespace: { value: platform.out("namespace") },
        gatewayUrl: { value: platform.out("gatewayUrl") },
        scalerAddress: { value: platform.out("scalerAddress") },
        image: { value: platform.out("workerImage") },
        // image pre-pull (on for GPU endpoints) idles on the proving ground's pause image, by digest
        prePullPauseImage: { value: platform.out("prePullPauseImage") },
      });
      t0 = Date.now();
      const up = await stack.up({ color: "never", onOutput: (s) => process.env.LONGSHORE_E2E_VERBOSE && process.stdout.write(s) });
      log(`pulumi up (Python program): ${up.summary.result} in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${JSON.stringify(up.summary.resourceChanges)}`);
      outputs = up.outputs;
    });

    after(async function () {
      for (const [f, text] of committed) fs.writeFileSync(path.join(PROGRAM, f), text);
      if (!stack) return;
      log(`pulumi destroy --stack ${STACK} (Python program)`);
      await stack.destroy({ color: "never" });
      await stack.workspace.removeStack(STACK);
    });

    it("pulumi package add generated pulumi_longshore with every component and left the committed project files as they were", () => {
      for (const c of COMPONENTS) {
        assert.ok(fs.existsSync(path.join(PROGRAM, `sdks/longshore/pulumi_longshore/${c}.py`)), `generated SDK lacks ${c}.py`);
      }
      for (const [f, text] of committed) {
        assert.equal(fs.readFileSync(path.join(PROGRAM, f), "utf8"), text, `pulumi package add changed ${f}`);
      }
    });

    it("the Python stack holds the component tree the provider constructed: ServerlessEndpoint with its Deployment and ScaledObject", async () => {
      const state = await stack!.exportStack();
      const resources: Array<{ type: string; parent?: string; urn: string }> = state.deployment.resources ?? [];
      const ep = resources.find((r) => r.type === "longshore:index:ServerlessEndpoint");
      assert.ok(ep, `no ServerlessEndpoint in the Python stack (types: ${resources.map((r) => r.type).join(", ")})`);
      for (const t of ["kubernetes:apps/v1:Deployment", "kubernetes:keda.sh/v1alpha1:ScaledObject", "kubernetes:core/v1:Secret"]) {
        assert.ok(resources.some((r) => r.type === t), `no ${t} in the Python stack`);
      }
      const dep = await kubectlJson(["-n", platform.out("namespace"), "get", "deployment", out("workerDeployment")]);
      assert.equal(dep.spec.template.spec.containers[0].image, platform.out("workerImage"), "the worker runs the image the program was given");
      assert.equal(dep.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"], "1");
    });

    it("runpod-sdk wakes the Python-deployed endpoint from zero and an unmodified RunPod worker answers", async () => {
      await runpodSdkHello(platform.gatewayBase(), platform.apiKey(), out("endpointId"), "python", "Python-deployed endpoint");
    });
  });
}
