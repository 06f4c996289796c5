// Small helpers shared by the gateway suites: an HTTP client for the client and worker routes,
// and real Python workers (runpod.serverless.start) as child processes.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as path from "path";
import type { EndpointConfig } from "../../gateway/src/config";
import { TestGateway, workerEnv } from "../helpers/gateway";

export interface Res<T = any> {
  status: number;
  body: T;
  text: string;
}

export async function http<T = any>(method: string, url: string, opts: { headers?: Record<string, string>; body?: unknown; raw?: string | Buffer } = {}): Promise<Res<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  let body: string | Buffer | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const r = await fetch(url, { method, headers, body });
  const text = await r.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: r.status, body: parsed, text };
}

/** Client-side calls with the gateway's API key. */
export function client(gw: TestGateway, ep = gw.endpoints[0].id) {
  const h = { authorization: `Bearer ${gw.apiKey}` };
  const u = (p: string) => `${gw.baseUrl}/${ep}${p}`;
  return {
    run: (body: unknown) => http("POST", u("/run"), { headers: h, body }),
    runsync: (body: unknown, wait?: number) => http("POST", u(`/runsync${wait !== undefined ? `?wait=${wait}` : ""}`), { headers: h, body }),
    status: (id: string) => http("GET", u(`/status/${id}`), { headers: h }),
    statusSync: (id: string, wait: number) => http("GET", u(`/status-sync/${id}?wait=${wait}`), { headers: h }),
    stream: (id: string) => http("GET", u(`/stream/${id}`), { headers: h }),
    cancel: (id: string) => http("POST", u(`/cancel/${id}`), { headers: h, body: {} }),
    retry: (id: string) => http("POST", u(`/retry/${id}`), { headers: h }),
    purge: () => http("POST", u(`/purge-queue`), { headers: h }),
    health: () => http("GET", u(`/health`), { headers: h }),
    /** polls /status until terminal */
    async waitTerminal(id: string, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const r = await http("GET", u(`/status-sync/${id}?wait=1000`), { headers: h });
        if (r.status !== 200) throw new Error(`status ${id}: ${r.status} ${r.text}`);
        if (["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].includes(r.body.status)) return r.body;
        if (Date.now() > end) throw new Error(`job ${id} not terminal after ${timeoutMs} ms: ${r.text}`);
      }
    },
  };
}

/** Worker-side calls exactly as runpod.serverless builds them (raw token, '?&' query strings). */
export function worker(gw: TestGateway, workerId: string, ep: EndpointConfig = gw.endpoints[0]) {
  const h = { authorization: ep.workerToken };
  const b = `${gw.baseUrl}/${ep.id}`;
  return {
    take: () => http("GET", `${b}/job-take/${workerId}?&job_in_progress=0`, { headers: h }),
    takeBatch: (n: number) => http("GET", `${b}/job-take-batch/${workerId}?&batch_size=${n}&job_in_progress=0`, { headers: h }),
    done: (id: string, payload: unknown, isStream = false) =>
      http("POST", `${b}/job-done/${workerId}/${id}?&isStream=${isStream}`, {
        headers: { ...h, "content-type": "application/x-www-form-urlencoded" },
        raw: JSON.stringify(payload),
      }),
    stream: (id: string, output: unknown) =>
      http("POST", `${b}/job-stream/${workerId}/${id}?&isStream=false`, {
        headers: { ...h, "content-type": "application/x-www-form-urlencoded" },
        raw: JSON.stringify({ output }),
      }),
    ping: (jobIds: string[] = []) => http("GET", `${b}/ping/${workerId}?${jobIds.length ? `job_id=${jobIds.join(",")}&` : ""}runpod_version=1.12.0`, { headers: h }),
    stop: () => http("GET", `${b}/job-stop/${workerId}?&job_in_progress=1`, { headers: h }),
  };
}

let pythonPath: string | undefined;
/** The venv python with scripts/python-requirements.txt (runpod==1.12.0 …; scripts/setup-python.sh, cached). */
export function venvPython(): string {
  if (!pythonPath) {
    const root = path.resolve(__dirname, "../..");
    pythonPath = execFileSync("bash", [path.join(root, "scripts/setup-python.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  }
  return pythonPath;
}

export interface PyWorker {
  id: string;
  proc: ChildProcess;
  output(): string;
  /** SIGKILL the whole process group (the SDK's ping process too), like a pod dying */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts an unmodified runpod.serverless.start worker from test/gateway/fixtures/<file>. */
export function startPyWorker(gw: TestGateway, fixture: string, workerId: string, opts: { ep?: EndpointConfig; env?: Record<string, string> } = {}): PyWorker {
  const ep = opts.ep ?? gw.endpoints[0];
  const proc = spawn(venvPython(), [path.join(__dirname, "fixtures", fixture)], {
    env: { ...process.env, ...workerEnv(gw.url, ep, workerId, { pingIntervalMs: 1000 }), RUNPOD_DEBUG_LEVEL: "INFO", ...(opts.env ?? {}) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // own process group: kill() takes the heartbeat process down with it
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d.toString()));
  proc.stderr!.on("data", (d) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const signal = async (sig: NodeJS.Signals) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    try {
      process.kill(-proc.pid!, sig);
    } catch {
      /* already gone */
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    try {
      process.kill(-proc.pid!, "SIGKILL");
    } catch {
      /* gone */
    }
  };
  return { id: workerId, proc, output: () => out, kill: () => signal("SIGKILL"), stop: () => signal("SIGTERM") };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
