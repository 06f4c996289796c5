// HTTP endpoints' scaling signal across gateway replicas. A request waits in (or flows through) the replica that
// accepted it, and those counts live in that replica's memory (pool.ts) — but KEDA keeps one gRPC connection to
// one replica behind the scaler Service. So each replica writes its own counts of each HTTP endpoint into one
// Redis hash per endpoint (field: the replica, value: "waiting,active,oldestCreatedAt,writtenAt") at once when
// the endpoint turns busy or idle and every refreshMs while it has anything, and the scaler of whichever replica
// KEDA asks sums the fresh fields. A replica that dies stops refreshing: its field is ignored after staleMs and
// the hash expires on its own. (Queue endpoints need none of this: their counts are read from Redis already.)
import * as crypto from "crypto";
import type Redis from "ioredis";
import type { Logger } from "pino";

export interface HttpCounts {
  waiting: number;
  active: number;
  /** created-at ms of the oldest waiting request, -1 when none */
  oldestCreatedAt: number;
}

export interface SharedHttpCountsOptions {
  redis: Redis;
  /** the gateway's Redis key prefix */
  prefix: string;
  /** this replica's own counts of an endpoint; undefined for an endpoint that is not an HTTP endpoint */
  local: (endpointId: string) => HttpCounts | undefined;
  /** the HTTP endpoints this replica has counts for */
  endpoints: () => string[];
  refreshMs: number;
  staleMs: number;
  log: Logger;
}

const IDLE = "0,0,-1";

export class SharedHttpCounts {
  /** this replica's field: unique per process (two gateways in one test process, a restarted pod) */
  readonly replica = `${process.env.HOSTNAME ?? "gw"}-${crypto.randomBytes(4).toString("hex")}`;
  private readonly written = new Map<string, { value: string; at: number }>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: SharedHttpCountsOptions) {}

  key(endpointId: string): string {
    return `${this.o.prefix}:hc:${endpointId}`;
  }

  start(): void {
    this.timer = setInterval(() => {
      for (const ep of this.o.endpoints()) void this.publish(ep);
    }, this.o.refreshMs);
    this.timer.unref?.();
  }

  /** Writes this replica's counts of the endpoint when they changed, or when the last write is getting old. */
  async publish(endpointId: string): Promise<void> {
    const c = this.o.local(endpointId);
    if (!c) return;
    const value = `${c.waiting},${c.active},${c.oldestCreatedAt}`;
    const last = this.written.get(endpointId);
    const now = Date.now();
    if (value === IDLE && (!last || last.value === IDLE)) return; // idle and said so (or never busy): nothing to say
    if (last && last.value === value && now - last.at < this.o.staleMs / 2) return;
    this.written.set(endpointId, { value, at: now });
    try {
      await this.o.redis.multi().hset(this.key(endpointId), this.replica, `${value},${now}`).pexpire(this.key(endpointId), this.o.staleMs * 4).exec();
    } catch (e) {
      this.written.delete(endpointId); // try again on the next refresh
      this.o.log.warn({ endpointId, err: (e as Error).message }, "http counts: write to Redis failed");
    }
  }

  /** The endpoint's counts over every live replica (this one's read from memory); undefined: not an HTTP endpoint. */
  async read(endpointId: string): Promise<HttpCounts | undefined> {
    const own = this.o.local(endpointId);
    if (!own) return undefined;
    const sum = { ...own };
    const fields = await this.o.redis.hgetall(this.key(endpointId));
    const fresh = Date.now() - this.o.staleMs;
    for (const [replica, v] of Object.entries(fields)) {
      if (replica === this.replica) continue;
      const [waiting, active, oldest, at] = v.split(",").map(Number);
      if (!(at >= fresh) || !Number.isFinite(waiting) || !Number.isFinite(active)) continue;
      sum.waiting += waiting;
      sum.active += active;
      if (oldest > 0 && (sum.oldestCreatedAt <= 0 || oldest < sum.oldestCreatedAt)) sum.oldestCreatedAt = oldest;
    }
    return sum;
  }

  /** Stops refreshing and removes this replica's fields (its requests are gone with it). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.written.keys()].map((ep) => this.o.redis.hdel(this.key(ep), this.replica).catch(() => 0)));
    this.written.clear();
  }
}
