// The queue's Lua scripts (lua/*.lua, one atomic transition each) and typed wrappers that take an object.
// Layout as in BullMQ: a file is named <name>-<number of KEYS>.lua, starts with a header listing its
// KEYS, ARGV and return value, and shares code through `--- @include "<name>"` (lua/includes/<name>.lua).
//
// The .lua files are read at start-up from next to this module (ts-node, and the gateway image, whose
// Dockerfile copies them there) or, for `tsc` output in dist/ run from a checkout, from the source tree.
import * as fs from "fs";
import * as path from "path";
import type Redis from "ioredis";
import type { Keys } from "./keys";

const LUA_DIRS = [
  path.join(__dirname, "lua"), // gateway/src/queue (ts-node) and the image's dist/gateway/src/queue
  path.resolve(__dirname, "../../../../gateway/src/queue/lua"), // dist/gateway/src/queue in a checkout
];

export function luaDir(): string {
  const d = LUA_DIRS.find((p) => fs.existsSync(path.join(p, "includes")));
  if (!d) throw new Error(`queue Lua scripts not found (looked in ${LUA_DIRS.join(", ")})`);
  return d;
}

/** Every script: command name -> source with includes expanded, and its key count from the file name. */
export function loadScripts(dir = luaDir()): Map<string, { lua: string; numberOfKeys: number }> {
  const out = new Map<string, { lua: string; numberOfKeys: number }>();
  const include = (src: string, seen: Set<string>): string =>
    src.replace(/^--- @include "([a-z-]+)"$/gm, (_m, name: string) => {
      if (seen.has(name)) return "";
      seen.add(name);
      return include(fs.readFileSync(path.join(dir, "includes", `${name}.lua`), "utf8"), seen);
    });
  for (const f of fs.readdirSync(dir)) {
    const m = /^([a-z-]+)-(\d+)\.lua$/.exec(f);
    if (!m) continue;
    const name = "ls" + m[1].replace(/(^|-)([a-z])/g, (_x, _d, c: string) => c.toUpperCase());
    out.set(name, { lua: include(fs.readFileSync(path.join(dir, f), "utf8"), new Set()), numberOfKeys: Number(m[2]) });
  }
  return out;
}

type Cmd = (...args: (string | number)[]) => Promise<unknown>;
const nil = <T>(v: T | null | undefined) => v ?? null;

/** Retention of a finished job's record: /run jobs, /runsync jobs (ms). */
export interface Retention {
  runMs: number;
  syncMs: number;
}

export class Scripts {
  private readonly cmd: Record<string, Cmd>;

  constructor(redis: Redis, private readonly k: Keys) {
    for (const [name, s] of loadScripts()) redis.defineCommand(name, s);
    this.cmd = redis as unknown as Record<string, Cmd>;
  }

  private call(name: string, ...args: (string | number)[]): Promise<unknown> {
    return this.cmd[name].apply(this.cmd, args);
  }

  create(o: { ep: string; id: string; expiresAt: number; lowPriority: boolean; wake: string; fields: (string | number)[] }): Promise<unknown> {
    const k = this.k;
    return this.call("lsCreate", k.rec(o.id), k.ttl, k.wait(o.ep), k.low(o.ep),
      k.ttlMember(o.ep, o.id), o.expiresAt, o.lowPriority ? "1" : "0", o.id, k.events, o.wake, ...o.fields);
  }

  /** one slot per waiting worker slot (a worker's slots consecutive: its batch is bounded by maxBytes);
   *  returns the jobs handed out (slot index into `slots`) and whether the queue ran empty */
  async take(o: { ep: string; now: number; leaseMs: number; maxBytes: number; slots: { worker: string; token: string }[] }): Promise<{ drained: boolean; jobs: { slot: number; id: string; payload: string }[] }> {
    const k = this.k;
    const r = (await this.call("lsTake", k.wait(o.ep), k.low(o.ep), k.running(o.ep),
      k.recPrefix, o.ep, o.now, o.leaseMs, o.maxBytes, ...o.slots.flatMap((s) => [s.worker, s.token]))) as (string | number)[];
    const jobs: { slot: number; id: string; payload: string }[] = [];
    for (let i = 1; i < r.length; i += 3) jobs.push({ slot: Number(r[i]) - 1, id: String(r[i + 1]), payload: String(r[i + 2]) });
    return { drained: Number(r[0]) === 1, jobs };
  }

  async finish(o: { ep: string; id: string; worker: string; status: string; field: "out" | "err"; value: string; now: number; retention: Retention }) {
    const k = this.k;
    const r = nil((await this.call("lsFinish", k.rec(o.id), k.stream(o.id), k.counters(o.ep), k.running(o.ep), k.wait(o.ep), k.low(o.ep), k.ttl, k.lat(o.ep),
      o.worker, o.status, o.field, o.value, o.now, o.retention.runMs, o.retention.syncMs, k.prefix, o.ep, o.id)) as string[] | "nf" | null);
    if (r === null || r === "nf") return r;
    const [webhook, previous, ca, sa, rt] = r;
    return { webhook, previous, ca, sa, rt };
  }

