// Worker presence (who is alive, idle or busy), the marks that take a worker out of dispatch (ping
// status=unhealthy, a stopPod result), and the /health worker figures built from both plus, on Kubernetes,
// the pods (gateway/src/pods.ts). Presence is batched: one HSET per endpoint per second instead of a write on
// every take / done / ping. Marks are rare and written at once; each replica keeps a copy of every endpoint's
// marks (refreshed at most once a second) so job-take checks them without a Redis round trip.
import type Redis from "ioredis";
import type { Keys } from "./keys";

export type MarkKind = "unhealthy" | "recycle";
export interface WorkerMark {
  kind: MarkKind;
  at: number;
  reason: string;
  /** the pod's container restarts when marked (-1 = unknown): a restart after it clears an unhealthy mark */
  restarts: number;
}

/** What the pod watch knows about a worker pod (gateway/src/pods.ts). */
export interface PodView {
  /** throttled: cannot be scheduled; initializing: starting; unhealthy: crash-looping, failing readiness,
   *  cannot pull its image…; live: running (idle / running / unhealthy then come from its pings and marks) */
  state: "throttled" | "initializing" | "unhealthy" | "live";
  reason?: string;
  restarts: number;
}

export interface WorkerCounts {
  idle: number;
  running: number;
  ready: number;
  initializing: number;
  throttled: number;
  unhealthy: number;
}

export interface WorkerDetail {
  id: string;
  state: "idle" | "running" | "initializing" | "throttled" | "unhealthy";
  reason?: string;
  /** ms since its last ping / worker call (absent: never seen) */
  lastSeenMs?: number;
  jobs?: number;
}

const MARKS_REFRESH_MS = 1000;

export class Presence {
  private seen = new Map<string, Map<string, string>>();
  private timer?: NodeJS.Timeout;
  private marks = new Map<string, { at: number; m: Map<string, WorkerMark>; loading?: Promise<void> }>();

  constructor(private readonly redis: Redis, private readonly k: Keys, private readonly goneMs: number) {}

  /** n: jobs held as last reported (pings carry the exact list) */
  touch(ep: string, worker: string, n: number) {
    let m = this.seen.get(ep);
    if (!m) this.seen.set(ep, (m = new Map()));
    m.set(worker, `${Date.now()}:${n}`);
    this.timer ??= setTimeout(() => void this.flush(), 1000);
  }

  async flush() {
    clearTimeout(this.timer);
    this.timer = undefined;
    const all = this.seen;
    this.seen = new Map();
    await Promise.all([...all].map(([ep, m]) => this.redis.hset(this.k.workers(ep), Object.fromEntries(m)).catch(() => undefined)));
  }

  // ------------------------------------------------------------ marks
  async mark(ep: string, worker: string, mark: WorkerMark): Promise<void> {
    this.cached(ep).set(worker, mark);
    await this.redis.hset(this.k.marks(ep), worker, JSON.stringify(mark));
  }

  async unmark(ep: string, worker: string): Promise<void> {
    this.cached(ep).delete(worker);
    await this.redis.hdel(this.k.marks(ep), worker);
  }

  private cached(ep: string): Map<string, WorkerMark> {
    let c = this.marks.get(ep);
    if (!c) this.marks.set(ep, (c = { at: 0, m: new Map() }));
    return c.m;
  }

  private async loadMarks(ep: string): Promise<Map<string, WorkerMark>> {
    const raw = await this.redis.hgetall(this.k.marks(ep));
    const m = new Map<string, WorkerMark>();
    for (const [w, v] of Object.entries(raw)) {
      try {
        m.set(w, JSON.parse(v) as WorkerMark);
      } catch {
        /* a malformed entry marks nothing */
      }
    }
    return m;
  }

