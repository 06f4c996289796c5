// The workers of one HTTP (load-balancing) endpoint as the gateway sees them, and the requests waiting for one.
//
//  * A worker is a pod the Kubernetes watch reported (discovery.ts) or one a test added. It takes requests only
//    while its own health check says ready (RunPod's /ping contract: 200 = ready; 204 = initializing and
//    anything else = not ready) and it is not draining (the pod is being deleted: scale-in).
//  * Routing is least-outstanding-requests: the ready worker with the fewest requests in flight, as long as it is
//    below the endpoint's target concurrency; ties go to the worker that has been idle longest (round robin).
//  * When no worker has room the request waits here (FIFO, bounded by maxQueued) and is handed the first slot
//    that frees up or the first worker that turns ready; it gives up after queueTimeoutMs with a reason.
//  * `onActivity` fires when the endpoint goes from idle to busy and back, so the KEDA scaler pushes the
//    activation at once (scaler.ts StreamIsActive) instead of at its next poll.
//
// The health checks use node's http directly (one small GET per worker and interval, keep-alive agent).
import * as http from "http";
import type { HttpEndpointSettings } from "../../../contract";
import { DEFAULT_HEALTH_PATH, DEFAULT_MAX_QUEUED, DEFAULT_QUEUE_TIMEOUT_MS, DEFAULT_TARGET_CONCURRENCY } from "../../../contract";

export interface WorkerAddress {
  /** the worker id clients see (X-Longshore-Worker-Id): the pod name */
  id: string;
  /** the pod's IP (or a host name in tests) */
  host: string;
  /** explicit ports (tests); by default the endpoint's settings.port / healthPort */
  port?: number;
  healthPort?: number;
}

export interface Worker extends WorkerAddress {
  ready: boolean;
  draining: boolean;
  inflight: number;
  /** total requests forwarded (tests and metrics) */
  served: number;
  lastPick: number;
  /** why it is not ready (last health check answer) */
  state: string;
}

export class PoolError extends Error {
  constructor(readonly status: number, message: string, readonly retryAfterS?: number) {
    super(message);
  }
}

interface Waiter {
  resolve(w: Worker): void;
  reject(e: PoolError): void;
  since: number;
  timer: NodeJS.Timeout;
}

export interface PoolTimings {
  /** health check period while a worker is not ready (cold start: how soon a ready worker is noticed) */
  healthStartingMs: number;
  /** health check period of a ready worker */
  healthReadyMs: number;
  /** one health check's timeout */
  healthTimeoutMs: number;
}

export const DEFAULT_POOL_TIMINGS: PoolTimings = { healthStartingMs: 200, healthReadyMs: 2_000, healthTimeoutMs: 2_000 };

