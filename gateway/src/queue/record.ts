// The job record: one hash per job (key Keys.rec(id)), the single state machine of a job — RunPod's
// statuses plus who holds it. Field names are short and stay as they are: records written by earlier
// versions are read by this one (see docs/gateway.md#the-job-record). The Lua scripts use the same
// names; this is their legend.

export type JobStatus = "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT";
export const TERMINAL = new Set<string>(["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]);

/** Stored field names of the record hash (every field there is). */
export const F = {
  /** endpoint id */
  endpoint: "ep",
  /** JobStatus */
  status: "st",
  /** job payload JSON: {"input":..,"s3Config"?} */
  payload: "in",
  /** created at (ms since the epoch; reset by /retry) */
  createdAt: "ca",
  /** started at: taken by a worker (ms) */
  startedAt: "sa",
  /** finished at (ms) */
  finishedAt: "fa",
  /** worker id that holds the job (IN_PROGRESS) or finished it */
  worker: "w",
  /** lease token of the current attempt */
  token: "tk",
  /** former workers: "|w1|w2|" — every worker that took the job; any of them may still deliver its result */
  formerWorkers: "pw",
  /** execution timeout (ms) */
  executionTimeout: "xt",
  /** ttl (ms) from submission: a job not finished by then is removed, queued or running (RunPod) */
  ttl: "ttl",
  /** "1" = lowPriority */
  lowPriority: "lp",
  /** "1" = submitted with /runsync (shorter retention) */
  sync: "sy",
  /** webhook URL */
  webhook: "wh",
  /** output JSON (COMPLETED) */
  output: "out",
  /** error JSON (FAILED, TIMED_OUT) */
  error: "err",
  /** latest progress output JSON (job-done with status IN_PROGRESS) */
  progress: "pg",
  /** stream cursor: chunks already delivered by /stream */
  streamCursor: "sc",
  /** "1" once the job has a stream list (format 2) */
  streamed: "sn",
  /** retries (/retry) */
  retries: "rt",
  /** stalls: times the job lost its worker (lease lapsed) */
  stalls: "stl",
} as const;

/** Wake-up messages on the events channel (Keys.events), and the same names as local events. */
export const EV = {
  /** terminal (or dropped) */
  done: (id: string) => `d|${id}`,
  /** new stream chunk */
  chunk: (id: string) => `s|${id}`,
  /** stop signal for a worker */
  stop: (ep: string, worker: string) => `x|${ep}|${worker}`,
  /** a job was queued on ep (the published message also names the replica that queued it) */
  queued: (ep: string) => `new|${ep}`,
} as const;

export interface StatusObject {
  id: string;
  status: JobStatus;
  delayTime?: number;
  executionTime?: number;
  output?: unknown;
  error?: unknown;
  workerId?: string;
  retries?: number;
}

/** The record fields status() reads, in this order. */
export const STATUS_FIELDS = [F.endpoint, F.status, F.createdAt, F.startedAt, F.finishedAt, F.worker, F.output, F.error, F.progress, F.retries] as const;

/**
 * RunPod's status object from a job record's fields (times in ms since the epoch, as strings in Redis):
 * status() reads them from the record, done() has them at hand when it answers a local waiter.
 */
export function statusObject(
  id: string, status: JobStatus,
  f: { ca: string | null; sa: string | null; fa: string | number | null; w: string | null; rt: string | null },
  output: unknown, error: unknown,
): StatusObject {
  const s: StatusObject = { id, status };
  const ca = Number(f.ca);
  if (f.sa) {
    s.delayTime = Number(f.sa) - ca;
    if (f.fa) s.executionTime = Number(f.fa) - Number(f.sa);
  } else if (f.fa) {
    s.delayTime = Number(f.fa) - ca;
  }
  if (f.w) s.workerId = f.w;
  if (output !== undefined) s.output = output;
  if (error !== undefined) s.error = error;
  if (f.rt) s.retries = Number(f.rt);
  return s;
}

/** status object from the STATUS_FIELDS values, or null when the record is missing or on another endpoint */
export function statusFromFields(ep: string, id: string, f: (string | null)[]): StatusObject | null {
  const [owner, st, ca, sa, fa, w, out, err, pg, rt] = f;
  if (!st || owner !== ep) return null;
  const output = out !== null ? JSON.parse(out) : pg !== null ? JSON.parse(pg) : undefined;
  const error = err !== null ? JSON.parse(err) : undefined;
  return statusObject(id, st as JobStatus, { ca, sa, fa, w, rt }, output, error);
}
