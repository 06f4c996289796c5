// Load and fault plumbing for the e2e burst/fault/diff tests (burst.test.ts, diffs.test.ts): a RunPod-style HTTP
// client that retries on connection errors as the RunPod SDKs do, a follower of the workers' logs that counts
// executions per job id (the example handler logs each job it runs), and a watcher of an endpoint's Deployment
// and pods that records how far it scaled.
import { strict as assert } from "assert";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import { kubectlJson, log, waitFor } from "./harness";
import type { DeployedStack } from "./stack";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]);

function connectionError(e: unknown): boolean {
  const err = e as { cause?: { code?: string }; message?: string; name?: string };
  return err?.name === "TimeoutError" || err?.name === "AbortError" || /fetch failed|ECONN|socket|EPIPE|other side closed/i.test(`${err?.message} ${err?.cause?.code}`);
}

export interface JobStatus { id: string; status: string; output?: unknown; workerId?: string; error?: unknown }

/** RunPod's client API over plain HTTP; connection errors and 502/503 are retried with backoff (as runpod-python's
 *  and runpod-sdk's retries do), so a gateway replica going away mid-request is what a real client sees. */
export class JobClient {
  retries = 0;
  constructor(private readonly base: string, private readonly apiKey: string, readonly endpointId: string) {}

