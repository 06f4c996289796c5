// Public entry of the job gateway. createGateway(opts) starts the HTTP API (Fastify) and the KEDA
// external scaler (gRPC) over one Redis. main.ts is the process entry that reads the env contract.
import * as http from "http";
import Fastify, { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyRequest, LogController } from "fastify";
import pino from "pino";
import { ApiKeys, AuthFailures } from "./auth";
import { DEFAULT_MAX_WORKER_LOSSES } from "../../contract";
import { BodyBudget } from "./budget";
import { DEFAULT_AUTH_FAILURE_LIMIT, DEFAULT_LIMITS, DEFAULT_RATE_LIMITS, DEFAULT_TIMINGS, GatewayOptions, Limits, RateLimits, Timings } from "./config";
import type { Ctx } from "./context";
import { EndpointRegistry, KubeEndpointSource } from "./endpoints";
import { WorkerHealth } from "./health";
import { PodMonitor } from "./pods";
import { adminRoutes } from "./routes/admin";
import { KubeHttpWorkers } from "./http/discovery";
import { SharedHttpCounts } from "./http/sharedCounts";
import { HttpProxy } from "./http/proxy";
import { RateLimiter } from "./limits";
import { Metrics } from "./metrics";
import { JobQueue } from "./queue";
import { clientRoutes } from "./routes/client";
import { openaiRoutes } from "./routes/openai";
import { workerRoutes } from "./routes/worker";
import { ScalerServer } from "./scaler";
import { WebhookTargetPolicy } from "./ssrf";
import { checkJson, checkNumericQuery } from "./validation";
import { Webhooks } from "./webhooks";

export * from "./config";
export { EndpointRegistry, KubeEndpointSource } from "./endpoints";
export { metricFor } from "./scaler";
export { signWebhook } from "./webhooks";

export interface Gateway {
  /** http://host:port */
  url: string;
  /** host:port of the KEDA external scaler gRPC server ("" when disabled) */
  scalerAddress: string;
  /** http://host:port of the Prometheus /metrics server ("" when disabled) */
  metricsUrl: string;
  app: FastifyInstance;
  registry: EndpointRegistry;
  queue: JobQueue;
  /** worker states, crash-loop detection (health.ts) */
  health: WorkerHealth;
  /** the HTTP endpoints' reverse proxy (its worker pools: tests add workers there as discovery would) */
  http: HttpProxy;
  /** graceful: stop accepting, answer long-polls, finish in-flight requests, close connections */
  close(): Promise<void>;
}

