// The gateway's Kubernetes API access: one connection (in-cluster service account or an explicit URL/token),
// plain requests, and a generic list+watch ("informer") of one resource kind in one namespace.
//
// Written on node's http/https rather than @kubernetes/client-node: the gateway needs two call patterns
// (list+watch of a labelled kind, and a handful of single requests), and that client's current major (2.x)
// pulls ~40 transitive packages, its own request stack (undici 8) and Node-22-only typings into the gateway
// image for them. Every use here is covered by tests against a fake API server (test/gateway/lifecycle.test.ts)
// and by the e2e suite against the real one.
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import type { Logger } from "pino";

export interface KubeSourceOptions {
  namespace: string;
  /** default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT */
  apiUrl?: string;
  token?: string;
  caFile?: string;
}

const SA = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string; uid?: string };
}

/** One API server connection. */
export class KubeApi {
  readonly namespace: string;
  private readonly api: URL;
  private readonly ca?: Buffer;

  constructor(private readonly o: KubeSourceOptions) {
    this.namespace = o.namespace;
    this.api = new URL(o.apiUrl ?? `https://${process.env.KUBERNETES_SERVICE_HOST}:${process.env.KUBERNETES_SERVICE_PORT ?? 443}`);
    const caFile = o.caFile ?? `${SA}/ca.crt`;
    if (this.api.protocol === "https:" && fs.existsSync(caFile)) this.ca = fs.readFileSync(caFile);
  }

  private token(): string | undefined {
    if (this.o.token) return this.o.token;
    try {
      // re-read each time: projected service account tokens rotate
      return fs.readFileSync(`${SA}/token`, "utf8").trim();
    } catch {
      return undefined;
    }
  }

  /** Starts a request; the caller reads the response (used for watches, which stream). */
  open(method: string, path: string, onResponse: (res: http.IncomingMessage) => void, body?: unknown, contentType = "application/json"): http.ClientRequest {
    const u = new URL(path, this.api);
    const tok = this.token();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const opts: https.RequestOptions = {
      method,
      headers: {
        accept: "application/json",
        ...(tok ? { authorization: `Bearer ${tok}` } : {}),
        ...(payload ? { "content-type": contentType, "content-length": payload.length } : {}),
      },
      ...(this.ca ? { ca: this.ca } : {}),
    };
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(u, opts, onResponse);
    req.end(payload);
    return req;
  }

  /** One request with a JSON answer: resolves with the status and parsed body (never rejects on an HTTP status). */
  request<T = unknown>(method: string, path: string, body?: unknown, contentType?: string, timeoutMs = 10_000): Promise<{ status: number; body: T }> {
    return new Promise((resolve, reject) => {
      const req = this.open(method, path, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            /* keep the text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
      }, body, contentType);
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`kubernetes ${method} ${path}: timed out after ${timeoutMs} ms`)));
      req.on("error", reject);
    });
  }

  /** `/api/v1/namespaces/<ns>/<plural>` or, with a group, `/apis/<group>/namespaces/<ns>/<plural>` */
  collection(plural: string, group?: string): string {
    const ns = encodeURIComponent(this.namespace);
    return group ? `/apis/${group}/namespaces/${ns}/${plural}` : `/api/v1/namespaces/${ns}/${plural}`;
  }
}

export interface InformerHandlers<T extends KubeObject> {
  /** the full list, after each (re)list: objects not in it are gone */
  reset(items: T[]): void;
  /** ADDED or MODIFIED */
  upsert(obj: T): void;
  /** DELETED */
  remove(obj: T): void;
}

/**
 * List + watch one collection (a path from KubeApi.collection, with an optional label selector); re-lists on
 * 410 Gone or a dropped watch, retrying every 2 s. `start()` resolves after the first successful list.
 */
export class Informer<T extends KubeObject> {
  private stopped = false;
  private req?: http.ClientRequest;
  private retryTimer?: NodeJS.Timeout;
  synced = false;

  constructor(
    private readonly api: KubeApi,
    private readonly path: string,
    private readonly labelSelector: string | undefined,
    private readonly handlers: InformerHandlers<T>,
    private readonly log: Logger,
    /** names the RBAC a failed list needs, in its error */
    private readonly what: string,
  ) {}

  private url(extra = ""): string {
    const q = this.labelSelector ? `labelSelector=${encodeURIComponent(this.labelSelector)}` : "";
    const sep = this.path.includes("?") ? "&" : "?";
    return `${this.path}${q || extra ? sep : ""}${q}${q && extra ? "&" : ""}${extra}`;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      let first = true;
      const list = () => {
        if (this.stopped) return;
        this.req = this.api.open("GET", this.url(), (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d) => (body += d));
          res.on("end", () => {
            if (res.statusCode !== 200) {
              const msg = `listing ${this.what} in ${this.api.namespace} failed: HTTP ${res.statusCode} ${body.slice(0, 300)} (needs RBAC get/list/watch on ${this.what})`;
              this.log.error(msg);
              if (first) return reject(new Error(msg));
              return this.later(list);
            }
            let l: { items?: T[]; metadata?: { resourceVersion?: string } };
            try {
              l = JSON.parse(body);
            } catch (e) {
              this.log.warn({ err: (e as Error).message }, `bad ${this.what} list`);
              if (first) return reject(e);
              return this.later(list);
            }
            this.handlers.reset(l.items ?? []);
            this.synced = true;
            if (first) {
              first = false;
              resolve();
            }
            watch(l.metadata?.resourceVersion ?? "");
          });
        });
        this.req.on("error", (e) => {
          this.log.warn({ err: e.message }, `kubernetes list of ${this.what} failed`);
          if (first) return reject(e);
          this.later(list);
        });
      };
      const watch = (rv: string) => {
        if (this.stopped) return;
        let buf = "";
        let gone = false;
        this.req = this.api.open("GET", this.url(`watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(rv)}`), (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return this.later(list);
          }
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            buf += d;
            let nl: number;
            while ((nl = buf.indexOf("\n")) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              try {
                const ev = JSON.parse(line) as { type: string; object: T };
                const next = ev.object?.metadata?.resourceVersion;
                if (ev.type === "ADDED" || ev.type === "MODIFIED") this.handlers.upsert(ev.object);
                else if (ev.type === "DELETED") this.handlers.remove(ev.object);
                else if (ev.type === "ERROR") gone = true; // 410 Gone: resourceVersion too old
                if (ev.type !== "ERROR" && next) rv = next;
              } catch (e) {
                this.log.warn({ err: (e as Error).message }, `bad ${this.what} watch event`);
              }
            }
          });
          res.on("end", () => (gone ? list() : watch(rv)));
        });
        this.req.on("error", () => this.later(list));
      };
      list();
    });
  }

  private later(fn: () => void) {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(fn, 2000);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.req?.destroy();
  }
}
