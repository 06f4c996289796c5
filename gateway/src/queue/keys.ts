// Redis key names of the queue (P = the gateway's key prefix, default "ls"). One place, so the Lua
// scripts' KEYS and the TypeScript side cannot drift apart. docs/gateway.md#redis-layout lists them.

export class Keys {
  constructor(readonly prefix: string) {}

  /** job record hash (fields: record.ts) */
  rec(id: string) {
    return `${this.prefix}:j:${id}`;
  }
  /** record keys are recPrefix + id (the Lua scripts build them from it) */
  get recPrefix() {
    return `${this.prefix}:j:`;
  }
  /** stream chunks of a job (list of JSON strings) */
  stream(id: string) {
    return `${this.prefix}:s:${id}`;
  }
  /** queued jobs of an endpoint, newest on the left; the take script pops on the right */
  wait(ep: string) {
    return `${this.prefix}:q:${ep}`;
  }
  /** queued lowPriority jobs: served when `wait` is empty, and not part of the scaling signal */
  low(ep: string) {
    return `${this.prefix}:ql:${ep}`;
  }
  /** running jobs of an endpoint: zset id -> the earlier of lease expiry and execution deadline (ms) */
  running(ep: string) {
    return `${this.prefix}:r:${ep}`;
  }
  /** unfinished (queued and running) jobs' ttl: zset "<ep>|<id>" -> expiry (ms) */
  get ttl() {
    return `${this.prefix}:ttl`;
  }
  ttlMember(ep: string, id: string) {
    return `${ep}|${id}`;
  }
  /** per-endpoint counters hash: completed, failed, timed_out, cancelled, retried */
  counters(ep: string) {
    return `${this.prefix}:cnt:${ep}`;
  }
  /** worker presence hash: worker id -> "<last seen ms>:<jobs held>" */
  workers(ep: string) {
    return `${this.prefix}:wk:${ep}`;
  }
  /** latency samples of finished jobs: list "<delay ms>:<execution ms>", newest first, 500 kept */
  lat(ep: string) {
    return `${this.prefix}:lat:${ep}`;
  }
  /** recent failures (FAILED / TIMED_OUT): list of JSON {id, status, error, worker, at}, newest first, 50 kept */
  fails(ep: string) {
    return `${this.prefix}:rf:${ep}`;
  }
  /** workers out of dispatch: hash worker id -> JSON {kind: "unhealthy" | "recycle", at, reason, restarts} */
  marks(ep: string) {
    return `${this.prefix}:wm:${ep}`;
  }
  /** ids a worker must stop (set), read by its job-stop long-poll */
  stop(ep: string, worker: string) {
    return `${this.prefix}:stop:${ep}:${worker}`;
  }
  /** pub/sub channel of the wake-ups (messages: see events in record.ts) */
  get events() {
    return `${this.prefix}:ev`;
  }

  // ---- queue format 1 (Longshore 0.1, BullMQ), read once by the migration
  bull(ep: string) {
    const b = `${this.prefix}:bull:${ep}:`;
    return { job: b, wait: `${b}wait`, paused: `${b}paused`, prioritized: `${b}prioritized`, active: `${b}active` };
  }
  /** format 1's execution-deadline index ("<ep>|<id>|<token>"), replaced by running(ep) */
  get formerDeadlines() {
    return `${this.prefix}:dl`;
  }
}
