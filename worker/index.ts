/**
 * Longshore worker SDK for TypeScript/JavaScript handlers (`import { start } from "longshore/worker"`).
 *
 * It speaks the same worker protocol, and reads the same environment variables, as RunPod's Python SDK
 * (`runpod.serverless.start`, 1.12.0), so one Longshore gateway serves both kinds of worker image.
 * See docs/worker-sdk.md for the authoring guide and docs/runpod-compat.md for the wire facts.
 *
 * Why hand-written: there is no maintained RunPod worker SDK for Node; the protocol is a handful of HTTP
 * calls, done here with Node's built-in fetch (undici), so the SDK has no dependencies at all.
 */
import * as fs from "fs";
import * as os from "os";
import { randomUUID } from "crypto";

export const SDK_VERSION = "longshore-worker-ts/0.1.0";

/** A job as the gateway hands it to a worker. Extra keys (e.g. `s3Config`) pass through unchanged. */
export interface Job {
  id: string;
  input: any;
  [key: string]: any;
}

/** Second argument every handler receives. */
export interface JobContext {
  /** Aborted when the job is cancelled (job-stop), times out, or the worker must give up on it. */
  signal: AbortSignal;
  /** Sends a progress update (shown as `output` on /status while the job is IN_PROGRESS). */
  progress(output: unknown): Promise<void>;
  /** The worker id (RUNPOD_POD_ID). */
  workerId: string;
}

export type HandlerResult =
  | unknown
  | Promise<unknown>
  | Iterable<unknown>
  | AsyncIterable<unknown>;

/**
 * A handler may be sync, async, a generator or an async generator (each yielded value is streamed).
 * As in the Python SDK, returning an object with `error` fails the job (the rest stays as output) and
 * returning an object with `refresh_worker: true` recycles the worker after the job.
 */
export type Handler = (job: Job, ctx: JobContext) => HandlerResult;

export interface StartOptions {
  handler: Handler;
  /**
   * How many jobs this worker runs at once. A number, or a function like the Python SDK's
   * `concurrency_modifier` (called with the current concurrency before each take; the result is clamped to ≥ 1).
   */
  concurrency?: number | ((current: number) => number);
  /** With a streaming handler, the final job output is the array of all yielded values (default: []). */
  returnAggregateStream?: boolean;
  /** Recycle (exit) the worker after every job, like the Python SDK's `refresh_worker` config flag. */
  refreshWorker?: boolean;
  /**
   * Job execution timeout the worker enforces itself (ms). Per job, a `policy.executionTimeout` or
   * `executionTimeout` key on the job wins. Default: LONGSHORE_EXECUTION_TIMEOUT_MS or 600000.
   */
  executionTimeoutMs?: number;
  /** Environment to read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Command-line arguments to read for local test mode (default process.argv.slice(2)). */
  argv?: string[];
  /** Exit the process when the worker stops (default true). */
  exitProcess?: boolean;
  /** Install SIGTERM/SIGINT handlers that drain the worker (default true). */
  handleSignals?: boolean;
  /** Logger (default: JSON-ish lines on stderr). */
  log?: (level: "debug" | "info" | "warn" | "error", msg: string, jobId?: string) => void;
}

export interface WorkerHandle {
  /** Stop taking jobs, finish (or time out) the jobs in hand, post their results. Resolves when done. */
  stop(): Promise<number>;
  /** Resolves with the exit code once the worker has stopped (after a drain, a refresh or a local test). */
  done: Promise<number>;
  readonly workerId: string;
}

// ------------------------------------------------------------------------------------------------
// Progress updates from anywhere: progressUpdate(job, output) finds the worker running that job.
const running = new Map<string, Runtime>();

/** Sends `{"status":"IN_PROGRESS","output":output}` for a running job, like runpod.serverless.progress_update. */
export async function progressUpdate(job: Job | string, output: unknown): Promise<void> {
  const id = typeof job === "string" ? job : job.id;
  const rt = running.get(id);
  if (!rt) return; // local test mode, or the job is no longer in hand: nothing to report to
  await rt.sendProgress(id, output);
}

