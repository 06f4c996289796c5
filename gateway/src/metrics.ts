// Prometheus metrics (prom-client), one registry per gateway instance (tests run several in a process).
// Served on their own port (METRICS_PORT, default 9091), not the client port: they list endpoint ids and
// queue depths, which a client key holder (or anyone reaching the public Service) should not enumerate.
// A bare node:http server: one GET route does not need a second Fastify instance.
import * as http from "http";
import * as prom from "prom-client";
import type { JobQueue } from "./queue";
import type { EndpointRegistry } from "./endpoints";
import type { WorkerCounts } from "./queue";

/** seconds: RunPod's dashboard shows P70/P90/P98 of delay and execution; these buckets span 10 ms to 1 h */
const LATENCY_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const COLD_START_BUCKETS = [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200];
const WORKER_STATES = ["idle", "running", "initializing", "throttled", "unhealthy"] as const;

/** What the worker-state gauges read (health.ts), set after construction. */
export interface WorkerStateSource {
  workerCounts(ep: string): Promise<WorkerCounts>;
  held(ep: string): boolean;
}

export class Metrics {
  readonly registry = new prom.Registry();
  readonly http: prom.Histogram<"method" | "route" | "status">;
  readonly submitted: prom.Counter<"endpoint" | "kind">;
  readonly taken: prom.Counter<"endpoint">;
  readonly finished: prom.Counter<"endpoint" | "status">;
  readonly rateLimited: prom.Counter<"endpoint" | "kind">;
  readonly webhooks: prom.Counter<"result">;
  /** per-endpoint latency: queued -> taken (delay), taken -> finished (execution), pod created -> first ping */
  readonly delay: prom.Histogram<"endpoint">;
  readonly execution: prom.Histogram<"endpoint">;
  readonly coldStart: prom.Histogram<"endpoint">;
  /** every terminal transition made on this replica, by status (reaper, cancel, purge and give-ups included) */
  readonly terminal: prom.Counter<"endpoint" | "status">;
  /** jobs queued again: after a lost worker (reason worker_lost) or by /retry (reason retry_request) */
  readonly retries: prom.Counter<"endpoint" | "reason">;
  workerStates?: WorkerStateSource;
  // labelled children of `http`, so a request's observation does not hash its label object again
  private readonly httpChildren = new Map<string, prom.Histogram.Internal<"method" | "route" | "status">>();
  observeHttp(method: string, route: string, status: number, seconds: number) {
    const k = `${method} ${status} ${route}`;
    let h = this.httpChildren.get(k);
    if (!h) {
      h = this.http.labels({ method, route, status });
      // routes are the registered patterns (+ "unmatched"), so this stays small
      if (this.httpChildren.size < 1000) this.httpChildren.set(k, h);
    }
    h.observe(seconds);
  }

