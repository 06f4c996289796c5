// Shared state handed to the route modules.
import type { Limits, Timings } from "./config";
import type { ApiKeys } from "./auth";
import type { EndpointRegistry } from "./endpoints";
import type { RateLimiter } from "./limits";
import type { Metrics } from "./metrics";
import type { JobQueue } from "./queue";

export interface Ctx {
  queue: JobQueue;
  registry: EndpointRegistry;
  apiKeys: ApiKeys;
  limiter: RateLimiter;
  limits: Limits;
  timings: Timings;
  metrics: Metrics;
  /** /stream holds the request up to this long waiting for a new chunk (the JS SDK polls in a tight loop) */
  streamWaitMs: number;
  rateLimitWindowMs(ep: string): number;
}