  async abort(o: { ep: string; id: string; status: string; now: number; retention: Retention; error: string }) {
    const k = this.k;
    const r = nil((await this.call("lsAbort", k.rec(o.id), k.stream(o.id), k.counters(o.ep), k.running(o.ep), k.wait(o.ep), k.low(o.ep), k.ttl,
      o.status, o.now, o.retention.runMs, o.retention.syncMs, k.prefix, o.ep, o.id, o.error)) as string[] | null);
    if (!r) return null;
    const [previous, worker, webhook] = r;
    return { previous, worker, webhook };
  }

  async reap(o: { ep: string; now: number; retention: Retention; maxStalls: number; limit: number; timeoutError: string }) {
    const k = this.k;
    const r = (await this.call("lsReap", k.running(o.ep), k.wait(o.ep), k.low(o.ep), k.counters(o.ep), k.ttl,
      k.prefix, o.ep, o.now, o.retention.runMs, o.retention.syncMs, o.maxStalls, o.limit, o.timeoutError)) as (string | number)[];
    const out: { kind: "timeout" | "failed" | "requeued"; id: string; webhook: string; stalls: number; worker: string }[] = [];
    for (let i = 0; i < r.length; i += 5) out.push({ kind: r[i] as "timeout", id: String(r[i + 1]), webhook: String(r[i + 2]), stalls: Number(r[i + 3]), worker: String(r[i + 4]) });
    return out;
  }

  /** jobs removed at their ttl, with the status they had ('' = record already gone) */
  async expire(o: { now: number; limit: number }): Promise<{ ep: string; id: string; was: string }[]> {
    const r = (await this.call("lsExpire", this.k.ttl, this.k.prefix, o.now, o.limit)) as string[];
    const out: { ep: string; id: string; was: string }[] = [];
    for (let i = 0; i < r.length; i += 3) out.push({ ep: r[i], id: r[i + 1], was: r[i + 2] });
    return out;
  }

  async ping(o: { ep: string; worker: string; now: number; leaseMs: number; ids: string[] }): Promise<number> {
    return Number(await this.call("lsPing", this.k.running(o.ep), this.k.prefix, o.ep, o.worker, o.now, o.leaseMs, ...o.ids));
  }

  /** 1 | "nf" | null (not held by this worker) */
  async progress(o: { ep: string; id: string; worker: string; value: string; now: number; leaseMs: number }) {
    return nil((await this.call("lsProgress", this.k.rec(o.id), this.k.running(o.ep), o.worker, o.value, o.now, o.leaseMs, o.ep, o.id)) as number | "nf" | null);
  }

  /** 1 | "nf" | null (not held by this worker) */
  async streamPush(o: { ep: string; id: string; worker: string; chunk: string; now: number; leaseMs: number }) {
    const k = this.k;
    return nil((await this.call("lsStreamPush", k.rec(o.id), k.stream(o.id), k.running(o.ep), o.worker, o.chunk, k.events, o.now, o.leaseMs, o.ep, o.id)) as number | "nf" | null);
  }

  async streamRead(o: { ep: string; id: string }): Promise<string[] | null> {
    return nil((await this.call("lsStreamRead", this.k.rec(o.id), this.k.stream(o.id), o.ep)) as string[] | null);
  }

  /** 1, the status when not retryable, or null when unknown */
  async retry(o: { ep: string; id: string; now: number; wake: string }) {
    const k = this.k;
    return nil((await this.call("lsRetry", k.rec(o.id), k.stream(o.id), k.counters(o.ep), k.ttl, k.wait(o.ep), k.low(o.ep),
      o.now, o.ep, o.id, k.events, o.wake)) as number | string | null);
  }

  /** waiting jobs -> CANCELLED (purge-queue) or, with status/error, FAILED (crash-loop give-up) */
  async purge(o: { ep: string; now: number; retention: Retention; limit: number; status?: "CANCELLED" | "FAILED"; error?: string }) {
    const k = this.k;
    const extra = o.status ? [o.status, ...(o.error !== undefined ? [o.error] : [])] : [];
    const r = (await this.call("lsPurge", k.wait(o.ep), k.low(o.ep), k.counters(o.ep), k.running(o.ep), k.ttl,
      k.prefix, o.ep, o.now, o.retention.runMs, o.retention.syncMs, o.limit, ...extra)) as (string | number)[];
    const webhooks: { id: string; url: string }[] = [];
    for (let i = 2; i < r.length; i += 2) webhooks.push({ id: String(r[i]), url: String(r[i + 1]) });
    return { popped: Number(r[0]), removed: Number(r[1]), webhooks };
  }

  async counts(ep: string) {
    const k = this.k;
    const [waiting, waitingLow, active, oldestCreatedAt] = ((await this.call("lsCounts", k.wait(ep), k.low(ep), k.running(ep), k.recPrefix)) as number[]).map(Number);
    return { waiting, waitingLow, active, oldestCreatedAt };
  }

  async migrateBullmq(o: { ep: string; now: number; leaseMs: number }): Promise<{ queued: number; running: number }> {
    const k = this.k;
    const b = k.bull(o.ep);
    const [queued, running] = (await this.call("lsMigrateBullmq", b.wait, b.paused, b.prioritized, b.active, k.wait(o.ep), k.low(o.ep), k.running(o.ep), k.formerDeadlines,
      k.prefix, b.job, o.ep, o.now, o.leaseMs)) as number[];
    return { queued: Number(queued), running: Number(running) };
  }
}
