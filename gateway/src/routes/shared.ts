// Pieces both route modules use: path-parameter schemas, the failed-auth answer, and HEAD refusal.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ENDPOINT_ID_MAX, ENDPOINT_ID_PATTERN } from "../../../contract";
import type { Ctx } from "../context";

/** the endpoint id path parameter: the contract's rule (an id no endpoint can have is a 400, not a lookup) */
export const EP = { type: "string", maxLength: ENDPOINT_ID_MAX, pattern: ENDPOINT_ID_PATTERN.source } as const;
export const ID = { type: "string", minLength: 1, maxLength: 128 } as const;

/** 429 when the request's source is over its failed-auth limit (checked before any credential). */
export function authBlocked(ctx: Ctx, req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  const ms = ctx.authFailures.blockedFor(req.ip);
  if (!ms) return undefined;
  reply.header("retry-after", Math.ceil(ms / 1000));
  return reply.code(429).send({ error: `too many failed authentications from ${req.ip}: try again in ${Math.ceil(ms / 1000)} s` });
}

/** 401, counted against the source's failed-auth limit. */
export function authFailed(ctx: Ctx, req: FastifyRequest, reply: FastifyReply, message: string): FastifyReply {
  ctx.authFailures.fail(req.ip);
  return reply.code(401).send({ error: message });
}

/**
 * GET routes that change state (take a job, consume stream chunks, pop stop signals, renew leases) or
 * hold a long-poll must not answer HEAD: Fastify would run the GET handler and drop the body, so a HEAD
 * on job-take handed a job to nobody. Registered with exposeHeadRoute: false plus this explicit 405.
 */
export function refuseHead(app: FastifyInstance, url: string) {
  app.head(url, (_req, reply) => reply.code(405).header("allow", "GET").send({ error: `HEAD is not allowed on ${url}: it changes state; use GET` }));
}
