// Background transitions no request triggers: leases that lapsed (worker gone) and execution timeouts
// (the running index, every stalledIntervalMs), ttl expiry of queued and running jobs (every sweepIntervalMs), and
// the one-time move of format-1 (BullMQ) queues. Safe on every replica at once: each step is one script.
import type { EventEmitter } from "events";
import type { Logger } from "pino";
import type { Timings } from "../config";
import { EV } from "./record";
import type { Scripts } from "./scripts";

const BATCH = 200;

export class Sweeper {
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(
    private readonly o: {
      scripts: Scripts;
      t: Timings;
      log: Logger;
      events: EventEmitter;
      endpoints: () => string[];
      leaseMs: (ep: string) => number;
      /** the endpoint's maxWorkerLosses */
      maxLosses: (ep: string) => number;
      /** a job ended in the sweeper: FAILED after losing its worker too often, or TIMED_OUT */
      onEnded?: (ep: string, id: string, status: "FAILED" | "TIMED_OUT", reason: string) => void;
      /** a job was re-queued after losing its worker */
      onRequeued?: (ep: string, id: string) => void;
      onTerminal: (ep: string, id: string, webhook: string) => void;
    },
  ) {}

  /** running jobs past their lease or deadline, on every endpoint */
  async reap(): Promise<void> {
    const { scripts, t, log } = this.o;
    for (const ep of this.o.endpoints()) {
      for (;;) {
        const r = await scripts.reap({
          ep, now: Date.now(), retention: { runMs: t.retentionRunMs, syncMs: t.retentionRunsyncMs },
          maxStalls: Math.max(0, this.o.maxLosses(ep) - 1), limit: BATCH, timeoutError: JSON.stringify("execution timeout exceeded"),
        });
        for (const j of r) {
          if (j.kind === "requeued") {
            log.warn({ ep, jobId: j.id, worker: j.worker, stalls: j.stalls }, "lease lapsed (worker gone): job re-queued");
            this.o.events.emit(EV.queued(ep));
            this.o.onRequeued?.(ep, j.id);
          } else if (j.kind === "timeout") {
            log.info({ ep, jobId: j.id, worker: j.worker }, "job timed out");
            this.o.onEnded?.(ep, j.id, "TIMED_OUT", "execution timeout exceeded");
          } else {
            log.warn({ ep, jobId: j.id, worker: j.worker, stalls: j.stalls }, "job lost its worker too often: FAILED");
            this.o.onEnded?.(ep, j.id, "FAILED", `job lost its worker ${j.stalls} times (maxWorkerLosses ${this.o.maxLosses(ep)}); last worker ${j.worker}`);
          }
          if (j.webhook) this.o.onTerminal(ep, j.id, j.webhook);
        }
        if (r.length < BATCH) break;
      }
    }
  }

  /** jobs past their ttl, queued or running: removed, /status is 404 from now on (a running job's worker is told to stop) */
  async expire(): Promise<void> {
    for (;;) {
      const r = await this.o.scripts.expire({ now: Date.now(), limit: BATCH });
      for (const j of r) {
        this.o.events.emit(EV.done(j.id));
        this.o.log.info({ ep: j.ep, jobId: j.id, was: j.was }, j.was === "IN_PROGRESS" ? "job ttl expired while it ran: removed, its worker told to stop" : "job ttl expired: removed");
      }
      if (r.length < BATCH) break;
    }
  }

  /** format 1 -> 2 for one endpoint (idempotent; a no-op costs one EXISTS) */
  async migrate(ep: string): Promise<void> {
    const r = await this.o.scripts.migrateBullmq({ ep, now: Date.now(), leaseMs: this.o.leaseMs(ep) });
    if (r.queued || r.running) {
      this.o.log.info({ ep, ...r }, "moved jobs from the BullMQ queue of Longshore 0.1 (queue format 1)");
      this.o.events.emit(EV.queued(ep));
    }
  }

  async sweep(): Promise<void> {
    await this.reap();
    await this.expire();
  }

  start() {
    const every = (ms: number, fn: () => Promise<void>, what: string) => {
      const i = this.timers.length;
      const loop = async () => {
        if (this.stopped) return;
        try {
          await fn();
        } catch (err) {
          this.o.log.warn({ err: (err as Error).message }, `${what} failed`);
        }
        if (!this.stopped) this.timers[i] = setTimeout(loop, ms);
      };
      this.timers.push(setTimeout(loop, ms));
    };
    every(this.o.t.stalledIntervalMs, () => this.reap(), "lease check");
    every(this.o.t.sweepIntervalMs, () => this.expire(), "ttl sweep");
    // jobs an old (0.1) replica still queues during a rolling upgrade
    every(10_000, async () => void (await Promise.all(this.o.endpoints().map((ep) => this.migrate(ep)))), "format-1 migration");
  }

  stop() {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}