// ------------------------------------------------------------------------------------------------
type Level = "debug" | "info" | "warn" | "error";
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function defaultLogger(env: NodeJS.ProcessEnv) {
  const min = LEVELS[(String(env.RUNPOD_DEBUG_LEVEL || env.LONGSHORE_LOG_LEVEL || "info").toLowerCase() as Level)] ?? 20;
  return (level: Level, msg: string, jobId?: string) => {
    if (LEVELS[level] < min) return;
    process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${jobId ? `${jobId} | ` : ""}${msg}\n`);
  };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

function isAsyncIterable(v: any): v is AsyncIterable<unknown> {
  return v != null && typeof v === "object" && typeof v[Symbol.asyncIterator] === "function";
}
/** A generator/iterator object — not an array, string, Map… (those are plain outputs). */
function isIterator(v: any): v is Iterable<unknown> & Iterator<unknown> {
  return v != null && typeof v === "object" && typeof v[Symbol.iterator] === "function" && typeof v.next === "function";
}
function isPlainObject(v: any): v is Record<string, any> {
  if (v == null || typeof v !== "object" || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function errorInfo(err: unknown, workerId: string): string {
  const e = err instanceof Error ? err : new Error(String(err));
  // Same keys the Python SDK sends, so clients parsing RunPod errors keep working.
  return JSON.stringify({
    error_type: e.name || "Error",
    error_message: e.message,
    error_traceback: e.stack || String(e),
    hostname: process.env.RUNPOD_POD_HOSTNAME || os.hostname(),
    worker_id: workerId,
    runpod_version: SDK_VERSION,
  });
}

class TooManyRequests extends Error {}

interface Result {
  output?: unknown;
  error?: string;
  stopPod?: boolean;
  status?: string;
}

interface InHand {
  job: Job;
  abort: AbortController;
  /** Set once the worker has given up on the job (stopped or timed out): later results are dropped. */
  settled: boolean;
  timer?: NodeJS.Timeout;
}

class Runtime {
  readonly workerId: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly log: NonNullable<StartOptions["log"]>;
  private readonly auth: string;
  private readonly takeUrl: string;
  private readonly doneUrl: string;
  private readonly streamUrl: string;
  private readonly pingUrl: string | undefined;
  private readonly pingIntervalMs: number;
  private readonly inHand = new Map<string, InHand>();
  private concurrency = 1;
  private draining = false;
  private refreshRequested = false;
  /** Aborted when the drain begins: ends the job-take long poll and its back-off sleeps. */
  private readonly taking = new AbortController();
  /** Aborted when the worker has fully stopped: ends the job-stop poll (kept during the drain, so a
   *  job cancelled while the worker drains is still stopped). */
  private readonly lifecycle = new AbortController();
  private slotFreed: (() => void) | undefined;
  private stopPromise: Promise<number> | undefined;
  private resolveDone!: (code: number) => void;
  readonly done: Promise<number>;

  constructor(private readonly opts: StartOptions, env: NodeJS.ProcessEnv) {
    this.env = env;
    this.log = opts.log ?? defaultLogger(env);
    this.workerId = env.RUNPOD_POD_ID || randomUUID();
    this.auth = env.RUNPOD_AI_API_KEY || "";
    // Plain string substitution, exactly as the Python SDK does it.
    this.takeUrl = String(env.RUNPOD_WEBHOOK_GET_JOB).replace("$ID", this.workerId);
    this.doneUrl = String(env.RUNPOD_WEBHOOK_POST_OUTPUT || "").replace("$RUNPOD_POD_ID", this.workerId);
    this.streamUrl = String(env.RUNPOD_WEBHOOK_POST_STREAM || "").replace("$RUNPOD_POD_ID", this.workerId);
    this.pingUrl = env.RUNPOD_WEBHOOK_PING ? env.RUNPOD_WEBHOOK_PING.replace("$RUNPOD_POD_ID", this.workerId) : undefined;
    this.pingIntervalMs = Math.max(100, Number(env.RUNPOD_PING_INTERVAL || 10000) || 10000);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  private headers(extra?: Record<string, string>): Record<string, string> {
    return { Authorization: this.auth, "User-Agent": SDK_VERSION, ...extra };
  }

  private targetConcurrency(): number {
    const c = this.opts.concurrency;
    let next: unknown;
    try {
      next = typeof c === "function" ? c(this.concurrency) : c ?? 1;
    } catch (err: any) {
      // a throwing concurrency function must not stop the worker from taking jobs
      this.log("warn", `concurrency function threw (${err?.message ?? err}); keeping ${this.concurrency}`);
      return this.concurrency;
    }
    return Math.max(1, Math.floor(Number(next) || 1));
  }

  private jobTimeoutMs(job: Job): number {
    const fromJob = Number(job?.policy?.executionTimeout ?? job?.executionTimeout);
    if (Number.isFinite(fromJob) && fromJob > 0) return fromJob;
    if (this.opts.executionTimeoutMs && this.opts.executionTimeoutMs > 0) return this.opts.executionTimeoutMs;
    const fromEnv = Number(this.env.LONGSHORE_EXECUTION_TIMEOUT_MS);
    return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : 600_000;
  }

  run(): void {
    this.log("info", `worker ${this.workerId} started (${SDK_VERSION})`);
    void this.pingLoop();
    void this.stopLoop();
    void this.takeLoop();
  }

  // ---------------------------------------------------------------- job-take
  private takeUrlFor(batch: number): string {
    let url = this.takeUrl;
    if (batch > 1) url = url.replace("/job-take/", "/job-take-batch/") + `&batch_size=${batch}`;
    return url + `&job_in_progress=${this.inHand.size > 0 ? 1 : 0}`;
  }

  private async fetchJobs(n: number): Promise<Job[]> {
    // The gateway answers within 90 s; give it a little more before giving up on the request.
    const timeout = AbortSignal.timeout(95_000);
    const signal = AbortSignal.any([timeout, this.taking.signal]);
    const res = await fetch(this.takeUrlFor(n), { headers: this.headers({ Accept: "application/json" }), signal });
    const text = await res.text();
    if (res.status === 204 || res.status === 400) return [];
    if (res.status === 429) throw new TooManyRequests("429 from job-take");
    if (!res.ok) throw new Error(`job-take answered ${res.status}: ${text.slice(0, 200)}`);
    if (!text.trim()) return [];
    if (!(res.headers.get("content-type") || "").includes("application/json")) return [];
    const body = JSON.parse(text);
    const jobs: any[] = Array.isArray(body) ? body : [body];
    for (const j of jobs) {
      if (!j || typeof j !== "object" || typeof j.id !== "string" || !("input" in j)) {
        throw new Error("job has missing field(s): id or input");
      }
    }
    return jobs as Job[];
  }

  private async takeLoop(): Promise<void> {
    while (!this.draining) {
      this.concurrency = this.targetConcurrency();
      const need = this.concurrency - this.inHand.size;
      if (need <= 0) {
        await new Promise<void>((r) => {
          this.slotFreed = r;
          setTimeout(r, 1000); // re-evaluate a concurrency function now and then
        });
        continue;
      }
      try {
        const jobs = await this.fetchJobs(need);
        // A job that arrived is run even if a drain began meanwhile: it is ours now and must not be lost.
        for (const job of jobs) this.startJob(job);
      } catch (err: any) {
        if (this.draining) break;
        if (err instanceof TooManyRequests) {
          this.log("debug", "job-take: too many requests, backing off 5 s");
          await sleep(5000, this.taking.signal);
        } else if (err?.name === "TimeoutError") {
          // long poll ran out: ask again
        } else {
          this.log("warn", `job-take failed: ${err?.message ?? err}`);
          await sleep(1000, this.taking.signal); // gateway unreachable: don't spin
        }
      }
    }
  }

  // ---------------------------------------------------------------- running a job
  private startJob(job: Job): void {
    if (this.inHand.has(job.id)) {
      // handed out again while still running here (its lease lapsed, e.g. pings failed): the run in hand
      // will post the result; a second run in the same worker would only race it
      this.log("warn", "job handed out again while already running here; keeping the running one", job.id);
      return;
    }
    const abort = new AbortController();
    const entry: InHand = { job, abort, settled: false };
    this.inHand.set(job.id, entry);
    running.set(job.id, this);
    const timeoutMs = this.jobTimeoutMs(job);
    entry.timer = setTimeout(() => {
      if (entry.settled) return;
      this.log("warn", `execution timeout (${timeoutMs} ms) reached, failing the job`, job.id);
      entry.settled = true;
      abort.abort(new Error("execution timeout"));
      const err = new Error(`job exceeded its execution timeout of ${timeoutMs} ms`);
      err.name = "ExecutionTimeout";
      void this.postDone(job.id, { error: errorInfo(err, this.workerId) }, false).finally(() => this.finish(job.id));
    }, timeoutMs);
    entry.timer.unref?.();
    this.log("info", "started", job.id);
    // Whoever settles the job (this run, the timeout above, or a job-stop) removes it from the hand,
    // only after its result is posted: a drain must not exit while a result is still on the wire.
    void this.execute(entry).then(
      (settledHere) => settledHere && this.finish(job.id),
      (err) => {
        this.log("error", `internal error running job: ${err?.stack ?? err}`, job.id);
        this.finish(job.id);
      },
    );
  }

  private finish(jobId: string): void {
    const entry = this.inHand.get(jobId);
    if (!entry) return;
    if (entry.timer) clearTimeout(entry.timer);
    this.inHand.delete(jobId);
    running.delete(jobId);
    this.log("info", "finished", jobId);
    this.slotFreed?.();
    if (this.refreshRequested && !this.draining) {
      this.log("info", "refresh requested: worker stops after this job");
      void this.stop();
    }
    this.maybeDone();
  }

  /** Runs the handler and posts the result; false when someone else settled the job meanwhile. */
  private async execute(entry: InHand): Promise<boolean> {
    const { job, abort } = entry;
    const ctx: JobContext = {
      signal: abort.signal,
      progress: (output) => this.sendProgress(job.id, output),
      workerId: this.workerId,
    };
    let result: Result;
    let isStream = false;
    try {
      const ret = this.opts.handler(job, ctx);
      if (isAsyncIterable(ret) || isIterator(ret)) {
        isStream = true;
        result = await this.runStream(entry, ret as AsyncIterable<unknown> | Iterable<unknown>);
      } else {
        result = shapeResult(await ret);
      }
    } catch (err) {
      if (entry.settled) return false;
      this.log("error", `handler failed: ${(err as Error)?.stack ?? err}`, job.id);
      result = { error: errorInfo(err, this.workerId) };
    }
    if (entry.settled) return false; // stopped or timed out meanwhile: the gateway has already been told
    if (result.stopPod) this.refreshRequested = true;
    if (this.opts.refreshWorker) {
      result.stopPod = true;
      this.refreshRequested = true;
    }
    entry.settled = true;
    await this.postDone(job.id, result, isStream);
    return true;
  }

  private async runStream(entry: InHand, gen: AsyncIterable<unknown> | Iterable<unknown>): Promise<Result> {
    const aggregate: unknown[] = [];
    for await (const chunk of gen as AsyncIterable<unknown>) {
      if (entry.settled) return {};
      // A yielded {error} ends the stream as a failure, as in the Python SDK.
      if (isPlainObject(chunk) && chunk.error) return { error: String(chunk.error) };
      if (this.opts.returnAggregateStream) aggregate.push(chunk);
      await this.post(this.streamUrl, entry.job.id, { output: chunk }, false);
    }
    return { output: aggregate };
  }

  async sendProgress(jobId: string, output: unknown): Promise<void> {
    const entry = this.inHand.get(jobId);
    if (!entry || entry.settled) return;
    await this.post(this.doneUrl, jobId, { status: "IN_PROGRESS", output }, false);
  }

  private async postDone(jobId: string, result: Result, isStream: boolean): Promise<void> {
    const status = await this.post(this.doneUrl, jobId, result, isStream, true);
    if (status === 413 && !result.error) {
      // The output is over the gateway's body limit. Fail the job with a clear reason rather than leave it
      // IN_PROGRESS to be re-run (and refused again) after its lease lapses.
      const size = Buffer.byteLength(JSON.stringify(result));
      const err = new Error(`job output is ${size} bytes, over the gateway's limit: upload large outputs (e.g. to S3) and return a link`);
      err.name = "OutputTooLarge";
      await this.post(this.doneUrl, jobId, { error: errorInfo(err, this.workerId), ...(result.stopPod ? { stopPod: true } : {}) }, isStream, true);
    }
  }

  /**
   * POSTs raw JSON with the Python SDK's content type. Final results are retried for longer (with
   * backoff) than stream chunks: losing a final result would make the gateway re-run or time out the job.
   */
  /** Returns the final HTTP status (0 when the gateway could not be reached). */
  private async post(template: string, jobId: string, body: unknown, isStream: boolean, final = false): Promise<number> {
    const url = template.replace("$ID", jobId) + `&isStream=${isStream ? "true" : "false"}`;
    const payload = JSON.stringify(body);
    const attempts = final ? 8 : 3;
    let delay = 500;
    let last = 0;
    for (let i = 1; i <= attempts; i++) {
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: this.headers({ "Content-Type": "application/x-www-form-urlencoded", charset: "utf-8", "X-Request-ID": jobId }),
          body: payload,
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        last = res.status;
        if (res.ok) return last;
        // 4xx other than 429 will not get better by retrying (e.g. the job was cancelled meanwhile).
        if (res.status < 500 && res.status !== 429) {
          this.log("warn", `gateway refused ${final ? "result" : "update"} (${res.status}: ${text.slice(0, 200)})`, jobId);
          return last;
        }
        this.log("warn", `gateway answered ${res.status} to ${final ? "result" : "update"}, attempt ${i}/${attempts}`, jobId);
      } catch (err: any) {
        this.log("warn", `posting ${final ? "result" : "update"} failed: ${err?.message ?? err} (attempt ${i}/${attempts})`, jobId);
      }
      if (i < attempts) {
        await sleep(delay);
        delay = Math.min(delay * 2, 8000);
      }
    }
    this.log("error", `gave up posting ${final ? "result" : "update"}`, jobId);
    return last;
  }

  // ---------------------------------------------------------------- job-stop
  private async stopLoop(): Promise<void> {
    if (!this.takeUrl.includes("/job-take/")) {
      this.log("warn", "job-stop channel cannot be derived from RUNPOD_WEBHOOK_GET_JOB; per-job stop disabled");
      return;
    }
    const url = this.takeUrl.replace("/job-take/", "/job-stop/");
    while (!this.lifecycle.signal.aborted) {
      try {
        const signal = AbortSignal.any([AbortSignal.timeout(95_000), this.lifecycle.signal]);
        const res = await fetch(url, { headers: this.headers({ Accept: "application/json" }), signal });
        const text = await res.text();
        let ids: string[] = [];
        if (res.status === 429) {
          await sleep(5000, this.lifecycle.signal);
          continue;
        }
        if (!res.ok) throw new Error(`job-stop answered ${res.status}`);
        if (res.status === 200 && text.trim()) {
          const body = JSON.parse(text);
          if (body && Array.isArray(body.jobsToStop)) ids = body.jobsToStop.filter((x: unknown) => typeof x === "string");
        }
        for (const id of ids) this.stopJob(id);
        if (ids.length === 0) await sleep(1000, this.lifecycle.signal); // floor, in case the gateway does not hold the poll
      } catch (err: any) {
        if (this.lifecycle.signal.aborted) return;
        if (err?.name !== "TimeoutError") {
          this.log("debug", `job-stop poll failed: ${err?.message ?? err}`);
          await sleep(1000, this.lifecycle.signal);
        }
      }
    }
  }

  /** Cancels one job in hand: its handler's signal aborts and no result is posted (the gateway asked for it). */
  private stopJob(jobId: string): void {
    const entry = this.inHand.get(jobId);
    if (!entry || entry.settled) return;
    this.log("info", "stopping job on the gateway's request", jobId);
    entry.settled = true;
    entry.abort.abort(new Error("job stopped"));
    this.finish(jobId);
  }

  // ---------------------------------------------------------------- ping
  private async pingLoop(): Promise<void> {
    if (!this.pingUrl || !this.auth) {
      this.log("debug", "no RUNPOD_WEBHOOK_PING / RUNPOD_AI_API_KEY: heartbeat disabled");
      return;
    }
    // Keeps pinging while draining: the gateway must keep seeing the jobs in hand as alive.
    while (!this.stopped) {
      await this.pingOnce();
      await sleep(this.pingIntervalMs, this.pingStop.signal);
    }
  }
  private stopped = false;
  private readonly pingStop = new AbortController();

  private async pingOnce(): Promise<void> {
    try {
      const u = new URL(this.pingUrl!);
      if (this.inHand.size) u.searchParams.set("job_id", [...this.inHand.keys()].join(","));
      u.searchParams.set("runpod_version", SDK_VERSION);
      const res = await fetch(u, { headers: this.headers(), signal: AbortSignal.timeout(Math.max(2000, this.pingIntervalMs * 2)) });
      await res.text();
      if (!res.ok) this.log("debug", `ping answered ${res.status}`);
    } catch (err: any) {
      this.log("warn", `ping failed: ${err?.message ?? err}`);
    }
  }

  // ---------------------------------------------------------------- stopping
  stop(): Promise<number> {
    if (this.stopPromise) return this.stopPromise;
    this.draining = true;
    this.log("info", `stopping: no new jobs; ${this.inHand.size} job(s) in hand will finish`);
    // Ends the job-take long poll at once. A job the gateway handed out in that instant is either
    // received (and run) or re-queued by the gateway when the connection closes unanswered.
    this.taking.abort();
    this.slotFreed?.();
    this.stopPromise = this.done;
    this.maybeDone();
    return this.stopPromise;
  }

  private maybeDone(): void {
    if (!this.draining || this.inHand.size > 0 || this.stopped) return;
    this.stopped = true;
    this.pingStop.abort();
    this.lifecycle.abort();
    // One last heartbeat with no jobs in hand, so the gateway sees the drain finished.
    void this.pingIfEnabled().finally(() => {
      this.log("info", "worker stopped");
      this.resolveDone(0);
    });
  }

  private async pingIfEnabled(): Promise<void> {
    if (this.pingUrl && this.auth) await this.pingOnce();
  }
}

