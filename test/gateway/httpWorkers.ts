// HTTP (load-balancing) endpoint test helpers: real FastAPI/uvicorn worker processes (fixtures/http_worker.py
// from the test venv) and an in-process gateway with HTTP endpoints whose workers the test adds the way the
// pod watch would (pool.upsert with the worker's address).
import { ChildProcess, spawn } from "child_process";
import * as http from "http";
import * as path from "path";
import type { EndpointConfig, GatewayOptions } from "../../gateway/src/config";
import type { Gateway } from "../../gateway/src/index";
import { freePort } from "../helpers/redis";
import { TEST_TIMINGS } from "../helpers/gateway";
import { sleep, venvPython } from "./util";

export interface HttpWorkerProc {
  name: string;
  port: number;
  proc: ChildProcess;
  output(): string;
  kill(): Promise<void>;
}

/** Starts fixtures/<script> (default http_worker.py) on a free port; resolves once it listens (any /ping answer). */
export async function startHttpWorker(name: string, opts: { readyAfterS?: number; script?: string; env?: Record<string, string>; waitListening?: boolean } = {}): Promise<HttpWorkerProc> {
  const port = await freePort();
  const script = opts.script ?? path.join(__dirname, "fixtures", "http_worker.py");
  const proc = spawn(venvPython(), [script], {
    env: { ...process.env, PORT: String(port), WORKER_NAME: name, READY_AFTER_S: String(opts.readyAfterS ?? 0), PYTHONUNBUFFERED: "1", ...(opts.env ?? {}) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d.toString()));
  proc.stderr!.on("data", (d) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const w: HttpWorkerProc = {
    name,
    port,
    proc,
    output: () => out,
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await exited;
      }
    },
  };
  if (opts.waitListening ?? true) {
    const end = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`worker ${name} exited: ${out}`);
      const ok = await new Promise<boolean>((resolve) => {
        const req = http.get({ host: "127.0.0.1", port, path: "/ping", timeout: 1000 }, (res) => {
          res.resume();
          resolve(true);
        });
        req.on("error", () => resolve(false));
        req.on("timeout", () => req.destroy());
      });
      if (ok) break;
      if (Date.now() > end) throw new Error(`worker ${name} did not listen on ${port}: ${out}`);
      await sleep(100);
    }
  }
  return w;
}

export const API_KEY = "test-api-key";

export async function startHttpGateway(redisUrl: string, endpoints: EndpointConfig[], extra: Partial<GatewayOptions> = {}): Promise<Gateway> {
  const { createGateway } = require("../../gateway/src/index") as typeof import("../../gateway/src/index");
  return createGateway({
    redisUrl,
    port: 0,
    host: "127.0.0.1",
    scalerPort: 0,
    metricsPort: null,
    apiKeys: [API_KEY],
    endpoints,
    timings: { ...TEST_TIMINGS, httpHealthStartingMs: 50, httpHealthReadyMs: 300, ...(extra.timings ?? {}) },
    logLevel: process.env.LONGSHORE_TEST_LOG_LEVEL || "silent",
    prefix: `h${Math.random().toString(36).slice(2, 8)}`,
    ...extra,
  });
}

/** Adds a worker process to the gateway's pool of `ep` (what the pod watch does for a running pod). */
export function addWorker(gw: Gateway, ep: string, w: HttpWorkerProc, draining = false) {
  gw.http.poolFor(ep).upsert({ id: w.name, host: "127.0.0.1", port: w.port, draining });
}

export interface RawRes {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** ms from sending to each chunk's arrival */
  chunkTimes: number[];
}

/** A raw HTTP/1.1 request (lets a test set Host and see chunks as they arrive). */
export function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string; timeoutMs?: number } = {}): Promise<RawRes> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const req = http.request(url, { method: opts.method ?? "GET", headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const chunkTimes: number[] = [];
      res.on("data", (c: Buffer) => {
        chunks.push(c);
        chunkTimes.push(Date.now() - t0);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), chunkTimes }));
      res.on("aborted", () => reject(Object.assign(new Error("response aborted"), { partial: Buffer.concat(chunks).toString() })));
      res.on("error", (e) => reject(e));
    });
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error("client timeout")));
    req.on("error", reject);
    req.end(opts.body);
  });
}
