// `longshore status`: one screen over every endpoint — worker states, queue depth, the oldest waiting job,
// p50/p90 delay and execution time, recent failures with their reasons — from the gateway's admin API
// (GET /admin/v1/status with an admin key; never Redis directly). --watch redraws it, --json prints the
// API's answer for scripts.
import type { AdminStatus, EndpointStatus, Quantiles } from "../gateway/src/routes/admin";

export type { AdminStatus, EndpointStatus } from "../gateway/src/routes/admin";

export class StatusError extends Error {}

export async function fetchStatus(gatewayUrl: string, adminKey: string, endpoint?: string, timeoutMs = 10_000): Promise<AdminStatus> {
  const u = new URL("/admin/v1/status", gatewayUrl);
  if (endpoint) u.searchParams.set("endpoint", endpoint);
  let r: Response;
  try {
    r = await fetch(u, { headers: { authorization: `Bearer ${adminKey}` }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new StatusError(`cannot reach the gateway at ${u.origin}: ${(e as Error).message}`);
  }
  const text = await r.text();
  if (r.status === 401) throw new StatusError(`the gateway refused the admin key (401): use the platform's admin key (output adminKey, or key adminKeys of the Secret named by output apiKeySecretName), not a client API key`);
  if (r.status !== 200) throw new StatusError(`GET ${u.pathname}: HTTP ${r.status} ${text.slice(0, 300)}`);
  try {
    return JSON.parse(text) as AdminStatus;
  } catch {
    throw new StatusError(`GET ${u.pathname}: the answer is not JSON: ${text.slice(0, 200)}`);
  }
}

/** 850 ms, 12.3 s, 4m05s */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

const pair = (q: Quantiles | null) => (q ? `${duration(q.p50)} / ${duration(q.p90)}` : "-");

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  // first column left-aligned, status left-aligned, numbers right-aligned
  return rows.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd());
}

function clock(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

/** The screen, as plain text (no colour: it reads the same in a log, a pipe or tmux). */
export function formatStatus(s: AdminStatus, o: { gatewayUrl: string; namespace?: string; width?: number }): string {
  const width = o.width ?? 120;
  const cut = (line: string) => (line.length > width ? line.slice(0, width - 1) + "…" : line);
  const out: string[] = [];
  out.push(`longshore status — ${o.gatewayUrl} — ${clock(s.at)}`);
  out.push("");
  if (!s.endpoints.length) {
    out.push("no endpoints (the gateway discovered none)");
    return out.join("\n") + "\n";
  }
  const rows = [["ENDPOINT", "STATUS", "IDLE", "RUN", "INIT", "THROT", "UNHLTH", "QUEUED", "IN-PROG", "OLDEST", "DELAY p50/p90", "EXEC p50/p90"]];
  for (const e of s.endpoints) {
    rows.push([
      e.id, e.status === "healthy" ? "healthy" : "UNHEALTHY",
      String(e.workers.idle), String(e.workers.running), String(e.workers.initializing), String(e.workers.throttled), String(e.workers.unhealthy),
      String(e.queue.waiting + e.queue.waitingLowPriority), String(e.queue.inProgress),
      e.queue.oldestWaitingSeconds === null ? "-" : duration(e.queue.oldestWaitingSeconds * 1000),
      pair(e.latency.delayMs), pair(e.latency.executionMs),
    ]);
  }
  out.push(...table(rows).map(cut));
  const notes: string[] = [];
  for (const e of s.endpoints) {
    if (e.reason) notes.push(`  ${e.id}: ${e.reason}`);
    for (const w of e.workerList) if ((w.state === "unhealthy" || w.state === "throttled") && w.reason) notes.push(`  ${e.id}/${w.id} ${w.state}: ${w.reason}`);
  }
  if (notes.length) {
    out.push("", "Problems");
    out.push(...notes.slice(0, 12).map(cut));
    if (notes.length > 12) out.push(`  … ${notes.length - 12} more (--json lists every worker)`);
  }
  const failures = s.endpoints.flatMap((e) => e.recentFailures.map((f) => ({ ep: e.id, ...f }))).sort((a, b) => b.at - a.at).slice(0, 8);
  out.push("", "Recent failures");
  if (!failures.length) out.push("  none");
  for (const f of failures) out.push(cut(`  ${clock(f.at).slice(11, 19)}  ${f.ep}  ${f.id}  ${f.status}  ${f.error.replace(/\s+/g, " ")}`));
  const ns = o.namespace ?? "<namespace>";
  out.push("", "One job's logs: longshore logs <job-id> --endpoint <id>", `  or: kubectl logs -n ${ns} -l longshore.dev/endpoint=<id> --prefix --tail=-1 | grep <job-id>`);
  return out.map(cut).join("\n") + "\n";
}

export interface StatusOptions {
  gatewayUrl: string;
  adminKey: string;
  endpoint?: string;
  json: boolean;
  watch: boolean;
  intervalS: number;
  namespace?: string;
  out: NodeJS.WritableStream;
  /** --watch stops when this resolves (tests; the CLI stops on SIGINT) */
  until?: Promise<void>;
}

/** Runs the command; resolves with the exit code (0, or 1 when an endpoint is unhealthy in a one-shot run). */
export async function runStatus(o: StatusOptions): Promise<number> {
  const once = async () => {
    const s = await fetchStatus(o.gatewayUrl, o.adminKey, o.endpoint);
    if (o.json) o.out.write(JSON.stringify(s) + "\n");
    else {
      const width = (o.out as NodeJS.WriteStream).columns;
      const screen = formatStatus(s, { gatewayUrl: o.gatewayUrl, namespace: o.namespace, width: width && width > 40 ? width : 120 });
      // --watch: clear and redraw in place (ANSI home + clear), as `watch` does
      o.out.write(o.watch ? `\x1b[H\x1b[2J${screen}` : screen);
    }
    return s;
  };
  if (!o.watch) {
    const s = await once();
    return s.endpoints.some((e) => e.status !== "healthy") ? 1 : 0;
  }
  let stop = false;
  void o.until?.then(() => (stop = true));
  while (!stop) {
    try {
      await once();
    } catch (e) {
      o.out.write(`${o.watch && !o.json ? "\x1b[H\x1b[2J" : ""}longshore status: ${(e as Error).message} (retrying)\n`);
    }
    await Promise.race([new Promise((r) => setTimeout(r, o.intervalS * 1000)), o.until ?? new Promise(() => undefined)]);
  }
  return 0;
}
