// Client API (RunPod serverless v2): run, runsync, status, status-sync, stream, cancel, retry,
// purge-queue, health. Auth: any LONGSHORE_API_KEYS key, Bearer or raw.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Limits } from "../config";
import type { Ctx } from "../context";
import type { LimitKind } from "../limits";
import { TERMINAL, type SubmitRequest } from "../queue";
import { authBlocked, authFailed, EP, ID, refuseHead } from "./shared";

const WAIT = { type: "integer", minimum: 0, maximum: 3_600_000 } as const;
const MAX_WAIT_MS = 90_000;

const submitBody = (l: Limits) => ({
  type: "object",
  required: ["input"],
  properties: {
    input: {},
    webhook: { type: "string", maxLength: 2048, pattern: "^https?://" },
    policy: {
      type: "object",
      properties: {
        // RunPod's documented minimums (defaults): executionTimeout 5 s, ttl 10 s
        executionTimeout: { type: "integer", minimum: l.minExecutionTimeoutMs, maximum: 7 * 24 * 3600_000 },
        ttl: { type: "integer", minimum: l.minTtlMs, maximum: 7 * 24 * 3600_000 },
        lowPriority: { type: "boolean" },
      },
    },
    s3Config: { type: "object" },
  },
});

type EpParams = { ep: string };
type IdParams = { ep: string; id: string };

