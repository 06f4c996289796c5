// Worker presence (who is alive, idle or busy) and the /health figures built from it. Presence is
// batched: one HSET per endpoint per second instead of a write on every take / done / ping.
import type Redis from "ioredis";
import type { Keys } from "./keys";

export class Presence {
  private seen = new Map<string, Map<string, string>>();
  private timer?: NodeJS.Timeout;

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

  /** RunPod's /health workers object; forgets workers not seen for goneMs */
  async workers(ep: string) {
    if (this.seen.size) await this.flush();
    const workers = await this.redis.hgetall(this.k.workers(ep));
    const now = Date.now();
    let idle = 0;
    let running = 0;
    const gone: string[] = [];
    for (const [w, v] of Object.entries(workers)) {
      const [seen, n] = v.split(":").map(Number);
      if (now - seen > this.goneMs) gone.push(w);
      else if (n > 0) running++;
      else idle++;
    }
    if (gone.length) this.redis.hdel(this.k.workers(ep), ...gone).catch(() => undefined);
    return { idle, running, ready: idle + running, initializing: 0, throttled: 0, unhealthy: 0 };
  }
}
