// The reverse proxy of HTTP (load-balancing) endpoints: `<gateway>/http/<id>/<path>` (path form) and, with a
// domain configured, `<id>.<domain>/<path>` (RunPod's `https://ENDPOINT_ID.api.runpod.ai/<path>` form).
//
// It runs on the gateway's HTTP server ahead of Fastify (index.ts serverFactory): a proxied request is never
// parsed, validated or logged by the job API's machinery. Per request:
//   1. auth with the gateway's API keys (the same keys and failed-auth limit as /v2); the Authorization header
//      is not forwarded, so the platform's key never reaches the worker image;
//   2. the body is received in full (bounded by httpBodyBytes and the gateway's shared body budget), so a request
//      held while the endpoint wakes does not hold half an upload, and a refused connection can be retried on
//      another worker;
//   3. a worker from the endpoint's pool (pool.ts: least outstanding requests, held in its queue while cold or
//      busy, 503 + reason after queueTimeoutMs);
//   4. method, path, query, headers and body go to the worker; status, headers and body come back as they
//      arrive (chunked / SSE streamed, never buffered), with X-Longshore-Worker-Id and X-Runpod-Worker-Id.
// Failures are answered, never left hanging: a worker that refuses the connection is retried on another
// (3 tries); one that dies before answering is a 502 with the reason; one that sends no headers within
// requestTimeoutMs is a 504; one that dies mid-response cuts the client's response (its chunked body ends
// without its terminator, which every HTTP client reports as an error).
//
// Hand-written on node's http rather than a proxy library (http-proxy, @fastify/reply-from): the worker is
// chosen after the request has waited, a retry needs the buffered body, and the slot accounting must see the
// exact end of each forwarded exchange; with node's http that is ~150 lines the tests drive end to end.
import * as http from "http";
import type { Logger } from "pino";
import { DEFAULT_HTTP_REQUEST_TIMEOUT_MS, ENDPOINT_ID_PATTERN, HTTP_PATH_PREFIX } from "../../../contract";
import type { ApiKeys, AuthFailures } from "../auth";
import type { BodyBudget } from "../budget";
import type { EndpointRegistry } from "../endpoints";
import { PoolError, PoolTimings, Worker, WorkerPool } from "./pool";

export const WORKER_ID_HEADER = "x-longshore-worker-id";
export const RUNPOD_WORKER_ID_HEADER = "x-runpod-worker-id";

/** Hop-by-hop headers (RFC 9110 7.6.1) and the ones the proxy sets itself: not copied in either direction. */
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"]);
const NOT_FORWARDED = new Set([...HOP, "authorization", "content-length", "expect"]);

export interface HttpProxyOptions {
  registry: EndpointRegistry;
  apiKeys: ApiKeys;
  authFailures: AuthFailures;
  bodyBudget: BodyBudget;
  /** largest request body (bytes) */
  bodyLimit: number;
  /** host-based form: requests to `<id>.<domain>` go to endpoint <id>; unset = path form only */
  domain?: string;
  poolTimings: PoolTimings;
  log: Logger;
  /** an endpoint went busy / idle (the scaler pushes it to KEDA) */
  onActivity(endpointId: string, busy: boolean): void;
}

export interface ProxyRoute {
  endpointId: string;
  /** path + query sent to the worker */
  path: string;
  /** the prefix taken off (path form), sent as X-Forwarded-Prefix */
  prefix?: string;
}

function json(res: http.ServerResponse, status: number, body: object, extra: Record<string, string | number> = {}) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const b = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(b), ...extra });
  res.end(b);
}

/** 413, then the rest of the upload is discarded for a moment (so the client can read the answer) and the
 *  connection closed: an unread body would otherwise hold the connection until the server's requestTimeout. */
function tooLarge(req: http.IncomingMessage, res: http.ServerResponse, limit: number) {
  res.setHeader("connection", "close");
  json(res, 413, { error: `request body too large: the limit of HTTP endpoints is ${limit} bytes (${(limit / 1048576).toFixed(0)} MB)` });
  req.resume();
  setTimeout(() => req.socket.destroy(), 2000).unref();
}