  /** The endpoint's marks: from this replica's copy, refreshed from Redis at most once a second (in the
   *  background: a take never waits for it except the very first time). */
  async marksOf(ep: string): Promise<Map<string, WorkerMark>> {
    let c = this.marks.get(ep);
    if (!c) this.marks.set(ep, (c = { at: 0, m: new Map() }));
    const entry = c;
    if (Date.now() - entry.at > MARKS_REFRESH_MS && !entry.loading) {
      entry.loading = this.loadMarks(ep)
        .then((m) => {
          entry.m = m;
          entry.at = Date.now();
        })
        .catch(() => undefined)
        .finally(() => (entry.loading = undefined));
      if (entry.at === 0) await entry.loading;
    }
    return entry.m;
  }

  /** the mark that keeps this worker out of dispatch, if any */
  async blocked(ep: string, worker: string): Promise<WorkerMark | undefined> {
    return (await this.marksOf(ep)).get(worker);
  }

  // ------------------------------------------------------------ /health
  /** Every worker with its state. `pods`: the endpoint's worker pods by name (Kubernetes), or undefined. */
  async details(ep: string, pods?: Map<string, PodView>): Promise<WorkerDetail[]> {
    if (this.seen.size) await this.flush();
    const [workers, marks] = await Promise.all([this.redis.hgetall(this.k.workers(ep)), this.loadMarks(ep)]);
    const now = Date.now();
    const gone: string[] = [];
    const out: WorkerDetail[] = [];
    const pinged = new Map<string, { seen: number; n: number }>();
    /** live pods that pinged once and then went silent for goneMs: hung */
    const silent = new Map<string, number>();
    for (const [w, v] of Object.entries(workers)) {
      const [seen, n] = v.split(":").map(Number);
      if (now - seen <= this.goneMs) pinged.set(w, { seen, n });
      else if (pods?.get(w)?.state === "live") silent.set(w, seen);
      else gone.push(w);
    }
    const staleMarks: string[] = [];
    for (const [w, m] of marks) {
      const pod = pods?.get(w);
      // a container restart after an unhealthy report is a new process: its mark no longer holds
      if (m.kind === "unhealthy" && pod && m.restarts >= 0 && pod.restarts > m.restarts) staleMarks.push(w);
      else if (!pinged.has(w) && !pod && now - m.at > this.goneMs) staleMarks.push(w);
    }
    for (const w of staleMarks) marks.delete(w);
    const names = new Set<string>([...pinged.keys(), ...(pods?.keys() ?? [])]);
    for (const id of names) {
      const p = pinged.get(id);
      const pod = pods?.get(id);
      const mark = marks.get(id);
      const d: WorkerDetail = { id, state: "initializing" };
      if (p) {
        d.lastSeenMs = now - p.seen;
        d.jobs = p.n;
      }
      if (pod && pod.state !== "live") {
        d.state = pod.state;
        if (pod.reason) d.reason = pod.reason;
      } else if (mark?.kind === "unhealthy") {
        d.state = "unhealthy";
        d.reason = mark.reason;
      } else if (mark?.kind === "recycle") {
        // on its way out (stopPod): not ready for jobs, not a fault either
        d.state = "initializing";
        d.reason = `recycling: ${mark.reason}`;
      } else if (p) d.state = p.n > 0 ? "running" : "idle";
      else if (silent.has(id)) {
        d.state = "unhealthy";
        d.lastSeenMs = now - silent.get(id)!;
        d.reason = `running but no ping for ${Math.round(d.lastSeenMs / 1000)} s`;
      }
      else d.state = "initializing"; // a live pod that has not pinged yet
      out.push(d);
    }
    if (gone.length) this.redis.hdel(this.k.workers(ep), ...gone).catch(() => undefined);
    if (staleMarks.length) {
      for (const w of staleMarks) this.cached(ep).delete(w);
      this.redis.hdel(this.k.marks(ep), ...staleMarks).catch(() => undefined);
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** RunPod's /health workers object */
  async workers(ep: string, pods?: Map<string, PodView>): Promise<WorkerCounts> {
    return countStates(await this.details(ep, pods));
  }
}

export function countStates(ds: WorkerDetail[]): WorkerCounts {
  const c: WorkerCounts = { idle: 0, running: 0, ready: 0, initializing: 0, throttled: 0, unhealthy: 0 };
  for (const d of ds) c[d.state]++;
  c.ready = c.idle + c.running;
  return c;
}
