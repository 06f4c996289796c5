// Gateway configuration: option types for createGateway() and the env contract read by main.ts.
// Every timing is an option so tests can run the same code with short intervals.

import * as contract from "../../contract";

export type { ScalerType } from "../../contract";

/** Per-endpoint settings (static config, or the `settings` JSON of an endpoint Secret: contract/index.ts). */
export interface EndpointSettings extends Omit<contract.EndpointSettings, "rateLimits"> {
  /** per-endpoint rate limit overrides: requests per window */
  rateLimits?: Partial<RateLimits>;
}

export interface EndpointConfig extends EndpointSettings {
  id: string;
  workerToken: string;
}

export interface RateLimits {
  windowMs: number;
  run: number;
  runsync: number;
  status: number;
  stream: number;
  cancel: number;
  purge: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  windowMs: 10_000,
  run: 1000,
  runsync: 2000,
  status: 2000,
  stream: 2000,
  cancel: 100,
  purge: 2,
};

export interface Timings {
  /** job-take / job-take-batch long-poll hold before answering 204 (must stay < 90 s) */
  takeWaitMs: number;
  /** job-stop long-poll hold before answering 204 (< 90 s) */
  stopWaitMs: number;
  /** a running job's lease: extended by pings / progress / stream posts; lapsed => re-queued */
  leaseMs: number;
  /** how often lapsed leases and execution timeouts are looked for (the running index, queue/sweeper.ts) */
  stalledIntervalMs: number;
  /** default of the endpoint setting maxWorkerLosses: a job is FAILED when it loses its worker this many times */
  maxWorkerLosses: number;
  /** sweep for execution timeouts and ttl expiries */
  sweepIntervalMs: number;
  /** results kept after a terminal state: /run jobs, /runsync jobs */
  retentionRunMs: number;
  retentionRunsyncMs: number;
  defaultExecutionTimeoutMs: number;
  defaultTtlMs: number;
  /** webhook: attempts in all (1 + retries) and the delay between them */
  webhookAttempts: number;
  webhookRetryDelayMs: number;
  webhookTimeoutMs: number;
  /** a worker not seen (ping or any worker call) for this long counts as gone in /health */
  workerGoneMs: number;
  /** KEDA StreamIsActive re-evaluation period (pushes are also triggered by new jobs) */
  scalerPushIntervalMs: number;
  /** worker health pass (crash-loop detection, its give-up, cold starts): every this many ms */
  healthIntervalMs: number;
  /** a client must send its request headers within this (slowloris) */
  headersTimeoutMs: number;
  /** ... and the whole request, body included, within this (20 MB in 60 s is 2.7 Mbit/s) */
  requestTimeoutMs: number;
  /** a request over the in-flight body budget waits this long for room before it is refused (503) */
  bodyBudgetWaitMs: number;
  /** HTTP endpoints: health check period of a worker that is not ready yet (how soon a ready one is noticed) */
  httpHealthStartingMs: number;
  /** HTTP endpoints: health check period of a ready worker */
  httpHealthReadyMs: number;
  /** HTTP endpoints: one health check's timeout */
  httpHealthTimeoutMs: number;
  /** OpenAI route, stream: true: with no chunk yet after this long (a cold start), the 200 and the event-stream
   *  headers go out, then an SSE comment every openaiKeepAliveMs, so no client or proxy times out the wait
   *  (undici's headersTimeout is 300 s); a handler error after that arrives as an in-stream error event */
  openaiStreamHeadersAfterMs: number;
  openaiKeepAliveMs: number;
}

