// The contract between Longshore's parts — the Pulumi components (which write it), the gateway (which reads
// it), the CLI's local mode (which plays the cluster's part) and the policy pack (which checks it). One
// definition of each rule; docs/contract.md explains the choices.
//
// No imports on purpose: the gateway image compiles this file next to the gateway without the Pulumi SDK.

// ---------------------------------------------------------------- labels and annotations
/** Label on an endpoint Secret (value: the endpoint id) — what the gateway's discovery selects — and on the worker pods. */
export const ENDPOINT_LABEL = "longshore.dev/endpoint";
/** Pod-template annotation: the endpoint's execution timeout in seconds (the policy pack's drain rule reads it). */
export const EXECUTION_TIMEOUT_ANNOTATION = "longshore.dev/execution-timeout-seconds";
/** ScaledObject annotation: "true" when a custom metric counts in-flight jobs (policy scaledobject-counts-in-flight). */
export const COUNTS_IN_FLIGHT_ANNOTATION = "longshore.dev/counts-in-flight";
/** Prefix of every Longshore label and annotation key. */
export const KEY_PREFIX = "longshore.dev/";

// ---------------------------------------------------------------- scaling
/**
 * RunPod's scaler types. QUEUE_DELAY: add workers when a job has waited longer than scalerValue seconds.
 * REQUEST_COUNT: one worker per scalerValue jobs (waiting + in progress).
 */
export const ScalerType = {
    /** Scale on how long jobs wait in the queue (scalerValue = seconds). */
    QueueDelay: "QUEUE_DELAY",
    /** Scale on the number of jobs per worker (scalerValue = jobs per worker). */
    RequestCount: "REQUEST_COUNT",
} as const;
// Declared as a const object plus a type of its values (not a TS `enum`) so that the plain strings
// "QUEUE_DELAY" / "REQUEST_COUNT" stay assignable; Pulumi's component analysis turns it into a schema enum.
export type ScalerType = (typeof ScalerType)[keyof typeof ScalerType];
export const SCALER_TYPES: readonly ScalerType[] = Object.values(ScalerType);
/** RunPod's defaults: QUEUE_DELAY 4 s; REQUEST_COUNT 1 request per worker. */
export const DEFAULT_SCALER_VALUE: Record<ScalerType, number> = { QUEUE_DELAY: 4, REQUEST_COUNT: 1 };

// ---------------------------------------------------------------- endpoint id
/**
 * At most 40 characters: the id is part of Kubernetes object names, and the longest one the components derive,
 * `longshore-worker-token-<id>` (23 + 40), must stay within a DNS label's 63.
 */
export const ENDPOINT_ID_MAX = 40;
/** A DNS-1123 label (lowercase letters, digits, '-'; starting and ending with a letter or digit) — RunPod's ids fit. */
export const ENDPOINT_ID_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const ENDPOINT_ID_RULE = `a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${ENDPOINT_ID_MAX} characters)`;
/** undefined when v is a valid endpoint id, else what is wrong */
export function endpointIdError(v: unknown): string | undefined {
    return typeof v === "string" && v.length <= ENDPOINT_ID_MAX && ENDPOINT_ID_PATTERN.test(v) ? undefined : `must be ${ENDPOINT_ID_RULE}`;
}

// ---------------------------------------------------------------- worker token
/** A worker token guards an endpoint's job payloads and results: at least 16 characters (RandomToken makes 32). */
export const WORKER_TOKEN_MIN = 16;
export function workerTokenError(v: unknown): string | undefined {
    return typeof v === "string" && v.length >= WORKER_TOKEN_MIN ? undefined : `must be a string of at least ${WORKER_TOKEN_MIN} characters`;
}

// ---------------------------------------------------------------- webhook secret
/** Key the gateway signs an endpoint's webhooks with (Standard Webhooks): like a worker token, at least 16
 *  characters ("whsec_" + base64 qualifies; RandomToken makes 32). */
export const WEBHOOK_SECRET_MIN = 16;
export function webhookSecretError(v: unknown): string | undefined {
    return typeof v === "string" && v.length >= WEBHOOK_SECRET_MIN ? undefined : `must be a string of at least ${WEBHOOK_SECRET_MIN} characters`;
}

// ---------------------------------------------------------------- worker env contract
/**
 * The RUNPOD_* URLs a worker SDK calls, for an endpoint base `<gateway>/v2/<endpointId>`. `$ID` is filled in
 * by the SDK with the job id, `$RUNPOD_POD_ID` with its own worker id (docs/runpod-compat.md#worker-env).
 */
