/**
 * Runs a tests file against a Longshore (or RunPod) endpoint the way RunPod's hosted test-runner action does:
 * each input goes to POST /run, /status is polled until a terminal status, and the output is compared
 * (deep equality) with the expected one when the test gives it.
 */
import { isDeepStrictEqual } from "util";
import type { TestCase } from "./testsFile";

export type Verdict = "PASS" | "FAIL";

export interface TestResult {
  name: string;
  verdict: Verdict;
  /** Terminal job status, or TIMEOUT / ERROR when the runner gave up. */
  status: string;
  jobId?: string;
  durationMs: number;
  reason?: string;
  output?: unknown;
}

export interface RunOptions {
  endpointUrl: string; // B/v2/ep
  apiKey: string;
  tests: TestCase[];
  /** Default per-test timeout (s) when the test has none of its own. */
  timeoutS: number;
  /** Poll interval for /status (ms). */
  pollMs?: number;
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Called between polls; lets --local mode fail fast when the worker died. Return a reason to abort. */
  abortCheck?: () => string | undefined;
}

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]);

function short(v: unknown, n = 60): string {
  let s: string;
  try {
    s = v === undefined ? "(none)" : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  s = s.replace(/\s+/g, " ");
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

function errorSummary(err: unknown): string {
  // RunPod workers send the error as a JSON string with error_type/error_message/traceback.
  if (typeof err === "string") {
    try {
      const e = JSON.parse(err);
      if (e && typeof e === "object" && e.error_message) return `${e.error_type ?? "error"}: ${e.error_message}`;
    } catch {
      /* plain string */
    }
    return err;
  }
  return short(err, 200);
}

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function call(method: string, url: string, apiKey: string, body?: unknown, signal?: AbortSignal): Promise<any> {
  const res = await fetch(url, {
    method,
    headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json", Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: signal ?? AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new HttpError(res.status, `${method} ${new URL(url).pathname} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : {};
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** fetch's "fetch failed" hides the reason (ECONNREFUSED, ENOTFOUND…) in `cause`. */
function explain(err: any): string {
  const cause = err?.cause;
  return `${err?.message ?? err}${cause ? ` (${cause.code ?? cause.message ?? cause})` : ""}`;
}

class Progress {
  private last = "";
  private lastAt = 0;
  private readonly tty: boolean;
  private readonly frames = ["|", "/", "-", "\\"];
  private i = 0;
  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean }) {
    this.tty = !!out.isTTY;
  }
  /**
   * On a terminal: one line rewritten in place. Otherwise (CI logs): a line whenever the status or the
   * progress output changes (`key`), and every 10 s while nothing changes.
   */
  show(key: string, line: string) {
    if (this.tty) {
      this.out.write(`\r\x1b[2K${this.frames[this.i++ % 4]} ${line}`);
    } else if (key !== this.last || Date.now() - this.lastAt >= 10_000) {
      this.out.write(`  … ${line}\n`);
      this.last = key;
      this.lastAt = Date.now();
    }
  }
  clear() {
    if (this.tty) this.out.write("\r\x1b[2K");
    this.last = "";
  }
}

export async function runTest(t: TestCase, index: number, opts: RunOptions, progress: Progress): Promise<TestResult> {
  const base = opts.endpointUrl.replace(/\/+$/, "");
  const started = Date.now();
  const timeoutMs = t.timeoutMs ?? opts.timeoutS * 1000;
  const label = `[${index + 1}/${opts.tests.length}] ${t.name}`;
  const res = (r: Omit<TestResult, "name" | "durationMs">): TestResult => ({ name: t.name, durationMs: Date.now() - started, ...r });

  let id: string;
  try {
    const sub = await call("POST", `${base}/run`, opts.apiKey, { input: t.input });
    id = sub.id;
    if (typeof id !== "string") return res({ verdict: "FAIL", status: "ERROR", reason: `/run answered without an id: ${short(sub)}` });
  } catch (err: any) {
    return res({ verdict: "FAIL", status: "ERROR", reason: `submitting failed: ${explain(err)}` });
  }

  let status = "IN_QUEUE";
  let body: any = {};
  let consecutiveErrors = 0;
  while (true) {
    const elapsed = Date.now() - started;
    if (elapsed > timeoutMs) {
      // Best effort: do not leave the job running on the endpoint after we gave up on it.
      await call("POST", `${base}/cancel/${id}`, opts.apiKey, {}).catch(() => undefined);
      progress.clear();
      return res({ verdict: "FAIL", status: "TIMEOUT", jobId: id, reason: `no terminal status after ${Math.round(timeoutMs / 1000)} s (last: ${status}); job cancelled` });
    }
    const aborted = opts.abortCheck?.();
    if (aborted) {
      // leave nothing running behind us (with a live worker this also lets its drain finish at once)
      await call("POST", `${base}/cancel/${id}`, opts.apiKey, {}, AbortSignal.timeout(5_000)).catch(() => undefined);
      progress.clear();
      return res({ verdict: "FAIL", status: "ERROR", jobId: id, reason: aborted });
    }
    try {
      body = await call("GET", `${base}/status/${id}`, opts.apiKey);
      status = String(body.status ?? "UNKNOWN");
      consecutiveErrors = 0;
    } catch (err: any) {
      consecutiveErrors++;
      if (err instanceof HttpError && err.status === 404) {
        progress.clear();
        return res({ verdict: "FAIL", status: "ERROR", jobId: id, reason: `job ${id} is unknown to the endpoint (404)` });
      }
      if (consecutiveErrors >= 10) {
        progress.clear();
        return res({ verdict: "FAIL", status: "ERROR", jobId: id, reason: `polling /status kept failing: ${explain(err)}` });
      }
    }
    if (TERMINAL.has(status)) break;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const shown = status === "IN_PROGRESS" && body.output !== undefined ? ` progress: ${short(body.output, 50)}` : "";
    progress.show(`${label} ${status}${shown}`, `${label}: ${status} ${secs}s${shown}`);
    await sleep(opts.pollMs ?? 500);
  }
  progress.clear();

  if (status !== "COMPLETED") {
    const why = body.error !== undefined ? errorSummary(body.error) : status;
    return res({ verdict: "FAIL", status, jobId: id, reason: why, output: body.output });
  }
  if (t.expected && !isDeepStrictEqual(body.output, t.expected.value)) {
    return res({
      verdict: "FAIL",
      status,
      jobId: id,
      output: body.output,
      reason: `output mismatch: expected ${short(t.expected.value)} got ${short(body.output)}`,
    });
  }
  return res({ verdict: "PASS", status, jobId: id, output: body.output });
}

export async function runTests(opts: RunOptions): Promise<TestResult[]> {
  const out = opts.out ?? process.stdout;
  const progress = new Progress(out);
  const results: TestResult[] = [];
  for (let i = 0; i < opts.tests.length; i++) {
    // once aborted (worker gone, interrupted), the remaining tests fail without being submitted
    const aborted = opts.abortCheck?.();
    const r = aborted
      ? { name: opts.tests[i].name, verdict: "FAIL" as const, status: "ERROR", durationMs: 0, reason: `not run: ${aborted}` }
      : await runTest(opts.tests[i], i, opts, progress);
    const job = r.jobId ? ` (job ${r.jobId})` : "";
    out.write(`${r.verdict === "PASS" ? "ok  " : "FAIL"} [${i + 1}/${opts.tests.length}] ${r.name}${job} — ${r.status} in ${(r.durationMs / 1000).toFixed(1)}s${r.reason ? `: ${r.reason}` : ""}\n`);
    results.push(r);
  }
  return results;
}

/** A plain-text table; wide cells are cut so it stays readable in CI logs. */
export function formatTable(results: TestResult[]): string {
  const rows = [["#", "test", "result", "status", "time", "detail"]];
  results.forEach((r, i) =>
    rows.push([String(i + 1), r.name, r.verdict, r.status, `${(r.durationMs / 1000).toFixed(1)}s`, r.reason ?? (r.output !== undefined ? `output ${short(r.output, 50)}` : "")]),
  );
  const cap = [4, 32, 6, 10, 8, 90];
  const cells = rows.map((row) => row.map((c, j) => (c.length > cap[j] ? c.slice(0, cap[j] - 1) + "…" : c)));
  const widths = cap.map((_, j) => Math.max(...cells.map((row) => row[j].length)));
  const line = (row: string[]) => row.map((c, j) => c.padEnd(widths[j])).join(" | ").trimEnd();
  const sep = widths.map((w) => "-".repeat(w)).join("-+-");
  const passed = results.filter((r) => r.verdict === "PASS").length;
  return [line(cells[0]), sep, ...cells.slice(1).map(line), "", `${passed}/${results.length} tests passed, ${results.length - passed} failed`].join("\n") + "\n";
}
