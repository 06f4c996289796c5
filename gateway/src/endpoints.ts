// Endpoint discovery: which endpoint ids exist and their worker tokens / settings.
//  * static: LONGSHORE_ENDPOINTS / LONGSHORE_ENDPOINTS_FILE (JSON array)
//  * kubernetes: Secrets in LONGSHORE_NAMESPACE labelled longshore.dev/endpoint=<id>, data keys
//    endpointId, workerToken, settings (JSON), webhookSecret (optional: signs the endpoint's webhooks). Listed, then watched; changes apply without restart.
//
// The Kubernetes source is a small list+watch over the in-cluster REST API with node's https module
// rather than @kubernetes/client-node: we need exactly one call pattern (list + watch one resource
// kind in one namespace, needing RBAC get/list/watch on secrets), and that client adds ~40 transitive
// packages and its own request stack to the gateway image for it.
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import { EventEmitter } from "events";
import type { Logger } from "pino";
import { ENDPOINT_LABEL, ENDPOINT_SECRET_KEYS as KEY, endpointIdError, workerTokenError } from "../../contract";
import { EndpointConfig, validateSettings } from "./config";

export class EndpointRegistry extends EventEmitter {
  private readonly byId = new Map<string, EndpointConfig>();
  /** secret name -> endpoint id (kubernetes source) */
  private readonly bySecret = new Map<string, string>();

  get(id: string): EndpointConfig | undefined {
    return this.byId.get(id);
  }
  list(): EndpointConfig[] {
    return [...this.byId.values()];
  }
  /** Adds or replaces an endpoint; "added" is emitted for a new one (changed settings are read at their next use). */
  set(e: EndpointConfig, source = "static") {
    const had = this.byId.has(e.id);
    this.byId.set(e.id, e);
    if (!had) this.emit("added", e, source);
  }
  delete(id: string) {
    if (this.byId.delete(id)) this.emit("removed", id);
  }

  /** Applies one Secret object from the API (ADDED/MODIFIED). Returns an error string when ignored. */
  applySecret(secret: K8sSecret): string | undefined {
    const name = secret.metadata?.name ?? "?";
    const data = secret.data ?? {};
    const dec = (k: string) => (data[k] !== undefined ? Buffer.from(data[k], "base64").toString("utf8") : undefined);
    const id = dec(KEY.endpointId) ?? secret.metadata?.labels?.[ENDPOINT_LABEL];
    const workerToken = dec(KEY.workerToken);
    const idErr = endpointIdError(id);
    if (idErr) return `secret ${name}: endpointId ${id === undefined ? "missing" : idErr}`;
    const tokenErr = workerTokenError(workerToken);
    if (tokenErr) return `secret ${name}: workerToken ${workerToken === undefined ? "missing" : tokenErr}`;
    let settings = {};
    const raw = dec(KEY.settings);
    const webhookSecret = dec(KEY.webhookSecret);
    if (raw || webhookSecret !== undefined) {
      try {
        settings = validateSettings({ ...(raw ? JSON.parse(raw) : {}), ...(webhookSecret !== undefined ? { webhookSecret } : {}) }, `secret ${name} settings`);
      } catch (e) {
        return `secret ${name}: ${(e as Error).message}`;
      }
    }
    const prev = this.bySecret.get(name);
    if (prev && prev !== id) this.delete(prev);
    this.bySecret.set(name, id!);
    this.set({ ...settings, id: id!, workerToken: workerToken! }, "kubernetes");
    return undefined;
  }

  deleteSecret(name: string) {
    const id = this.bySecret.get(name);
    if (id) {
      this.bySecret.delete(name);
      this.delete(id);
    }
  }

  resetSecrets(names: Set<string>) {
    for (const n of [...this.bySecret.keys()]) if (!names.has(n)) this.deleteSecret(n);
  }
}

export interface K8sSecret {
  metadata?: { name?: string; labels?: Record<string, string>; resourceVersion?: string };
  data?: Record<string, string>;
}