export const DEFAULT_TIMINGS: Timings = {
  takeWaitMs: 30_000,
  stopWaitMs: 30_000,
  leaseMs: 35_000,
  stalledIntervalMs: 5_000,
  maxWorkerLosses: contract.DEFAULT_MAX_WORKER_LOSSES,
  sweepIntervalMs: 1_000,
  retentionRunMs: 30 * 60_000,
  retentionRunsyncMs: 60_000,
  defaultExecutionTimeoutMs: 600_000,
  defaultTtlMs: 24 * 3600_000,
  webhookAttempts: 3,
  webhookRetryDelayMs: 10_000,
  webhookTimeoutMs: 10_000,
  workerGoneMs: 60_000,
  scalerPushIntervalMs: 1_000,
  healthIntervalMs: 2_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  bodyBudgetWaitMs: 30_000,
  httpHealthStartingMs: 200,
  httpHealthReadyMs: 2_000,
  httpHealthTimeoutMs: 2_000,
  openaiStreamHeadersAfterMs: 10_000,
  openaiKeepAliveMs: 15_000,
};

export interface Limits {
  runBodyBytes: number;
  runsyncBodyBytes: number;
  streamChunkBytes: number;
  /** job-done body (outputs); RunPod does not document one, 20 MB matches runsync */
  doneBodyBytes: number;
  /** request bodies held at once, all routes together (a body costs ~3-5x its size while parsed and
   *  stored). Above it a request waits (timings.bodyBudgetWaitMs), then gets 503 + Retry-After. */
  inflightBodyBytes: number;
  /** job-take-batch: payload bytes in one response (at least one job is always handed out) */
  takeBatchBytes: number;
  /** webhook receivers' answers: read up to this many bytes, then the connection is dropped */
  webhookResponseBytes: number;
  /** smallest policy.executionTimeout / policy.ttl a request may ask for (RunPod: 5 s and 10 s) */
  minExecutionTimeoutMs: number;
  minTtlMs: number;
  /** HTTP endpoints: largest request body the proxy forwards */
  httpBodyBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  runBodyBytes: 10 * 1024 * 1024,
  runsyncBodyBytes: 20 * 1024 * 1024,
  streamChunkBytes: 1024 * 1024,
  doneBodyBytes: 20 * 1024 * 1024,
  inflightBodyBytes: 48 * 1024 * 1024,
  takeBatchBytes: 32 * 1024 * 1024,
  webhookResponseBytes: 64 * 1024,
  minExecutionTimeoutMs: 5_000,
  minTtlMs: 10_000,
  httpBodyBytes: 20 * 1024 * 1024,
};

/** Failed authentications per source address before it is answered 429 for the rest of the window. */
export interface AuthFailureLimit {
  max: number;
  windowMs: number;
}

export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimit = { max: 50, windowMs: 60_000 };

export interface GatewayOptions {
  redisUrl: string;
  /** HTTP port (0 = random). Default 8080. */
  port?: number;
  host?: string;
  /** KEDA external scaler gRPC port (0 = random, null = disabled). Default 9090. */
  scalerPort?: number | null;
  /** Prometheus /metrics port, kept off the client port (it lists endpoint ids). 0 = random,
   *  null = disabled. Default 9091. */
  metricsPort?: number | null;
  /** webhook targets: CIDRs allowed although private / loopback / link-local (in-cluster receivers),
   *  e.g. ["10.96.0.0/12"]. Default none: only public addresses are called. */
  webhookAllowCidrs?: string[];
  /** failed authentications per source address (default 50 per 60 s), then 429 */
  authFailureLimit?: Partial<AuthFailureLimit>;
  /** HTTP endpoints, host-based form: requests to `<endpoint id>.<httpDomain>` are proxied to that endpoint
   *  (RunPod's `ENDPOINT_ID.api.runpod.ai`); the path form `/http/<id>/…` always works */
  httpDomain?: string;
  /** client API keys; empty = every client request is 401 */
  apiKeys: string[];
  /** admin API keys (GET /admin/v1/status: `longshore status`); not valid on client routes, nor client keys
   *  here. Empty = the admin API answers 401. */
  adminKeys?: string[];
  /** static endpoints */
  endpoints?: EndpointConfig[];
  /** Kubernetes discovery (in-cluster): namespace watched for labelled Secrets */
  kubernetes?: { namespace: string; apiUrl?: string; token?: string; caFile?: string };
  timings?: Partial<Timings>;
  limits?: Partial<Limits>;
  rateLimits?: Partial<RateLimits>;
  /** pino level; "silent" in tests */
  logLevel?: string;
  /** Redis key prefix (default "ls") — lets several gateways share one Redis in tests */
  prefix?: string;
}

