// A stand-in for the Kubernetes API server, enough for the gateway's watches and writes: labelled Secrets
// (endpoint discovery) and pods (worker states), each listed then watched (the test pushes watch events),
// pod DELETE (recycling) and Event POST (crash loops, unhealthy workers) recorded. Real HTTP, the same
// requests the gateway makes against a real API server (the e2e suite checks those).
import * as http from "http";

const b64 = (s: string) => Buffer.from(s).toString("base64");

export function endpointSecret(id: string, workerToken: string, settings?: Record<string, unknown>) {
  const data: Record<string, string> = { endpointId: id, workerToken };
  if (settings) data.settings = JSON.stringify(settings);
  return {
    metadata: { name: `longshore-endpoint-${id}`, resourceVersion: "1", labels: { "longshore.dev/endpoint": id } },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

type Obj = { metadata: { name: string; [k: string]: unknown }; [k: string]: unknown };

export interface FakeKube {
  url: string;
  namespace: string;
  /** add or replace a pod (watch event ADDED / MODIFIED to every open pod watch) */
  putPod(pod: Obj): void;
  removePod(name: string): void;
  deletes: string[];
  events: { reason: string; message: string; involvedObject: { name: string } }[];
  close(): Promise<void>;
}

export async function startFakeKube(o: { secrets: Obj[]; pods?: Obj[]; namespace?: string; deleteRemovesPod?: boolean }): Promise<FakeKube> {
  const ns = o.namespace ?? "longshore";
  const pods = new Map<string, Obj>((o.pods ?? []).map((p) => [p.metadata.name, p]));
  const podWatches = new Set<http.ServerResponse>();
  const openResponses = new Set<http.ServerResponse>();
  const deletes: string[] = [];
  const events: FakeKube["events"] = [];
  const eventNames = new Set<string>();
  let rv = 100;
  const send = (type: string, obj: Obj) => {
    for (const w of podWatches) w.write(JSON.stringify({ type, object: { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } } }) + "\n");
  };
  const server = http.createServer((rq, rs) => {
    const u = new URL(rq.url!, "http://x");
    const base = `/api/v1/namespaces/${ns}`;
    let body = "";
    rq.on("data", (d) => (body += d));
    rq.on("end", () => {
      const watch = u.searchParams.get("watch");
      if (rq.method === "GET" && u.pathname === `${base}/secrets` && u.searchParams.get("labelSelector") === "longshore.dev/endpoint") {
        if (watch) {
          rs.writeHead(200, { "content-type": "application/json" });
          openResponses.add(rs);
          return;
        }
        return rs.end(JSON.stringify({ metadata: { resourceVersion: "10" }, items: o.secrets }));
      }
      if (rq.method === "GET" && u.pathname === `${base}/pods` && u.searchParams.get("labelSelector") === "longshore.dev/endpoint") {
        if (watch) {
          rs.writeHead(200, { "content-type": "application/json" });
          podWatches.add(rs);
          openResponses.add(rs);
          rs.on("close", () => podWatches.delete(rs));
          return;
        }
        return rs.end(JSON.stringify({ metadata: { resourceVersion: String(rv) }, items: [...pods.values()] }));
      }
      const podPath = new RegExp(`^${base}/pods/([^/]+)$`).exec(u.pathname);
      if (rq.method === "DELETE" && podPath) {
        const name = decodeURIComponent(podPath[1]);
        deletes.push(name);
        const p = pods.get(name);
        if (!p) {
          rs.statusCode = 404;
          return rs.end(JSON.stringify({ kind: "Status", reason: "NotFound" }));
        }
        if (o.deleteRemovesPod !== false) {
          pods.delete(name);
          send("DELETED", p);
        }
        return rs.end(JSON.stringify(p));
      }
      if (rq.method === "POST" && u.pathname === `${base}/events`) {
        const ev = JSON.parse(body);
        if (eventNames.has(ev.metadata?.name)) {
          rs.statusCode = 409;
          return rs.end(JSON.stringify({ kind: "Status", reason: "AlreadyExists" }));
        }
        eventNames.add(ev.metadata?.name);
        events.push(ev);
        rs.statusCode = 201;
        return rs.end(JSON.stringify(ev));
      }
      rs.statusCode = 404;
      rs.end(JSON.stringify({ kind: "Status", reason: "NotFound", message: `${rq.method} ${u.pathname}` }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    namespace: ns,
    putPod(pod) {
      const had = pods.has(pod.metadata.name);
      pods.set(pod.metadata.name, pod);
      send(had ? "MODIFIED" : "ADDED", pod);
    },
    removePod(name) {
      const p = pods.get(name);
      if (!p) return;
      pods.delete(name);
      send("DELETED", p);
    },
    deletes,
    events,
    close: async () => {
      for (const r of openResponses) r.end();
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

/** Worker pods in the states the gateway tells apart (as the kubelet / scheduler report them). */
export const pod = {
  base(name: string, ep: string, status: Record<string, unknown>) {
    return { metadata: { name, uid: `uid-${name}`, creationTimestamp: iso(20_000), labels: { "longshore.dev/endpoint": ep } }, status };
  },
  unschedulable(name: string, ep: string) {
    return pod.base(name, ep, {
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu." }],
    });
  },
  creating(name: string, ep: string) {
    return pod.base(name, ep, {
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "True" }],
      containerStatuses: [{ name: "worker", ready: false, restartCount: 0, state: { waiting: { reason: "ContainerCreating" } } }],
    });
  },
  crashLooping(name: string, ep: string, restarts = 3) {
    return pod.base(name, ep, {
      phase: "Running",
      conditions: [{ type: "PodScheduled", status: "True" }, { type: "Ready", status: "False" }],
      containerStatuses: [{
        name: "worker", ready: false, restartCount: restarts,
        state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s restarting failed container" } },
        lastState: { terminated: { exitCode: 1, reason: "Error" } },
      }],
    });
  },
  running(name: string, ep: string, restarts = 0) {
    return pod.base(name, ep, {
      phase: "Running",
      conditions: [{ type: "PodScheduled", status: "True" }, { type: "Ready", status: "True" }],
      containerStatuses: [{ name: "worker", ready: true, started: true, restartCount: restarts, state: { running: { startedAt: iso(10_000) } } }],
    });
  },
  notReady(name: string, ep: string, runningForMs: number) {
    return pod.base(name, ep, {
      phase: "Running",
      conditions: [{ type: "PodScheduled", status: "True" }, { type: "Ready", status: "False" }],
      containerStatuses: [{ name: "worker", ready: false, started: true, restartCount: 0, state: { running: { startedAt: iso(runningForMs) } } }],
    });
  },
};
