// Shared state handed to the route modules.
import type { Limits, Timings } from "./config";
import type { ApiKeys, AuthFailures } from "./auth";
import type { BodyBudget } from "./budget";
import type { WebhookTargetPolicy } from "./ssrf";
import type { EndpointRegistry } from "./endpoints";
import type { RateLimiter } from "./limits";
import type { Metrics } from "./metrics";
import type { JobQueue } from "./queue";
import type { WorkerHealth } from "./health";

export interface Ctx {
  queue: JobQueue;
  registry: EndpointRegistry;
  apiKeys: ApiKeys;
  authFailures: AuthFailures;
  /** webhook URLs are checked against it at submit time too (literal addresses, localhost) */
  webhookPolicy: WebhookTargetPolicy;
  bodyBudget: BodyBudget;
  /** returns the request's body reservation early (a handler that no longer holds the body) */
  releaseBody(req: import("fastify").FastifyRequest): void;
  limiter: RateLimiter;
  limits: Limits;
  timings: Timings;
  metrics: Metrics;
  health: WorkerHealth;
  /** keys of the admin API (/admin/v1/*: `longshore status`); empty = the admin API answers 401 */
  adminKeys: ApiKeys;
  /** /stream holds the request up to this long waiting for a new chunk (the JS SDK polls in a tight loop) */
  streamWaitMs: number;
  rateLimitWindowMs(ep: string): number;
}
