/**
 * `longshore test --local`: tests a worker without a cluster, the way RunPod's hosted action tests an image.
 * A private Redis and an in-process Longshore gateway are started on loopback, the worker is started with
 * the same RUNPOD_* environment a cluster injects (a command here, or `docker run --network host` of an
 * image), the tests run through the normal /run + /status path, then the worker is drained with SIGTERM.
 */
import { spawn, ChildProcess, execFileSync } from "child_process";
import { randomBytes } from "crypto";
import { workerEnv } from "../contract";
import { createGateway } from "../gateway/src/index";
import { startLocalRedis } from "./redisServer";
import { runTests, TestResult } from "./runner";
import type { TestCase } from "./testsFile";
import { adapterBinaryFor, adapterDockerArgs } from "./adapterWorker";

export interface LocalOptions {
  tests: TestCase[];
  timeoutS: number;
  command?: string;
  image?: string;
  cwd?: string;
  env?: Record<string, string>;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** With `image`: run it behind longshore-adapter (the endpoint's worker declaration; cli/adapterWorker.ts). */
  worker?: Record<string, any>;
  /** The adapter binary for `worker` (default: $LONGSHORE_ADAPTER or built from this checkout). */
  adapter?: string;
  /** How long the worker gets to drain after SIGTERM before it is killed (ms). */
  drainMs?: number;
}

export const LOCAL_ENDPOINT_ID = "local";

/** The worker env contract (contract/index.ts, docs/runpod-compat.md#worker-env), pointed at a gateway base URL. */
export function workerEnvFor(gatewayUrl: string, endpointId: string, workerToken: string, workerId: string, pingIntervalMs = 2000): Record<string, string> {
  return {
    ...workerEnv({ base: `${gatewayUrl}/v2/${endpointId}`, endpointId, pingIntervalMs }),
    RUNPOD_POD_ID: workerId,
    RUNPOD_AI_API_KEY: workerToken,
  };
}

class Tail {
  private lines: string[] = [];
  private partial = "";
  constructor(private readonly max = 60) {}
  push(chunk: Buffer | string) {
    const parts = (this.partial + chunk.toString()).split("\n");
    this.partial = parts.pop() ?? "";
    this.lines.push(...parts);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }
  text(): string {
    return [...this.lines, this.partial].filter(Boolean).join("\n");
  }
}

export async function runLocal(opts: LocalOptions): Promise<TestResult[]> {
  if (opts.image) {
    try {
      execFileSync("docker", ["version", "--format", "{{.Server.Version}}"], { stdio: "ignore", timeout: 15_000 });
    } catch {
      throw new Error("--local --image needs a running Docker engine ('docker version' failed); use --local --command \"<cmd>\" to run the worker as a process instead");
    }
  }
  const apiKey = randomBytes(12).toString("hex");
  const workerToken = randomBytes(12).toString("hex");
  const workerId = `local-${randomBytes(3).toString("hex")}`;
  const redis = await startLocalRedis();
  let gateway: Awaited<ReturnType<typeof createGateway>> | undefined;
  let worker: ChildProcess | undefined;
  const tail = new Tail();
  let exitInfo: string | undefined;
  const containerName = `longshore-test-${randomBytes(4).toString("hex")}`;
  // Ctrl-C / SIGTERM: stop submitting, then clean up below (the worker runs in its own process group and
  // would otherwise be left behind).
  let interrupted: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => (interrupted = `interrupted by ${sig}`);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    gateway = await createGateway({
      redisUrl: redis.url,
      port: 0,
      host: "127.0.0.1",
      scalerPort: null,
      metricsPort: null,
      // a local run's webhook receiver is usually on this machine
      webhookAllowCidrs: ["127.0.0.0/8", "::1/128"],
      apiKeys: [apiKey],
      endpoints: [{ id: LOCAL_ENDPOINT_ID, workerToken }],
      logLevel: process.env.LONGSHORE_LOG_LEVEL || "silent",
      prefix: "local",
      // short long-polls: a Python worker only notices SIGTERM when its job-take poll returns
      timings: { takeWaitMs: 2_000, stopWaitMs: 2_000 },
    });
    const env = { ...workerEnvFor(gateway.url, LOCAL_ENDPOINT_ID, workerToken, workerId), ...(opts.env ?? {}) };
    opts.out.write(`local gateway ${gateway.url}, worker ${workerId}: ${opts.command ?? opts.image}\n`);

    if (opts.command) {
      // `exec` so SIGTERM reaches the worker itself, not an intermediate shell; own process group for cleanup.
      worker = spawn("/bin/sh", ["-c", `exec ${opts.command}`], {
        cwd: opts.cwd ?? process.cwd(),
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
    } else {
      const args = ["run", "--rm", "--name", containerName, "--network", "host", "--stop-timeout", "60"];
      for (const [k, v] of Object.entries(env)) args.push("-e", `${k}=${v}`);
      const viaAdapter = opts.worker ? adapterDockerArgs(opts.image!, opts.worker, adapterBinaryFor(opts.adapter)) : undefined;
      args.push(...(viaAdapter?.before ?? []), opts.image!, ...(viaAdapter?.after ?? []));
      worker = spawn("docker", args, { stdio: ["ignore", "pipe", "pipe"] });
    }
    worker.stdout!.on("data", (d) => tail.push(d));
    worker.stderr!.on("data", (d) => tail.push(d));
    worker.once("exit", (code, sig) => (exitInfo = `worker exited early (${sig ?? `code ${code}`})`));
    worker.once("error", (e) => (exitInfo = `worker could not start: ${e.message}`));

    const results = await runTests({
      endpointUrl: `${gateway.url}/v2/${LOCAL_ENDPOINT_ID}`,
      apiKey,
      tests: opts.tests,
      timeoutS: opts.timeoutS,
      out: opts.out,
      abortCheck: () => interrupted ?? exitInfo,
    });
    if (results.some((r) => r.verdict !== "PASS") || exitInfo) {
      opts.err.write(`--- worker output (last lines) ---\n${tail.text()}\n--- end of worker output ---\n`);
    }
    return results;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      const exited = new Promise<void>((r) => worker!.once("exit", () => r()));
      const signal = (sig: NodeJS.Signals) => {
        try {
          if (opts.image) execFileSync("docker", ["kill", "--signal", sig, containerName], { stdio: "ignore", timeout: 15_000 });
          else process.kill(-worker!.pid!, sig);
        } catch {
          /* already gone */
        }
      };
      signal("SIGTERM");
      const t = setTimeout(() => signal("SIGKILL"), opts.drainMs ?? 30_000);
      await exited;
      clearTimeout(t);
    }
    await gateway?.close().catch(() => undefined);
    await redis.stop().catch(() => undefined);
  }
}
