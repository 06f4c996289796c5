// OpenAI-compatible route (RunPod's /openai/v1): `base_url = <gateway>/v2/<ep>/openai/v1` with the stock OpenAI
// clients. Every request becomes an ordinary job (queue, scale from zero, timeouts, at-least-once) whose input is
// what worker-vllm reads: {"openai_route": "/v1/<path>", "openai_input": <request body>} (GET: no openai_input).
// The answer is OpenAI's shape: the handler's JSON, errors as {"error": {...}} with the status the clients map to
// their typed errors; `stream: true` is text/event-stream relayed as the worker's chunks arrive, ending with
// `data: [DONE]`. A client that goes away cancels its job (the worker gets it on job-stop). docs/openai.md.
import { EventEmitter } from "events";
import { PassThrough } from "stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Ctx } from "../context";
import { openaiError, failureError, handlerError, OpenAIError, SseFramer } from "../openai-shape";
import { TERMINAL } from "../queue";
import { EV } from "../queue/record";
import { authBlocked, authFailed, EP, refuseHead } from "./shared";

/** the path under /openai/v1/: OpenAI's routes are lower-case words, slashes, dots, dashes (models/<id> too) */
const PATH = { type: "string", minLength: 1, maxLength: 256, pattern: "^[A-Za-z0-9][A-Za-z0-9._:/-]*$" } as const;
const URL = "/v2/:ep/openai/v1/*";

type P = { ep: string; "*": string };

