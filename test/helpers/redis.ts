// Starts a REAL redis-server (Debian package) for tests: random loopback port, private temp dir,
// AOF persistence on (appendfsync always, the same guarantee the gateway documents), no RDB snapshots.
// `scripts/install-deps.sh` installs redis-server; when it is missing we fail with a clear message
// rather than installing packages from inside a test run.
import { spawn, ChildProcess, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { freePort, ping } from "../../cli/redisServer";

export interface TestRedis {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  /** data directory (holds appendonlydir/) */
  dir: string;
  /** graceful stop (SIGTERM: Redis flushes AOF and exits); the data dir is kept until stop({ removeData: true }) */
  stop(opts?: { removeData?: boolean }): Promise<void>;
  /** SIGKILL the server (no chance to flush anything beyond what AOF already wrote) */
  kill(): Promise<void>;
  /** start again on the same port and data dir (after stop/kill, or kills it first when running) */
  restart(opts?: { hard?: boolean }): Promise<void>;
}

export interface StartRedisOptions {
  /** "always" (default) or "everysec" */
  appendfsync?: "always" | "everysec" | "no";
  /** extra redis-server arguments, e.g. ["--maxmemory", "64mb"] */
  args?: string[];
}

let checked = false;
function redisServerBinary(): string {
  const bin = process.env.REDIS_SERVER_BIN || "redis-server";
  if (!checked) {
    try {
      execFileSync(bin, ["--version"], { stdio: "ignore" });
    } catch {
      throw new Error(
        `redis-server not found (${bin}). Install it with 'bash scripts/install-deps.sh' ` +
          `(Debian package redis-server) or set REDIS_SERVER_BIN.`,
      );
    }
    checked = true;
  }
  return bin;
}

// freePort/ping are the shipped CLI's (cli/redisServer.ts): one implementation for both.
export { freePort };

export async function startRedis(opts: StartRedisOptions = {}): Promise<TestRedis> {
  const bin = redisServerBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-redis-"));
  let port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = "";

  const launch = async (): Promise<void> => {
    const args = [
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--dir", dir,
      "--appendonly", "yes",
      "--appendfsync", opts.appendfsync ?? "always",
      "--save", "",
      "--daemonize", "no",
      "--protected-mode", "yes",
      "--logfile", "",
      "--loglevel", "warning",
      ...(opts.args ?? []),
    ];
    log = "";
    const c = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    c.stdout!.on("data", (d) => (log += d.toString()));
    c.stderr!.on("data", (d) => (log += d.toString()));
    exited = new Promise((resolve) => c.once("exit", () => resolve()));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null) break;
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    c.kill("SIGKILL");
    throw new Error(`redis-server did not start on port ${port}: ${log.slice(-2000)}`);
  };

  // A random free port can be taken between probe and bind; retry a few times with a new port.
  for (let attempt = 0; ; attempt++) {
    try {
      await launch();
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
      port = await freePort();
    }
  }

  const stopChild = async (signal: NodeJS.Signals) => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      await exited;
    }
  };

  const handle: TestRedis = {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dir,
    async stop(o = {}) {
      await stopChild("SIGTERM");
      if (o.removeData) fs.rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      await stopChild("SIGKILL");
    },
    async restart(o = {}) {
      await stopChild(o.hard ? "SIGKILL" : "SIGTERM");
      await launch();
    },
  };
  return handle;
}
