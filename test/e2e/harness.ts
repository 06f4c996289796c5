// Shared plumbing for the end-to-end suite: the proving ground's environment, kubectl, and polling.
// The suite needs a running proving ground (`proving-ground/pg up`); it fails (never skips) without one.
import { execFile, execFileSync } from "child_process";
import * as path from "path";

export const REPO = path.resolve(__dirname, "../..");

/** Loads `proving-ground/env.sh` (PATH with pulumi + plugins, PULUMI_*, KUBECONFIG, BUILDKIT_HOST, …) into process.env. */
export function loadProvingGroundEnv(): void {
  const out = execFileSync("bash", ["-c", `set -a; . "${REPO}/proving-ground/env.sh" >/dev/null; env -0`], { encoding: "utf8" });
  for (const entry of out.split("\0")) {
    const i = entry.indexOf("=");
    if (i > 0) process.env[entry.slice(0, i)] = entry.slice(i + 1);
  }
}

/** Fails with the proving ground's own report when any part is down. */
export function requireProvingGround(): void {
  try {
    execFileSync("bash", [path.join(REPO, "proving-ground/pg"), "check"], { stdio: "pipe", encoding: "utf8", timeout: 180_000 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`the proving ground is not up — run \`proving-ground/pg up\` first.\n${err.stderr ?? ""}${err.stdout ?? ""}`);
  }
}

export function kubectl(args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("kubectl", args, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 32 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout));
  });
}

export async function kubectlJson<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, "-o", "json"])) as T;
}

/** Polls `probe` until it returns a value other than undefined, or fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function log(msg: string): void {
  process.stdout.write(`      [e2e ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