/** Maps a handler's return value to the job-done body, mirroring runpod's rp_job.run_job. */
function shapeResult(out: unknown): Result {
  if (isPlainObject(out)) {
    const { error, refresh_worker, ...rest } = out;
    const r: Result = {};
    if (Object.keys(rest).length > 0) r.output = rest;
    if (error) r.error = typeof error === "string" ? error : JSON.stringify(error);
    if (refresh_worker) r.stopPod = true;
    return r;
  }
  return out === undefined ? {} : { output: out };
}

// ------------------------------------------------------------------------------------------------
// Local test mode: no RUNPOD_WEBHOOK_GET_JOB (or an explicit --test-input): run one job and exit.
function parseTestInputArg(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    for (const flag of ["--test-input", "--test_input"]) {
      if (a === flag) return argv[i + 1];
      if (a.startsWith(flag + "=")) return a.slice(flag.length + 1);
    }
  }
  return undefined;
}

async function runLocal(opts: StartOptions, env: NodeJS.ProcessEnv, argv: string[], log: NonNullable<StartOptions["log"]>): Promise<number> {
  let raw = parseTestInputArg(argv);
  let source = "--test-input";
  if (raw === undefined) {
    if (!fs.existsSync("test_input.json")) {
      log("warn", "local test mode: no --test-input and no test_input.json in the working directory; exiting");
      return 1;
    }
    raw = fs.readFileSync("test_input.json", "utf8");
    source = "test_input.json";
  }
  let job: any;
  try {
    job = JSON.parse(raw);
  } catch (err: any) {
    log("error", `local test mode: ${source} is not valid JSON: ${err.message}`);
    return 1;
  }
  if (!job || typeof job !== "object" || job.input == null) {
    log("error", `local test mode: ${source} has no "input"; expected {"input": {...}}`);
    return 1;
  }
  job.id = job.id ?? "local_test";
  log("info", `local test mode: running one job from ${source}`);
  const workerId = env.RUNPOD_POD_ID || "local";
  const ctx: JobContext = { signal: new AbortController().signal, progress: async (o) => log("info", `progress: ${JSON.stringify(o)}`, job.id), workerId };
  let result: Result;
  try {
    const ret = opts.handler(job, ctx);
    if (isAsyncIterable(ret) || isIterator(ret)) {
      const chunks: unknown[] = [];
      for await (const c of ret as AsyncIterable<unknown>) {
        log("info", `stream: ${JSON.stringify(c)}`, job.id);
        if (isPlainObject(c) && c.error) {
          chunks.length = 0;
          result = { error: String(c.error) };
          break;
        }
        chunks.push(c);
      }
      result ??= { output: chunks };
    } else {
      result = shapeResult(await ret);
    }
  } catch (err) {
    result = { error: errorInfo(err, workerId) };
  }
  if (result!.error) {
    log("error", `job ${job.id} failed: ${result!.error}`);
    process.stdout.write(JSON.stringify(result!) + "\n");
    return 1;
  }
  log("info", `job ${job.id} completed`);
  process.stdout.write(JSON.stringify(result!) + "\n");
  return 0;
}

