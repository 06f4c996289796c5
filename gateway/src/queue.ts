// Every job state transition of the gateway lives in this file.
//
// Split of responsibilities (why not "just BullMQ"):
//  * BullMQ (one Queue per endpoint) is the queue engine: FIFO order with lowPriority jobs behind normal
//    ones (priority), the atomic take that puts a lock (our lease) on the job, and stalled-job recovery
//    that puts a job back in the queue when its lease lapses (worker died / stopped pinging).
//  * Our workers are NOT BullMQ Workers: they are HTTP clients (runpod.serverless.start) that long-poll
//    /job-take. So we use BullMQ's manual processing API: one BullMQ Worker per endpoint with
//    autorun=false; `getNextJob(token)` takes a job under a lock whose value is `token`;
//    `extendLock(token)` renews the lease when the HTTP worker pings; `moveToCompleted(token)` releases it.
//    A lightweight `new Job(queue, ..., id)` is enough for those calls, so any replica can finish a job
//    taken by another replica as long as it knows the token (stored in the job record).
//  * RunPod's status machine (IN_QUEUE/IN_PROGRESS/COMPLETED/FAILED/CANCELLED/TIMED_OUT), outputs,
//    stream chunks, cancel, retry, result retention and ttl are not BullMQ concepts; they live in a small
//    job record hash changed only by the atomic Lua scripts in scripts.ts. The record is the authority
//    for terminal states; BullMQ is the authority for "who holds the job now".
import { randomUUID } from "crypto";
import { EventEmitter } from "events";
import { Job, Queue, Worker } from "bullmq";
import Redis from "ioredis";
import type { Logger } from "pino";
import type { Timings } from "./config";
import * as S from "./scripts";

