// Shared bits for the worker-SDK, examples and CLI suites: worker processes with the RUNPOD_* env, and a
// small client for the gateway's public API.
import { spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as ts from "typescript";
import type { TestGateway } from "../helpers/gateway";
import { workerEnv } from "../helpers/gateway";

export const ROOT = path.resolve(__dirname, "../..");
export const FIXTURE = path.join(__dirname, "fixtures/handlers.ts");
export const ALIAS = path.join(__dirname, "fixtures/longshore-alias.js");

let compiled: string | undefined;
/**
 * The fixture worker and the SDK transpiled once to plain JS (same code, no type check), so each worker
 * process starts in ~0.1 s instead of loading ts-node: the suites start a dozen workers on 2 cores.
 */
export function compiledFixture(): string {
  if (compiled) return compiled;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-fixture-"));
  for (const rel of ["worker/index.ts", "test/worker/fixtures/handlers.ts"]) {
    const src = fs.readFileSync(path.join(ROOT, rel), "utf8");
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true }, fileName: rel }).outputText;
    const dest = path.join(out, rel.replace(/\.ts$/, ".js"));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, js);
  }
  compiled = path.join(out, "test/worker/fixtures/handlers.js");
  return compiled;
}

export interface WorkerProc {
  proc: ChildProcess;
  id: string;
  logs(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  kill(sig?: NodeJS.Signals): void;
}

let seq = 0;

/** Starts a worker process (default: the TS fixture handler under ts-node) wired to the gateway's first endpoint. */
export function spawnWorker(
  gw: TestGateway,
  opts: { env?: Record<string, string>; cmd?: string[]; cwd?: string; id?: string; endpointIndex?: number } = {},
): WorkerProc {
  const id = opts.id ?? `w${process.pid}-${++seq}`;
  const env = {
    ...process.env,
    ...workerEnv(gw.url, gw.endpoints[opts.endpointIndex ?? 0], id, { pingIntervalMs: 500 }),
    TS_NODE_TRANSPILE_ONLY: "true",
    ...(opts.env ?? {}),
  };
  const cmd = opts.cmd ?? [process.execPath, compiledFixture()];
  const proc = spawn(cmd[0], cmd.slice(1), { cwd: opts.cwd ?? ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    id,
    logs: () => out,
    exited,
    isRunning: () => proc.exitCode === null && proc.signalCode === null,
    kill: (sig = "SIGTERM") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    },
  };
}

export async function stopWorkers(workers: WorkerProc[]): Promise<void> {
  await Promise.all(
    workers.map(async (w) => {
      if (!w.isRunning()) return;
      w.kill("SIGKILL");
      await w.exited;
    }),
  );
}

export class Client {
  constructor(readonly gw: TestGateway, readonly endpointId = gw.endpoints[0].id) {}

  async req(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.gw.baseUrl}/${this.endpointId}${p}`, {
      method,
      headers: { Authorization: `Bearer ${this.gw.apiKey}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep text */
    }
    return { status: res.status, body: parsed };
  }

  async run(input: unknown, extra: Record<string, unknown> = {}): Promise<string> {
    const r = await this.req("POST", "/run", { input, ...extra });
    if (r.status !== 200 || typeof r.body?.id !== "string") throw new Error(`/run answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body.id;
  }

  async status(id: string): Promise<any> {
    const r = await this.req("GET", `/status/${id}`);
    if (r.status !== 200) throw new Error(`/status answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Polls /status until `until(body)` holds; returns every distinct body seen, last one last. */
  async waitFor(id: string, until: (s: any) => boolean, timeoutMs = 15_000): Promise<any[]> {
    const seen: any[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const s = await this.status(id);
      if (!seen.length || JSON.stringify(seen[seen.length - 1]) !== JSON.stringify(s)) seen.push(s);
      if (until(s)) return seen;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${id}: condition not met in ${timeoutMs} ms; seen ${JSON.stringify(seen).slice(0, 1500)}`);
  }

  async terminal(id: string, timeoutMs = 15_000): Promise<any> {
    const seen = await this.waitFor(id, (s) => ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].includes(s.status), timeoutMs);
    return seen[seen.length - 1];
  }

  /** Collects /stream chunks until the job is terminal. */
  async streamAll(id: string, timeoutMs = 15_000): Promise<{ chunks: unknown[]; final: any }> {
    const chunks: unknown[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = await this.req("GET", `/stream/${id}`);
      if (r.status !== 200) throw new Error(`/stream answered ${r.status}: ${JSON.stringify(r.body)}`);
      for (const c of r.body.stream ?? []) chunks.push(c.output);
      if (["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].includes(r.body.status)) {
        // one more read: chunks posted just before the end marker
        const last = await this.req("GET", `/stream/${id}`);
        for (const c of last.body?.stream ?? []) chunks.push(c.output);
        return { chunks, final: await this.status(id) };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`stream of ${id} did not end in ${timeoutMs} ms`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once the SDK logged its start line (its signal handlers are installed from then on). */
export async function waitStarted(w: WorkerProc, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!/worker \S+ started/.test(w.logs())) {
    if (!w.isRunning()) throw new Error(`worker exited before starting: ${w.logs().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`worker did not start in ${timeoutMs} ms: ${w.logs().slice(-2000)}`);
    await sleep(50);
  }
}
