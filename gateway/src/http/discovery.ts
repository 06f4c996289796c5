// Where HTTP endpoints' workers are: the pods labelled longshore.dev/endpoint=<id> and
// app.kubernetes.io/component=http-worker in the gateway's namespace, listed and watched through the Kubernetes
// API (kube.ts Informer; RBAC get/list/watch on pods). A pod is a worker once it runs and has an IP; it drains
// (no new requests, the ones in flight finish) as soon as it carries a deletionTimestamp — scale-in, a rollout,
// a node drain. Whether it takes requests is then up to its own health check (pool.ts), not the pod's Ready
// condition: Kubernetes' HTTP probe counts RunPod's 204 "initializing" as success.
import type { Logger } from "pino";
import { ENDPOINT_LABEL, HTTP_WORKER_COMPONENT } from "../../../contract";
import { Informer, KubeApi, KubeObject, KubeSourceOptions } from "../kube";
import type { HttpProxy } from "./proxy";

export interface K8sPod extends KubeObject {
  metadata?: KubeObject["metadata"] & { deletionTimestamp?: string };
  status?: { phase?: string; podIP?: string };
}

export const HTTP_WORKER_SELECTOR = `${ENDPOINT_LABEL},app.kubernetes.io/component=${HTTP_WORKER_COMPONENT}`;

/** Applies one pod to the proxy's pools; returns the endpoint id it belongs to (or undefined). */
export function applyPod(proxy: HttpProxy, pod: K8sPod): string | undefined {
  const ep = pod.metadata?.labels?.[ENDPOINT_LABEL];
  const name = pod.metadata?.name;
  if (!ep || !name) return undefined;
  const pool = proxy.poolFor(ep);
  const ip = pod.status?.podIP;
  const phase = pod.status?.phase;
  if (!ip || (phase !== "Running" && phase !== "Pending")) {
    pool.remove(name);
    return ep;
  }
  if (phase === "Pending") return ep; // an IP but not started: nothing to check yet
  pool.upsert({ id: name, host: ip, draining: !!pod.metadata?.deletionTimestamp });
  return ep;
}

export class KubeHttpWorkers {
  private informer?: Informer<K8sPod>;
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly proxy: HttpProxy, private readonly o: KubeSourceOptions, private readonly log: Logger) {}

  /** Starts the watch. A failed first list (RBAC missing on an older platform) is logged and retried: queue
   *  endpoints keep working meanwhile; HTTP endpoints answer 503 "no worker became ready" until it works. */
  start() {
    if (this.stopped) return;
    const api = new KubeApi(this.o);
    const known = new Map<string, string>(); // pod name -> endpoint
    const proxy = this.proxy;
    this.informer = new Informer<K8sPod>(api, api.collection("pods"), HTTP_WORKER_SELECTOR, {
      reset(items) {
        const byEp = new Map<string, Set<string>>();
        for (const p of items) {
          const ep = applyPod(proxy, p);
          if (ep && p.metadata?.name) {
            known.set(p.metadata.name, ep);
            if (!byEp.has(ep)) byEp.set(ep, new Set());
            byEp.get(ep)!.add(p.metadata.name);
          }
        }
        for (const [name, ep] of [...known]) {
          if (!byEp.get(ep)?.has(name)) {
            proxy.poolFor(ep).remove(name);
            known.delete(name);
          }
        }
      },
      upsert(p) {
        const ep = applyPod(proxy, p);
        if (ep && p.metadata?.name) known.set(p.metadata.name, ep);
      },
      remove(p) {
        const ep = p.metadata?.labels?.[ENDPOINT_LABEL];
        const name = p.metadata?.name;
        if (ep && name) proxy.poolFor(ep).remove(name);
        if (name) known.delete(name);
      },
    }, this.log, "pods");
    this.informer.start().catch((e) => {
      this.log.error({ err: (e as Error).message }, "HTTP endpoints: listing worker pods failed; retrying in 10 s");
      this.informer?.stop();
      this.retry = setTimeout(() => this.start(), 10_000);
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    this.informer?.stop();
  }
}
