// End-to-end, worker health (issue 15) on the proving ground: a deliberately broken image (it exits at start)
// deployed as its own endpoint, and an endpoint whose pod asks for more fake GPUs than the node has (8), both
// from a small inline Pulumi program (its own stack "worker-health-e2e") on the platform of the `local` stack.
// The real gateway watches the real pods: /health reports the broken endpoint unhealthy (crash-looping) within
// a bounded time, a Kubernetes Event says so, the endpoint does not scale past one worker while its queue
// grows, its waiting jobs end FAILED with the crash as the reason; the other pod shows as throttled.
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { DeployedStack, deployedStack } from "./stack";
import { kubectl, kubectlJson, log, waitFor } from "./harness";

const STACK = "worker-health-e2e";
const BROKEN = "broken-e2e";
const THROTTLED = "throttled-e2e";

async function api(method: string, url: string, key: string, body?: unknown): Promise<{ status: number; body: any; text: string }> {
  const r = await fetch(url, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: r.status, body: parsed, text };
}

/** builds and pushes an image whose process exits 3 at start, as a worker with a missing model file would */
function buildBrokenImage(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "broken-worker-"));
  try {
    fs.writeFileSync(path.join(dir, "Dockerfile"), [
      "FROM python:3.11-slim",
      `CMD ["python", "-c", "import sys; print('loading model: /models/weights.bin not found', file=sys.stderr); sys.exit(3)"]`,
      "",
    ].join("\n"));
    const tag = "localhost:5000/longshore/broken-worker:e2e";
    execFileSync("docker", ["build", "-q", "-t", tag, dir], { stdio: ["ignore", "pipe", "inherit"], timeout: 300_000 });
    execFileSync("docker", ["push", "-q", tag], { stdio: ["ignore", "pipe", "inherit"], timeout: 300_000 });
    const digest = execFileSync("docker", ["inspect", "--format", "{{index .RepoDigests 0}}", tag], { encoding: "utf8" }).trim();
    assert.match(digest, /^localhost:5000\/longshore\/broken-worker@sha256:[0-9a-f]{64}$/);
    return digest;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("e2e: worker health — a crash-looping endpoint and an unschedulable worker", function () {
  this.timeout(15 * 60_000);
  let ctx: DeployedStack;
  let stack: Stack | undefined;
  let adminKey: string;
  const url = (ep: string, p: string) => `${ctx.gatewayBase}/v2/${ep}${p}`;

  before(async function () {
    this.timeout(20 * 60_000);
    ctx = await deployedStack();
    const secret = ctx.out("apiKeySecretName");
    adminKey = Buffer.from(await kubectl(["-n", ctx.ns, "get", "secret", secret, "-o", "jsonpath={.data.adminKeys}"]), "base64").toString("utf8");
    assert.ok(adminKey.length >= 16, "the platform has an admin key");
    const image = buildBrokenImage();
    const platform = { namespace: ctx.out("namespace"), gatewayUrl: ctx.out("gatewayUrl"), scalerAddress: ctx.out("scalerAddress") };
    stack = await LocalWorkspace.createOrSelectStack({
      stackName: STACK,
      projectName: "longshore-worker-health-e2e",
      program: async () => {
        const pulumi = await import("@pulumi/pulumi");
        const { ServerlessEndpoint } = await import("../../components");
        // given tokens: an inline program has no pulumi-nodejs plugin for RandomToken (a dynamic provider)
        const tokens = (n: string) => ({ workerToken: pulumi.secret(`wh-e2e-${n}-worker-token-0123456789`), webhookSecret: pulumi.secret(`wh-e2e-${n}-webhook-secret-0123456789`) });
        new ServerlessEndpoint(BROKEN, {
          // no GPU (it never runs a job); the proving ground's one node carries the GPU taint, so tolerate it
          platform, image, endpointId: BROKEN, cpuOnly: true, ...tokens("broken"),
          tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
          minWorkers: 0, maxWorkers: 4, scalerType: "REQUEST_COUNT", scalerValue: 1, pollingIntervalSeconds: 2,
          crashLoopFailAfterSeconds: 40,
          resources: { cpu: "50m", memory: "64Mi" },
        });
        // 9 GPUs: the proving ground's node has 8 fake ones, so this pod can never be scheduled
        // scaled from zero by a job (minWorkers 1 would hold pulumi up on a Deployment that can never be ready);
        // the image pre-pull idles on the local pause image (registry.k8s.io cannot be pulled here)
        new ServerlessEndpoint(THROTTLED, {
          platform, image: ctx.out("workerImage"), endpointId: THROTTLED, gpuCount: 9, minWorkers: 0, maxWorkers: 1, ...tokens("throttled"),
          prePull: { pauseImage: ctx.out("prePullPauseImage") },
          resources: { cpu: "50m", memory: "64Mi" },
        });
        return {};
      },
    });
    log(`pulumi up --stack ${STACK} (broken + throttled endpoints)`);
    const t0 = Date.now();
    const res = await stack.up({ color: "never", onOutput: (s) => process.env.LONGSHORE_E2E_VERBOSE && process.stdout.write(s) });
    log(`pulumi up ${STACK}: ${res.summary.result} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  });

  after(async function () {
    this.timeout(10 * 60_000);
    if (!stack) return;
    log(`pulumi destroy --stack ${STACK}`);
    await stack.destroy({ color: "never" });
    await stack.workspace.removeStack(STACK);
  });

  it("the broken image: /health unhealthy (crash-looping) within 2 minutes, an Event, no scale-up past one worker, waiting jobs FAILED with the reason", async () => {
    const first = await api("POST", url(BROKEN, "/run"), ctx.apiKey, { input: { n: 0 } });
    assert.equal(first.status, 200, first.text);
    const t0 = Date.now();
    const h = await waitFor("/health unhealthy", 120_000, async () => {
      const r = await api("GET", url(BROKEN, "/health"), ctx.apiKey);
      return r.body?.status === "unhealthy" ? r.body : undefined;
    }, 1000);
    log(`crash loop reported ${((Date.now() - t0) / 1000).toFixed(0)} s after the first job: ${h.reason}`);
    assert.match(h.reason, /workers cannot start: .*crash-looping/);
    assert.ok(h.workers.unhealthy >= 1, JSON.stringify(h.workers));
    assert.equal(h.workers.ready, 0);
    const events = await kubectlJson(["-n", ctx.ns, "get", "events", "--field-selector", "reason=EndpointCrashLooping"]);
    assert.ok(events.items.some((e: any) => String(e.message).includes(`endpoint ${BROKEN}`)), "a Warning Event on the pod");
    // the queue grows to 5 jobs (REQUEST_COUNT 1 would ask for 5 workers): the deployment stays at one
    const ids = [first.body.id];
    for (let i = 1; i < 5; i++) ids.push((await api("POST", url(BROKEN, "/run"), ctx.apiKey, { input: { n: i } })).body.id);
    let most = 0;
    const watchUntil = Date.now() + 30_000;
    while (Date.now() < watchUntil) {
      const d = await kubectlJson(["-n", ctx.ns, "get", "deployment", `${BROKEN}-worker`]);
      most = Math.max(most, d.spec.replicas ?? 0);
      await new Promise((r) => setTimeout(r, 2000));
    }
    log(`broken endpoint: at most ${most} replica(s) over 30 s with 5 jobs waiting`);
    assert.ok(most <= 1, `scale-up held at one worker, saw ${most}`);
    const st = await api("GET", `${ctx.gatewayBase}/admin/v1/status?endpoint=${BROKEN}`, adminKey);
    assert.equal(st.status, 200, st.text);
    assert.equal(st.body.endpoints[0].status, "unhealthy");
    assert.ok(st.body.endpoints[0].queue.waiting >= 1);
    // crashLoopFailAfterSeconds 40: every waiting job ends FAILED, the crash as its reason
    for (const id of ids) {
      const s = await waitFor(`job ${id} FAILED`, 120_000, async () => {
        const r = await api("GET", url(BROKEN, `/status/${id}`), ctx.apiKey);
        return r.body?.status === "FAILED" ? r.body : undefined;
      }, 1000);
      assert.match(String(s.error), /endpoint broken-e2e workers cannot start: .*crash-looping.*gave up after/);
    }
    const after = await api("GET", `${ctx.gatewayBase}/admin/v1/status?endpoint=${BROKEN}`, adminKey);
    assert.match(after.body.endpoints[0].recentFailures[0].error, /workers cannot start/);
  });

  it("a pod asking for 9 GPUs on an 8-GPU node shows as throttled, with the scheduler's reason", async () => {
    const job = await api("POST", url(THROTTLED, "/run"), ctx.apiKey, { input: { name: "nobody" } });
    assert.equal(job.status, 200, job.text);
    const h = await waitFor("/health throttled 1", 90_000, async () => {
      const r = await api("GET", url(THROTTLED, "/health"), ctx.apiKey);
      return r.body?.workers?.throttled === 1 ? r.body : undefined;
    }, 1000);
    assert.equal(h.workers.ready, 0);
    const st = await api("GET", `${ctx.gatewayBase}/admin/v1/status?endpoint=${THROTTLED}`, adminKey);
    const w = st.body.endpoints[0].workerList.find((x: any) => x.state === "throttled");
    assert.match(w.reason, /cannot be scheduled: .*nvidia.com\/gpu/);
  });
});
