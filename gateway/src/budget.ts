// Memory bound for request bodies, all routes together. Fastify's bodyLimit bounds one request; this
// bounds the sum: a body is held as a string, parsed into objects, serialised again for Redis and copied
// into the Redis command (3-5x its size at the peak), so 8 concurrent 20 MB /runsync once took the gateway
// from 90 MB to 970 MB RSS. A request reserves its Content-Length (or the route's bodyLimit when chunked)
// before its body is read; while the budget is spent it waits (its body stays in the kernel's socket
// buffer, TCP back-pressure slows the sender) up to `waitMs`, then is answered 503 with Retry-After —
// a transient overload, which every RunPod client and worker SDK retries. The reservation is returned
// when the response is finished, or earlier by release() once a handler no longer holds the body.
export class BodyBudget {
  private used = 0;
  private waiters: { n: number; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }[] = [];
  constructor(readonly total: number, private readonly waitMs: number) {}

  get inUse() {
    return this.used;
  }

  /** Resolves true once `n` bytes are reserved, false when there was no room within waitMs. */
  reserve(n: number): Promise<boolean> | boolean {
    const want = Math.min(n, this.total);
    if (!this.waiters.length && this.used + want <= this.total) {
      this.used += want;
      return true;
    }
    if (this.waitMs <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const w = {
        n: want,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve(false);
          this.drain(); // a large waiter timing out may let smaller ones behind it in
        }, this.waitMs),
      };
      this.waiters.push(w);
    });
  }

  /** Returns a reservation made by reserve(n). */
  free(n: number) {
    this.used = Math.max(0, this.used - Math.min(n, this.total));
    this.drain();
  }

  private drain() {
    // first come, first served: a large request is not starved by a stream of small ones
    while (this.waiters.length && this.used + this.waiters[0].n <= this.total) {
      const w = this.waiters.shift()!;
      clearTimeout(w.timer);
      this.used += w.n;
      w.resolve(true);
    }
  }
}
