// Worker pods as the Kubernetes API sees them: a list+watch (kube.ts's Informer) of the pods labelled
// longshore.dev/endpoint in the gateway's namespace, each classified into a worker state for /health and
// metrics (queue/presence.ts merges them with the pings): throttled (cannot be scheduled), initializing
// (scheduled, pulling, starting), unhealthy (crash-looping, cannot start, failing readiness) or live (running;
// its pings say idle / running / unhealthy). Also the two writes the gateway makes on worker pods: a Warning
// Event (an endpoint crash-looping, a worker reporting unhealthy) and a delete (recycling after stopPod).
// RBAC: pods get/list/watch/delete, events create (components/serverlessPlatform.ts).
import type { Logger } from "pino";
import { ENDPOINT_LABEL } from "../../contract";
import { Informer, KubeApi, KubeObject, KubeSourceOptions } from "./kube";
import type { PodView } from "./queue";

export interface K8sPod extends KubeObject {
  metadata?: KubeObject["metadata"] & { creationTimestamp?: string; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[];
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}
interface ContainerStatus {
  name: string;
  ready?: boolean;
  started?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; running?: { startedAt?: string }; terminated?: { exitCode?: number; reason?: string } };
  lastState?: { terminated?: { exitCode?: number; reason?: string; finishedAt?: string } };
}

/** A pod's view plus what the endpoint-level checks need. */
export interface PodInfo extends PodView {
  name: string;
  uid?: string;
  endpoint: string;
  /** unhealthy because its container cannot start or keeps exiting (a crash at start, not a hung worker) */
  crash: boolean;
  /** creation time (ms) */
  created: number;
}