export function openaiRoutes(app: FastifyInstance, ctx: Ctx) {
  let stopping = false;
  const stop = new EventEmitter();
  stop.setMaxListeners(0);
  void ctx.queue.stopping.then(() => {
    stopping = true;
    stop.emit("stop");
  });

  const guard = async (req: FastifyRequest<{ Params: P }>, reply: FastifyReply) => {
    if (authBlocked(ctx, req, reply)) return reply;
    if (!ctx.apiKeys.check(req.headers.authorization)) {
      return authFailed(ctx, req, reply, "unauthorized: a valid API key is required (Authorization: Bearer <key>)");
    }
    const ep = ctx.registry.get(req.params.ep);
    if (!ep) return reply.code(404).send({ error: `endpoint ${req.params.ep} not found` });
    const r = ctx.limiter.hit(ep.id, "runsync");
    if (!r.ok) {
      ctx.metrics.rateLimited.inc({ endpoint: ep.id, kind: "runsync" });
      reply.header("retry-after", Math.ceil(r.retryAfterMs / 1000));
      return reply.code(429).send({ error: `rate limit exceeded: ${r.limit} runsync requests per ${ctx.rateLimitWindowMs(ep.id) / 1000} s on endpoint ${ep.id}` });
    }
  };

  // Every error answer of this route in OpenAI's shape, the shared guards' and the validation errors' included
  // ({"error": "text"} -> {"error": {"message": "text", ...}}), so the clients raise their typed errors with it.
  const openaiShape = async (_req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (reply.statusCode < 400 || typeof payload !== "string") return payload;
    try {
      const v = JSON.parse(payload);
      if (v && typeof v.error === "string") {
        const type = reply.statusCode === 401 ? "authentication_error" : reply.statusCode === 429 ? "rate_limit_error" : reply.statusCode === 404 ? "not_found_error" : reply.statusCode >= 500 ? "server_error" : "invalid_request_error";
        return JSON.stringify(openaiError(reply.statusCode, v.error, type).body);
      }
    } catch {
      /* not JSON: as is */
    }
    return payload;
  };

  const opts = {
    schema: { params: { type: "object", properties: { ep: EP, "*": PATH }, required: ["ep", "*"] } },
    bodyLimit: ctx.limits.runsyncBodyBytes,
    onRequest: guard,
    onSend: openaiShape,
    exposeHeadRoute: false,
  };
  refuseHead(app, URL);
  app.get<{ Params: P }>(URL, opts, (req, reply) => serve(req, reply, false));
  app.post<{ Params: P }>(URL, opts, (req, reply) => serve(req, reply, true));

  const sendError = (reply: FastifyReply, e: OpenAIError) =>
    // the handler answered: asking again runs the same request again (the clients retry 5xx and 408/409 otherwise)
    reply.code(e.status).header("x-should-retry", "false").send(e.body);

  async function serve(req: FastifyRequest<{ Params: P }>, reply: FastifyReply, post: boolean) {
    const ep = ctx.registry.get(req.params.ep)!;
    const body = req.body as Record<string, unknown> | undefined;
    if (post && (typeof body !== "object" || body === null || Array.isArray(body))) {
      return reply.code(400).send(openaiError(400, "the request body must be a JSON object (an OpenAI API request)").body);
    }
    const route = `/v1/${req.params["*"].replace(/\/+$/, "")}`;
    const stream = post && body!.stream === true;
    const input = post ? { openai_route: route, openai_input: body } : { openai_route: route };
    const id = await ctx.queue.submit(ep.id, { input }, {
      sync: true,
      defaultExecutionTimeoutMs: ep.executionTimeoutMs ?? ctx.timings.defaultExecutionTimeoutMs,
      defaultTtlMs: ep.ttlMs ?? ctx.timings.defaultTtlMs,
    });
    ctx.metrics.submitted.inc({ endpoint: ep.id, kind: "openai" });
    // the job holds the body now; drop it and its share of the memory budget while this request waits
    (req as { body: unknown }).body = undefined;
    ctx.releaseBody(req);
    reply.header("x-longshore-job-id", id);

    // the client went away before the job finished: cancel it, so no worker keeps generating for nobody
    let jobDone = false;
    let clientGone = false;
    const gone = () => clientGone;
    reply.raw.once("close", () => {
      if (!reply.raw.writableFinished) clientGone = true;
      if (jobDone) return;
      jobDone = true;
      ctx.queue.cancel(ep.id, id).catch((e) => req.log.warn({ ep: ep.id, id, err: (e as Error).message }, "cancel after client disconnect failed"));
    });

    /** resolves on the job's next chunk or end, the client's close, shutdown, or after ms (a lost pub/sub message) */
    const waiter = (ms: number, chunks: boolean) => {
      let cleanup = () => undefined as void;
      const promise = new Promise<void>((resolve) => {
        const wake = () => {
          cleanup();
          resolve();
        };
        const t = setTimeout(wake, ms);
        ctx.queue.events.once(EV.done(id), wake);
        if (chunks) ctx.queue.events.once(EV.chunk(id), wake);
        reply.raw.once("close", wake);
        stop.once("stop", wake);
        cleanup = () => {
          clearTimeout(t);
          ctx.queue.events.off(EV.done(id), wake);
          ctx.queue.events.off(EV.chunk(id), wake);
          reply.raw.off("close", wake);
          stop.off("stop", wake);
        };
      });
      return { promise, cancel: () => cleanup() };
    };

    const expired = () => openaiError(504, `job ${id} is gone (its ttl passed before it finished)`, "timeout");
    const ended = async (status: string): Promise<OpenAIError> => {
      if (status === "FAILED") return failureError((await ctx.queue.status(ep.id, id))?.error);
      if (status === "TIMED_OUT") return openaiError(504, `job ${id} timed out (the endpoint's execution timeout)`, "timeout");
      return openaiError(409, `job ${id} was cancelled`, "cancelled");
    };
    /** on shutdown, a request whose answer has not started goes back to the client to retry on another replica */
    const shutdown = async () => {
      jobDone = true;
      await ctx.queue.cancel(ep.id, id);
      return reply.code(503).header("x-should-retry", "true").send(openaiError(503, "gateway shutting down: retry", "server_error").body);
    };

    if (!stream) {
      for (;;) {
        const w = waiter(5_000, false);
        const s = await ctx.queue.status(ep.id, id);
        if (!s) {
          w.cancel();
          jobDone = true;
          return sendError(reply, expired());
        }
        if (TERMINAL.has(s.status)) {
          w.cancel();
          jobDone = true;
          if (s.status !== "COMPLETED") return sendError(reply, await ended(s.status));
          const r = await ctx.queue.streamRead(ep.id, id, 0);
          const result = resultOf(r?.chunks ?? [], s.output);
          const err = handlerError(result);
          if (err) return sendError(reply, err);
          return reply.code(200).send(result ?? null);
        }
        if (gone()) {
          w.cancel();
          return reply;
        }
        if (stopping) {
          w.cancel();
          return shutdown();
        }
        await w.promise;
      }
    }

    const framer = new SseFramer();
    let out: PassThrough | undefined;
    const start = () => {
      out = new PassThrough();
      reply
        .code(200)
        .header("content-type", "text/event-stream; charset=utf-8")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no") // a proxy in front (nginx) must not buffer the events either
        .send(out);
      return out;
    };
    const write = (events: string[]) => {
      for (const e of events) out!.write(e);
    };
    const begun = Date.now();
    let lastWrite = begun;
    for (;;) {
      const now = Date.now();
      if (!out && now - begun >= ctx.timings.openaiStreamHeadersAfterMs) {
        // a long wait (a cold start): commit to the stream now, so no client's headers timeout fires
        start().write(": waiting for a worker\n\n");
        lastWrite = now;
      } else if (out && now - lastWrite >= ctx.timings.openaiKeepAliveMs) {
        out.write(": keep-alive\n\n");
        lastWrite = now;
      }
      const w = waiter(Math.min(5_000, ctx.timings.openaiStreamHeadersAfterMs, ctx.timings.openaiKeepAliveMs), true);
      const r = await ctx.queue.streamRead(ep.id, id, 0);
      if (!r) {
        w.cancel();
        jobDone = true;
        if (!out) return sendError(reply, expired());
        write(framer.push(expired().body));
        out.end("data: [DONE]\n\n");
        return reply;
      }
      const terminal = TERMINAL.has(r.status);
      if (terminal) {
        w.cancel();
        jobDone = true;
      }
      let chunks = r.chunks;
      if (terminal && r.status === "COMPLETED" && !out && !chunks.length) {
        // a handler that returned instead of yielding: its output is the stream
        const o = (await ctx.queue.status(ep.id, id))?.output;
        chunks = o === undefined || o === null ? [] : [o];
      }
      for (const c of chunks) {
        if (!out) {
          // an error before anything was streamed is an HTTP error, as an OpenAI server answers it
          const e = handlerError(c);
          if (e) {
            w.cancel();
            jobDone = true;
            return sendError(reply, e);
          }
          start();
        }
        write(framer.push(c));
        lastWrite = Date.now();
      }
      if (terminal) {
        if (r.status !== "COMPLETED") {
          const e = await ended(r.status);
          if (!out) return sendError(reply, e);
          write(framer.push(e.body));
        }
        if (!out) start();
        write(framer.flush());
        out!.end("data: [DONE]\n\n");
        return reply;
      }
      if (gone()) {
        w.cancel();
        out?.destroy();
        return reply;
      }
      if (stopping && !out) {
        w.cancel();
        return shutdown();
      }
      await w.promise;
    }
  }
}

/** A non-streamed answer: the handler's one yield (worker-vllm), else its returned output (a 1-item aggregate unwrapped). */
function resultOf(chunks: unknown[], output: unknown): unknown {
  if (chunks.length === 1) return chunks[0];
  if (chunks.length > 1) return chunks.every((c) => typeof c === "string") ? chunks.join("") : chunks;
  if (Array.isArray(output) && output.length === 1) return output[0];
  return output;
}
