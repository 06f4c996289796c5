// The gateway's job queue: a thin front over the parts in this folder.
//   keys.ts        Redis key names                 record.ts   the job record: fields, statuses, status object
//   scripts.ts     the Lua transitions (lua/*.lua)  dispatcher.ts  long-poll job-take hand-out
//   presence.ts    worker presence, /health        sweeper.ts  lease lapses, timeouts, ttl, format migration
//
// One state machine per job: the record hash, changed only by atomic Lua scripts, and the endpoint's
// lists and indexes changed in the same scripts. Why not BullMQ under it (0.1 did): docs/gateway.md#queue-design.
import { randomUUID } from "crypto";
import { EventEmitter } from "events";
import Redis from "ioredis";
import type { Logger } from "pino";
import type { Timings } from "../config";
import { Dispatcher } from "./dispatcher";
import { Keys } from "./keys";
import { MarkKind, PodView, Presence, WorkerDetail } from "./presence";
import { EV, F, JobStatus, STATUS_FIELDS, StatusObject, TERMINAL, statusFromFields, statusObject } from "./record";
import { Retention, Scripts } from "./scripts";
import { Sweeper } from "./sweeper";

export { TERMINAL } from "./record";
export type { JobStatus, StatusObject } from "./record";
export type { MarkKind, PodView, WorkerCounts, WorkerDetail } from "./presence";
export { countStates } from "./presence";

export interface SubmitRequest {
  input: unknown;
  webhook?: string;
  policy?: { executionTimeout?: number; ttl?: number; lowPriority?: boolean };
  s3Config?: unknown;
}

export interface EndpointCounts {
  /** waiting jobs that may cause scale-up (not lowPriority) */
  waiting: number;
  /** waiting lowPriority jobs */
  waitingLow: number;
  /** running jobs (any priority) */
  active: number;
  /** created-at ms of the oldest waiting normal job, -1 when none */
  oldestCreatedAt: number;
}

export interface JobQueueOptions {
  redisUrl: string;
  prefix: string;
  timings: Timings;
  log: Logger;
  /** per-endpoint lease (ms), asked at every use (settings may change); default timings.leaseMs */
  leaseFor?: (ep: string) => number;
  /** job-take-batch: payload bytes handed to one worker at once (at least one job always); default 32 MB */
  takeBatchBytes?: number;
  /** called (fire-and-forget) when a job reaches a terminal state on this replica: webhooks */
  onTerminal?: (ep: string, id: string, webhook: string) => void;
  /** the endpoint's maxWorkerLosses (default timings.maxWorkerLosses) */
  maxWorkerLossesFor?: (ep: string) => number;
  /** every terminal transition made on this replica, and every re-queue after a lost worker (metrics) */
  onEnded?: (ep: string, e: JobEnd) => void;
  onRequeued?: (ep: string, id: string) => void;
}

export interface JobEnd {
  id: string;
  status: "COMPLETED" | "FAILED" | "TIMED_OUT" | "CANCELLED";
  delayMs?: number;
  executionMs?: number;
  worker?: string;
  error?: string;
  /** jobs this entry stands for (purge, crash-loop give-up: many at once); default 1 */
  count?: number;
}

/** One entry of an endpoint's recent failures (FAILED / TIMED_OUT), newest first. */
export interface RecentFailure {
  id: string;
  status: string;
  error: string;
  worker?: string;
  at: number;
}

/** a job's error as one line of at most 300 characters, for logs and the recent-failures list */
export function errorText(e: unknown): string {
  const s = typeof e === "string" ? e : JSON.stringify(e ?? null);
  return s.length > 300 ? s.slice(0, 297) + "..." : s;
}

