// The one `pulumi up` of the e2e suite: every e2e file calls `deployedStack()` in its `before` hook and gets the
// same deployed `local` stack (mocha loads all e2e files into one process, so the up runs once however many
// files use it). The root `after` hook destroys the stack only when this run created it (or
// LONGSHORE_E2E_DESTROY=1); a stack that `npm run up` made is left deployed.
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import { LocalWorkspace, OutputMap, Stack } from "@pulumi/pulumi/automation";
import { REPO, kubectlJson, loadProvingGroundEnv, log, requireProvingGround } from "./harness";

export const STACK = process.env.LONGSHORE_E2E_STACK ?? "local";

export interface DeployedStack {
  stack: Stack;
  outputs: OutputMap;
  /** a stack output as a string; fails the test when it is missing */
  out(key: string): string;
  /** the first client API key of the stack */
  apiKey: string;
  /** the gateway's namespace */
  ns: string;
  /** http://<gateway clusterIP>:8080 */
  gatewayBase: string;
  /** whether this run created the stack (then the root after hook destroys it) */
  createdHere: boolean;
  /** runs `pulumi up` again (after a config or code change) and refreshes outputs */
  up(): Promise<OutputMap>;
}

let pending: Promise<DeployedStack> | undefined;

export function deployedStack(): Promise<DeployedStack> {
  pending ??= deploy();
  return pending;
}

async function deploy(): Promise<DeployedStack> {
  loadProvingGroundEnv();
  requireProvingGround();
  const ws = await LocalWorkspace.create({ workDir: REPO });
  const createdHere = !(await ws.listStacks()).some((s) => s.name === STACK);
  // The stack's own config file (not committed) gets the committed defaults it lacks, as `npm run up` does.
  execFileSync("node", [`${REPO}/scripts/seed-stack-config.js`, STACK], { stdio: "inherit" });
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: STACK, workDir: REPO });
  const existing = await stack.getConfig("longshore:apiKeys").catch(() => undefined);
  const apiKey = existing?.value.split(",")[0]?.trim() || `lsk-${crypto.randomBytes(18).toString("hex")}`;
  if (!existing) await stack.setConfig("longshore:apiKeys", { value: apiKey, secret: true });
  const ctx: DeployedStack = {
    stack, outputs: {}, apiKey, ns: "", gatewayBase: "", createdHere,
    out(k: string): string {
      const v = ctx.outputs[k]?.value;
      assert.ok(v !== undefined, `stack output ${k} is missing`);
      return String(v);
    },
    async up(): Promise<OutputMap> {
      log(`pulumi up --stack ${STACK} (created here: ${createdHere})`);
      const t0 = Date.now();
      const res = await stack.up({ color: "never", onOutput: (s) => process.env.LONGSHORE_E2E_VERBOSE && process.stdout.write(s) });
      log(`pulumi up: ${res.summary.result} in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${JSON.stringify(res.summary.resourceChanges)}`);
      ctx.outputs = res.outputs;
      ctx.ns = ctx.out("namespace");
      const svc = await kubectlJson(["-n", ctx.ns, "get", "service", "longshore-gateway"]);
      ctx.gatewayBase = `http://${svc.spec.clusterIP}:8080`;
      return res.outputs;
    },
  };
  await ctx.up();
  return ctx;
}

after(async function () {
  this.timeout(20 * 60_000);
  if (!pending) return;
  const ctx = await pending.catch(() => undefined);
  if (!ctx) return;
  if (ctx.createdHere || process.env.LONGSHORE_E2E_DESTROY === "1") {
    log(`pulumi destroy --stack ${STACK}`);
    await ctx.stack.destroy({ color: "never" });
    await ctx.stack.workspace.removeStack(STACK, { preserveConfig: true });
  } else {
    log(`stack ${STACK} existed before the suite (npm run up): left deployed`);
  }
});
