// Endpoint and worker health: what /health, metrics, the scaler and `longshore status` report, from the
// pings (queue/presence.ts) and, on Kubernetes, the worker pods (pods.ts).
//
//  * worker states: initializing / idle / running / unhealthy / throttled (presence.ts merges pods and pings)
//  * ping status=unhealthy (runpod-python's fitness checks send it just before they exit(1)): the worker is
//    marked out of dispatch, a Warning Event goes on its pod; a container restart clears the mark
//  * stopPod / refresh_worker in a result: the worker is marked out of dispatch and its pod deleted (the
//    Deployment starts a fresh one) — RunPod's "refresh the worker after this job"
//  * crash-looping endpoint: some worker pod cannot start (CrashLoopBackOff, image pull errors, repeated
//    failed exits) and no worker is healthy. Then /health says status "unhealthy" with the reason, a Warning
//    Event goes on the pod, the scaler holds the endpoint at one worker (held(): no scale-up past what keeps
//    trying; Kubernetes' CrashLoopBackOff spaces the restarts), and after crashLoopFailAfterMs the waiting
//    jobs end FAILED with the crash as the reason instead of waiting for their ttl.
// The crash-loop start time is per replica (in memory): a restarted gateway starts counting again.
import type { Logger } from "pino";
import { DEFAULT_CRASH_LOOP_FAIL_AFTER_MS } from "../../contract";
import type { EndpointRegistry } from "./endpoints";
import type { PodInfo, PodMonitor } from "./pods";
import { countStates, JobQueue, WorkerCounts, WorkerDetail } from "./queue";

export interface CrashLoop {
  since: number;
  reason: string;
  pods: string[];
}

export interface HealthHooks {
  /** an endpoint became crash-looping (true) or recovered (false) */
  onCrashLoop?: (ep: string, looping: boolean) => void;
  /** a worker's first ping, with its pod's age then (cold start), once per pod across replicas */
  onColdStart?: (ep: string, seconds: number) => void;
}

export class WorkerHealth {
  private readonly loops = new Map<string, CrashLoop>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** pods whose cold start this replica already measured (or saw measured) */
  private readonly coldSeen = new Set<string>();

  constructor(
    private readonly o: {
      queue: JobQueue;
      registry: EndpointRegistry;
      pods?: PodMonitor;
      log: Logger;
      intervalMs: number;
      hooks?: HealthHooks;
    },
  ) {}

  podsOf(ep: string): Map<string, PodInfo> | undefined {
    return this.o.pods?.viewOf(ep);
  }

  workerDetails(ep: string): Promise<WorkerDetail[]> {
    return this.o.queue.workerDetails(ep, this.podsOf(ep));
  }

  async workerCounts(ep: string): Promise<WorkerCounts> {
    return countStates(await this.workerDetails(ep));
  }

  /** RunPod's /health object, plus `status` ("healthy" | "unhealthy") and, when unhealthy, `reason`. */
  async health(ep: string) {
    const h = await this.o.queue.health(ep, this.podsOf(ep));
    const loop = this.loops.get(ep);
    return { ...h, status: loop ? "unhealthy" : "healthy", ...(loop ? { reason: loop.reason } : {}) };
  }

  crashLoop(ep: string): CrashLoop | undefined {
    return this.loops.get(ep);
  }

  /** true while the endpoint is crash-looping: the scaler asks for one worker at most */
  held(ep: string): boolean {
    return this.loops.has(ep);
  }

  /** ping status=unhealthy (runpod-python rp_fitness: check + reason, then exit(1)) */
  async reportUnhealthy(ep: string, worker: string, check: string, reason: string): Promise<void> {
    const pod = this.o.pods?.podOf(ep, worker);
    const why = `${check || "fitness check"} failed${reason ? `: ${reason}` : ""}`;
    await this.o.queue.markWorker(ep, worker, "unhealthy", why, pod ? pod.restarts : -1);
    this.o.log.warn({ ep, worker, check, reason }, "worker reported unhealthy: out of dispatch");
    if (pod) await this.o.pods!.event(pod, `longshore-unhealthy-${pod.restarts}`, "WorkerUnhealthy", `endpoint ${ep}: worker ${worker} reported unhealthy (${why}); it gets no jobs until its container restarts`);
  }