export class JobQueue {
  readonly redis: Redis;
  readonly events = new EventEmitter();
  private readonly sub: Redis;
  private readonly k: Keys;
  private readonly scripts: Scripts;
  private readonly presence: Presence;
  private readonly sweeper: Sweeper;
  private readonly eps = new Map<string, Dispatcher>();
  private readonly t: Timings;
  private readonly retention: Retention;
  private readonly log: Logger;
  /** names this replica in its wake-up messages, so it skips its own (it already woke locally) */
  private readonly replica = randomUUID();
  private closing = false;
  private stopRequested!: () => void;
  /** resolves when shutdown begins: long-polls answer at once (204 / current status) */
  readonly stopping = new Promise<void>((r) => (this.stopRequested = r));

  constructor(private readonly opts: JobQueueOptions) {
    this.t = opts.timings;
    this.log = opts.log;
    this.k = new Keys(opts.prefix);
    this.retention = { runMs: this.t.retentionRunMs, syncMs: this.t.retentionRunsyncMs };
    this.events.setMaxListeners(0);
    // Bounded retries so an HTTP request fails (503) instead of hanging while Redis is down. No ioredis
    // auto-pipelining: measured with bench:gateway it cost more than it saved.
    this.redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 20, lazyConnect: false });
    this.redis.on("error", (e) => this.log.warn({ err: e.message }, "redis error"));
    this.scripts = new Scripts(this.redis, this.k);
    this.presence = new Presence(this.redis, this.k, this.t.workerGoneMs);
    this.sweeper = new Sweeper({
      scripts: this.scripts,
      t: this.t,
      log: this.log,
      events: this.events,
      endpoints: () => [...this.eps.keys()],
      leaseMs: (ep) => this.leaseMs(ep),
      maxLosses: (ep) => this.opts.maxWorkerLossesFor?.(ep) ?? this.t.maxWorkerLosses,
      onEnded: (ep, id, status, reason) => this.ended(ep, { id, status, error: reason }),
      onRequeued: (ep, id) => this.opts.onRequeued?.(ep, id),
      onTerminal: (ep, id, wh) => this.opts.onTerminal?.(ep, id, wh),
    });
    this.sub = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
    this.sub.on("error", (e) => this.log.warn({ err: e.message }, "redis error (subscriber)"));
    this.sub.subscribe(this.k.events).catch((e) => this.log.error({ err: e.message }, "subscribe failed"));
    this.sub.on("message", (_ch, msg: string) => {
      if (msg.startsWith("new|")) {
        // "new|<ep>|<replica>": queued on another replica (or re-queued by a sweeper: no replica)
        const bar = msg.indexOf("|", 4);
        if (msg.slice(bar + 1) === this.replica) return;
        this.events.emit(msg.slice(0, bar));
      } else this.events.emit(msg);
    });
  }

  /** a terminal transition on this replica: metrics, and failures into the endpoint's recent-failures list */
  private ended(ep: string, e: JobEnd) {
    this.opts.onEnded?.(ep, e);
    if (e.status === "FAILED" || e.status === "TIMED_OUT") {
      const f: RecentFailure = { id: e.id, status: e.status, error: errorText(e.error ?? ""), at: Date.now(), ...(e.worker ? { worker: e.worker } : {}) };
      const m = this.redis.multi();
      m.lpush(this.k.fails(ep), JSON.stringify(f));
      m.ltrim(this.k.fails(ep), 0, 49);
      m.exec().catch(() => undefined);
    }
  }

  /** The endpoint's recent failures, newest first (at most 50; kept across restarts, in Redis). */
  async recentFailures(ep: string, n = 10): Promise<RecentFailure[]> {
    const raw = await this.redis.lrange(this.k.fails(ep), 0, Math.max(0, n - 1));
    return raw.flatMap((r) => {
      try {
        return [JSON.parse(r) as RecentFailure];
      } catch {
        return [];
      }
    });
  }

  /** Delay and execution time (ms) of the endpoint's latest finished jobs (at most 500, newest first). */
  async latencySamples(ep: string): Promise<{ delayMs: number; executionMs: number }[]> {
    const raw = await this.redis.lrange(this.k.lat(ep), 0, 499);
    return raw.map((r) => {
      const [d, x] = r.split(":").map(Number);
      return { delayMs: d, executionMs: x };
    });
  }

  private leaseMs(ep: string) {
    return this.opts.leaseFor?.(ep) ?? this.t.leaseMs;
  }
  private wakeMessage(ep: string) {
    return `${EV.queued(ep)}|${this.replica}`;
  }

  async ready(): Promise<void> {
    await this.redis.ping();
  }

  /** Registers an endpoint (idempotent): its dispatcher, and its format-1 queue moved over once. */
  ensureEndpoint(ep: string): Dispatcher {
    let d = this.eps.get(ep);
    if (d) return d;
    d = new Dispatcher(ep, {
      scripts: this.scripts,
      events: this.events,
      log: this.log,
      stopping: this.stopping,
      leaseMs: () => this.leaseMs(ep),
      maxBytes: this.opts.takeBatchBytes ?? 32 * 1024 * 1024,
      onHanded: (w, n) => this.presence.touch(ep, w, n),
    });
    this.eps.set(ep, d);
    this.sweeper.migrate(ep).catch((err) => this.log.warn({ ep, err: (err as Error).message }, "format-1 migration failed"));
    return d;
  }

  async removeEndpoint(ep: string): Promise<void> {
    this.eps.get(ep)?.close();
    this.eps.delete(ep);
  }

  // ---------------------------------------------------------------- client side
  /**
   * Accept a job: record, queue entry and ttl entry in one script; the id is returned only after Redis
   * acknowledged it (with appendfsync always: written to the AOF and fsynced).
   */
  async submit(ep: string, req: SubmitRequest, o: { sync: boolean; defaultExecutionTimeoutMs: number; defaultTtlMs: number }): Promise<string> {
    this.ensureEndpoint(ep);
    const id = (o.sync ? "sync-" : "") + randomUUID();
    const now = Date.now();
    const ttl = req.policy?.ttl ?? o.defaultTtlMs;
    const low = !!req.policy?.lowPriority;
    const payload: Record<string, unknown> = { input: req.input };
    if (req.s3Config !== undefined) payload.s3Config = req.s3Config;
    const fields: (string | number)[] = [
      F.endpoint, ep, F.status, "IN_QUEUE", F.payload, JSON.stringify(payload), F.createdAt, now,
      F.executionTimeout, req.policy?.executionTimeout ?? o.defaultExecutionTimeoutMs, F.ttl, ttl,
      F.lowPriority, low ? 1 : 0, F.sync, o.sync ? 1 : 0,
    ];
    if (req.webhook) fields.push(F.webhook, req.webhook);
    await this.scripts.create({ ep, id, expiresAt: now + ttl, lowPriority: low, wake: this.wakeMessage(ep), fields });
    this.events.emit(EV.queued(ep));
    return id;
  }

  async status(ep: string, id: string): Promise<StatusObject | null> {
    return statusFromFields(ep, id, await this.redis.hmget(this.k.rec(id), ...STATUS_FIELDS));
  }

  /** Status, waiting up to waitMs for a terminal state (status-sync, runsync). */
  async waitStatus(ep: string, id: string, waitMs: number): Promise<StatusObject | null> {
    const key = EV.done(id);
    // A job finished on this replica arrives with its final status object (see done()): no second read.
    // From another replica (Redis pub/sub) the event carries nothing and the record is read again.
    let final: StatusObject | undefined;
    let wake: (s?: StatusObject) => void = () => undefined;
    const woke = new Promise<void>((r) => (wake = (s) => ((final = s), r())));
    this.events.once(key, wake);
    try {
      const s = await this.status(ep, id);
      if (!s || TERMINAL.has(s.status) || waitMs <= 0) return s;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([woke, this.stopping, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
      if (final && final.id === id) return final;
      return await this.status(ep, id);
    } finally {
      this.events.off(key, wake);
    }
  }

  /** New stream chunks since the last call; waits up to waitMs for one when none is pending (not for a queued job). */
  async streamRead(ep: string, id: string, waitMs: number): Promise<{ status: JobStatus; chunks: unknown[] } | null> {
    const read = async () => {
      const r = await this.scripts.streamRead({ ep, id });
      if (!r) return null;
      return { status: r[0] as JobStatus, chunks: r.slice(1).map((c) => JSON.parse(c)) };
    };
    let wake: () => void = () => undefined;
    const woke = new Promise<void>((r) => (wake = r));
    this.events.once(EV.chunk(id), wake);
    this.events.once(EV.done(id), wake);
    try {
      const first = await read();
      // a queued job has no chunks coming soon: answer now rather than hold the poll (RunPod answers at once)
      if (!first || first.chunks.length || TERMINAL.has(first.status) || first.status === "IN_QUEUE" || waitMs <= 0) return first;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([woke, this.stopping, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
      return await read();
    } finally {
      this.events.off(EV.chunk(id), wake);
      this.events.off(EV.done(id), wake);
    }
  }

  /** Cancel a queued or running job. Returns the status after the call, or null when unknown. */
  async cancel(ep: string, id: string): Promise<JobStatus | null> {
    const owner = await this.redis.hget(this.k.rec(id), F.endpoint);
    if (owner !== ep) return null;
    const r = await this.scripts.abort({ ep, id, status: "CANCELLED", now: Date.now(), retention: this.retention, error: "" });
    if (!r) return ((await this.redis.hget(this.k.rec(id), F.status)) as JobStatus) ?? null;
    if (r.webhook) this.opts.onTerminal?.(ep, id, r.webhook);
    this.ended(ep, { id, status: "CANCELLED" });
    this.log.info({ ep, jobId: id, was: r.previous }, "job cancelled");
    return "CANCELLED";
  }

  /** FAILED/TIMED_OUT -> IN_QUEUE. Returns "ok", the non-retryable status, or null when unknown. */
  async retry(ep: string, id: string): Promise<"ok" | string | null> {
    this.ensureEndpoint(ep);
    const r = await this.scripts.retry({ ep, id, now: Date.now(), wake: this.wakeMessage(ep) });
    if (r === null) return null;
    if (r !== 1) return String(r);
    this.events.emit(EV.queued(ep));
    return "ok";
  }

  /** Removes every waiting job (running ones are untouched); they become CANCELLED. 500 per script call,
   *  webhook URLs included in its answer: 3,000 jobs are 6 round trips (issue 11 item 7). */
  async purge(ep: string): Promise<number> {
    let removed = 0;
    for (;;) {
      const r = await this.scripts.purge({ ep, now: Date.now(), retention: this.retention, limit: 500 });
      removed += r.removed;
      for (const h of r.webhooks) this.opts.onTerminal?.(ep, h.id, h.url);
      if (r.popped < 500) break;
    }
    if (removed) {
      this.opts.onEnded?.(ep, { id: "(purged)", status: "CANCELLED", count: removed });
      this.log.info({ ep, removed }, "queue purged: waiting jobs cancelled");
    }
    return removed;
  }

  /** Every waiting job of the endpoint ends FAILED with `reason` (the crash-loop give-up, health.ts). */
  async failWaiting(ep: string, reason: string): Promise<number> {
    let failed = 0;
    for (;;) {
      const r = await this.scripts.purge({ ep, now: Date.now(), retention: this.retention, limit: 500, status: "FAILED", error: JSON.stringify(reason) });
      failed += r.removed;
      for (const h of r.webhooks) this.opts.onTerminal?.(ep, h.id, h.url);
      if (r.popped < 500) break;
    }
    if (failed) {
      this.ended(ep, { id: `(${failed} waiting jobs)`, status: "FAILED", error: reason, count: failed });
      this.log.warn({ ep, failed, reason }, "waiting jobs FAILED: the endpoint's workers cannot start");
    }
    return failed;
  }

  counts(ep: string): Promise<EndpointCounts> {
    return this.scripts.counts(ep);
  }

  async health(ep: string, pods?: Map<string, PodView>) {
    const [c, cnt, workers] = await Promise.all([this.counts(ep), this.redis.hgetall(this.k.counters(ep)), this.presence.workers(ep, pods)]);
    const num = (k: string) => Number(cnt[k] ?? 0);
    return {
      jobs: {
        completed: num("completed"),
        failed: num("failed") + num("timed_out"),
        inProgress: c.active,
        inQueue: c.waiting + c.waitingLow,
        retried: num("retried"),
      },
      workers,
    };
  }

  // ---------------------------------------------------------------- worker side
  /** Long-poll take for an HTTP worker: resolves with up to n job JSON strings, or [] after waitMs. */
  async take(ep: string, worker: string, n: number, waitMs: number, isGone: () => boolean): Promise<string[]> {
    if (this.closing) return [];
    this.presence.touch(ep, worker, 0);
    const mark = await this.presence.blocked(ep, worker);
    if (mark) {
      // out of dispatch (ping status=unhealthy, or a stopPod result): the long-poll is held as if the queue were
      // empty, so the SDK does not spin, and answered 204
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.stopping, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
      return [];
    }
    return this.ensureEndpoint(ep).take(worker, n, waitMs, isGone);
  }

  /** Takes a worker out of dispatch (see presence.ts): it gets no job until the mark is cleared. */
  markWorker(ep: string, worker: string, kind: MarkKind, reason: string, restarts = -1): Promise<void> {
    return this.presence.mark(ep, worker, { kind, at: Date.now(), reason: reason.slice(0, 300), restarts });
  }

  unmarkWorker(ep: string, worker: string): Promise<void> {
    return this.presence.unmark(ep, worker);
  }

  /** true for the first replica to ask about this pod (its cold start is measured once) */
  async claimColdStart(ep: string, pod: string): Promise<boolean> {
    const key = `${this.k.prefix}:cold:${ep}`;
    const m = this.redis.multi();
    m.hsetnx(key, pod, Date.now());
    m.pexpire(key, 24 * 3600_000);
    const r = await m.exec();
    return Number(r?.[0]?.[1]) === 1;
  }

  /** Every worker of the endpoint with its state (pods: the pod watch's view, on Kubernetes). */
  workerDetails(ep: string, pods?: Map<string, PodView>): Promise<WorkerDetail[]> {
    return this.presence.details(ep, pods);
  }

  /** job-done. body = what the SDK posted. 200, or 404 / 409 with the reason. */
  async done(ep: string, worker: string, id: string, body: Record<string, unknown>, isStream: boolean): Promise<{ code: number; reason?: string }> {
    const notFound = { code: 404, reason: `job ${id} not found on endpoint ${ep}` };
    const now = Date.now();
    if (body.status === "IN_PROGRESS") {
      const r = await this.scripts.progress({ ep, id, worker, value: JSON.stringify(body.output ?? null), now, leaseMs: this.leaseMs(ep) });
      if (r === "nf") return notFound;
      if (!r) return { code: 409, reason: `job ${id} is not in progress on worker ${worker}` };
      return { code: 200 };
    }
    const failed = body.error !== undefined && body.error !== null && body.error !== "";
    const status: JobStatus = failed ? "FAILED" : "COMPLETED";
    // isStream=true: end-of-stream marker; output is the aggregate (or [] when not aggregated)
    const result = failed ? body.error : body.output === undefined ? (isStream ? [] : null) : body.output;
    const r = await this.scripts.finish({ ep, id, worker, status, field: failed ? F.error : F.output, value: JSON.stringify(result), now, retention: this.retention });
    if (r === "nf") return notFound;
    if (!r) return { code: 409, reason: `job ${id} is not in progress on worker ${worker} (cancelled, timed out or finished)` };
    // Local waiters (/runsync, /status-sync on this replica) get the final status object now, built from
    // the same fields status() reads, instead of waiting for the pub/sub message and reading the record.
    if (this.events.listenerCount(EV.done(id))) {
      const times = { ca: r.ca, sa: r.sa, fa: now, w: worker, rt: r.rt };
      this.events.emit(EV.done(id), statusObject(id, status, times, failed ? undefined : result, failed ? result : undefined));
    }
    if (r.webhook) this.opts.onTerminal?.(ep, id, r.webhook);
    this.presence.touch(ep, worker, 0);
    const sa = Number(r.sa);
    const e: JobEnd = { id, status, worker, ...(failed ? { error: errorText(result) } : {}) };
    if (sa > 0 && r.previous === "IN_PROGRESS") {
      e.delayMs = sa - Number(r.ca);
      e.executionMs = now - sa;
    }
    this.ended(ep, e);
    if (failed) this.log.info({ ep, jobId: id, worker, error: e.error }, "job FAILED (worker reported an error)");
    else this.log.debug({ ep, jobId: id, worker, executionMs: e.executionMs }, "job COMPLETED");
    return { code: 200 };
  }

  async streamPush(ep: string, worker: string, id: string, chunk: unknown): Promise<{ code: number; reason?: string }> {
    const r = await this.scripts.streamPush({ ep, id, worker, chunk: JSON.stringify(chunk ?? null), now: Date.now(), leaseMs: this.leaseMs(ep) });
    if (r === "nf") return { code: 404, reason: `job ${id} not found on endpoint ${ep}` };
    if (!r) return { code: 409, reason: `job ${id} is not in progress on worker ${worker}` };
    return { code: 200 };
  }

  /** Heartbeat: renews the lease of every listed job this worker holds, and repeats the stop of listed
   *  jobs it must not run any more (cancelled / timed out on it, removed by ttl): ping-1.lua. */
  async ping(ep: string, worker: string, jobIds: string[]): Promise<void> {
    this.ensureEndpoint(ep);
    this.presence.touch(ep, worker, jobIds.length);
    if (jobIds.length) await this.scripts.ping({ ep, worker, now: Date.now(), leaseMs: this.leaseMs(ep), ids: jobIds });
  }

  /** job-stop long-poll: ids of running jobs this worker must stop (cancelled / timed out / removed by ttl). */
  async stopSignals(ep: string, worker: string, waitMs: number, isGone: () => boolean): Promise<string[]> {
    const key = this.k.stop(ep, worker);
    const pop = async () => {
      const m = this.redis.multi();
      m.smembers(key);
      m.del(key);
      const r = (await m.exec()) ?? [];
      return (r[0]?.[1] as string[]) ?? [];
    };
    const ev = EV.stop(ep, worker);
    const deadline = Date.now() + waitMs;
    while (!this.closing && !isGone()) {
      let wake: () => void = () => undefined;
      const woke = new Promise<void>((r) => (wake = r));
      this.events.once(ev, wake);
      try {
        const ids = await pop();
        if (ids.length) return ids;
        const left = deadline - Date.now();
        if (left <= 0) return [];
        let timer: NodeJS.Timeout | undefined;
        // the pub/sub wake-up is the fast path; the periodic re-check covers a lost message
        await Promise.race([woke, this.stopping, new Promise<void>((r) => (timer = setTimeout(r, Math.min(left, 5000))))]);
        clearTimeout(timer);
      } finally {
        this.events.off(ev, wake);
      }
    }
    return [];
  }

  // ---------------------------------------------------------------- background, shutdown
  /** Execution timeouts, lapsed leases and ttl expiry, once (the sweeper runs them periodically). */
  sweep(): Promise<void> {
    return this.sweeper.sweep();
  }

  startSweeper() {
    this.sweeper.start();
  }

  /** First step of a graceful shutdown: every long-poll answers now; no new job is handed out. */
  beginShutdown() {
    this.closing = true;
    this.stopRequested();
    for (const d of this.eps.values()) d.close();
  }

  /** Closes connections (after the HTTP server finished its in-flight requests). */
  async close(): Promise<void> {
    this.beginShutdown();
    this.sweeper.stop();
    await this.presence.flush();
    this.eps.clear();
    this.sub.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
