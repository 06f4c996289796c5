/**
 * Starts a private, throw-away redis-server (the Debian package) on a random loopback port for
 * `longshore test --local`: the same Redis the gateway uses in a cluster, with no persistence since the
 * queue lives only as long as the test run. (The test suites have their own harness in test/helpers;
 * the shipped CLI cannot depend on test files.)
 */
import { spawn, execFileSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

export interface LocalRedis {
  url: string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** true when a Redis on 127.0.0.1:<port> answers PING. */
export function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let buf = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on("error", () => done(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG"));
    });
  });
}

export async function startLocalRedis(): Promise<LocalRedis> {
  const bin = process.env.REDIS_SERVER_BIN || "redis-server";
  try {
    execFileSync(bin, ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error(`--local needs redis-server (${bin} not found): install the Debian package redis-server, or set REDIS_SERVER_BIN`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-local-redis-"));
  let lastErr = "";
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const child = spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stdout!.on("data", (d) => (log += d));
    child.stderr!.on("data", (d) => (log += d));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && child.exitCode === null) {
      if (await ping(port)) {
        return {
          url: `redis://127.0.0.1:${port}`,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill("SIGTERM");
              await exited;
            }
            fs.rmSync(dir, { recursive: true, force: true });
          },
        };
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGKILL");
    lastErr = log;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error(`redis-server did not start: ${lastErr.slice(-1000)}`);
}