  /** stopPod / refresh_worker: out of dispatch now, and its pod deleted (a fresh one replaces it). Outside
   *  Kubernetes (or a worker that is not a pod of this endpoint) there is nothing to recycle: logged only. */
  async recycle(ep: string, worker: string, jobId: string): Promise<void> {
    const pod = this.o.pods?.podOf(ep, worker);
    if (!pod) {
      this.o.log.info({ ep, worker, jobId }, "job result asked for stopPod (refresh_worker) but the worker is not a pod of this endpoint the gateway can recycle: ignored");
      return;
    }
    await this.o.queue.markWorker(ep, worker, "recycle", `stopPod after job ${jobId}`, pod.restarts);
    this.o.log.info({ ep, worker, jobId }, "stopPod (refresh_worker): recycling the worker pod");
    await this.o.pods!.deletePod(worker, `stopPod after job ${jobId}`);
  }

  /** One pass over every endpoint: crash-loop state, its Event and give-up, cold starts. */
  async check(now = Date.now()): Promise<void> {
    for (const ep of this.o.registry.list()) {
      const pods = this.podsOf(ep.id);
      if (!pods) continue;
      const details = await this.o.queue.workerDetails(ep.id, pods);
      const healthy = details.some((d) => d.state === "idle" || d.state === "running");
      const crashing = [...pods.values()].filter((p) => p.crash);
      const was = this.loops.get(ep.id);
      if (crashing.length && !healthy) {
        const reason = `workers cannot start: ${crashing.length} of ${pods.size} pod(s) crash-looping (${crashing[0].name}: ${crashing[0].reason})`;
        if (!was) {
          this.loops.set(ep.id, { since: now, reason, pods: crashing.map((p) => p.name) });
          this.o.log.warn({ ep: ep.id, reason }, "endpoint unhealthy: workers crash at start; scale-up held at one worker");
          this.o.hooks?.onCrashLoop?.(ep.id, true);
          await this.o.pods!.event(crashing[0], `longshore-crashloop`, "EndpointCrashLooping",
            `endpoint ${ep.id}: ${reason}. Scale-up is held at one worker until a worker starts.`);
        } else {
          was.reason = reason;
          was.pods = crashing.map((p) => p.name);
        }
        const loop = this.loops.get(ep.id)!;
        const failAfter = ep.crashLoopFailAfterMs ?? DEFAULT_CRASH_LOOP_FAIL_AFTER_MS;
        if (failAfter > 0 && now - loop.since >= failAfter) {
          await this.o.queue.failWaiting(ep.id, `endpoint ${ep.id} ${reason}; gave up after ${Math.round((now - loop.since) / 1000)} s (crashLoopFailAfterMs ${failAfter})`);
        }
      } else if (was) {
        this.loops.delete(ep.id);
        this.o.log.info({ ep: ep.id }, healthy ? "endpoint healthy again: a worker is up" : "endpoint no longer crash-looping");
        this.o.hooks?.onCrashLoop?.(ep.id, false);
      }
      // cold start: pod creation -> its first ping, measured once per pod (HSETNX across replicas)
      for (const d of details) {
        const pod = pods.get(d.id);
        if (!pod || (d.state !== "idle" && d.state !== "running") || this.coldSeen.has(pod.name)) continue;
        this.coldSeen.add(pod.name);
        const firstPing = now - (d.lastSeenMs ?? 0);
        // a pod older than 30 min was up before this gateway could see its start: not a cold start figure
        if (firstPing - pod.created > 30 * 60_000) continue;
        if (await this.o.queue.claimColdStart(ep.id, pod.name)) this.o.hooks?.onColdStart?.(ep.id, Math.max(0, (firstPing - pod.created) / 1000));
      }
    }
    if (this.coldSeen.size > 10_000) this.coldSeen.clear();
  }

  start() {
    const loop = async () => {
      if (this.stopped) return;
      try {
        await this.check();
      } catch (e) {
        this.o.log.warn({ err: (e as Error).message }, "worker health check failed");
      }
      if (!this.stopped) this.timer = setTimeout(loop, this.o.intervalMs);
    };
    this.timer = setTimeout(loop, this.o.intervalMs);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
