// Starts the Longshore gateway for tests, in-process (createGateway) or as a child process running
// gateway/src/main.ts through ts-node (for SIGKILL/restart fault tests). Also builds the RUNPOD_* env
// a worker (Python runpod.serverless.start or the TS worker SDK) needs to talk to it.
import { spawn, ChildProcess } from "child_process";
import * as path from "path";
import type { EndpointConfig, GatewayOptions, Timings } from "../../gateway/src/config";
import { freePort } from "./redis";
import { workerEnvFor } from "../../cli/local";

export interface TestGateway {
  /** http://127.0.0.1:<port> */
  url: string;
  /** url + "/v2" — what runpodSdk({ baseUrl }) and RUNPOD_ENDPOINT_BASE_URL take */
  baseUrl: string;
  /** 127.0.0.1:<scalerPort> (KEDA external scaler gRPC) */
  scalerAddress: string;
  /** http://127.0.0.1:<metricsPort> (Prometheus /metrics, off the client port) */
  metricsUrl: string;
  apiKey: string;
  endpoints: EndpointConfig[];
  close(): Promise<void>;
  /** child mode only: send a signal and wait for exit */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** child mode only: start again on the same ports */
  restart(): Promise<void>;
  /** child mode: collected stdout+stderr */
  logs(): string;
  /** in-process mode: the gateway's endpoint registry (change settings as discovery would) */
  registry?: import("../../gateway/src/endpoints").EndpointRegistry;
  /** child mode: the gateway process id (for /proc/<pid>/status) */
  pid(): number | undefined;
}

export interface StartGatewayOptions {
  redisUrl: string;
  /** default "inprocess" */
  mode?: "inprocess" | "child";
  /** default [{ id: "ep", workerToken: "worker-token-0-ep" }] */
  endpoints?: EndpointConfig[];
  /** default "test-api-key" */
  apiKey?: string;
  /** short test timings by default (see TEST_TIMINGS) */
  timings?: Partial<Timings>;
  /** extra createGateway options (in-process) */
  options?: Partial<GatewayOptions>;
  /** extra env (child mode) */
  env?: Record<string, string>;
  /** Redis key prefix; default a random one so suites sharing a Redis do not see each other */
  prefix?: string;
  /** child mode: extra node flags (e.g. --cpu-prof) */
  nodeArgs?: string[];
}

/** Short timings so tests finish fast; the same code paths as production. */
export const TEST_TIMINGS: Partial<Timings> = {
  takeWaitMs: 2_000,
  stopWaitMs: 2_000,
  leaseMs: 3_000,
  stalledIntervalMs: 500,
  sweepIntervalMs: 200,
  webhookRetryDelayMs: 300,
  workerGoneMs: 5_000,
  scalerPushIntervalMs: 200,
  healthIntervalMs: 300,
};

export const DEFAULT_TEST_ENDPOINT: EndpointConfig = { id: "ep", workerToken: "worker-token-0-ep" };