export function clientRoutes(app: FastifyInstance, ctx: Ctx) {
  // failed-auth limit + auth + endpoint existence + rate limit, in that order (unknown endpoints are not
  // rate-limit buckets, and only an authenticated caller learns whether an endpoint exists)
  const guard = (kind: LimitKind) => async (req: FastifyRequest<{ Params: EpParams }>, reply: FastifyReply) => {
    if (authBlocked(ctx, req, reply)) return reply;
    if (!ctx.apiKeys.check(req.headers.authorization)) {
      return authFailed(ctx, req, reply, "unauthorized: a valid API key is required (Authorization: Bearer <key>)");
    }
    const ep = ctx.registry.get(req.params.ep);
    if (!ep) return reply.code(404).send({ error: `endpoint ${req.params.ep} not found` });
    if (ep.http) return reply.code(400).send({ error: `endpoint ${ep.id} is an HTTP endpoint: it takes no jobs; send requests to /http/${ep.id}/<path>` });
    const r = ctx.limiter.hit(ep.id, kind);
    if (!r.ok) {
      ctx.metrics.rateLimited.inc({ endpoint: ep.id, kind });
      reply.header("retry-after", Math.ceil(r.retryAfterMs / 1000));
      return reply.code(429).send({ error: `rate limit exceeded: ${r.limit} ${kind} requests per ${ctx.rateLimitWindowMs(ep.id) / 1000} s on endpoint ${ep.id}` });
    }
  };
  const schema = (params: object, extra: object = {}) => ({ params: { type: "object", properties: params, required: Object.keys(params) }, ...extra });

  const submit = async (req: FastifyRequest<{ Params: EpParams; Body: SubmitRequest }>, sync: boolean) => {
    const ep = ctx.registry.get(req.params.ep)!;
    const hook = req.body.webhook;
    const bad = hook !== undefined ? ctx.webhookPolicy.urlProblem(hook) : undefined;
    if (bad) throw Object.assign(new Error(`invalid request: body/webhook: ${bad}`), { statusCode: 400 });
    const id = await ctx.queue.submit(ep.id, req.body, {
      sync,
      defaultExecutionTimeoutMs: ep.executionTimeoutMs ?? ctx.timings.defaultExecutionTimeoutMs,
      defaultTtlMs: ep.ttlMs ?? ctx.timings.defaultTtlMs,
    });
    ctx.metrics.submitted.inc({ endpoint: ep.id, kind: sync ? "runsync" : "run" });
    return id;
  };

  app.post<{ Params: EpParams; Body: SubmitRequest }>(
    "/v2/:ep/run",
    { schema: schema({ ep: EP }, { body: submitBody(ctx.limits) }), bodyLimit: ctx.limits.runBodyBytes, onRequest: guard("run") },
    async (req) => {
      const id = await submit(req, false);
      return { id, status: "IN_QUEUE" };
    },
  );

  app.post<{ Params: EpParams; Body: SubmitRequest; Querystring: { wait?: number } }>(
    "/v2/:ep/runsync",
    { schema: schema({ ep: EP }, { body: submitBody(ctx.limits), querystring: { type: "object", properties: { wait: WAIT } } }), bodyLimit: ctx.limits.runsyncBodyBytes, onRequest: guard("runsync") },
    async (req) => {
      const id = await submit(req, true);
      // the body is stored; drop it and its share of the memory budget while this request waits
      (req as { body: unknown }).body = undefined;
      ctx.releaseBody(req);
      const s = await ctx.queue.waitStatus(req.params.ep, id, Math.min(req.query.wait ?? MAX_WAIT_MS, MAX_WAIT_MS));
      return s ?? { id, status: "IN_QUEUE" };
    },
  );

  app.get<{ Params: IdParams }>("/v2/:ep/status/:id", { schema: schema({ ep: EP, id: ID }), onRequest: guard("status") }, async (req, reply) => {
    const s = await ctx.queue.status(req.params.ep, req.params.id);
    if (!s) return reply.code(404).send({ error: `job ${req.params.id} not found (unknown, or past its retention / ttl)` });
    return s;
  });

  app.get<{ Params: IdParams; Querystring: { wait?: number } }>(
    "/v2/:ep/status-sync/:id",
    { schema: schema({ ep: EP, id: ID }, { querystring: { type: "object", properties: { wait: WAIT } } }), onRequest: guard("status") },
    async (req, reply) => {
      const s = await ctx.queue.waitStatus(req.params.ep, req.params.id, Math.min(req.query.wait ?? MAX_WAIT_MS, MAX_WAIT_MS));
      if (!s) return reply.code(404).send({ error: `job ${req.params.id} not found (unknown, or past its retention / ttl)` });
      return s;
    },
  );

  refuseHead(app, "/v2/:ep/stream/:id");
  app.get<{ Params: IdParams }>("/v2/:ep/stream/:id", { schema: schema({ ep: EP, id: ID }), onRequest: guard("stream"), exposeHeadRoute: false }, async (req, reply) => {
    const r = await ctx.queue.streamRead(req.params.ep, req.params.id, ctx.streamWaitMs);
    if (!r) return reply.code(404).send({ error: `job ${req.params.id} not found (unknown, or past its retention / ttl)` });
    const body: Record<string, unknown> = { id: req.params.id, status: r.status, stream: r.chunks.map((output) => ({ output })) };
    if (TERMINAL.has(r.status) && r.status !== "COMPLETED") {
      const s = await ctx.queue.status(req.params.ep, req.params.id);
      if (s?.error !== undefined) body.error = s.error;
    }
    return body;
  });

  app.post<{ Params: IdParams }>("/v2/:ep/cancel/:id", { schema: schema({ ep: EP, id: ID }), onRequest: guard("cancel") }, async (req, reply) => {
    const st = await ctx.queue.cancel(req.params.ep, req.params.id);
    if (!st) return reply.code(404).send({ error: `job ${req.params.id} not found` });
    return { id: req.params.id, status: st };
  });

  app.post<{ Params: IdParams }>("/v2/:ep/retry/:id", { schema: schema({ ep: EP, id: ID }), onRequest: guard("run") }, async (req, reply) => {
    const r = await ctx.queue.retry(req.params.ep, req.params.id);
    if (r === null) return reply.code(404).send({ error: `job ${req.params.id} not found` });
    if (r !== "ok") return reply.code(400).send({ error: `job ${req.params.id} is ${r}: only FAILED or TIMED_OUT jobs can be retried` });
    ctx.metrics.retries.inc({ endpoint: req.params.ep, reason: "retry_request" });
    return { id: req.params.id, status: "IN_QUEUE" };
  });

  app.post<{ Params: EpParams }>("/v2/:ep/purge-queue", { schema: schema({ ep: EP }), onRequest: guard("purge") }, async (req) => {
    const removed = await ctx.queue.purge(req.params.ep);
    return { removed, status: "completed" };
  });

  app.get<{ Params: EpParams }>("/v2/:ep/health", { schema: schema({ ep: EP }), onRequest: guard("status") }, async (req) => {
    return ctx.health.health(req.params.ep);
  });
}
