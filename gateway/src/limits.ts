// Per-endpoint fixed-window rate limits (RunPod: requests per 10 s per endpoint and route kind).
// Hand-written instead of @fastify/rate-limit: that plugin keys by client, not by the endpoint id in the
// path, and its Redis store would add a round trip to every request. Counters are per gateway replica;
// with R replicas behind a Service the effective limit is up to R x the configured one (documented).
import type { RateLimits } from "./config";

export type LimitKind = "run" | "runsync" | "status" | "stream" | "cancel" | "purge";

export class RateLimiter {
  private windows = new Map<string, { start: number; n: number }>();
  constructor(private readonly limitsFor: (ep: string) => RateLimits) {}

  /** true = allowed */
  hit(ep: string, kind: LimitKind, now = Date.now()): { ok: boolean; retryAfterMs: number; limit: number } {
    const l = this.limitsFor(ep);
    const key = `${ep}\u0000${kind}`;
    let w = this.windows.get(key);
    if (!w || now - w.start >= l.windowMs) {
      w = { start: now, n: 0 };
      this.windows.set(key, w);
    }
    w.n++;
    return { ok: w.n <= l[kind], retryAfterMs: l.windowMs - (now - w.start), limit: l[kind] };
  }

  forget(ep: string) {
    for (const k of this.windows.keys()) if (k.startsWith(ep + "\u0000")) this.windows.delete(k);
  }
}