  private server?: http.Server;
  /** Starts the /metrics server; resolves with its port. */
  listen(host: string, port: number): Promise<number> {
    const srv = http.createServer((req, res) => {
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "GET" || path !== "/metrics") {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: `no route ${req.method} ${path} (this port serves GET /metrics)` }));
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": this.registry.contentType }).end(text),
        (e) => res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: `metrics unavailable: ${(e as Error).message}` })),
      );
    });
    srv.headersTimeout = 10_000;
    srv.requestTimeout = 10_000;
    this.server = srv;
    return new Promise((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(port, host, () => resolve((srv.address() as { port: number }).port));
    });
  }

  close(): Promise<void> {
    const s = this.server;
    if (!s) return Promise.resolve();
    s.closeAllConnections?.();
    return new Promise((r) => s.close(() => r()));
  }

  constructor(queue: JobQueue, registry: EndpointRegistry) {
    const r = [this.registry];
    prom.collectDefaultMetrics({ register: this.registry, prefix: "longshore_gateway_" });
    this.http = new prom.Histogram({
      name: "longshore_gateway_http_request_duration_seconds",
      help: "HTTP request duration by route and status (long-polls included)",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30, 90],
      registers: r,
    });
    this.submitted = new prom.Counter({ name: "longshore_jobs_submitted_total", help: "Jobs accepted", labelNames: ["endpoint", "kind"], registers: r });
    this.taken = new prom.Counter({ name: "longshore_jobs_taken_total", help: "Jobs handed to workers (re-takes after a lost worker included)", labelNames: ["endpoint"], registers: r });
    this.finished = new prom.Counter({ name: "longshore_jobs_finished_total", help: "Jobs finished by workers", labelNames: ["endpoint", "status"], registers: r });
    this.rateLimited = new prom.Counter({ name: "longshore_rate_limited_total", help: "Requests answered 429", labelNames: ["endpoint", "kind"], registers: r });
    this.webhooks = new prom.Counter({ name: "longshore_webhook_attempts_total", help: "Webhook POST attempts", labelNames: ["result"], registers: r });
    this.delay = new prom.Histogram({ name: "longshore_job_delay_seconds", help: "Time a job waited in the queue before a worker took it (RunPod delayTime)", labelNames: ["endpoint"], buckets: LATENCY_BUCKETS, registers: r });
    this.execution = new prom.Histogram({ name: "longshore_job_execution_seconds", help: "Time from a worker taking a job to its result (RunPod executionTime)", labelNames: ["endpoint"], buckets: LATENCY_BUCKETS, registers: r });
    this.coldStart = new prom.Histogram({ name: "longshore_worker_cold_start_seconds", help: "Worker pod creation to its first ping", labelNames: ["endpoint"], buckets: COLD_START_BUCKETS, registers: r });
    this.terminal = new prom.Counter({ name: "longshore_jobs_terminal_total", help: "Jobs that reached a terminal status, by status", labelNames: ["endpoint", "status"], registers: r });
    this.retries = new prom.Counter({ name: "longshore_job_retries_total", help: "Jobs queued again: worker_lost (lease lapsed) or retry_request (/retry)", labelNames: ["endpoint", "reason"], registers: r });
    const self = this;
    new prom.Gauge({
      name: "longshore_workers",
      help: "Workers by state (the /health workers figures: pings plus, on Kubernetes, the worker pods)",
      labelNames: ["endpoint", "state"],
      registers: r,
      async collect() {
        this.reset();
        const src = self.workerStates;
        if (!src) return;
        for (const ep of registry.list()) {
          const c = await src.workerCounts(ep.id).catch(() => undefined);
          if (c) for (const st of WORKER_STATES) this.set({ endpoint: ep.id, state: st }, c[st]);
        }
      },
    });
    new prom.Gauge({
      name: "longshore_endpoint_unhealthy",
      help: "1 while the endpoint's workers crash at start (scale-up held at one worker), else 0",
      labelNames: ["endpoint"],
      registers: r,
      collect() {
        this.reset();
        const src = self.workerStates;
        if (!src) return;
        for (const ep of registry.list()) this.set({ endpoint: ep.id }, src.held(ep.id) ? 1 : 0);
      },
    });
    const gauge = (name: string, help: string, pick: (c: Awaited<ReturnType<JobQueue["counts"]>>) => number) =>
      new prom.Gauge({
        name,
        help,
        labelNames: ["endpoint"],
        registers: r,
        async collect() {
          for (const ep of registry.list()) {
            const c = await queue.counts(ep.id).catch(() => undefined);
            if (c) this.set({ endpoint: ep.id }, pick(c));
          }
        },
      });
    gauge("longshore_jobs_waiting", "Waiting jobs (not lowPriority)", (c) => c.waiting);
    gauge("longshore_jobs_waiting_low_priority", "Waiting lowPriority jobs", (c) => c.waitingLow);
    gauge("longshore_jobs_in_progress", "Jobs held by workers", (c) => c.active);
    gauge("longshore_queue_oldest_wait_seconds", "Age of the oldest waiting job", (c) => (c.oldestCreatedAt > 0 ? (Date.now() - c.oldestCreatedAt) / 1000 : 0));
  }
}