export interface KubeSourceOptions {
  namespace: string;
  /** default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT */
  apiUrl?: string;
  token?: string;
  caFile?: string;
}

/** List + watch labelled Secrets; re-lists on 410 Gone or a dropped watch. */
export class KubeEndpointSource {
  private stopped = false;
  private req?: http.ClientRequest;
  private retryTimer?: NodeJS.Timeout;
  private readonly api: URL;
  private readonly ca?: Buffer;
  synced = false;

  constructor(private readonly reg: EndpointRegistry, private readonly o: KubeSourceOptions, private readonly log: Logger) {
    const sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    this.api = new URL(o.apiUrl ?? `https://${process.env.KUBERNETES_SERVICE_HOST}:${process.env.KUBERNETES_SERVICE_PORT ?? 443}`);
    const caFile = o.caFile ?? `${sa}/ca.crt`;
    if (this.api.protocol === "https:" && fs.existsSync(caFile)) this.ca = fs.readFileSync(caFile);
  }

  private token(): string | undefined {
    if (this.o.token) return this.o.token;
    try {
      // re-read each time: projected service account tokens rotate
      return fs.readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/token", "utf8").trim();
    } catch {
      return undefined;
    }
  }

  private request(path: string, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    const u = new URL(path, this.api);
    const tok = this.token();
    const opts: https.RequestOptions = {
      method: "GET",
      headers: { accept: "application/json", ...(tok ? { authorization: `Bearer ${tok}` } : {}) },
      ...(this.ca ? { ca: this.ca } : {}),
    };
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(u, opts, onResponse);
    req.end();
    return req;
  }

  private base() {
    return `/api/v1/namespaces/${encodeURIComponent(this.o.namespace)}/secrets?labelSelector=${encodeURIComponent(ENDPOINT_LABEL)}`;
  }

  /** Resolves after the first successful list (or rejects with the API's reason). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      let first = true;
      const list = () => {
        if (this.stopped) return;
        this.req = this.request(this.base(), (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d) => (body += d));
          res.on("end", () => {
            if (res.statusCode !== 200) {
              const msg = `listing secrets in ${this.o.namespace} failed: HTTP ${res.statusCode} ${body.slice(0, 300)} (needs RBAC get/list/watch on secrets)`;
              this.log.error(msg);
              if (first) return reject(new Error(msg));
              return this.later(list);
            }
            const l = JSON.parse(body) as { items?: K8sSecret[]; metadata?: { resourceVersion?: string } };
            const names = new Set<string>();
            for (const s of l.items ?? []) {
              names.add(s.metadata?.name ?? "");
              const err = this.reg.applySecret(s);
              if (err) this.log.warn(err);
            }
            this.reg.resetSecrets(names);
            this.synced = true;
            if (first) {
              first = false;
              resolve();
            }
            watch(l.metadata?.resourceVersion ?? "");
          });
        });
        this.req.on("error", (e) => {
          this.log.warn({ err: e.message }, "kubernetes list failed");
          if (first) return reject(e);
          this.later(list);
        });
      };
      const watch = (rv: string) => {
        if (this.stopped) return;
        let buf = "";
        let gone = false;
        this.req = this.request(`${this.base()}&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(rv)}`, (res) => {
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
                const ev = JSON.parse(line) as { type: string; object: K8sSecret & { code?: number } };
                if (ev.type === "ADDED" || ev.type === "MODIFIED") {
                  const err = this.reg.applySecret(ev.object);
                  if (err) this.log.warn(err);
                  rv = ev.object.metadata?.resourceVersion ?? rv;
                } else if (ev.type === "DELETED") {
                  this.reg.deleteSecret(ev.object.metadata?.name ?? "");
                  rv = ev.object.metadata?.resourceVersion ?? rv;
                } else if (ev.type === "BOOKMARK") {
                  rv = ev.object.metadata?.resourceVersion ?? rv;
                } else if (ev.type === "ERROR") {
                  gone = true; // 410 Gone: resourceVersion too old
                }
              } catch (e) {
                this.log.warn({ err: (e as Error).message }, "bad watch event");
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
