// Admin API: GET /admin/v1/status — every endpoint's workers, queue, recent failures and latency, for
// `longshore status` (cli/status.ts). Auth: a key of LONGSHORE_ADMIN_KEYS (Bearer or raw); client API keys
// are not admin keys (a client key holder must not enumerate endpoints or read other endpoints' failures).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Ctx } from "../context";
import { authBlocked, authFailed, EP } from "./shared";

/** The answer of GET /admin/v1/status (cli/status.ts reads it). */
export interface AdminStatus {
  /** ms since the epoch when the gateway answered */
  at: number;
  endpoints: EndpointStatus[];
}

export interface EndpointStatus {
  id: string;
  status: "healthy" | "unhealthy";
  reason?: string;
  workers: { idle: number; running: number; ready: number; initializing: number; throttled: number; unhealthy: number };
  workerList: { id: string; state: string; reason?: string; lastSeenMs?: number; jobs?: number }[];
  queue: { waiting: number; waitingLowPriority: number; inProgress: number; oldestWaitingSeconds: number | null };
  jobs: { completed: number; failed: number; retried: number };
  recentFailures: { id: string; status: string; error: string; worker?: string; at: number }[];
  /** over the latest finished jobs (up to 500); null without samples */
  latency: { samples: number; delayMs: Quantiles | null; executionMs: Quantiles | null };
}

export interface Quantiles {
  p50: number;
  p90: number;
  p98: number;
}

/** nearest-rank quantiles of a list of numbers (null when empty) */
export function quantiles(xs: number[]): Quantiles | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return { p50: q(0.5), p90: q(0.9), p98: q(0.98) };
}

export async function endpointStatus(ctx: Ctx, ep: string, now = Date.now()): Promise<EndpointStatus> {
  const [h, details, counts, failures, lat] = await Promise.all([
    ctx.health.health(ep),
    ctx.health.workerDetails(ep),
    ctx.queue.counts(ep),
    ctx.queue.recentFailures(ep, 10),
    ctx.queue.latencySamples(ep),
  ]);
  return {
    id: ep,
    status: h.status as "healthy" | "unhealthy",
    ...(h.reason ? { reason: h.reason } : {}),
    workers: h.workers,
    workerList: details,
    queue: {
      waiting: counts.waiting,
      waitingLowPriority: counts.waitingLow,
      inProgress: counts.active,
      oldestWaitingSeconds: counts.oldestCreatedAt > 0 ? Math.max(0, (now - counts.oldestCreatedAt) / 1000) : null,
    },
    jobs: { completed: h.jobs.completed, failed: h.jobs.failed, retried: h.jobs.retried },
    recentFailures: failures,
    latency: { samples: lat.length, delayMs: quantiles(lat.map((l) => l.delayMs)), executionMs: quantiles(lat.map((l) => l.executionMs)) },
  };
}

export function adminRoutes(app: FastifyInstance, ctx: Ctx) {
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (authBlocked(ctx, req, reply)) return reply;
    if (!ctx.adminKeys.check(req.headers.authorization)) {
      return authFailed(ctx, req, reply, "unauthorized: the admin API needs an admin key (LONGSHORE_ADMIN_KEYS; client API keys are not admin keys)");
    }
  };
  app.get<{ Querystring: { endpoint?: string } }>(
    "/admin/v1/status",
    { schema: { querystring: { type: "object", properties: { endpoint: EP } } }, onRequest: guard },
    async (req, reply): Promise<AdminStatus | FastifyReply> => {
      const now = Date.now();
      let ids = ctx.registry.list().map((e) => e.id).sort();
      if (req.query.endpoint) {
        if (!ctx.registry.get(req.query.endpoint)) return reply.code(404).send({ error: `endpoint ${req.query.endpoint} not found` });
        ids = [req.query.endpoint];
      }
      return { at: now, endpoints: await Promise.all(ids.map((id) => endpointStatus(ctx, id, now))) };
    },
  );
}