export function workerUrls(base: string) {
    return {
        RUNPOD_WEBHOOK_GET_JOB: `${base}/job-take/$ID?`,
        RUNPOD_WEBHOOK_POST_OUTPUT: `${base}/job-done/$RUNPOD_POD_ID/$ID?`,
        RUNPOD_WEBHOOK_POST_STREAM: `${base}/job-stream/$RUNPOD_POD_ID/$ID?`,
        RUNPOD_WEBHOOK_PING: `${base}/ping/$RUNPOD_POD_ID`,
    };
}
/** Every env var of the worker contract (set by ServerlessEndpoint and by `longshore test --local`; user env may not override them). */
export const WORKER_ENV = [
    "RUNPOD_WEBHOOK_GET_JOB", "RUNPOD_WEBHOOK_POST_OUTPUT", "RUNPOD_WEBHOOK_POST_STREAM", "RUNPOD_WEBHOOK_PING",
    "RUNPOD_POD_ID", "RUNPOD_AI_API_KEY", "RUNPOD_PING_INTERVAL", "RUNPOD_ENDPOINT_ID", "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS",
    "LONGSHORE_EXECUTION_TIMEOUT_MS",
] as const;
/** The plain-value part of the worker env (the pod id and the token come from the pod / a Secret in a cluster). */
export function workerEnv(o: { base: string; endpointId: string; pingIntervalMs: number }): Record<string, string> {
    return {
        ...workerUrls(o.base),
        RUNPOD_ENDPOINT_ID: o.endpointId,
        RUNPOD_PING_INTERVAL: String(o.pingIntervalMs),
        RUNPOD_SKIP_AUTO_SYSTEM_CHECKS: "true",
    };
}

// ---------------------------------------------------------------- endpoint Secret
/** Data keys of an endpoint Secret (labelled ENDPOINT_LABEL=<id>) the gateway discovers endpoints by. */
export const ENDPOINT_SECRET_KEYS = { endpointId: "endpointId", workerToken: "workerToken", settings: "settings", webhookSecret: "webhookSecret" } as const;

/** The `settings` JSON of an endpoint Secret: per-endpoint settings the gateway applies. */
export interface EndpointSettings {
    /** default execution timeout for jobs without policy.executionTimeout (ms, default 600000) */
    executionTimeoutMs?: number;
    /** default job ttl (ms, default 24 h): a job not finished by then is dropped and /status is 404 */
    ttlMs?: number;
    /** the workers' RUNPOD_PING_INTERVAL: the lease of a running job is at least 3.5 x this */
    pingIntervalMs?: number;
    /** KEDA scaler defaults used when the ScaledObject metadata does not carry them */
    scalerType?: ScalerType;
    scalerValue?: number;
    /** per-endpoint rate limit overrides: requests per window */
    rateLimits?: Record<string, number>;
    /** webhook signing key (the Secret's own `webhookSecret` key, merged in by discovery); unset = unsigned */
    webhookSecret?: string;
    /** a job whose worker is lost (lease lapsed: the pod died, OOM, node gone) this many times ends FAILED
     *  with a reason instead of being queued again (default DEFAULT_MAX_WORKER_LOSSES) */
    maxWorkerLosses?: number;
    /** waiting jobs of an endpoint whose workers all crash at start end FAILED (with the crash as the reason)
     *  once it has been crash-looping this long (ms, default DEFAULT_CRASH_LOOP_FAIL_AFTER_MS); 0 = never */
    crashLoopFailAfterMs?: number;
    /** set for an HTTP (load-balancing) endpoint: the gateway proxies requests to its workers' HTTP servers */
    http?: HttpEndpointSettings;
}

// ---------------------------------------------------------------- HTTP (load-balancing) endpoints
/** `component` label of an HTTP endpoint's worker pods (with ENDPOINT_LABEL=<id>): what the gateway watches. */
export const HTTP_WORKER_COMPONENT = "http-worker";
/** Path-based form of an HTTP endpoint's URL under the gateway: `<gateway>/http/<id>/<path>`. */
export const HTTP_PATH_PREFIX = "/http";
/** RunPod's load-balancing worker contract: the server listens on $PORT (default 80) and answers its health
 *  check on $PORT_HEALTH (default $PORT) at /ping: 200 = ready, 204 = initializing, anything else = not ready. */
export const DEFAULT_HTTP_PORT = 80;
export const DEFAULT_HEALTH_PATH = "/ping";
/** Env vars HttpEndpoint sets in its workers (RunPod's names). */
export const HTTP_WORKER_ENV = ["PORT", "PORT_HEALTH", "RUNPOD_POD_ID", "RUNPOD_ENDPOINT_ID"] as const;

