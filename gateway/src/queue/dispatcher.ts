// Long-poll dispatcher of one endpoint: HTTP workers wait in job-take; one loop per endpoint hands them
// queued jobs. Every round is ONE take script for every waiting slot at once (see take-4.lua), so with
// many workers waiting the cost per job is a few commands inside one script, not a round trip per worker.
// When the queue is empty the loop sleeps until a job is queued: a local event when it was queued on this
// replica, a pub/sub message when on another one, or a slow re-check that covers a lost message. Idle
// endpoints (no worker waiting) cost no Redis traffic at all.
import { randomUUID } from "crypto";
import type { EventEmitter } from "events";
import type { Logger } from "pino";
import { EV } from "./record";
import type { Scripts } from "./scripts";

interface Taker {
  worker: string;
  n: number;
  done: boolean;
  /** in a take script right now: its long-poll timer must not answer 204 meanwhile */
  claiming: boolean;
  expired: boolean;
  resolve(jobs: string[]): void;
  isGone(): boolean;
}

/** jobs handed out per round at most (one take script) */
const MAX_SLOTS = 64;
/** re-check of an empty queue while workers wait, in case a wake-up message was lost */
const RECHECK_MS = 5_000;

export class Dispatcher {
  private takers: Taker[] = [];
  private looping = false;
  private closed = false;

  constructor(
    private readonly ep: string,
    private readonly o: {
      scripts: Scripts;
      events: EventEmitter;
      log: Logger;
      stopping: Promise<void>;
      leaseMs: () => number;
      /** payload bytes one worker gets in one answer (after its first job) */
      maxBytes: number;
      /** a worker got n jobs (presence) */
      onHanded: (worker: string, n: number) => void;
    },
  ) {}

  /** resolves with up to n job JSON strings, or [] after waitMs */
  take(worker: string, n: number, waitMs: number, isGone: () => boolean): Promise<string[]> {
    if (this.closed) return Promise.resolve([]);
    return new Promise<string[]>((resolve) => {
      const timer = setTimeout(() => {
        t.expired = true;
        if (!t.done && !t.claiming) ((t.done = true), resolve([]));
      }, waitMs);
      const t: Taker = {
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
      this.takers.push(t);
      if (!this.looping) void this.loop();
    });
  }

  /** every waiting long-poll answers now (204) and no job is handed out any more */
  close() {
    this.closed = true;
    // a taker inside a take script is answered when the script returns (with the jobs it claimed)
    for (const t of this.takers) if (!t.done && !t.claiming) ((t.done = true), t.resolve([]));
  }

  private live(): Taker[] {
    this.takers = this.takers.filter((t) => {
      if (t.done) return false;
      if (t.isGone()) return (t.done = true), t.resolve([]), false;
      return true;
    });
    return this.takers;
  }

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      while (!this.closed && this.live().length) {
        // listen before looking, so a job queued right after the take script ran still wakes us
        let wake: () => void = () => undefined;
        const woke = new Promise<void>((r) => (wake = r));
        this.o.events.once(EV.queued(this.ep), wake);
        try {
          const slots: { taker: Taker; worker: string; token: string }[] = [];
          for (const t of this.takers) for (let i = 0; i < t.n && slots.length < MAX_SLOTS; i++) slots.push({ taker: t, worker: t.worker, token: randomUUID() });
          for (const s of slots) s.taker.claiming = true;
          let got: { slot: number; id: string; payload: string }[];
          let drained: boolean;
          try {
            ({ jobs: got, drained } = await this.o.scripts.take({ ep: this.ep, now: Date.now(), leaseMs: this.o.leaseMs(), maxBytes: this.o.maxBytes, slots }));
          } catch (err) {
            for (const s of slots) s.taker.claiming = false;
            if (this.closed) return;
            this.o.log.warn({ ep: this.ep, err: (err as Error).message }, "take failed");
            await new Promise((r) => setTimeout(r, 200));
            continue;
          }
          const byTaker = new Map<Taker, string[]>();
          for (const g of got) {
            const t = slots[g.slot].taker;
            let l = byTaker.get(t);
            if (!l) byTaker.set(t, (l = []));
            // '{"id":"..",' + rest of the stored payload: no re-serialisation of large inputs
            l.push(`{"id":${JSON.stringify(g.id)},${g.payload.slice(1)}`);
          }
          for (const { taker: t } of slots) {
            if (!t.claiming) continue;
            t.claiming = false;
            const jobs = byTaker.get(t);
            if (jobs) {
              // a client that went away meanwhile: the HTTP layer drops the answer, the lease re-queues the job
              t.done = true;
              t.resolve(jobs);
              this.o.onHanded(t.worker, jobs.length);
            } else if (t.expired && !t.done) {
              t.done = true;
              t.resolve([]);
            }
          }
          // the queue ran empty: wait for the next job (or for the takers to expire). Fewer jobs than slots
          // without that is the byte bound: the rest stay queued for the takers still waiting.
          if (drained) {
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([woke, this.o.stopping, new Promise<void>((r) => (timer = setTimeout(r, RECHECK_MS)))]);
            clearTimeout(timer);
          }
        } finally {
          this.o.events.off(EV.queued(this.ep), wake);
        }
      }
    } finally {
      this.looping = false;
      if (!this.closed && this.takers.some((t) => !t.done)) void this.loop();
    }
  }
}
