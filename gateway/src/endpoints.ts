// Endpoint discovery: which endpoint ids exist and their worker tokens / settings.
//  * static: LONGSHORE_ENDPOINTS / LONGSHORE_ENDPOINTS_FILE (JSON array)
//  * kubernetes: Secrets in LONGSHORE_NAMESPACE labelled longshore.dev/endpoint=<id>, data keys
//    endpointId, workerToken, settings (JSON), webhookSecret (optional: signs the endpoint's webhooks). Listed, then watched; changes apply without restart.
//    The list+watch is gateway/src/kube.ts's Informer (RBAC get/list/watch on secrets).
import { randomBytes } from "crypto";
import { EventEmitter } from "events";
import type { Logger } from "pino";
import { ENDPOINT_LABEL, ENDPOINT_SECRET_KEYS as KEY, endpointIdError, workerTokenError } from "../../contract";
import { EndpointConfig, EndpointSettings, validateSettings } from "./config";
import { Informer, KubeApi, KubeObject, KubeSourceOptions } from "./kube";

export type { KubeSourceOptions } from "./kube";

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
    let workerToken = dec(KEY.workerToken);
    const idErr = endpointIdError(id);
    if (idErr) return `secret ${name}: endpointId ${id === undefined ? "missing" : idErr}`;
    let settings: EndpointSettings = {};
    const raw = dec(KEY.settings);
    const webhookSecret = dec(KEY.webhookSecret);
    if (raw || webhookSecret !== undefined) {
      try {
        settings = validateSettings({ ...(raw ? JSON.parse(raw) : {}), ...(webhookSecret !== undefined ? { webhookSecret } : {}) }, `secret ${name} settings`);
      } catch (e) {
        return `secret ${name}: ${(e as Error).message}`;
      }
    }
    // An HTTP endpoint's workers never call the job routes: without a token of its own it gets an unguessable
    // one, so those routes stay closed for it.
    if (workerToken === undefined && settings.http) workerToken = randomBytes(32).toString("base64url");
    const tokenErr = workerTokenError(workerToken);
    if (tokenErr) return `secret ${name}: workerToken ${workerToken === undefined ? "missing" : tokenErr}`;
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

export interface K8sSecret extends KubeObject {
  data?: Record<string, string>;
}

/** List + watch the labelled endpoint Secrets (an Informer over gateway/src/kube.ts). */
export class KubeEndpointSource {
  private readonly informer: Informer<K8sSecret>;

  constructor(reg: EndpointRegistry, o: KubeSourceOptions, log: Logger) {
    const api = new KubeApi(o);
    this.informer = new Informer<K8sSecret>(api, api.collection("secrets"), ENDPOINT_LABEL, {
      reset(items) {
        const names = new Set<string>();
        for (const s of items) {
          names.add(s.metadata?.name ?? "");
          const err = reg.applySecret(s);
          if (err) log.warn(err);
        }
        reg.resetSecrets(names);
      },
      upsert(s) {
        const err = reg.applySecret(s);
        if (err) log.warn(err);
      },
      remove(s) {
        reg.deleteSecret(s.metadata?.name ?? "");
      },
    }, log, "secrets");
  }

  get synced(): boolean {
    return this.informer.synced;
  }

  /** Resolves after the first successful list (or rejects with the API's reason). */
  start(): Promise<void> {
    return this.informer.start();
  }

  stop() {
    this.informer.stop();
  }
}