/** The `http` part of an endpoint's settings (written by HttpEndpoint, read by the gateway's proxy). */
export interface HttpEndpointSettings {
    /** the workers' HTTP port (RunPod PORT) */
    port: number;
    /** health check port (RunPod PORT_HEALTH); default `port` */
    healthPort?: number;
    /** health check path; default /ping */
    healthPath?: string;
    /** concurrent requests one worker takes before further requests wait in the gateway's queue; default 1 */
    targetConcurrency?: number;
    /** how long a request may wait for a worker (cold start or all busy) before a 503; default 120000 */
    queueTimeoutMs?: number;
    /** how long a worker may take to start answering a forwarded request before a 504; default 600000 */
    requestTimeoutMs?: number;
    /** requests waiting at once per gateway replica before new ones are refused (503); default 1000 */
    maxQueued?: number;
}
export const DEFAULT_TARGET_CONCURRENCY = 1;
export const DEFAULT_QUEUE_TIMEOUT_MS = 120_000;
export const DEFAULT_HTTP_REQUEST_TIMEOUT_MS = 600_000;
export const DEFAULT_MAX_QUEUED = 1000;

function validateHttpSettings(o: unknown, where: string): HttpEndpointSettings {
    if (!o || typeof o !== "object" || Array.isArray(o)) throw new Error(`${where} must be an object`);
    const h = o as Record<string, unknown>;
    const out: Partial<HttpEndpointSettings> = {};
    const int = (k: keyof HttpEndpointSettings, min: number, max: number, required = false) => {
        const n = h[k];
        if (n === undefined && !required) return;
        if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) throw new Error(`${where}.${k} must be an integer from ${min} to ${max}`);
        (out as Record<string, number>)[k] = n;
    };
    int("port", 1, 65535, true);
    int("healthPort", 1, 65535);
    int("targetConcurrency", 1, 10_000);
    int("queueTimeoutMs", 1, 3_600_000);
    int("requestTimeoutMs", 1, 7 * 24 * 3_600_000);
    int("maxQueued", 1, 1_000_000);
    if (h.healthPath !== undefined) {
        if (typeof h.healthPath !== "string" || !/^\/[\x21-\x7e]*$/.test(h.healthPath)) throw new Error(`${where}.healthPath must be a path starting with '/' (printable ASCII, no spaces)`);
        out.healthPath = h.healthPath;
    }
    return out as HttpEndpointSettings;
}

/** Default of EndpointSettings.maxWorkerLosses: the third lost worker fails the job. */
export const DEFAULT_MAX_WORKER_LOSSES = 3;
/** Default of EndpointSettings.crashLoopFailAfterMs: 10 minutes of workers that cannot start. */
export const DEFAULT_CRASH_LOOP_FAIL_AFTER_MS = 600_000;

/** Checks a settings object; throws naming `where` and the field. */
export function validateSettings(o: Record<string, unknown>, where: string): EndpointSettings {
    const out: EndpointSettings = {};
    for (const k of ["executionTimeoutMs", "ttlMs", "scalerValue", "pingIntervalMs"] as const) {
        const n = o[k];
        if (n === undefined) continue;
        if (typeof n !== "number" || !Number.isInteger(n) || n <= 0) throw new Error(`${where}.${k} must be a positive integer`);
        out[k] = n;
    }
    if (o.maxWorkerLosses !== undefined) {
        const n = o.maxWorkerLosses;
        if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 100) throw new Error(`${where}.maxWorkerLosses must be an integer from 1 to 100`);
        out.maxWorkerLosses = n;
    }
    if (o.crashLoopFailAfterMs !== undefined) {
        const n = o.crashLoopFailAfterMs;
        if (typeof n !== "number" || !Number.isInteger(n) || n < 0) throw new Error(`${where}.crashLoopFailAfterMs must be a non-negative integer (0 = never)`);
        out.crashLoopFailAfterMs = n;
    }
    if (o.scalerType !== undefined) {
        if (!SCALER_TYPES.includes(o.scalerType as ScalerType)) throw new Error(`${where}.scalerType must be ${SCALER_TYPES.join(" or ")}`);
        out.scalerType = o.scalerType as ScalerType;
    }
    if (o.rateLimits !== undefined) out.rateLimits = o.rateLimits as Record<string, number>;
    if (o.webhookSecret !== undefined) {
        const err = webhookSecretError(o.webhookSecret);
        if (err) throw new Error(`${where}.webhookSecret ${err}`);
        out.webhookSecret = o.webhookSecret as string;
    }
    if (o.http !== undefined) out.http = validateHttpSettings(o.http, `${where}.http`);
    return out;
}