export type JobStatus = "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT";
export const TERMINAL = new Set<string>(["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]);

export interface SubmitRequest {
  input: unknown;
  webhook?: string;
  policy?: { executionTimeout?: number; ttl?: number; lowPriority?: boolean };
  s3Config?: unknown;
}

export interface StatusObject {
  id: string;
  status: JobStatus;
  delayTime?: number;
  executionTime?: number;
  output?: unknown;
  error?: unknown;
  workerId?: string;
  retries?: number;
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

interface RecordRedis extends Redis {
  lsCreate(rec: string, ttlKey: string, ttlMs: number, expiresAt: number, ttlMember: string, ...fields: (string | number)[]): Promise<number>;
  lsTake(rec: string, dl: string, ttl: string, worker: string, token: string, now: number, prefix: string, ep: string, id: string): Promise<string | null>;
  lsFinish(rec: string, dl: string, stream: string, cnt: string, worker: string, status: string, field: string, value: string, now: number, keepRun: number, keepSync: number, prefix: string, ep: string, id: string): Promise<[string, string, string, string, string, string] | "nf" | null>;
  lsAbort(rec: string, dl: string, stream: string, cnt: string, status: string, now: number, keepRun: number, keepSync: number, prefix: string, ep: string, id: string, onlyToken: string, err: string): Promise<[string, string, string, string] | null>;
  lsStreamPush(rec: string, stream: string, worker: string, chunk: string, prefix: string, id: string): Promise<string | null>;
  lsProgress(rec: string, worker: string, value: string): Promise<string | null>;
  lsStreamRead(rec: string, stream: string): Promise<string[] | null>;
  lsRetry(rec: string, stream: string, cnt: string, now: number, ttl: number): Promise<number | string | null>;
  lsRequeue(rec: string, token: string, maxStalls: number): Promise<number | null>;
  lsOldest(waitKey: string, recPrefix: string): Promise<number>;
  lsExpire(rec: string, stream: string, dl: string, prefix: string, ep: string, id: string): Promise<[string, string] | "gone" | null>;
}

interface Taker {
  worker: string;
  n: number;
  done: boolean;
  /** jobs are being claimed for this taker: its long-poll timer must not answer 204 meanwhile */
  claiming: boolean;
  expired: boolean;
  resolve(jobs: string[]): void;
  isGone(): boolean;
}

interface EndpointQueue {
  id: string;
  leaseMs: number;
  queue: Queue;
  bullWorker: Worker;
  takers: Taker[];
  looping: boolean;
  /** job options template for the lightweight Job objects */
}

const JOB_OPTS = { removeOnComplete: true, removeOnFail: true, attempts: 1 } as const;

export interface JobQueueOptions {
  redisUrl: string;
  prefix: string;
  timings: Timings;
  log: Logger;
  /** per-endpoint lease (ms); default timings.leaseMs */
  leaseFor?: (ep: string) => number;
  /** job-take-batch: payload bytes handed to one worker at once (at least one job always); default 32 MB */
  takeBatchBytes?: number;
  /** called (fire-and-forget) when a job reaches a terminal state on this replica: webhooks */
  onTerminal?: (ep: string, id: string, webhook: string) => void;
}

/**
 * RunPod's status object from a job record's fields (times in ms since the epoch, as strings in Redis):
 * status() reads them from the record, done() has them at hand when it answers a local waiter.
 */
function statusObject(
  id: string, status: JobStatus,
  f: { ca: string | null; sa: string | null; fa: string | number | null; w: string | null; rt: string | null },
  output: unknown, error: unknown,
): StatusObject {
  const s: StatusObject = { id, status };
  const ca = Number(f.ca);
  if (f.sa) {
    s.delayTime = Number(f.sa) - ca;
    if (f.fa) s.executionTime = Number(f.fa) - Number(f.sa);
  } else if (f.fa) {
    s.delayTime = Number(f.fa) - ca;
  }
  if (f.w) s.workerId = f.w;
  if (output !== undefined) s.output = output;
  if (error !== undefined) s.error = error;
  if (f.rt) s.retries = Number(f.rt);
  return s;
}

export class JobQueue {
  readonly redis: RecordRedis;
  private readonly sub: Redis;
  private readonly bullConn: Redis;
  private readonly eps = new Map<string, EndpointQueue>();
  readonly events = new EventEmitter();
  private readonly p: string;
  private readonly t: Timings;
  private sweepTimer?: NodeJS.Timeout;
  private closing = false;
  private readonly log: Logger;
  private stopRequested!: () => void;
  /** resolves when shutdown begins: long-polls answer at once (204 / current status) */
  readonly stopping = new Promise<void>((r) => (this.stopRequested = r));

  constructor(private readonly opts: JobQueueOptions) {
    this.p = opts.prefix;
    this.t = opts.timings;
    this.log = opts.log;
    this.events.setMaxListeners(0);
    // Record client: bounded retries so an HTTP request fails (503) instead of hanging while Redis is down.
    // No ioredis auto-pipelining, here or on the BullMQ connection: measured with bench:gateway it cost
    // more than it saved (each batch is a Pipeline object that copies every defined script onto itself —
    // 65 on BullMQ's connection —, is sent one event-loop turn later, and only one batch is in flight per
    // connection). Without it: runsync p50 -0.3 ms, N=16 +20 % jobs/s, -20 % gateway CPU per job.
    this.redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 20, lazyConnect: false }) as RecordRedis;
    this.redis.on("error", (e) => this.log.warn({ err: e.message }, "redis error"));
    this.redis.defineCommand("lsCreate", { numberOfKeys: 2, lua: S.CREATE });
    this.redis.defineCommand("lsTake", { numberOfKeys: 3, lua: S.TAKE });
    this.redis.defineCommand("lsFinish", { numberOfKeys: 4, lua: S.FINISH });
    this.redis.defineCommand("lsAbort", { numberOfKeys: 4, lua: S.ABORT });
    this.redis.defineCommand("lsStreamPush", { numberOfKeys: 2, lua: S.STREAM_PUSH });
    this.redis.defineCommand("lsProgress", { numberOfKeys: 1, lua: S.PROGRESS });
    this.redis.defineCommand("lsStreamRead", { numberOfKeys: 2, lua: S.STREAM_READ });
    this.redis.defineCommand("lsRetry", { numberOfKeys: 3, lua: S.RETRY });
    this.redis.defineCommand("lsRequeue", { numberOfKeys: 1, lua: S.REQUEUE });
    this.redis.defineCommand("lsOldest", { numberOfKeys: 1, lua: S.OLDEST });
    this.redis.defineCommand("lsExpire", { numberOfKeys: 3, lua: S.EXPIRE });
    // BullMQ connections: blocking commands need maxRetriesPerRequest=null (BullMQ requirement).
    this.bullConn = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
    this.bullConn.on("error", (e) => this.log.warn({ err: e.message }, "redis error (bullmq)"));
    this.sub = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
    this.sub.on("error", (e) => this.log.warn({ err: e.message }, "redis error (subscriber)"));
    this.sub.subscribe(`${this.p}:ev`).catch((e) => this.log.error({ err: e.message }, "subscribe failed"));
    this.sub.on("message", (_ch, msg: string) => this.events.emit(msg));
  }

  // ---------------------------------------------------------------- keys
  private rec(id: string) {
    return `${this.p}:j:${id}`;
  }
  private stream(id: string) {
    return `${this.p}:s:${id}`;
  }
  private get dl() {
    return `${this.p}:dl`;
  }
  private get ttlKey() {
    return `${this.p}:ttl`;
  }
  private cnt(ep: string) {
    return `${this.p}:cnt:${ep}`;
  }
  private workersKey(ep: string) {
    return `${this.p}:wk:${ep}`;
  }
  private stopKey(ep: string, worker: string) {
    return `${this.p}:stop:${ep}:${worker}`;
  }

  async ready(): Promise<void> {
    await this.redis.ping();
  }

  /** Registers an endpoint (idempotent): its BullMQ queue and manual-mode worker. */
  ensureEndpoint(ep: string): EndpointQueue {
    let e = this.eps.get(ep);
    if (e) return e;
    const prefix = `${this.p}:bull`;
    const leaseMs = this.opts.leaseFor?.(ep) ?? this.t.leaseMs;
    const queue = new Queue(ep, { connection: this.bullConn, prefix });
    queue.on("error", (err) => this.log.warn({ ep, err: err.message }, "queue error"));
    const bullWorker = new Worker(ep, null, {
      connection: this.bullConn,
      prefix,
      autorun: false,
      lockDuration: leaseMs,
      stalledInterval: this.t.stalledIntervalMs,
      // we count stalls ourselves in the record (REQUEUE) and fail the job at t.maxStalledCount
      maxStalledCount: 1_000_000,
      drainDelay: 5,
    });
    bullWorker.on("error", (err) => {
      if (!this.closing) this.log.warn({ ep, err: err.message }, "bullmq worker error");
    });
    bullWorker.on("stalled", (jobId: string) => void this.onStalled(ep, jobId));
    // Manual processing: BullMQ does not run the stalled checker by itself when autorun=false.
    bullWorker.startStalledCheckTimer().catch((err) => this.log.warn({ ep, err: err.message }, "stalled checker"));
    e = { id: ep, leaseMs, queue, bullWorker, takers: [], looping: false };
    this.eps.set(ep, e);
    return e;
  }

  async removeEndpoint(ep: string): Promise<void> {
    const e = this.eps.get(ep);
    if (!e) return;
    this.eps.delete(ep);
    for (const t of e.takers) if (!t.done) ((t.done = true), t.resolve([]));
    await e.bullWorker.close(true).catch(() => undefined);
    await e.queue.close().catch(() => undefined);
  }

  private lightJob(e: EndpointQueue, id: string): Job {
    return new Job(e.queue, "job", {}, { ...JOB_OPTS }, id);
  }

  // ---------------------------------------------------------------- client side
  /**
   * Accept a job. The record is written first, then the BullMQ job; the id is returned only after both
   * writes were acknowledged by Redis (with appendfsync always: written to the AOF and fsynced).
   */
  async submit(ep: string, req: SubmitRequest, o: { sync: boolean; defaultExecutionTimeoutMs: number; defaultTtlMs: number }): Promise<string> {
    const e = this.ensureEndpoint(ep);
    const id = (o.sync ? "sync-" : "") + randomUUID();
    const now = Date.now();
    const xt = req.policy?.executionTimeout ?? o.defaultExecutionTimeoutMs;
    const ttl = req.policy?.ttl ?? o.defaultTtlMs;
    const lp = req.policy?.lowPriority ? 1 : 0;
    const payload: Record<string, unknown> = { input: req.input };
    if (req.s3Config !== undefined) payload.s3Config = req.s3Config;
    const fields: (string | number)[] = ["ep", ep, "st", "IN_QUEUE", "in", JSON.stringify(payload), "ca", now, "xt", xt, "ttl", ttl, "lp", lp, "sy", o.sync ? 1 : 0];
    if (req.webhook) fields.push("wh", req.webhook);
    // Record and BullMQ job are written concurrently (one fsync group with appendfsync always instead of
    // two in a row). Both must succeed before the id is returned. If only the BullMQ job lands, the take
    // script finds no record and discards it; if only the record lands, it expires with its ttl. Either
    // way the client got an error, so nothing it was promised is lost.
    // lowPriority jobs go to BullMQ's prioritized set, which is served after the plain wait list;
    // that also keeps them out of the scaling signal (we count only the wait list as "waiting").
    await Promise.all([
      this.redis.lsCreate(this.rec(id), this.ttlKey, ttl, now + ttl, `${ep}|${id}`, ...fields),
      e.queue.add("job", {}, { jobId: id, ...(lp ? { priority: 1 } : {}), ...JOB_OPTS }),
    ]);
    this.events.emit(`new|${ep}`);
    return id;
  }

  async status(ep: string, id: string): Promise<StatusObject | null> {
    const f = await this.redis.hmget(this.rec(id), "ep", "st", "ca", "sa", "fa", "w", "out", "err", "pg", "rt");
    if (!f[1] || f[0] !== ep) return null;
    const output = f[6] !== null ? JSON.parse(f[6]) : f[8] !== null ? JSON.parse(f[8]) : undefined;
    const error = f[7] !== null ? JSON.parse(f[7]) : undefined;
    return statusObject(id, f[1] as JobStatus, { ca: f[2], sa: f[3], fa: f[4], w: f[5], rt: f[9] }, output, error);
  }

  /** Status, waiting up to waitMs for a terminal state (status-sync, runsync). */
  async waitStatus(ep: string, id: string, waitMs: number): Promise<StatusObject | null> {
    const key = `d|${id}`;
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

  /** New stream chunks since the last call; waits up to waitMs for one when none is pending. */
  async streamRead(ep: string, id: string, waitMs: number): Promise<{ status: JobStatus; chunks: unknown[] } | null> {
    const owner = await this.redis.hget(this.rec(id), "ep");
    if (owner !== ep) return null;
    const read = async () => {
      const r = await this.redis.lsStreamRead(this.rec(id), this.stream(id));
      if (!r) return null;
      return { status: r[0] as JobStatus, chunks: r.slice(1).map((c) => JSON.parse(c)) };
    };
    let wake: () => void = () => undefined;
    const woke = new Promise<void>((r) => (wake = r));
    this.events.once(`s|${id}`, wake);
    this.events.once(`d|${id}`, wake);
    try {
      const first = await read();
      // a queued job has no chunks coming soon: answer now rather than hold the poll (RunPod answers at once)
      if (!first || first.chunks.length || TERMINAL.has(first.status) || first.status === "IN_QUEUE" || waitMs <= 0) return first;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([woke, this.stopping, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
      return await read();
    } finally {
      this.events.off(`s|${id}`, wake);
      this.events.off(`d|${id}`, wake);
    }
  }

  /** Cancel a queued or running job. Returns the status after the call, or null when unknown. */
  async cancel(ep: string, id: string): Promise<JobStatus | null> {
    const owner = await this.redis.hget(this.rec(id), "ep");
    if (owner !== ep) return null;
    const r = await this.abort(ep, id, "CANCELLED", "", "");
    if (!r) return ((await this.redis.hget(this.rec(id), "st")) as JobStatus) ?? null;
    return "CANCELLED";
  }

  /**
   * Gateway-side terminal transition (cancel, execution timeout, stall limit). Running jobs get a stop
   * signal (job-stop) and their BullMQ lock is released; queued ones are removed from BullMQ.
   */
  private async abort(ep: string, id: string, status: JobStatus, onlyToken: string, error: string) {
    const now = Date.now();
    const r = await this.redis.lsAbort(this.rec(id), this.dl, this.stream(id), this.cnt(ep), status, now, this.t.retentionRunMs, this.t.retentionRunsyncMs, this.p, ep, id, onlyToken, error);
    if (!r) return null;
    const [prev, , token, webhook] = r;
    const e = this.ensureEndpoint(ep);
    if (prev === "IN_QUEUE") {
      // If a worker took it in between, the take script sees the terminal status and discards it.
      await Promise.all([e.queue.remove(id).catch(() => 0), this.redis.zrem(this.ttlKey, `${ep}|${id}`)]);
    } else if (token) {
      await this.lightJob(e, id).moveToCompleted(null, token, false).catch(() => undefined);
    }
    if (webhook) this.opts.onTerminal?.(ep, id, webhook);
    return r;
  }

  /** FAILED/TIMED_OUT -> IN_QUEUE. Returns "ok", the non-retryable status, or null when unknown. */
  async retry(ep: string, id: string): Promise<"ok" | string | null> {
    const f = await this.redis.hmget(this.rec(id), "ep", "ttl", "lp");
    if (f[0] !== ep) return null;
    const ttl = Number(f[1]);
    const r = await this.redis.lsRetry(this.rec(id), this.stream(id), this.cnt(ep), Date.now(), ttl);
    if (r === null) return null;
    if (r !== 1) return String(r);
    await this.redis.zadd(this.ttlKey, Date.now() + ttl, `${ep}|${id}`);
    const e = this.ensureEndpoint(ep);
    // The old BullMQ job was removed when it finished; should a stale copy still exist, add() is a no-op
    // and that copy is what a worker takes next (the take script accepts IN_QUEUE).
    await e.queue.add("job", {}, { jobId: id, ...(f[2] === "1" ? { priority: 1 } : {}), ...JOB_OPTS });
    this.events.emit(`new|${ep}`);
    return "ok";
  }

  /** Removes every waiting job (running ones are untouched); they become CANCELLED. */
  async purge(ep: string): Promise<number> {
    const e = this.ensureEndpoint(ep);
    let removed = 0;
    for (;;) {
      const ids = await this.waitingIds(e, 500);
      if (!ids.length) break;
      let progressed = 0;
      // all of a page at once: the commands of 500 aborts share round trips (ioredis writes them without
      // waiting for replies) instead of ~3 sequential round trips per job — 3,000 jobs took 5-16 s
      await Promise.all(
        ids.map(async (id) => {
          const r = await this.abort(ep, id, "CANCELLED", "", "").catch(() => null);
          if (r && r[0] === "IN_QUEUE") removed++;
          if (r) progressed++;
          // a waiting BullMQ job whose record is gone (ttl) or terminal: drop it
          if (!r) await e.queue.remove(id).catch(() => 0);
        }),
      );
      if (!progressed && ids.length < 500) break;
    }
    return removed;
  }

  private async waitingIds(e: EndpointQueue, n: number): Promise<string[]> {
    const k = e.queue.keys;
    const m = this.redis.multi();
    m.lrange(k.wait, 0, n - 1);
    m.zrange(k.prioritized, 0, n - 1);
    m.lrange(k.paused, 0, n - 1);
    const res = (await m.exec()) ?? [];
    return res.flatMap(([, v]) => (v as string[]) ?? []);
  }

  async counts(ep: string): Promise<EndpointCounts> {
    const e = this.ensureEndpoint(ep);
    const k = e.queue.keys;
    const m = this.redis.multi();
    m.llen(k.wait);
    m.zcard(k.prioritized);
    m.llen(k.active);
    m.llen(k.paused);
    const res = (await m.exec()) ?? [];
    const oldest = await this.redis.lsOldest(k.wait, `${this.p}:j:`);
    const n = (i: number) => Number(res[i]?.[1] ?? 0);
    return { waiting: n(0) + n(3), waitingLow: n(1), active: n(2), oldestCreatedAt: Number(oldest) };
  }

  async health(ep: string) {
    if (this.seen.size) await this.flushWorkers();
    const c = await this.counts(ep);
    const [cnt, workers] = await Promise.all([this.redis.hgetall(this.cnt(ep)), this.redis.hgetall(this.workersKey(ep))]);
    const now = Date.now();
    let idle = 0;
    let running = 0;
    const gone: string[] = [];
    for (const [w, v] of Object.entries(workers)) {
      const [seen, n] = v.split(":").map(Number);
      if (now - seen > this.t.workerGoneMs) gone.push(w);
      else if (n > 0) running++;
      else idle++;
    }
    if (gone.length) this.redis.hdel(this.workersKey(ep), ...gone).catch(() => undefined);
    const num = (k: string) => Number(cnt[k] ?? 0);
    return {
      jobs: {
        completed: num("completed"),
        failed: num("failed") + num("timed_out"),
        inProgress: c.active,
        inQueue: c.waiting + c.waitingLow,
        retried: num("retried"),
      },
      workers: { idle, running, ready: idle + running, initializing: 0, throttled: 0, unhealthy: 0 },
    };
  }

  // ---------------------------------------------------------------- worker side
  /**
   * Long-poll take for an HTTP worker: resolves with up to n job JSON strings, or [] after waitMs.
   * One dispatch loop per endpoint blocks in BullMQ (getNextJob with block) only while some worker is
   * waiting, so idle endpoints cost no Redis traffic.
   */
  take(ep: string, worker: string, n: number, waitMs: number, isGone: () => boolean): Promise<string[]> {
    if (this.closing) return Promise.resolve([]);
    const e = this.ensureEndpoint(ep);
    this.touchWorker(ep, worker, 0);
    return new Promise<string[]>((resolve) => {
      const taker: Taker = {
        worker,
        n,
        done: false,
        claiming: false,
        expired: false,
        isGone,
        resolve: (jobs) => {
          clearTimeout(timer);
          resolve(jobs);
        },
      };
      const timer = setTimeout(() => {
        taker.expired = true;
        if (!taker.done && !taker.claiming) {
          taker.done = true;
          resolve([]);
        }
      }, waitMs);
      e.takers.push(taker);
      if (!e.looping) void this.dispatch(e);
    });
  }

  private liveTaker(e: EndpointQueue): Taker | undefined {
    while (e.takers.length) {
      const t = e.takers[0];
      if (t.done || t.isGone()) {
        e.takers.shift();
        if (!t.done) ((t.done = true), t.resolve([]));
        continue;
      }
      return t;
    }
    return undefined;
  }

  private async dispatch(e: EndpointQueue): Promise<void> {
    e.looping = true;
    try {
      while (!this.closing && this.eps.get(e.id) === e && this.liveTaker(e)) {
        let first: Job | undefined;
        const token = randomUUID();
        try {
          first = await e.bullWorker.getNextJob(token, { block: true });
        } catch (err) {
          if (this.closing) return;
          this.log.warn({ ep: e.id, err: (err as Error).message }, "getNextJob failed");
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        if (!first) continue;
        const got: { job: Job; token: string }[] = [{ job: first, token }];
        // Under load several workers wait at once: fetch more without blocking, one per waiting slot.
        const want = e.takers.reduce((a, t) => a + (t.done ? 0 : t.n), 0) - 1;
        if (want > 0) {
          const extra = await Promise.all(
            Array.from({ length: Math.min(want, 64) }, async () => {
              const tk = randomUUID();
              const j = await e.bullWorker.getNextJob(tk, { block: false }).catch(() => undefined);
              return j ? { job: j, token: tk } : undefined;
            }),
          );
          for (const x of extra) if (x) got.push(x);
        }
        await this.handOut(e, got);
      }
    } finally {
      e.looping = false;
      // a taker may have arrived between the loop check and here
      if (!this.closing && this.eps.get(e.id) === e && e.takers.some((t) => !t.done)) void this.dispatch(e);
    }
  }

  /** Claims taken BullMQ jobs in the record and hands them to waiting HTTP workers. */
  private async handOut(e: EndpointQueue, got: { job: Job; token: string }[]): Promise<void> {
    const now = Date.now();
    const claim = (taker: Taker) => async (g: { job: Job; token: string }) => {
      const id = g.job.id!;
      const payload = await this.redis.lsTake(this.rec(id), this.dl, this.ttlKey, taker.worker, g.token, now, this.p, e.id, id);
      if (payload === null) {
        // record gone (ttl) or terminal (cancelled while queued): drop the BullMQ job
        await g.job.moveToCompleted(null, g.token, false).catch(() => undefined);
        return undefined;
      }
      // '{"id":"..",' + rest of the stored payload: no re-serialisation of large inputs
      return `{"id":${JSON.stringify(id)},${payload.slice(1)}`;
    };
    // Batches are bounded by bytes as well as count: 54 jobs of 10 MB in one answer exceeded V8's string
    // limit after they were claimed, and every retry claimed them again. Payload sizes are read (one
    // pipelined HSTRLEN per job, only when a batch could hold several) before anything is claimed; jobs
    // over the bound stay for the next taker or go back to the queue below.
    const maxBytes = this.opts.takeBatchBytes ?? 32 * 1024 * 1024;
    const sizes = new Map<Job, number>();
    if (got.length > 1 && e.takers.some((t) => t.n > 1)) {
      const m = this.redis.pipeline();
      for (const g of got) m.hstrlen(this.rec(g.job.id!), "in");
      const res = (await m.exec()) ?? [];
      got.forEach((g, k) => sizes.set(g.job, Number(res[k]?.[1] ?? 0)));
    }
    const fits = (from: typeof got, n: number) => {
      let bytes = 0;
      let k = 0;
      while (k < Math.min(n, from.length)) {
        bytes += sizes.get(from[k].job) ?? 0;
        if (k > 0 && bytes > maxBytes) break;
        k++;
      }
      return k;
    };
    let rest = got;
    while (rest.length) {
      // Assign jobs to every waiting worker at once (oldest first), then claim them all in parallel:
      // with many workers waiting this is one round of Redis calls, not one per worker.
      const assigned: { taker: Taker; batch: typeof got }[] = [];
      let i = 0;
      for (const t of e.takers) {
        if (i >= rest.length) break;
        if (t.done || t.claiming) continue;
        if (t.isGone()) {
          t.done = true;
          t.resolve([]);
          continue;
        }
        const batch = rest.slice(i, i + fits(rest.slice(i), t.n));
        i += batch.length;
        t.claiming = true;
        assigned.push({ taker: t, batch });
      }
      const leftover = rest.slice(i);
      if (!assigned.length) {
        // nobody left to give them to: back to the queue, lock released
        await Promise.all(leftover.map((g) => g.job.moveToWait(g.token).catch(() => undefined)));
        break;
      }
      const results = await Promise.all(
        assigned.map(async ({ taker, batch }) => ({ taker, jobs: (await Promise.all(batch.map(claim(taker)))).filter((x): x is string => !!x) })),
      );
      for (const { taker, jobs } of results) {
        taker.claiming = false;
        if (!jobs.length) {
          // every job it was given had been cancelled / expired: it keeps waiting unless its time is up
          if (taker.expired && !taker.done) ((taker.done = true), taker.resolve([]));
          continue;
        }
        taker.done = true;
        this.touchWorker(e.id, taker.worker, jobs.length);
        taker.resolve(jobs);
      }
      rest = leftover;
    }
    e.takers = e.takers.filter((t) => !t.done);
  }

  /**
   * job-done. body = what the SDK posted. Returns "ok", "progress", or a reason string for 404/409.
   */
  async done(ep: string, worker: string, id: string, body: Record<string, unknown>, isStream: boolean): Promise<{ code: number; reason?: string }> {
    if (body.status === "IN_PROGRESS") {
      const owner = await this.redis.hget(this.rec(id), "ep");
      if (owner !== ep) return { code: 404, reason: `job ${id} not found on endpoint ${ep}` };
      const tk = await this.redis.lsProgress(this.rec(id), worker, JSON.stringify(body.output ?? null));
      if (!tk) return { code: 409, reason: `job ${id} is not in progress on worker ${worker}` };
      const e = this.ensureEndpoint(ep);
      await this.lightJob(e, id).extendLock(tk, e.leaseMs).catch(() => 0);
      return { code: 200 };
    }
    const failed = body.error !== undefined && body.error !== null && body.error !== "";
    const status: JobStatus = failed ? "FAILED" : "COMPLETED";
    const field = failed ? "err" : "out";
    // isStream=true: end-of-stream marker; output is the aggregate (or [] when not aggregated)
    const result = failed ? body.error : body.output === undefined ? (isStream ? [] : null) : body.output;
    const value = JSON.stringify(result);
    const now = Date.now();
    const r = await this.redis.lsFinish(this.rec(id), this.dl, this.stream(id), this.cnt(ep), worker, status, field, value, now, this.t.retentionRunMs, this.t.retentionRunsyncMs, this.p, ep, id);
    if (r === "nf") return { code: 404, reason: `job ${id} not found on endpoint ${ep}` };
    if (!r) return { code: 409, reason: `job ${id} is not in progress on worker ${worker} (cancelled, timed out or finished)` };
    const [token, webhook, prev, ca, sa, rt] = r;
    // Local waiters (/runsync, /status-sync on this replica) get the final status object now, built from
    // the same fields status() reads, instead of waiting for the pub/sub message and reading the record.
    if (this.events.listenerCount(`d|${id}`)) {
      const times = { ca, sa, fa: now, w: worker, rt };
      this.events.emit(`d|${id}`, statusObject(id, status, times, failed ? undefined : result, failed ? result : undefined));
    }
    // The record is final (and persisted) now, so the worker gets its answer without waiting for the
    // BullMQ side. Should that not happen (gateway dies here), the lock lapses, BullMQ's stalled check
    // re-queues the job and the take script discards it because the record is terminal.
    const e = this.ensureEndpoint(ep);
    if (prev === "IN_QUEUE") e.queue.remove(id).catch(() => 0); // result from a former holder: unqueue
    else if (token) this.lightJob(e, id).moveToCompleted(null, token, false).catch(() => undefined);
    if (webhook) this.opts.onTerminal?.(ep, id, webhook);
    this.touchWorker(ep, worker, 0);
    return { code: 200 };
  }

  async streamPush(ep: string, worker: string, id: string, chunk: unknown): Promise<{ code: number; reason?: string }> {
    const owner = await this.redis.hget(this.rec(id), "ep");
    if (owner !== ep) return { code: 404, reason: `job ${id} not found on endpoint ${ep}` };
    const tk = await this.redis.lsStreamPush(this.rec(id), this.stream(id), worker, JSON.stringify(chunk ?? null), this.p, id);
    if (!tk) return { code: 409, reason: `job ${id} is not in progress on worker ${worker}` };
    return { code: 200 };
  }

  /** Heartbeat: renews the lease of every listed job this worker holds, and repeats the stop signal for
   *  listed jobs it must not run any more (cancelled / timed out on it, or removed by ttl): a stop
   *  delivered once can be dropped by the Python SDK when it arrives before the job's task exists. */
  async ping(ep: string, worker: string, jobIds: string[]): Promise<void> {
    const e = this.ensureEndpoint(ep);
    this.touchWorker(ep, worker, jobIds.length);
    const stop: string[] = [];
    await Promise.all(
      jobIds.map(async (id) => {
        const [w, tk, st, owner] = await this.redis.hmget(this.rec(id), "w", "tk", "st", "ep");
        if (w === worker && tk && st === "IN_PROGRESS") await this.lightJob(e, id).extendLock(tk, e.leaseMs).catch(() => 0);
        else if (st === null || (owner === ep && w === worker && (st === "CANCELLED" || st === "TIMED_OUT"))) stop.push(id);
      }),
    );
    if (stop.length) {
      const key = this.stopKey(ep, worker);
      await this.redis.multi().sadd(key, ...stop).pexpire(key, 600_000).publish(`${this.p}:ev`, `x|${ep}|${worker}`).exec();
    }
  }

  private seen = new Map<string, Map<string, string>>();
  private seenTimer?: NodeJS.Timeout;
  private touchWorker(ep: string, worker: string, n: number) {
    // n: jobs held as last reported (pings carry the exact list). Batched: one HSET per endpoint per
    // second instead of a (fsynced) write on every take / done / ping.
    let m = this.seen.get(ep);
    if (!m) this.seen.set(ep, (m = new Map()));
    m.set(worker, `${Date.now()}:${n}`);
    this.seenTimer ??= setTimeout(() => this.flushWorkers(), 1000);
  }
  private async flushWorkers() {
    this.seenTimer = undefined;
    const all = this.seen;
    this.seen = new Map();
    await Promise.all([...all].map(([ep, m]) => this.redis.hset(this.workersKey(ep), Object.fromEntries(m)).catch(() => undefined)));
  }

  /** job-stop long-poll: ids of running jobs this worker must stop (cancelled / timed out). */
  async stopSignals(ep: string, worker: string, waitMs: number, isGone: () => boolean): Promise<string[]> {
    const key = this.stopKey(ep, worker);
    const pop = async () => {
      const m = this.redis.multi();
      m.smembers(key);
      m.del(key);
      const r = (await m.exec()) ?? [];
      return (r[0]?.[1] as string[]) ?? [];
    };
    const ev = `x|${ep}|${worker}`;
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

  // ---------------------------------------------------------------- background
  private async onStalled(ep: string, id: string) {
    try {
      const n = await this.redis.lsRequeue(this.rec(id), "", this.t.maxStalledCount);
      this.log.warn({ ep, id, stalls: n }, "lease lapsed (worker gone): job re-queued");
      if (n !== null && n > this.t.maxStalledCount) {
        const err = JSON.stringify(`job lost its worker ${n} times (its lease lapsed each time); giving up`);
        await this.redis.hset(this.rec(id), "st", "IN_QUEUE");
        await this.abort(ep, id, "FAILED", "", err);
      }
    } catch (err) {
      this.log.warn({ ep, id, err: (err as Error).message }, "stalled bookkeeping failed");
    }
  }

  /** Execution timeouts and ttl expiry (queued or running jobs). Safe to run on every replica at once. */
  async sweep(): Promise<void> {
    const now = Date.now();
    const due = await this.redis.zrangebyscore(this.dl, "-inf", now, "LIMIT", 0, 200);
    for (const m of due) {
      const [ep, id, token] = m.split("|");
      await this.redis.zrem(this.dl, m);
      const err = JSON.stringify(`execution timeout exceeded`);
      const r = await this.abort(ep, id, "TIMED_OUT", token, err).catch(() => null);
      if (r) this.log.info({ ep, id }, "job timed out");
    }
    const expired = await this.redis.zrangebyscore(this.ttlKey, "-inf", now, "LIMIT", 0, 200);
    for (const m of expired) {
      const [ep, id] = m.split("|");
      await this.redis.zrem(this.ttlKey, m);
      // ttl elapsed: the job is removed, running or not (its worker gets a stop); /status is 404 from now on
      const r = await this.redis.lsExpire(this.rec(id), this.stream(id), this.dl, this.p, ep, id);
      if (r === null) continue; // finished first: the result stays for its retention
      const e = this.ensureEndpoint(ep);
      if (r === "gone" || r[0] === "IN_QUEUE") await e.queue.remove(id).catch(() => 0);
      else if (r[1]) await this.lightJob(e, id).moveToCompleted(null, r[1], false).catch(() => undefined);
      this.events.emit(`d|${id}`);
      this.log.info({ ep, id, was: r === "gone" ? "gone" : r[0] }, "job ttl expired: removed");
    }
  }

  startSweeper() {
    const loop = async () => {
      if (this.closing) return;
      try {
        await this.sweep();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "sweep failed");
      }
      if (!this.closing) this.sweepTimer = setTimeout(loop, this.t.sweepIntervalMs);
    };
    this.sweepTimer = setTimeout(loop, this.t.sweepIntervalMs);
  }

  /** First step of a graceful shutdown: every long-poll answers now; no new job is handed out. */
  beginShutdown() {
    this.closing = true;
    this.stopRequested();
    for (const e of this.eps.values()) for (const t of e.takers) if (!t.done && !t.claiming) ((t.done = true), t.resolve([]));
  }

  /** Closes connections (after the HTTP server finished its in-flight requests). */
  async close(): Promise<void> {
    this.beginShutdown();
    clearTimeout(this.sweepTimer);
    clearTimeout(this.seenTimer);
    await this.flushWorkers();
    for (const e of this.eps.values()) for (const t of e.takers) if (!t.done) ((t.done = true), t.resolve([]));
    await Promise.all([...this.eps.values()].map(async (e) => {
      await e.bullWorker.close(true).catch(() => undefined);
      await e.queue.close().catch(() => undefined);
    }));
    this.eps.clear();
    this.sub.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
    await this.bullConn.quit().catch(() => this.bullConn.disconnect());
  }
}