/** Reads the env contract (see docs/gateway.md). Throws with the variable name on bad input. */
export function optionsFromEnv(env: NodeJS.ProcessEnv): GatewayOptions {
  const fs = require("fs") as typeof import("fs");
  const int = (name: string, def: number): number => {
    const v = env[name];
    if (v === undefined || v === "") return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return n;
  };
  const discovery = env.LONGSHORE_ENDPOINT_DISCOVERY || (env.LONGSHORE_NAMESPACE && !env.LONGSHORE_ENDPOINTS && !env.LONGSHORE_ENDPOINTS_FILE ? "kubernetes" : "static");
  if (discovery !== "static" && discovery !== "kubernetes") {
    throw new Error(`LONGSHORE_ENDPOINT_DISCOVERY must be "static" or "kubernetes", got ${JSON.stringify(discovery)}`);
  }
  let endpoints: EndpointConfig[] = [];
  const raw = env.LONGSHORE_ENDPOINTS_FILE ? fs.readFileSync(env.LONGSHORE_ENDPOINTS_FILE, "utf8") : env.LONGSHORE_ENDPOINTS;
  if (raw) {
    const src = env.LONGSHORE_ENDPOINTS_FILE ? "LONGSHORE_ENDPOINTS_FILE" : "LONGSHORE_ENDPOINTS";
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (e) {
      throw new Error(`${src} is not valid JSON: ${(e as Error).message}`);
    }
    endpoints = parseEndpoints(parsed, src);
  }
  const timings: Partial<Timings> = {};
  const t = (name: string, key: keyof Timings) => {
    if (env[name]) timings[key] = int(name, DEFAULT_TIMINGS[key]);
  };
  t("LONGSHORE_TAKE_WAIT_MS", "takeWaitMs");
  t("LONGSHORE_STOP_WAIT_MS", "stopWaitMs");
  t("LONGSHORE_LEASE_MS", "leaseMs");
  t("LONGSHORE_STALLED_INTERVAL_MS", "stalledIntervalMs");
  t("LONGSHORE_RETENTION_RUN_MS", "retentionRunMs");
  t("LONGSHORE_RETENTION_RUNSYNC_MS", "retentionRunsyncMs");
  t("LONGSHORE_WEBHOOK_RETRY_DELAY_MS", "webhookRetryDelayMs");
  t("LONGSHORE_SWEEP_INTERVAL_MS", "sweepIntervalMs");
  t("LONGSHORE_HEALTH_INTERVAL_MS", "healthIntervalMs");
  t("LONGSHORE_HEADERS_TIMEOUT_MS", "headersTimeoutMs");
  t("LONGSHORE_REQUEST_TIMEOUT_MS", "requestTimeoutMs");
  t("LONGSHORE_HTTP_HEALTH_STARTING_MS", "httpHealthStartingMs");
  t("LONGSHORE_HTTP_HEALTH_READY_MS", "httpHealthReadyMs");
  const list = (name: string) => (env[name] || "").split(",").map((s) => s.trim()).filter(Boolean);
  const webhookAllowCidrs = list("LONGSHORE_WEBHOOK_ALLOW_CIDRS");
  for (const c of webhookAllowCidrs) {
    const broken = cidrProblem(c);
    if (broken) throw new Error(`LONGSHORE_WEBHOOK_ALLOW_CIDRS: ${broken}`);
  }
  return {
    redisUrl: env.REDIS_URL || "redis://127.0.0.1:6379",
    port: int("PORT", 8080),
    host: env.HOST || "0.0.0.0",
    scalerPort: env.SCALER_PORT === "off" ? null : int("SCALER_PORT", 9090),
    metricsPort: env.METRICS_PORT === "off" ? null : int("METRICS_PORT", 9091),
    webhookAllowCidrs,
    ...(env.LONGSHORE_AUTH_FAILURE_LIMIT ? { authFailureLimit: { max: int("LONGSHORE_AUTH_FAILURE_LIMIT", DEFAULT_AUTH_FAILURE_LIMIT.max) } } : {}),
    apiKeys: list("LONGSHORE_API_KEYS"),
    adminKeys: list("LONGSHORE_ADMIN_KEYS"),
    ...(env.LONGSHORE_HTTP_DOMAIN ? { httpDomain: httpDomain(env.LONGSHORE_HTTP_DOMAIN) } : {}),
    ...(env.LONGSHORE_HTTP_BODY_BYTES ? { limits: { httpBodyBytes: int("LONGSHORE_HTTP_BODY_BYTES", DEFAULT_LIMITS.httpBodyBytes) } } : {}),
    endpoints,
    kubernetes: discovery === "kubernetes" ? { namespace: env.LONGSHORE_NAMESPACE || readServiceAccountNamespace(fs) } : undefined,
    timings,
    logLevel: env.LOG_LEVEL || "info",
    prefix: env.LONGSHORE_REDIS_PREFIX || "ls",
  };
}

