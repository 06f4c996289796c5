// Worker API, as called by an unmodified runpod.serverless.start worker (and the TS worker SDK):
// job-take, job-take-batch, job-done, job-stream, ping, job-stop. Auth: the endpoint's worker token
// (raw, as RUNPOD_AI_API_KEY is sent, or Bearer). A worker token is valid for its own endpoint only.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { safeEqual, credential } from "../auth";
import type { Ctx } from "../context";
import { authBlocked, authFailed, EP, ID, refuseHead } from "./shared";

const WORKER = { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$" } as const;

type P = { ep: string; worker: string; id?: string };

// compared against when the endpoint is unknown; no presented token can be this and an endpoint at once
const UNKNOWN_ENDPOINT_TOKEN = "\u0000longshore-no-such-endpoint";

export function workerRoutes(app: FastifyInstance, ctx: Ctx) {
  // Authenticate before saying whether the endpoint exists: an unknown endpoint answers the same 401 as a
  // wrong token (ids cannot be enumerated), unless the caller proved itself with a client API key.
  const guard = async (req: FastifyRequest<{ Params: P }>, reply: FastifyReply) => {
    if (authBlocked(ctx, req, reply)) return reply;
    const ep = ctx.registry.get(req.params.ep);
    const c = credential(req.headers.authorization);
    // the unknown-endpoint path compares too, so both paths cost one digest comparison
    const ok = !!c && safeEqual(c, ep?.workerToken ?? UNKNOWN_ENDPOINT_TOKEN) && !!ep;
    if (ok) return;
    if (!ep && ctx.apiKeys.check(req.headers.authorization)) return reply.code(404).send({ error: `endpoint ${req.params.ep} not found` });
    return authFailed(ctx, req, reply, `unauthorized: worker routes need the endpoint's worker token (an unknown endpoint answers 401 too)`);
  };
  const params = (p: object) => ({ type: "object", properties: p, required: Object.keys(p) });
  const gone = (req: FastifyRequest) => () => req.raw.destroyed || req.raw.socket.destroyed;

  const take = async (req: FastifyRequest<{ Params: P; Querystring: { batch_size?: number } }>, reply: FastifyReply, batch: boolean) => {
    const n = batch ? Math.max(1, Math.min(req.query.batch_size ?? 1, 64)) : 1;
    const jobs = await ctx.queue.take(req.params.ep, req.params.worker, n, ctx.timings.takeWaitMs, gone(req));
    if (!jobs.length) return reply.code(204).send();
    ctx.metrics.taken.inc({ endpoint: req.params.ep }, jobs.length);
    // jobs are JSON strings already ({"id":..,"input":..}); send without re-serialising
    reply.type("application/json");
    return reply.send(batch ? `[${jobs.join(",")}]` : jobs[0]);
  };
  const takeQuery = { type: "object", properties: { batch_size: { type: "integer", minimum: 1, maximum: 1000 }, job_in_progress: { type: "string" } } };

  refuseHead(app, "/v2/:ep/job-take/:worker");
  app.get<{ Params: P; Querystring: { batch_size?: number } }>(
    "/v2/:ep/job-take/:worker",
    { schema: { params: params({ ep: EP, worker: WORKER }), querystring: takeQuery }, onRequest: guard, exposeHeadRoute: false },
    (req, reply) => take(req, reply, false),
  );
  refuseHead(app, "/v2/:ep/job-take-batch/:worker");
  app.get<{ Params: P; Querystring: { batch_size?: number } }>(
    "/v2/:ep/job-take-batch/:worker",
    { schema: { params: params({ ep: EP, worker: WORKER }), querystring: takeQuery }, onRequest: guard, exposeHeadRoute: false },
    (req, reply) => take(req, reply, true),
  );

  app.post<{ Params: P; Querystring: { isStream?: string } }>(
    "/v2/:ep/job-done/:worker/:id",
    { schema: { params: params({ ep: EP, worker: WORKER, id: ID }) }, bodyLimit: ctx.limits.doneBodyBytes, onRequest: guard },
    async (req, reply) => {
      const body = req.body;
      if (!body || typeof body !== "object" || Array.isArray(body)) {
        return reply.code(400).send({ error: "job-done body must be a JSON object ({\"output\":..} or {\"error\":..})" });
      }
      const r = await ctx.queue.done(req.params.ep, req.params.worker, req.params.id!, body as Record<string, unknown>, req.query.isStream === "true");
      if (r.code !== 200) return reply.code(r.code).send({ error: r.reason });
      const b = body as Record<string, unknown>;
      if (b.status !== "IN_PROGRESS") ctx.metrics.finished.inc({ endpoint: req.params.ep, status: b.error ? "FAILED" : "COMPLETED" });
      // runpod-python sets stopPod when the handler returned refresh_worker (or the worker runs with
      // refresh_worker): the pod is recycled after this job (health.ts)
      if (b.status !== "IN_PROGRESS" && b.stopPod === true) await ctx.health.recycle(req.params.ep, req.params.worker, req.params.id!);
      return { ok: true };
    },
  );

  app.post<{ Params: P }>(
    "/v2/:ep/job-stream/:worker/:id",
    { schema: { params: params({ ep: EP, worker: WORKER, id: ID }) }, bodyLimit: ctx.limits.streamChunkBytes + 64 * 1024, onRequest: guard },
    async (req, reply) => {
      const body = req.body as Record<string, unknown> | undefined;
      if (!body || typeof body !== "object" || Array.isArray(body) || !("output" in body)) {
        return reply.code(400).send({ error: "job-stream body must be a JSON object {\"output\": chunk}" });
      }
      const size = Buffer.byteLength(JSON.stringify(body.output ?? null));
      if (size > ctx.limits.streamChunkBytes) {
        return reply.code(413).send({ error: `stream chunk is ${size} bytes; the limit is ${ctx.limits.streamChunkBytes} bytes (1 MB)` });
      }
      const r = await ctx.queue.streamPush(req.params.ep, req.params.worker, req.params.id!, body.output);
      if (r.code !== 200) return reply.code(r.code).send({ error: r.reason });
      return { ok: true };
    },
  );

  refuseHead(app, "/v2/:ep/ping/:worker");
  app.get<{ Params: P; Querystring: { job_id?: string | string[]; status?: string; check?: string; reason?: string } }>(
    "/v2/:ep/ping/:worker",
    { schema: { params: params({ ep: EP, worker: WORKER }) }, onRequest: guard, exposeHeadRoute: false },
    async (req) => {
      // runpod-python's fitness checks report a failure with one ping carrying status=unhealthy, check and
      // reason (<= 256 chars), then exit(1): the worker leaves dispatch (health.ts)
      if (req.query.status === "unhealthy") {
        const str = (v: unknown) => (typeof v === "string" ? v : Array.isArray(v) ? String(v[0] ?? "") : "").slice(0, 256);
        await ctx.health.reportUnhealthy(req.params.ep, req.params.worker, str(req.query.check), str(req.query.reason));
      }
      const raw = req.query.job_id;
      const ids = (Array.isArray(raw) ? raw : raw ? [raw] : [])
        .flatMap((s) => String(s).split(","))
        .map((s) => s.trim())
        .filter((s) => s && s.length <= 128)
        .slice(0, 1000);
      await ctx.queue.ping(req.params.ep, req.params.worker, ids);
      return { ok: true };
    },
  );

  refuseHead(app, "/v2/:ep/job-stop/:worker");
  app.get<{ Params: P }>(
    "/v2/:ep/job-stop/:worker",
    { schema: { params: params({ ep: EP, worker: WORKER }) }, onRequest: guard, exposeHeadRoute: false },
    async (req, reply) => {
      const ids = await ctx.queue.stopSignals(req.params.ep, req.params.worker, ctx.timings.stopWaitMs, gone(req));
      if (!ids.length) return reply.code(204).send();
      return { jobsToStop: ids };
    },
  );
}
