// Prometheus metrics (prom-client), one registry per gateway instance (tests run several in a process).
// Served on their own port (METRICS_PORT, default 9091), not the client port: they list endpoint ids and
// queue depths, which a client key holder (or anyone reaching the public Service) should not enumerate.
// A bare node:http server: one GET route does not need a second Fastify instance.
import * as http from "http";
import * as prom from "prom-client";
import type { JobQueue } from "./queue";
import type { EndpointRegistry } from "./endpoints";

export class Metrics {
  readonly registry = new prom.Registry();
  readonly http: prom.Histogram<"method" | "route" | "status">;
  readonly submitted: prom.Counter<"endpoint" | "kind">;
  readonly taken: prom.Counter<"endpoint">;
  readonly finished: prom.Counter<"endpoint" | "status">;
  readonly rateLimited: prom.Counter<"endpoint" | "kind">;
  readonly webhooks: prom.Counter<"result">;
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
