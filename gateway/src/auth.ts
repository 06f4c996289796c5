// Constant-time credential checks. Client routes take any key of LONGSHORE_API_KEYS, as
// "Authorization: Bearer <key>" (runpod-sdk, runpod.Endpoint) or the raw key. Worker routes take only the
// endpoint's own worker token, raw (runpod.serverless sends RUNPOD_AI_API_KEY as is) or Bearer.
import { createHash, timingSafeEqual } from "crypto";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Compares digests so neither the length nor a prefix of a secret leaks through timing. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
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