export async function startGateway(opts: StartGatewayOptions): Promise<TestGateway> {
  const endpoints = opts.endpoints ?? [DEFAULT_TEST_ENDPOINT];
  const apiKey = opts.apiKey ?? "test-api-key";
  const timings = { ...TEST_TIMINGS, ...(opts.timings ?? {}) };
  const prefix = opts.prefix ?? `t${Math.random().toString(36).slice(2, 8)}`;

  if ((opts.mode ?? "inprocess") === "inprocess") {
    // required lazily so helpers that only need workerEnv() do not load the gateway
    const { createGateway } = require("../../gateway/src/index") as typeof import("../../gateway/src/index");
    const gw = await createGateway({
      redisUrl: opts.redisUrl,
      port: 0,
      host: "127.0.0.1",
      scalerPort: 0,
      metricsPort: 0,
      apiKeys: [apiKey],
      endpoints,
      timings,
      logLevel: process.env.LONGSHORE_TEST_LOG_LEVEL || "silent",
      prefix,
      ...(opts.options ?? {}),
    });
    return {
      url: gw.url,
      baseUrl: gw.url + "/v2",
      scalerAddress: gw.scalerAddress,
      metricsUrl: gw.metricsUrl,
      apiKey,
      endpoints,
      registry: gw.registry,
      close: () => gw.close(),
      kill: async () => {
        throw new Error("kill() needs mode: 'child'");
      },
      restart: async () => {
        throw new Error("restart() needs mode: 'child'");
      },
      logs: () => "",
      pid: () => process.pid,
    };
  }

  let port = await freePort();
  let scalerPort = await freePort();
  let metricsPort = await freePort();
  const root = path.resolve(__dirname, "../..");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    SCALER_PORT: String(scalerPort),
    METRICS_PORT: String(metricsPort),
    REDIS_URL: opts.redisUrl,
    LONGSHORE_API_KEYS: apiKey,
    LONGSHORE_ENDPOINTS: JSON.stringify(endpoints),
    LONGSHORE_ENDPOINT_DISCOVERY: "static",
    LONGSHORE_REDIS_PREFIX: prefix,
    LOG_LEVEL: process.env.LONGSHORE_TEST_LOG_LEVEL || "warn",
    LONGSHORE_TAKE_WAIT_MS: String(timings.takeWaitMs),
    LONGSHORE_STOP_WAIT_MS: String(timings.stopWaitMs),
    LONGSHORE_LEASE_MS: String(timings.leaseMs),
    LONGSHORE_STALLED_INTERVAL_MS: String(timings.stalledIntervalMs),
    LONGSHORE_SWEEP_INTERVAL_MS: String(timings.sweepIntervalMs),
    LONGSHORE_WEBHOOK_RETRY_DELAY_MS: String(timings.webhookRetryDelayMs),
    TS_NODE_TRANSPILE_ONLY: "true",
    ...(opts.env ?? {}),
  };
  let child: ChildProcess | undefined;
  let out = "";
  let exited: Promise<void> = Promise.resolve();
  let url = `http://127.0.0.1:${port}`;

  const launch = async () => {
    const c = spawn(process.execPath, [...(opts.nodeArgs ?? []), "-r", "ts-node/register", path.join(root, "gateway/src/main.ts")], {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = c;
    c.stdout!.on("data", (d) => (out += d.toString()));
    c.stderr!.on("data", (d) => (out += d.toString()));
    exited = new Promise((resolve) => c.once("exit", () => resolve()));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null || c.signalCode !== null) break;
      try {
        const r = await fetch(url + "/readyz");
        if (r.status === 200) return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    c.kill("SIGKILL");
    throw new Error(`gateway child did not become ready: ${out.slice(-3000)}`);
  };
  // a probed free port can be taken by another process before the child binds it: retry with new ports
  for (let attempt = 0; ; attempt++) {
    try {
      await launch();
      break;
    } catch (e) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String((e as Error).message))) throw e;
      port = await freePort();
      scalerPort = await freePort();
      metricsPort = await freePort();
      env.PORT = String(port);
      env.SCALER_PORT = String(scalerPort);
      env.METRICS_PORT = String(metricsPort);
      url = `http://127.0.0.1:${port}`;
      out = "";
    }
  }

  const kill = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      await exited;
    }
  };
  return {
    url,
    baseUrl: url + "/v2",
    scalerAddress: `127.0.0.1:${scalerPort}`,
    get metricsUrl() {
      return `http://127.0.0.1:${metricsPort}`;
    },
    apiKey,
    endpoints,
    close: () => kill("SIGTERM"),
    kill,
    restart: async () => {
      await kill("SIGKILL");
      await launch();
    },
    logs: () => out,
    pid: () => child?.pid,
  };
}

/**
 * The worker env contract (contract/index.ts, docs/runpod-compat.md): what ServerlessEndpoint injects into worker pods.
 * `gatewayUrl` is the gateway base URL without /v2.
 */
export function workerEnv(
  gatewayUrl: string,
  endpoint: EndpointConfig,
  workerId: string,
  opts: { pingIntervalMs?: number } = {},
): Record<string, string> {
  // one implementation of the contract: the shipped CLI's (cli/local.ts)
  return workerEnvFor(gatewayUrl, endpoint.id, endpoint.workerToken, workerId, opts.pingIntervalMs ?? 1000);
}