export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const timings: Timings = { ...DEFAULT_TIMINGS, ...(opts.timings ?? {}) };
  const limits: Limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
  const globalRates: RateLimits = { ...DEFAULT_RATE_LIMITS, ...(opts.rateLimits ?? {}) };
  const log = pino({ level: opts.logLevel ?? "info", base: { svc: "longshore-gateway" } });
  const prefix = opts.prefix ?? "ls";
  const host = opts.host ?? "0.0.0.0";

  const registry = new EndpointRegistry();
  let webhooks: Webhooks | undefined;
  // set once the metrics exist (below); the queue reports job ends and re-queues through them
  let metrics: Metrics | undefined;
  const queue = new JobQueue({
    redisUrl: opts.redisUrl,
    prefix,
    timings,
    log,
    takeBatchBytes: limits.takeBatchBytes,
    // 3.5 missed pings before a running job is re-queued, never less than LONGSHORE_LEASE_MS
    leaseFor: (ep) => Math.max(timings.leaseMs, Math.ceil(3.5 * (registry.get(ep)?.pingIntervalMs ?? 0))),
    maxWorkerLossesFor: (ep) => registry.get(ep)?.maxWorkerLosses ?? opts.timings?.maxWorkerLosses ?? DEFAULT_MAX_WORKER_LOSSES,
    onEnded: (ep, e) => {
      if (!metrics) return;
      metrics.terminal.inc({ endpoint: ep, status: e.status }, e.count ?? 1);
      if (e.delayMs !== undefined) metrics.delay.observe({ endpoint: ep }, e.delayMs / 1000);
      if (e.executionMs !== undefined) metrics.execution.observe({ endpoint: ep }, e.executionMs / 1000);
    },
    onRequeued: (ep) => metrics?.retries.inc({ endpoint: ep, reason: "worker_lost" }),
    onTerminal: (ep, id, url) => {
      queue
        .status(ep, id)
        .then((s) => s && webhooks?.enqueue(url, s, ep))
        .catch((e) => log.warn({ ep, jobId: id, err: (e as Error).message }, "webhook enqueue failed"));
    },
  });
  await queue.ready();
  for (const e of opts.endpoints ?? []) registry.set(e);
  registry.on("added", (e) => {
    queue.ensureEndpoint(e.id);
    log.info({ endpoint: e.id }, "endpoint added");
  });
  registry.on("removed", (id: string) => {
    void queue.removeEndpoint(id);
    limiter.forget(id);
    log.info({ endpoint: id }, "endpoint removed");
  });
  for (const e of registry.list()) queue.ensureEndpoint(e.id);
  let kube: KubeEndpointSource | undefined;
  let pods: PodMonitor | undefined;
  if (opts.kubernetes) {
    kube = new KubeEndpointSource(registry, opts.kubernetes, log);
    try {
      await kube.start();
    } catch (e) {
      kube.stop();
      await queue.close();
      throw e;
    }
    pods = new PodMonitor(opts.kubernetes, log);
    await pods.start();
  }

  metrics = new Metrics(queue, registry);
  const m = metrics;
  const workerHealth = new WorkerHealth({
    queue, registry, pods, log, intervalMs: timings.healthIntervalMs,
    hooks: { onColdStart: (ep, s) => m.coldStart.observe({ endpoint: ep }, s) },
  });
  metrics.workerStates = workerHealth;
  const webhookPolicy = new WebhookTargetPolicy(opts.webhookAllowCidrs ?? []);
  webhooks = new Webhooks(opts.redisUrl, prefix, timings, log, {
    policy: webhookPolicy,
    secretFor: (ep) => registry.get(ep)?.webhookSecret,
    maxResponseBytes: limits.webhookResponseBytes,
    onAttempt: (ok) => metrics.webhooks.inc({ result: ok ? "ok" : "error" }),
  });
  const authLimit = { ...DEFAULT_AUTH_FAILURE_LIMIT, ...(opts.authFailureLimit ?? {}) };
  // a single body never waits for more than the whole budget (bodyLimit above the budget still works, alone)
  const bodyBudget = new BodyBudget(limits.inflightBodyBytes, timings.bodyBudgetWaitMs);
  const reserved = new WeakMap<FastifyRequest, number>();
  const releaseBody = (req: FastifyRequest) => {
    const n = reserved.get(req);
    if (n) {
      reserved.delete(req);
      bodyBudget.free(n);
    }
  };
  const limiter = new RateLimiter((ep) => ({ ...globalRates, ...(registry.get(ep)?.rateLimits ?? {}) }));
  const ctx: Ctx = {
    queue,
    registry,
    apiKeys: new ApiKeys(opts.apiKeys),
    authFailures: new AuthFailures(authLimit.max, authLimit.windowMs),
    webhookPolicy,
    bodyBudget,
    releaseBody,
    limiter,
    limits,
    timings,
    metrics,
    health: workerHealth,
    adminKeys: new ApiKeys(opts.adminKeys ?? []),
    streamWaitMs: Math.min(5_000, timings.takeWaitMs),
    rateLimitWindowMs: (ep) => ({ ...globalRates, ...(registry.get(ep)?.rateLimits ?? {}) }).windowMs,
  };

  // HTTP (load-balancing) endpoints: proxied ahead of Fastify on the same server (http/proxy.ts says why)
  const proxy = new HttpProxy({
    registry,
    apiKeys: ctx.apiKeys,
    authFailures: ctx.authFailures,
    bodyBudget,
    bodyLimit: limits.httpBodyBytes,
    domain: opts.httpDomain,
    poolTimings: { healthStartingMs: timings.httpHealthStartingMs, healthReadyMs: timings.httpHealthReadyMs, healthTimeoutMs: timings.httpHealthTimeoutMs },
    log,
    // busy <-> idle: written to Redis for the other replicas' scalers, and this replica's StreamIsActive
    // re-checks at once and pushes the activation to KEDA
    onActivity: (ep) => {
      void httpCounts.publish(ep).then(() => queue.events.emit(`new|${ep}`));
    },
  });
  // HTTP endpoints' counts across replicas: KEDA asks one replica, the requests may wait in another
  const httpCounts = new SharedHttpCounts({
    redis: queue.redis,
    prefix,
    local: (ep) => proxy.counts(ep),
    endpoints: () => proxy.endpointIds(),
    refreshMs: Math.min(1_000, timings.scalerPushIntervalMs),
    staleMs: 5_000,
    log,
  });
  httpCounts.start();
  let httpWorkers: KubeHttpWorkers | undefined;
  if (opts.kubernetes) {
    httpWorkers = new KubeHttpWorkers(proxy, opts.kubernetes, log);
    httpWorkers.start();
  }

  const app = Fastify({
    serverFactory: (handler) => {
      const server = http.createServer(
        { headersTimeout: timings.headersTimeoutMs, requestTimeout: timings.requestTimeoutMs, connectionsCheckingInterval: Math.min(1000, timings.headersTimeoutMs) },
        (req, res) => {
          const route = proxy.route(req);
          if (route) proxy.handle(req, res, route);
          else handler(req, res);
        },
      );
      // what Fastify sets on a server it creates itself
      server.keepAliveTimeout = 72_000;
      return server;
    },
    loggerInstance: log as unknown as FastifyBaseLogger,
    // per-request access logs would dominate CPU at thousands of jobs/s; errors and job events are logged
    logController: new LogController({ disableRequestLogging: true }),
    // no per-request child logger (one pino child per request shows in CPU profiles): handlers log through
    // the gateway logger with the fields they need
    childLoggerFactory: (logger) => logger,
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    // long-polls hold requests up to takeWaitMs; keep idle sockets a little longer than that
    keepAliveTimeout: 72_000,
    // slow clients (a byte every few seconds) must not hold sockets: headers within headersTimeoutMs, the
    // whole request within requestTimeoutMs (Node checks every connectionsCheckingInterval). Long-polls are
    // not affected: the request is complete once received; only the answer is held.
    requestTimeout: timings.requestTimeoutMs,
    http: { headersTimeout: timings.headersTimeoutMs, requestTimeout: timings.requestTimeoutMs, connectionsCheckingInterval: Math.min(1000, timings.headersTimeoutMs) },
    ajv: { customOptions: { coerceTypes: "array", removeAdditional: false, allErrors: false, strictNumbers: true } },
  });

  // Bodies are parsed as JSON whatever the content type: runpod.serverless posts raw JSON as
  // application/x-www-form-urlencoded, and runpod.Endpoint.cancel sends an empty body labelled JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => {
    const s = body as string;
    if (!s.trim()) return done(null, undefined);
    const bad = (msg: string) => {
      const err = new Error(msg) as FastifyError;
      err.statusCode = 400;
      done(err, undefined);
    };
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (e) {
      return bad(`malformed JSON body: ${(e as Error).message}`);
    }
    const problem = checkJson(v);
    if (problem) return bad(`invalid JSON body: ${problem}`);
    done(null, v);
  });

  // Body memory budget (budget.ts): reserved after auth (route onRequest hooks) and before the body is read.
  app.addHook("preParsing", async (req, reply, payload) => {
    const cl = Number(req.headers["content-length"] ?? 0);
    const chunked = req.headers["transfer-encoding"] !== undefined;
    if (!(cl > 0) && !chunked) return payload;
    const limit = req.routeOptions.bodyLimit ?? 1024 * 1024;
    const n = Math.min(cl > 0 ? cl : limit, limit + 1);
    const ok = await bodyBudget.reserve(n);
    if (!ok) {
      reply.header("retry-after", 1);
      reply.code(503).send({ error: `gateway busy: request bodies in flight are over its memory budget (${limits.inflightBodyBytes} bytes); retry shortly` });
      return payload;
    }
    reserved.set(req, n);
    reply.raw.once("close", () => releaseBody(req));
    return payload;
  });
  app.addHook("preValidation", async (req, reply) => {
    const problem = checkNumericQuery(req.query as Record<string, unknown>);
    if (problem) reply.code(400).send({ error: `invalid request: ${problem}` });
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      const limit = req.routeOptions.bodyLimit ?? 1024 * 1024;
      return reply.code(413).send({ error: `request body too large: the limit of ${req.routeOptions.url ?? req.url} is ${limit} bytes (${(limit / 1048576).toFixed(0)} MB)` });
    }
    if (err.validation) return reply.code(400).send({ error: `invalid request: ${err.message}` });
    const code = err.statusCode ?? 500;
    if (code >= 400 && code < 500) return reply.code(code).send({ error: err.message });
    log.error({ err: err.message, stack: err.stack, url: req.url }, "request failed");
    // Redis unreachable and similar: the request did not take effect; the client may retry.
    return reply.code(503).send({ error: `temporarily unavailable: ${err.message}` });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split("?")[0]}` }));

  app.addHook("onResponse", (req, reply, done) => {
    metrics.observeHttp(req.method, req.routeOptions.url ?? "unmatched", reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  let shuttingDown = false;
  // During shutdown every response closes its connection, so keep-alive sockets of requests that were
  // in flight when close() began do not hold the process open for keepAliveTimeout.
  app.addHook("onSend", (_req, reply, payload, done) => {
    if (shuttingDown) reply.header("connection", "close");
    done(null, payload);
  });
  app.get("/healthz", async () => ({ ok: true }));
  app.get("/readyz", async (_req, reply) => {
    if (shuttingDown) return reply.code(503).send({ ready: false, reason: "shutting down" });
    try {
      await queue.redis.ping();
    } catch (e) {
      return reply.code(503).send({ ready: false, reason: `redis: ${(e as Error).message}` });
    }
    if (kube && !kube.synced) return reply.code(503).send({ ready: false, reason: "endpoint secrets not listed yet" });
    return { ready: true, endpoints: registry.list().length };
  });

  clientRoutes(app, ctx);
  workerRoutes(app, ctx);
  adminRoutes(app, ctx);
  openaiRoutes(app, ctx);

  await app.listen({ port: opts.port ?? 8080, host });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.port ?? 8080;
  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;

  let scaler: ScalerServer | undefined;
  let scalerAddress = "";
  const scalerPort = opts.scalerPort === undefined ? 9090 : opts.scalerPort;
  if (scalerPort !== null) {
    scaler = new ScalerServer(queue, registry, timings.scalerPushIntervalMs, log, (ep) => workerHealth.held(ep), async (ep) => {
      const c = await httpCounts.read(ep);
      return c && { waiting: c.waiting, waitingLow: 0, active: c.active, oldestCreatedAt: c.oldestCreatedAt };
    });
    const p = await scaler.listen(host, scalerPort);
    scalerAddress = `${urlHost}:${p}`;
  }
  let metricsUrl = "";
  const metricsPort = opts.metricsPort === undefined ? 9091 : opts.metricsPort;
  if (metricsPort !== null) {
    const p = await metrics.listen(host, metricsPort);
    metricsUrl = `http://${urlHost}:${p}`;
  }
  queue.startSweeper();
  workerHealth.start();
  log.info({ port, scalerAddress, metricsUrl, endpoints: registry.list().map((e) => e.id) }, "gateway listening");

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      shuttingDown = true;
      kube?.stop();
      pods?.stop();
      workerHealth.stop();
      httpWorkers?.stop();
      proxy.beginShutdown();
      queue.beginShutdown(); // long-polls answer now (204 / current status)
      const sweepIdle = setInterval(() => app.server.closeIdleConnections?.(), 100);
      await app.close(); // stop accepting; wait for in-flight requests
      clearInterval(sweepIdle);
      proxy.close();
      await httpCounts.close();
      await scaler?.close();
      await metrics.close();
      await webhooks?.close();
      await queue.close();
      log.info("gateway closed");
      log.flush?.();
    })());

  return { url: `http://${urlHost}:${port}`, scalerAddress, metricsUrl, app, registry, queue, health: workerHealth, http: proxy, close };
}