export class WorkerPool {
  readonly workers = new Map<string, Worker>();
  private readonly waiting: Waiter[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly checking = new Set<string>();
  /** removed workers (pod deleted) that still finish requests: they keep counting in the scaler metric */
  private readonly leaving = new Set<Worker>();
  private busy = false;
  private closed = false;

  constructor(
    readonly endpointId: string,
    /** the endpoint's current settings (read at each use: a changed Secret applies at once) */
    private readonly settings: () => HttpEndpointSettings | undefined,
    private readonly agent: http.Agent,
    private readonly t: PoolTimings,
    private readonly onActivity: (busy: boolean) => void,
  ) {}

  private get target(): number {
    return this.settings()?.targetConcurrency ?? DEFAULT_TARGET_CONCURRENCY;
  }

  portOf(w: WorkerAddress): number {
    return w.port ?? this.settings()?.port ?? 80;
  }

  /** Adds a worker or updates its address / draining flag (a watch event). */
  upsert(a: WorkerAddress & { draining?: boolean }) {
    let w = this.workers.get(a.id);
    if (!w) {
      w = { ...a, draining: !!a.draining, ready: false, inflight: 0, served: 0, lastPick: 0, state: "not checked yet" };
      this.workers.set(a.id, w);
      this.schedule(w, 0);
      return;
    }
    const moved = w.host !== a.host || w.port !== a.port || w.healthPort !== a.healthPort;
    w.host = a.host;
    w.port = a.port;
    w.healthPort = a.healthPort;
    if (moved) {
      w.ready = false;
      this.schedule(w, 0);
    }
    if (a.draining && !w.draining) {
      // scale-in: no new requests; the ones in flight finish (the pod's grace period covers them)
      w.draining = true;
      w.ready = false;
      w.state = "draining (pod is terminating)";
    }
  }

  remove(id: string) {
    const w = this.workers.get(id);
    if (!w) return;
    w.ready = false;
    w.draining = true;
    this.workers.delete(id);
    if (w.inflight > 0) this.leaving.add(w);
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  /** Keeps only these ids (after a re-list). */
  retain(ids: Set<string>) {
    for (const id of [...this.workers.keys()]) if (!ids.has(id)) this.remove(id);
  }

  /** Marks a worker not ready after a failed forward (connection refused…) and re-checks it soon. */
  suspect(w: Worker, why: string) {
    if (!this.workers.has(w.id)) return;
    w.ready = false;
    w.state = why;
    this.schedule(w, this.t.healthStartingMs);
  }

  counts(): { waiting: number; inflight: number; oldestCreatedAt: number } {
    let inflight = 0;
    for (const w of this.workers.values()) inflight += w.inflight;
    for (const w of this.leaving) inflight += w.inflight;
    return { waiting: this.waiting.length, inflight, oldestCreatedAt: this.waiting[0]?.since ?? 0 };
  }

  readyCount(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.ready && !w.draining) n++;
    return n;
  }

  /** The least-outstanding ready worker with room, or undefined. */
  private pick(except?: Set<string>): Worker | undefined {
    const target = this.target;
    let best: Worker | undefined;
    for (const w of this.workers.values()) {
      if (!w.ready || w.draining || w.inflight >= target || except?.has(w.id)) continue;
      if (!best || w.inflight < best.inflight || (w.inflight === best.inflight && w.lastPick < best.lastPick)) best = w;
    }
    return best;
  }

  private take(w: Worker): Worker {
    w.inflight++;
    w.served++;
    w.lastPick = performance.now();
    this.activity();
    return w;
  }

  /**
   * A worker for one request: at once when one has room, else after waiting in the queue. `worker` rejects
   * with a PoolError (503) when the queue is full or the wait runs out; `withdraw()` takes a waiting request
   * out of the queue (its client went away). `except`: workers that already refused this request.
   */
  acquire(except?: Set<string>): { worker: Promise<Worker>; withdraw(): void } {
    if (this.closed) return { worker: Promise.reject(new PoolError(503, "gateway is shutting down", 1)), withdraw() {} };
    const now = this.waiting.length === 0 ? this.pick(except) : undefined;
    if (now) return { worker: Promise.resolve(this.take(now)), withdraw() {} };
    const s = this.settings();
    const max = s?.maxQueued ?? DEFAULT_MAX_QUEUED;
    if (this.waiting.length >= max) {
      return { worker: Promise.reject(new PoolError(503, `endpoint ${this.endpointId}: ${max} requests are already waiting for a worker (maxQueued); retry shortly`, 1)), withdraw() {} };
    }
    const waitMs = s?.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS;
    let waiter: Waiter | undefined;
    const worker = new Promise<Worker>((resolve, reject) => {
      const me: Waiter = {
        resolve,
        reject,
        since: Date.now(),
        timer: setTimeout(() => {
          this.drop(me);
          const ready = this.readyCount();
          const msg = ready === 0
            ? `endpoint ${this.endpointId}: no worker became ready within ${waitMs / 1000} s (${this.describe()}); the endpoint may still be scaling from zero, or its workers fail their health check`
            : `endpoint ${this.endpointId}: all ${ready} ready workers stayed at their target concurrency (${this.target}) for ${waitMs / 1000} s; retry shortly or raise maxWorkers`;
          reject(new PoolError(503, msg, 1));
        }, waitMs),
      };
      waiter = me;
      this.waiting.push(me);
    });
    this.activity();
    return {
      worker,
      withdraw: () => {
        if (waiter && this.waiting.includes(waiter)) {
          this.drop(waiter);
          waiter.reject(new PoolError(499, "client closed the request while it waited"));
        }
      },
    };
  }

  private drop(waiter: Waiter) {
    const i = this.waiting.indexOf(waiter);
    if (i < 0) return;
    this.waiting.splice(i, 1);
    clearTimeout(waiter.timer);
    this.activity();
  }

  /** A forwarded request is over: frees its slot and hands it to the next waiting request. */
  release(w: Worker) {
    w.inflight--;
    if (w.inflight <= 0) this.leaving.delete(w);
    this.dispatch();
    this.activity();
  }

  private dispatch() {
    while (this.waiting.length > 0) {
      const w = this.pick();
      if (!w) return;
      const waiter = this.waiting.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(this.take(w));
    }
  }

  private activity() {
    const c = this.counts();
    const busy = c.waiting > 0 || c.inflight > 0;
    if (busy !== this.busy) {
      this.busy = busy;
      this.onActivity(busy);
    }
  }

  private describe(): string {
    if (this.workers.size === 0) return "no worker pod is running yet";
    return [...this.workers.values()].map((w) => `${w.id}: ${w.state}`).join("; ");
  }

  // ------------------------------------------------------------------ health checks
  private schedule(w: Worker, ms: number) {
    if (this.closed) return;
    clearTimeout(this.timers.get(w.id));
    const t = setTimeout(() => this.check(w), ms);
    t.unref();
    this.timers.set(w.id, t);
  }

  private check(w: Worker) {
    if (this.closed || this.workers.get(w.id) !== w || this.checking.has(w.id)) return;
    if (w.draining) return;
    this.checking.add(w.id);
    const s = this.settings();
    const port = w.healthPort ?? s?.healthPort ?? this.portOf(w);
    const path = s?.healthPath ?? DEFAULT_HEALTH_PATH;
    let done = false;
    const finish = (ready: boolean, state: string) => {
      if (done) return;
      done = true;
      this.checking.delete(w.id);
      if (this.workers.get(w.id) !== w || w.draining) return;
      const was = w.ready;
      w.ready = ready;
      w.state = state;
      if (ready && !was) this.dispatch();
      this.schedule(w, ready ? this.t.healthReadyMs : this.t.healthStartingMs);
    };
    const req = http.get({ host: w.host, port, path, agent: this.agent, timeout: this.t.healthTimeoutMs, headers: { "user-agent": "longshore-gateway" } }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      // RunPod's contract: 200 ready, 204 initializing, anything else unhealthy
      finish(code === 200, code === 200 ? "ready" : code === 204 ? `initializing (${path} answered 204)` : `unhealthy (${path} answered ${code})`);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${this.t.healthTimeoutMs} ms`)));
    req.on("error", (e) => finish(false, `health check ${path} on port ${port} failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  }

  close() {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const waiter of this.waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new PoolError(503, "gateway is shutting down", 1));
    }
  }
}