  async request(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<{ status: number; body: any }> {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await fetch(`${this.base}${path}`, {
          method,
          headers: { authorization: `Bearer ${this.apiKey}`, ...(body ? { "content-type": "application/json" } : {}) },
          body: body ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await r.text();
        if ((r.status === 502 || r.status === 503) && attempt < 30) throw Object.assign(new Error(`HTTP ${r.status}`), { name: "TimeoutError" });
        return { status: r.status, body: text ? JSON.parse(text) : undefined };
      } catch (e) {
        if (!connectionError(e) || attempt >= 30) throw e;
        this.retries++;
        await sleep(Math.min(250 * 2 ** Math.min(attempt, 3), 2000));
      }
    }
  }

  /** POST /run: the id the gateway answered (the job is accepted only then). */
  async run(input: unknown): Promise<string> {
    const r = await this.request("POST", `/v2/${this.endpointId}/run`, { input });
    assert.equal(r.status, 200, `/run answered ${r.status}: ${JSON.stringify(r.body)}`);
    assert.ok(r.body?.id, `/run answered no id: ${JSON.stringify(r.body)}`);
    return r.body.id;
  }

  async status(id: string): Promise<JobStatus> {
    const r = await this.request("GET", `/v2/${this.endpointId}/status/${id}`);
    assert.equal(r.status, 200, `/status/${id} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Polls every unfinished job (10 at a time) until all are terminal; returns id -> final status. */
  async waitAll(ids: string[], timeoutMs: number): Promise<Map<string, JobStatus>> {
    const done = new Map<string, JobStatus>();
    const deadline = Date.now() + timeoutMs;
    while (done.size < ids.length) {
      const open = ids.filter((id) => !done.has(id));
      for (let i = 0; i < open.length; i += 10) {
        await Promise.all(open.slice(i, i + 10).map(async (id) => {
          const s = await this.status(id);
          if (TERMINAL.has(s.status)) done.set(id, s);
        }));
      }
      if (done.size === ids.length) break;
      if (Date.now() > deadline) {
        const left = ids.filter((id) => !done.has(id));
        const sample = await Promise.all(left.slice(0, 5).map((id) => this.status(id)));
        throw new Error(`${left.length} of ${ids.length} jobs not finished after ${timeoutMs} ms, e.g. ${JSON.stringify(sample)}`);
      }
      await sleep(1000);
    }
    return done;
  }
}

/** Submits `n` jobs whose input is { echo: `${tag}-<i>` } with `parallel` requests at a time; returns id -> echo. */
export async function submitJobs(c: JobClient, tag: string, n: number, parallel = 20): Promise<Map<string, string>> {
  const accepted = new Map<string, string>();
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, async () => {
    for (let i = next++; i < n; i = next++) {
      const echo = `${tag}-${i}`;
      accepted.set(await c.run({ echo }), echo);
    }
  }));
  return accepted;
}

/** Every accepted job COMPLETED with its own echo as output; returns the counts the tests print. */
export function checkCompleted(accepted: Map<string, string>, final: Map<string, JobStatus>, execs: ExecCounter, what: string):
    { accepted: number; completed: number; executions: number; duplicated: number } {
  const bad = [...accepted].filter(([id, echo]) => final.get(id)?.status !== "COMPLETED" || final.get(id)?.output !== echo);
  assert.deepEqual(bad.map(([id]) => final.get(id)), [], `${what}: jobs not COMPLETED with their own output`);
  const ids = [...accepted.keys()];
  const counts = ids.map((id) => execs.count(id));
  const r = {
    accepted: ids.length,
    completed: ids.filter((id) => final.get(id)?.status === "COMPLETED").length,
    executions: counts.reduce((a, b) => a + b, 0),
    duplicated: counts.filter((n) => n > 1).length,
  };
  log(`${what}: accepted ${r.accepted}, completed ${r.completed}, executions seen in worker logs ${r.executions}, jobs executed more than once ${r.duplicated}`);
  return r;
}

/**
 * Follows the logs of every pod of an endpoint (`kubectl logs -f`, one per pod, started as pods appear) and counts
 * the handler's per-job lines (`{"id":…,"input":…}`, examples/hello-typescript logs each job it starts).
 */
export class ExecCounter {
  private readonly counts = new Map<string, number>();
  private readonly followed = new Map<string, ChildProcess>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly ns: string, private readonly endpointId: string) {}

  start(): this {
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        const pods = await kubectlJson(["-n", this.ns, "get", "pods", "-l", `longshore.dev/endpoint=${this.endpointId}`]);
        for (const p of pods.items) {
          const name: string = p.metadata.name;
          const started = (p.status.containerStatuses ?? []).some((c: any) => c.state?.running || c.state?.terminated);
          if (started && !this.followed.has(name)) this.follow(name);
        }
      } catch { /* the next tick retries */ }
      if (!this.stopped) this.timer = setTimeout(tick, 700);
    };
    void tick();
    return this;
  }

  private follow(pod: string): void {
    const child = spawn("kubectl", ["-n", this.ns, "logs", "-f", pod], { stdio: ["ignore", "pipe", "ignore"] });
    this.followed.set(pod, child);
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith("{\"id\":")) continue;
        try {
          const job = JSON.parse(line) as { id?: string; input?: unknown };
          if (job.id && job.input !== undefined) this.counts.set(job.id, (this.counts.get(job.id) ?? 0) + 1);
        } catch { /* not a job line */ }
      }
    });
    // a follower that ends while its pod still runs (API hiccup) is started again by the next tick
    child.on("exit", () => setTimeout(() => { if (!this.stopped && this.followed.get(pod) === child) this.followed.delete(pod); }, 3000));
  }

  count(id: string): number {
    return this.counts.get(id) ?? 0;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const c of this.followed.values()) c.kill();
  }
}

/** Polls an endpoint's Deployment and pods; records the most replicas/pods seen and when workers came and went. */
export class ScaleWatch {
  maxSpec = 0;
  maxPods = 0;
  firstReadyAt = 0;
  zeroAt = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private wasUp = false;

  constructor(private readonly ns: string, private readonly deployment: string, private readonly endpointId: string) {}

  start(): this {
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        const [dep, pods] = await Promise.all([
          kubectlJson(["-n", this.ns, "get", "deployment", this.deployment]),
          kubectlJson(["-n", this.ns, "get", "pods", "-l", `longshore.dev/endpoint=${this.endpointId}`]),
        ]);
        const live = pods.items.filter((p: any) => !p.metadata.deletionTimestamp && !["Succeeded", "Failed"].includes(p.status.phase));
        this.maxSpec = Math.max(this.maxSpec, dep.spec.replicas ?? 0, dep.status.replicas ?? 0);
        this.maxPods = Math.max(this.maxPods, live.length);
        if (!this.firstReadyAt && (dep.status.readyReplicas ?? 0) > 0) this.firstReadyAt = Date.now();
        if ((dep.spec.replicas ?? 0) > 0) this.wasUp = true;
        if (this.wasUp && !this.zeroAt && (dep.spec.replicas ?? 0) === 0 && !(dep.status.replicas > 0)) this.zeroAt = Date.now();
      } catch { /* next tick */ }
      if (!this.stopped) this.timer = setTimeout(tick, 1000);
    };
    void tick();
    return this;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

/** Waits until the endpoint's Deployment is at zero replicas with no pods left. */
export async function waitForZero(ns: string, deployment: string, endpointId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [dep, pods] = await Promise.all([
      kubectlJson(["-n", ns, "get", "deployment", deployment]),
      kubectlJson(["-n", ns, "get", "pods", "-l", `longshore.dev/endpoint=${endpointId}`]),
    ]);
    if ((dep.spec.replicas ?? 0) === 0 && pods.items.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${deployment}: not back at zero after ${timeoutMs} ms (spec ${dep.spec.replicas}, pods ${pods.items.length})`);
    await sleep(2000);
  }
}

/** The gateway pods (name, pod IP), ready ones only. */
export async function gatewayPods(ns: string): Promise<Array<{ name: string; ip: string }>> {
  const pods = await kubectlJson(["-n", ns, "get", "pods", "-l", "app.kubernetes.io/name=longshore-gateway"]);
  return pods.items
    .filter((p: any) => !p.metadata.deletionTimestamp && p.status.podIP && (p.status.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True"))
    .map((p: any) => ({ name: p.metadata.name, ip: p.status.podIP }));
}

/** `longshore_jobs_submitted_total` of one gateway pod for an endpoint (its own /metrics on 9091). */
export async function submittedOn(ip: string, endpointId: string): Promise<number> {
  const text = await (await fetch(`http://${ip}:9091/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let n = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("longshore_jobs_submitted_total{") && line.includes(`endpoint="${endpointId}"`)) n += Number(line.split(" ").pop());
  }
  return n;
}

/** Host pid of the worker process of a pod (the proving ground's kubelet runs on this machine). */
export function workerPid(pod: string): number {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = fs.readFileSync(`/proc/${entry}/environ`, "utf8").split("\0");
      if (env.includes(`RUNPOD_POD_ID=${pod}`) && fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("handler.js")) return Number(entry);
    } catch { /* gone, or not ours to read */ }
  }
  throw new Error(`no worker process of pod ${pod} on this machine (the proving ground's node)`);
}

/** Submits one job through the gateway (plain HTTP) and waits for its terminal status. */
export async function runJob(d: DeployedStack, endpointId: string, input: unknown, timeoutMs = 180_000): Promise<any> {
  const headers = { Authorization: `Bearer ${d.apiKey}`, "Content-Type": "application/json" };
  const res = await fetch(`${d.gatewayBase}/v2/${endpointId}/run`, { method: "POST", headers, body: JSON.stringify({ input }) });
  const text = await res.text();
  assert.equal(res.status, 200, `POST /run: ${res.status} ${text}`);
  const { id } = JSON.parse(text) as { id: string };
  return waitFor(`job ${id} on ${endpointId} to finish`, timeoutMs, async () => {
    const s = (await (await fetch(`${d.gatewayBase}/v2/${endpointId}/status/${id}`, { headers })).json()) as any;
    return TERMINAL.has(s.status) ? s : undefined;
  }, 500);
}

/** A RunPod hello-world job through the real `runpod-sdk` onto an endpoint at zero: COMPLETED with "Hello World"
 *  (retried while the gateway has not yet seen the endpoint's Secret: /run answers 404 until its watch has). */
export async function runpodSdkHello(gatewayBase: string, apiKey: string, endpointId: string, name: string, what: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const runpodSdk = require("runpod-sdk").default ?? require("runpod-sdk");
  const ep = runpodSdk(apiKey, { baseUrl: `${gatewayBase}/v2` }).endpoint(endpointId);
  const t0 = Date.now();
  const started = await waitFor("the gateway to know the endpoint", 60_000, async () => {
    const r = await ep.run({ input: { name } });
    return r?.id ? r : undefined;
  }, 1000);
  const done = await waitFor("the job to finish", 300_000, async () => {
    const s = await ep.status(started.id);
    return TERMINAL.has(s.status) ? s : undefined;
  }, 1000);
  log(`${what}: cold start → ${done.status} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(done.status, "COMPLETED", JSON.stringify(done));
  assert.equal(done.output, "Hello World");
}

/** The local stack's TypeScript burst endpoint, once the gateway knows it (it learns of it from its Secret). */
export async function burstEndpoint(d: DeployedStack): Promise<{ ep: string; dep: string; c: JobClient }> {
  const ep = d.out("burstEndpointId");
  const c = new JobClient(d.gatewayBase, d.apiKey, ep);
  await waitFor(`the gateway to know ${ep}`, 60_000, async () => ((await c.request("GET", `/v2/${ep}/health`)).status === 200 ? true : undefined), 1000);
  return { ep, dep: d.out("burstWorkerDeployment"), c };
}