// ------------------------------------------------------------------------------------------------
/**
 * Starts the worker: with RUNPOD_WEBHOOK_GET_JOB set it takes jobs from the gateway until SIGTERM
 * (or a refresh); without it, it runs one local test input and exits.
 */
export function start(opts: StartOptions): WorkerHandle {
  if (!opts || typeof opts.handler !== "function") {
    throw new TypeError("start({ handler }): handler must be a function (sync, async, generator or async generator)");
  }
  const c = opts.concurrency;
  if (c !== undefined && typeof c !== "function" && !(Number.isInteger(c) && c >= 1)) {
    throw new TypeError(`start({ concurrency }): must be an integer >= 1 or a function (current) => n, got ${JSON.stringify(c)}`);
  }
  const t = opts.executionTimeoutMs;
  if (t !== undefined && !(typeof t === "number" && Number.isFinite(t) && t > 0)) {
    throw new TypeError(`start({ executionTimeoutMs }): must be a positive number of milliseconds, got ${JSON.stringify(t)}`);
  }
  const env = opts.env ?? process.env;
  const argv = opts.argv ?? process.argv.slice(2);
  const exitProcess = opts.exitProcess ?? true;
  const log = opts.log ?? defaultLogger(env);

  const finish = (code: number) => {
    if (exitProcess) {
      // Let stdout/stderr flush before leaving.
      process.stdout.write("", () => process.exit(code));
    }
  };

  if (env.RUNPOD_WEBHOOK_GET_JOB == null || parseTestInputArg(argv) !== undefined) {
    const done = runLocal(opts, env, argv, log).then((code) => {
      finish(code);
      return code;
    });
    return { stop: () => done, done, workerId: env.RUNPOD_POD_ID || "local" };
  }

  const rt = new Runtime({ ...opts, log }, env);
  if (opts.handleSignals ?? true) {
    const onSignal = (sig: string) => {
      log("info", `${sig} received: draining`);
      void rt.stop();
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
  }
  rt.run();
  const done = rt.done.then((code) => {
    finish(code);
    return code;
  });
  return { stop: () => rt.stop().then(() => done), done, workerId: rt.workerId };
}

export default { start, progressUpdate };
