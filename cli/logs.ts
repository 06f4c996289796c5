// `longshore logs <job-id> --endpoint <id>`: one job's log lines, RunPod's per-request log view. Every
// gateway line about a job carries its id (field jobId) and so does every worker SDK line (runpod-python's
// logger prints the request id; the TS worker SDK too), so the job's lines are the lines of the endpoint's
// worker pods and of the gateway pods that contain the id. Read with kubectl (the user's kubeconfig and
// auth), not through the gateway: logs are the cluster's, and a gateway replica only sees its own.
import { execFile } from "child_process";

export interface LogsOptions {
  jobId: string;
  endpoint: string;
  namespace: string;
  since?: string;
  context?: string;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  kubectl?: (args: string[]) => Promise<string>;
}

const runKubectl = (args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile("kubectl", args, { encoding: "utf8", maxBuffer: 256 << 20, timeout: 120_000 }, (e, so, se) => (e ? reject(new Error(se.trim() || e.message)) : resolve(so))));

/** the kubectl arguments for one selector's logs */
export function logsArgs(o: Pick<LogsOptions, "namespace" | "since" | "context">, selector: string): string[] {
  return [...(o.context ? ["--context", o.context] : []), "logs", "-n", o.namespace, "-l", selector, "--prefix", "--all-containers", "--tail=-1", "--max-log-requests=20", `--since=${o.since ?? "24h"}`];
}

export async function runLogs(o: LogsOptions): Promise<number> {
  const k = o.kubectl ?? runKubectl;
  const sources = [
    { what: "gateway", selector: "app.kubernetes.io/name=longshore-gateway" },
    { what: "workers", selector: `longshore.dev/endpoint=${o.endpoint},app.kubernetes.io/component=worker` },
  ];
  let found = 0;
  for (const s of sources) {
    let text: string;
    try {
      text = await k(logsArgs(o, s.selector));
    } catch (e) {
      o.err.write(`longshore logs: kubectl logs (${s.what}) failed: ${(e as Error).message}\n`);
      continue;
    }
    for (const line of text.split("\n")) {
      if (!line.includes(o.jobId)) continue;
      o.out.write(line + "\n");
      found++;
    }
  }
  if (!found) o.err.write(`longshore logs: no line mentions job ${o.jobId} in the last ${o.since ?? "24h"} (pods that were deleted take their logs with them)\n`);
  return found ? 0 : 1;
}