/** waiting reasons that mean the container cannot start at all */
const CANNOT_START = new Set(["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "ErrImageNeverPull"]);
/** a running pod that is not ready this long after its containers started fails its readiness probe */
export const READINESS_GRACE_MS = 60_000;
/** restarts with a failed exit after which a running (between two crashes) container counts as crash-looping */
const CRASH_RESTARTS = 2;

/** Classifies one pod (undefined: not a worker any more — terminating, Succeeded, Failed). */
export function classifyPod(pod: K8sPod, now = Date.now()): PodInfo | undefined {
  const md = pod.metadata ?? {};
  const endpoint = md.labels?.[ENDPOINT_LABEL];
  if (!md.name || !endpoint || md.deletionTimestamp) return undefined;
  const st = pod.status ?? {};
  if (st.phase === "Succeeded" || st.phase === "Failed") return undefined;
  const base = { name: md.name, uid: md.uid, endpoint, created: Date.parse(md.creationTimestamp ?? "") || now };
  const all = [...(st.initContainerStatuses ?? []), ...(st.containerStatuses ?? [])];
  const restarts = all.reduce((n, c) => n + (c.restartCount ?? 0), 0);
  const exit = (c: ContainerStatus) => {
    const t = c.lastState?.terminated;
    return t ? `exit code ${t.exitCode ?? "?"}${t.reason ? ` (${t.reason})` : ""}` : "exited";
  };
  for (const c of all) {
    const w = c.state?.waiting;
    if (w?.reason === "CrashLoopBackOff") {
      return { ...base, state: "unhealthy", crash: true, restarts, reason: `crash-looping: container ${c.name} ${exit(c)}, ${c.restartCount ?? 0} restarts` };
    }
    if (w?.reason && CANNOT_START.has(w.reason)) {
      return { ...base, state: "unhealthy", crash: true, restarts, reason: `cannot start: ${w.reason}${w.message ? `: ${w.message.slice(0, 200)}` : ""}` };
    }
  }
  if (st.phase !== "Running") {
    const sched = st.conditions?.find((c) => c.type === "PodScheduled");
    if (sched?.status === "False" && sched.reason === "Unschedulable") {
      return { ...base, state: "throttled", crash: false, restarts, reason: `cannot be scheduled: ${(sched.message ?? "no node fits").slice(0, 200)}` };
    }
    return { ...base, state: "initializing", crash: false, restarts };
  }
  const ready = st.conditions?.find((c) => c.type === "Ready")?.status === "True";
  if (!ready) {
    for (const c of st.containerStatuses ?? []) {
      const t = c.lastState?.terminated;
      if ((c.restartCount ?? 0) >= CRASH_RESTARTS && t && t.exitCode !== 0) {
        return { ...base, state: "unhealthy", crash: true, restarts, reason: `crash-looping: container ${c.name} ${exit(c)}, ${c.restartCount} restarts` };
      }
    }
    const started = (st.containerStatuses ?? []).map((c) => Date.parse(c.state?.running?.startedAt ?? ""));
    if (started.length && started.every((t) => t > 0 && now - t > READINESS_GRACE_MS)) {
      return { ...base, state: "unhealthy", crash: false, restarts, reason: "failing its readiness probe" };
    }
    return { ...base, state: "initializing", crash: false, restarts };
  }
  return { ...base, state: "live", crash: false, restarts };
}

/** The pods of every endpoint, kept current by a watch. */
export class PodMonitor {
  private readonly api: KubeApi;
  private readonly informer: Informer<K8sPod>;
  private readonly pods = new Map<string, K8sPod>();
  private retry?: NodeJS.Timeout;
  private stopped = false;
  /** false until the first list succeeded (then /health counts pods; before, pings only) */
  synced = false;

  constructor(o: KubeSourceOptions, private readonly log: Logger) {
    this.api = new KubeApi(o);
    const pods = this.pods;
    this.informer = new Informer<K8sPod>(this.api, this.api.collection("pods"), ENDPOINT_LABEL, {
      reset(items) {
        pods.clear();
        for (const p of items) if (p.metadata?.name) pods.set(p.metadata.name, p);
      },
      upsert(p) {
        if (p.metadata?.name) pods.set(p.metadata.name, p);
      },
      remove(p) {
        if (p.metadata?.name) pods.delete(p.metadata.name);
      },
    }, log, "pods");
  }

  /** Starts the watch. A failed first list (an older platform without the pods RBAC) is logged and retried
   *  every 30 s; meanwhile /health works from pings alone. Never rejects. */
  start(): Promise<void> {
    const attempt = (): Promise<void> =>
      this.informer.start().then(
        () => {
          this.synced = true;
        },
        (e: Error) => {
          this.log.warn({ err: e.message }, "worker pod watch unavailable: /health counts workers from their pings only (retrying in 30 s)");
          if (!this.stopped) this.retry = setTimeout(() => void attempt(), 30_000);
        },
      );
    return attempt();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    this.informer.stop();
  }

  /** The endpoint's worker pods by name, classified now (undefined before the first list). */
  viewOf(ep: string, now = Date.now()): Map<string, PodInfo> | undefined {
    if (!this.synced) return undefined;
    const out = new Map<string, PodInfo>();
    for (const p of this.pods.values()) {
      if (p.metadata?.labels?.[ENDPOINT_LABEL] !== ep) continue;
      const c = classifyPod(p, now);
      if (c) out.set(c.name, c);
    }
    return out;
  }

  /** the pod named `name` if it is a worker pod of endpoint `ep` (a worker token cannot reach other pods) */
  podOf(ep: string, name: string): PodInfo | undefined {
    const p = this.pods.get(name);
    if (!p || p.metadata?.labels?.[ENDPOINT_LABEL] !== ep) return undefined;
    return classifyPod(p);
  }

  /** Deletes a worker pod (its Deployment makes a fresh one). Resolves with whether it was deleted. */
  async deletePod(name: string, why: string): Promise<boolean> {
    const r = await this.api.request("DELETE", `${this.api.collection("pods")}/${encodeURIComponent(name)}`).catch((e: Error) => ({ status: 0, body: e.message }));
    if (r.status >= 200 && r.status < 300) {
      this.log.info({ pod: name, why }, "worker pod deleted (recycled)");
      return true;
    }
    if (r.status !== 404) this.log.warn({ pod: name, status: r.status, body: JSON.stringify(r.body).slice(0, 300) }, "deleting a worker pod failed (needs RBAC delete on pods)");
    return false;
  }

  /** A Warning Event on a worker pod (kubectl describe pod / get events show it). `key` names it, so
   *  several replicas reporting the same thing create one Event (the others get 409). */
  async event(pod: { name: string; uid?: string }, key: string, reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const name = `${pod.name}.${key}`.slice(0, 253).replace(/[^a-z0-9.-]/g, "-");
    const body = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name, namespace: this.api.namespace },
      involvedObject: { apiVersion: "v1", kind: "Pod", name: pod.name, namespace: this.api.namespace, ...(pod.uid ? { uid: pod.uid } : {}) },
      reason,
      message: message.slice(0, 1000),
      type: "Warning",
      source: { component: "longshore-gateway" },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    const r = await this.api.request("POST", this.api.collection("events"), body).catch((e: Error) => ({ status: 0, body: e.message }));
    if (r.status !== 201 && r.status !== 200 && r.status !== 409) {
      this.log.warn({ pod: pod.name, reason, status: r.status }, "creating a Kubernetes Event failed (needs RBAC create on events)");
    }
  }
}