/** LONGSHORE_HTTP_DOMAIN: a DNS name such as api.example.com (endpoints answer at <id>.api.example.com). */
function httpDomain(d: string): string {
  const v = d.trim().toLowerCase();
  if (!/^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/.test(v)) {
    throw new Error(`LONGSHORE_HTTP_DOMAIN must be a DNS name such as api.example.com, got ${JSON.stringify(d)}`);
  }
  return v;
}

/** Why `c` is not an IPv4/IPv6 CIDR ("10.0.0.0/8", "fd00::/8"; a bare address means /32 or /128), or undefined. */
export function cidrProblem(c: string): string | undefined {
  const net = require("net") as typeof import("net");
  const [addr, bits, extra] = c.split("/");
  const fam = net.isIP(addr);
  const max = fam === 4 ? 32 : 128;
  if (!fam || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))) {
    return `${JSON.stringify(c)} is not a CIDR such as 10.0.0.0/8 or fd00::/8`;
  }
  return undefined;
}

function readServiceAccountNamespace(fs: typeof import("fs")): string {
  try {
    return fs.readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "utf8").trim();
  } catch {
    throw new Error("LONGSHORE_ENDPOINT_DISCOVERY=kubernetes needs LONGSHORE_NAMESPACE (or an in-cluster service account)");
  }
}

export function parseEndpoints(v: unknown, src: string): EndpointConfig[] {
  if (!Array.isArray(v)) throw new Error(`${src} must be a JSON array of {"id","workerToken",...settings}`);
  const seen = new Set<string>();
  return v.map((e, i) => {
    if (!e || typeof e !== "object") throw new Error(`${src}[${i}] must be an object`);
    const o = e as Record<string, unknown>;
    const idErr = contract.endpointIdError(o.id);
    if (idErr) throw new Error(`${src}[${i}].id ${idErr}`);
    const tokenErr = contract.workerTokenError(o.workerToken);
    if (tokenErr) throw new Error(`${src}[${i}].workerToken ${tokenErr}`);
    const id = o.id as string;
    if (seen.has(id)) throw new Error(`${src}[${i}].id ${id} is duplicated`);
    seen.add(id);
    return { ...validateSettings(o, `${src}[${i}]`), id, workerToken: o.workerToken as string };
  });
}

export function validateSettings(o: Record<string, unknown>, where: string): EndpointSettings {
  return contract.validateSettings(o, where) as EndpointSettings;
}
