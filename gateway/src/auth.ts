// Constant-time credential checks. Client routes take any key of LONGSHORE_API_KEYS, as
// "Authorization: Bearer <key>" (runpod-sdk, runpod.Endpoint) or the raw key. Worker routes take only the
// endpoint's own worker token, raw (runpod.serverless sends RUNPOD_AI_API_KEY as is) or Bearer.
import { createHash, timingSafeEqual } from "crypto";

const digest = (s: string) => createHash("sha256").update(s).digest();

// Digests of the configured secrets (worker tokens), so each request hashes only what it presented.
// Keyed by the configured secret itself, never by presented input. Bounded: cleared if tokens churn.
const secretDigests = new Map<string, Buffer>();
function secretDigest(secret: string): Buffer {
  let d = secretDigests.get(secret);
  if (!d) {
    if (secretDigests.size >= 10_000) secretDigests.clear();
    secretDigests.set(secret, (d = digest(secret)));
  }
  return d;
}

/** Compares digests so neither the length nor a prefix of a secret leaks through timing.
 *  `secret` is the configured value (its digest is cached), `presented` what the request carried. */
export function safeEqual(presented: string, secret: string): boolean {
  return timingSafeEqual(digest(presented), secretDigest(secret));
}

export function credential(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const h = header.trim();
  const m = /^Bearer\s+(.+)$/i.exec(h);
  return (m ? m[1] : h).trim() || undefined;
}

export class ApiKeys {
  private readonly keys: Buffer[];
  constructor(keys: string[]) {
    this.keys = keys.map(digest);
  }
  check(header: string | undefined): boolean {
    const c = credential(header);
    if (!c) return false;
    const d = digest(c);
    let ok = false;
    // check every key (no early exit) to keep timing independent of which key matched
    for (const k of this.keys) ok = timingSafeEqual(k, d) || ok;
    return ok;
  }
}

/**
 * Failed authentications per source address, fixed window. A source over the limit is answered 429 for
 * the rest of the window on every request, whatever it presents (letting correct keys through would turn
 * the 429 back into a yes/no oracle). Per replica, in memory; behind a Service that SNATs, every client
 * shares the node's address, so the default limit is generous (docs/gateway.md).
 */
export class AuthFailures {
  private readonly windows = new Map<string, { start: number; n: number }>();
  constructor(private readonly max: number, private readonly windowMs: number) {}

  /** ms until `source` may try again, or 0 when it is not blocked. */
  blockedFor(source: string, now = Date.now()): number {
    const w = this.windows.get(source);
    if (!w) return 0;
    const left = this.windowMs - (now - w.start);
    if (left <= 0) {
      this.windows.delete(source);
      return 0;
    }
    return w.n >= this.max ? left : 0;
  }

  fail(source: string, now = Date.now()) {
    let w = this.windows.get(source);
    if (!w || now - w.start >= this.windowMs) {
      // bounded: a flood from many sources drops the oldest windows first (Map keeps insertion order)
      if (!w && this.windows.size >= 100_000) this.windows.delete(this.windows.keys().next().value!);
      w = { start: now, n: 0 };
      this.windows.delete(source);
      this.windows.set(source, w);
    }
    w.n++;
  }
}