export class HttpProxy {
  private readonly pools = new Map<string, WorkerPool>();
  /** keep-alive connections to the workers (one pool of sockets for all endpoints) */
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: "lifo" });
  /** the health checks' own connections (a proxied request never lands on a socket a health check used) */
  private readonly healthAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
  private shuttingDown = false;
  private readonly domain?: string;

  constructor(private readonly o: HttpProxyOptions) {
    this.domain = o.domain?.toLowerCase().replace(/^\.+|\.+$/g, "");
    o.registry.on("removed", (id: string) => {
      this.pools.get(id)?.close();
      this.pools.delete(id);
    });
  }

  /** The endpoint's pool (created at first use); undefined for an endpoint that is not an HTTP endpoint. */
  pool(endpointId: string): WorkerPool | undefined {
    return this.pools.get(endpointId) ?? (this.o.registry.get(endpointId)?.http ? this.poolFor(endpointId) : undefined);
  }

  /** The pool even before the endpoint's settings arrived (pods can be watched before their Secret). */
  poolFor(endpointId: string): WorkerPool {
    let p = this.pools.get(endpointId);
    if (!p) {
      p = new WorkerPool(endpointId, () => this.o.registry.get(endpointId)?.http, this.healthAgent, this.o.poolTimings, (busy) => this.o.onActivity(endpointId, busy));
      this.pools.set(endpointId, p);
    }
    return p;
  }

  /** This replica's scaler counts of an HTTP endpoint (waiting + in flight), undefined for other endpoints. */
  counts(endpointId: string): { waiting: number; active: number; oldestCreatedAt: number } | undefined {
    if (!this.o.registry.get(endpointId)?.http) return undefined;
    const c = this.pools.get(endpointId)?.counts() ?? { waiting: 0, inflight: 0, oldestCreatedAt: 0 };
    return { waiting: c.waiting, active: c.inflight, oldestCreatedAt: c.oldestCreatedAt || -1 };
  }

  /** The endpoints this replica has a pool for (the ones it can have counts of). */
  endpointIds(): string[] {
    return [...this.pools.keys()];
  }

  /** Whether the request is the proxy's, and for which endpoint and path. */
  route(req: http.IncomingMessage): ProxyRoute | undefined {
    const url = req.url ?? "/";
    if (this.domain) {
      const host = (req.headers.host ?? "").toLowerCase().replace(/:\d+$/, "");
      if (host.endsWith("." + this.domain)) {
        const label = host.slice(0, -(this.domain.length + 1));
        if (ENDPOINT_ID_PATTERN.test(label)) return { endpointId: label, path: url.startsWith("/") ? url : "/" + url };
      }
    }
    if (url.startsWith(HTTP_PATH_PREFIX + "/")) {
      const rest = url.slice(HTTP_PATH_PREFIX.length + 1);
      const m = /^([^/?#]*)(.*)$/s.exec(rest)!;
      const path = m[2] === "" ? "/" : m[2].startsWith("?") ? "/" + m[2] : m[2];
      return { endpointId: decodeURIComponent(m[1]), path, prefix: `${HTTP_PATH_PREFIX}/${m[1]}` };
    }
    return undefined;
  }

  beginShutdown() {
    this.shuttingDown = true;
  }

  close() {
    this.shuttingDown = true;
    for (const p of this.pools.values()) p.close();
    this.pools.clear();
    this.agent.destroy();
    this.healthAgent.destroy();
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse, r: ProxyRoute) {
    this.serve(req, res, r).catch((e) => {
      this.o.log.error({ err: (e as Error).message, stack: (e as Error).stack, endpoint: r.endpointId }, "http proxy failed");
      json(res, 502, { error: `gateway error: ${(e as Error).message}` });
    });
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, r: ProxyRoute) {
    if (this.shuttingDown) {
      res.setHeader("connection", "close");
      return json(res, 503, { error: "gateway is shutting down; retry" }, { "retry-after": 1 });
    }
    const ip = req.socket.remoteAddress ?? "?";
    const blocked = this.o.authFailures.blockedFor(ip);
    if (blocked) return json(res, 429, { error: `too many failed authentications from ${ip}: try again in ${Math.ceil(blocked / 1000)} s` }, { "retry-after": Math.ceil(blocked / 1000) });
    if (!this.o.apiKeys.check(req.headers.authorization)) {
      this.o.authFailures.fail(ip);
      return json(res, 401, { error: "unauthorized: a valid API key is required (Authorization: Bearer <key>)" });
    }
    const ep = this.o.registry.get(r.endpointId);
    if (!ep) return json(res, 404, { error: `endpoint ${r.endpointId} not found` });
    if (!ep.http) return json(res, 404, { error: `endpoint ${r.endpointId} is a queue endpoint, not an HTTP endpoint: send jobs to /v2/${r.endpointId}/run or /runsync` });
    const pool = this.pool(r.endpointId)!;

    // ---- the request body, in full
    const body = await this.readBody(req, res);
    if (body === undefined) return;
    // ---- a worker, then the exchange
    const tried = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      const a = pool.acquire(tried);
      const gone = () => a.withdraw();
      res.once("close", gone);
      let w: Worker;
      try {
        w = await a.worker;
      } catch (e) {
        res.off("close", gone);
        // the client went away while it waited: make sure its connection is gone too
        if (res.destroyed || (e instanceof PoolError && e.status === 499)) return void req.socket.destroy();
        if (e instanceof PoolError) return json(res, e.status, { error: e.message }, e.retryAfterS ? { "retry-after": e.retryAfterS } : {});
        throw e;
      }
      res.off("close", gone);
      if (res.destroyed || req.destroyed && !req.complete) {
        pool.release(w);
        return;
      }
      const outcome = await this.forward(req, res, r, pool, w, body, ep.http.requestTimeoutMs ?? DEFAULT_HTTP_REQUEST_TIMEOUT_MS, false);
      if (outcome === "retry" && attempt < 3) {
        tried.add(w.id);
        continue;
      }
      if (outcome === "retry") return json(res, 502, { error: `endpoint ${r.endpointId}: ${attempt} workers refused the connection (${[...tried, w.id].join(", ")}); retry shortly` }, { "retry-after": 1 });
      return;
    }
  }

  /** Reads the whole body (undefined = an answer was already sent). */
  private async readBody(req: http.IncomingMessage, res: http.ServerResponse): Promise<Buffer | undefined> {
    const limit = this.o.bodyLimit;
    const cl = req.headers["content-length"] !== undefined ? Number(req.headers["content-length"]) : undefined;
    const chunked = req.headers["transfer-encoding"] !== undefined;
    if (!chunked && (!cl || !(cl > 0))) return Buffer.alloc(0);
    if (cl !== undefined && cl > limit) {
      tooLarge(req, res, limit);
      return undefined;
    }
    const want = Math.min(cl && cl > 0 ? cl : limit, limit);
    const ok = await this.o.bodyBudget.reserve(want);
    if (!ok) {
      json(res, 503, { error: `gateway busy: request bodies in flight are over its memory budget (${this.o.bodyBudget.total} bytes); retry shortly` }, { "retry-after": 1 });
      return undefined;
    }
    res.once("close", () => this.o.bodyBudget.free(want));
    return new Promise<Buffer | undefined>((resolve) => {
      const chunks: Buffer[] = [];
      let n = 0;
      let over = false;
      req.on("data", (c: Buffer) => {
        if (over) return;
        n += c.length;
        if (n > limit) {
          over = true;
          tooLarge(req, res, limit);
          return resolve(undefined);
        }
        chunks.push(c);
      });
      req.on("end", () => !over && resolve(Buffer.concat(chunks, n)));
      req.on("error", () => !over && resolve(undefined));
      req.on("close", () => !req.complete && !over && resolve(undefined));
    });
  }

  /**
   * One exchange with one worker. "retry": the connection was refused, nothing reached the worker. A kept-alive
   * connection reset as it was reused (the worker closed it while idle, or the worker died) is tried once more on
   * a fresh connection to the same worker (`fresh`): refused then means the worker is gone (502).
   */
  private forward(req: http.IncomingMessage, res: http.ServerResponse, r: ProxyRoute, pool: WorkerPool, w: Worker, body: Buffer, timeoutMs: number, fresh: boolean): Promise<"done" | "retry"> {
    return new Promise((resolve) => {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        pool.release(w);
      };
      const headers: [string, string][] = [];
      const raw = req.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) if (!NOT_FORWARDED.has(raw[i].toLowerCase())) headers.push([raw[i], raw[i + 1]]);
      const prior = req.headers["x-forwarded-for"];
      const xff = prior ? `${prior}, ${req.socket.remoteAddress}` : req.socket.remoteAddress ?? "";
      const flat: string[] = [];
      for (const [k, v] of headers) if (!/^x-forwarded-(for|host|proto|prefix)$/i.test(k)) flat.push(k, v);
      flat.push("x-forwarded-for", xff, "x-forwarded-proto", "http", "x-forwarded-host", req.headers.host ?? "");
      if (r.prefix) flat.push("x-forwarded-prefix", r.prefix);
      if (body.length > 0 || req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined) flat.push("content-length", String(body.length));

      const up = http.request({ host: w.host, port: pool.portOf(w), method: req.method, path: r.path, headers: flat as unknown as http.OutgoingHttpHeaders, agent: fresh ? false : this.agent });
      let answered = false;
      const timer = setTimeout(() => {
        if (answered) return;
        up.destroy(new Error("timeout"));
        json(res, 504, { error: `endpoint ${r.endpointId}: worker ${w.id} did not start answering within ${timeoutMs / 1000} s (requestTimeout)` }, { [WORKER_ID_HEADER]: w.id });
        release();
        resolve("done");
      }, timeoutMs);
      const clientGone = () => {
        if (!res.writableFinished) up.destroy();
        clearTimeout(timer);
        release();
        resolve("done");
      };
      res.once("close", clientGone);

      up.on("response", (ur) => {
        answered = true;
        clearTimeout(timer);
        const out: string[] = [];
        const rh = ur.rawHeaders;
        for (let i = 0; i < rh.length; i += 2) {
          const k = rh[i].toLowerCase();
          if (HOP.has(k) || k === WORKER_ID_HEADER || k === RUNPOD_WORKER_ID_HEADER) continue;
          out.push(rh[i], rh[i + 1]);
        }
        out.push("X-Longshore-Worker-Id", w.id, "X-Runpod-Worker-Id", w.id);
        if (res.destroyed) {
          ur.destroy();
          return;
        }
        res.writeHead(ur.statusCode ?? 502, ur.statusMessage, out as unknown as http.OutgoingHttpHeaders);
        // a streamed answer (no content-length: chunked, SSE): headers go out now, its first event may come much
        // later; a sized answer goes out with its first body bytes (one write instead of two)
        if (ur.headers["content-length"] === undefined) res.flushHeaders();
        ur.on("data", (c: Buffer) => {
          if (!res.write(c)) {
            ur.pause();
            res.once("drain", () => ur.resume());
          }
        });
        ur.on("end", () => {
          res.end();
        });
        // the worker died mid-response: cut the client's response (no clean end: the client sees an error)
        ur.on("aborted", () => res.destroy());
        ur.on("error", () => res.destroy());
        ur.on("close", () => {
          if (!ur.complete) res.destroy();
          release();
        });
      });
      up.on("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (answered || released) return;
        res.off("close", clientGone);
        const code = e.code ?? e.message;
        if (up.reusedSocket && code === "ECONNRESET" && !fresh) {
          // keep the slot: the same worker, once more, on a new connection
          released = true;
          return resolve(this.forward(req, res, r, pool, w, body, timeoutMs, true));
        }
        release();
        if ((code === "ECONNREFUSED" || code === "EHOSTUNREACH") && !fresh) {
          // nothing reached the worker: safe to send elsewhere
          pool.suspect(w, `refused a connection (${code})`);
          return resolve("retry");
        }
        const why = fresh ? `reset the connection, then refused a new one (${code})` : `closed the connection before answering (${code})`;
        json(res, 502, { error: `endpoint ${r.endpointId}: worker ${w.id} ${why}; it may have crashed or been stopped` }, { [WORKER_ID_HEADER]: w.id, [RUNPOD_WORKER_ID_HEADER]: w.id });
        pool.suspect(w, `connection failed mid-request (${code})`);
        resolve("done");
      });
      up.end(body.length > 0 ? body : undefined);
    });
  }
}
