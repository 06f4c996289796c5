// KEDA external scaler (gRPC, externalscaler.ExternalScaler) served on SCALER_PORT.
// ScaledObject trigger: type external-push, metadata { scalerAddress, endpointId, scalerType, scalerValue }.
//
// Signal per endpoint (lowPriority jobs never count as waiting; running jobs of any priority count):
//   waiting  = jobs in the queue that are not lowPriority
//   active   = jobs held by workers (IN_PROGRESS)
//   IsActive = waiting > 0 || active > 0
//   REQUEST_COUNT: metric = waiting + active, target = scalerValue
//                  => HPA desired = ceil((waiting + active) / scalerValue)
//   QUEUE_DELAY:   age = seconds since the oldest waiting job was accepted
//                  metric = active + (age > scalerValue ? waiting : 0), target = 1
//                  => keep one worker per running job; add one per waiting job only once the oldest
//                     has waited longer than scalerValue seconds.
// Crash-loop backoff (health.ts): while an endpoint's workers crash at start and none is healthy, the metric
// is capped at one worker's worth (QUEUE_DELAY 1, REQUEST_COUNT scalerValue): KEDA keeps one pod trying (its
// restarts spaced by Kubernetes' CrashLoopBackOff) instead of scaling a broken image out to maxReplicas.
// HTTP endpoints (http/proxy.ts) count from the proxy instead of the job queue: waiting = requests held in the
// gateways' queues, active = requests in flight to workers, summed over the replicas (http/sharedCounts.ts); their ScaledObject uses REQUEST_COUNT with scalerValue = the
// endpoint's targetConcurrency, and the proxy emits the same "new|<id>" event when the endpoint turns busy or idle.
// StreamIsActive pushes the activity state when it changes: at once when a job is accepted by this
// replica (in-process event) and within scalerPushIntervalMs otherwise (jobs accepted by other replicas).
import * as fs from "fs";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { Logger } from "pino";
import type { JobQueue, EndpointCounts } from "./queue";
import type { EndpointRegistry } from "./endpoints";
import type { ScalerType } from "./config";

export function protoPath(): string {
  const candidates = [
    path.resolve(__dirname, "../proto/externalscaler.proto"), // gateway/src (ts-node)
    path.resolve(__dirname, "../../../gateway/proto/externalscaler.proto"), // dist/gateway/src
    path.resolve(__dirname, "../../proto/externalscaler.proto"),
  ];
  const p = candidates.find((c) => fs.existsSync(c));
  if (!p) throw new Error(`externalscaler.proto not found (looked in ${candidates.join(", ")})`);
  return p;
}

export function loadScalerProto(): grpc.GrpcObject {
  const def = protoLoader.loadSync(protoPath(), { keepCase: true, longs: Number, defaults: true });
  return grpc.loadPackageDefinition(def).externalscaler as grpc.GrpcObject;
}

interface Ref {
  name?: string;
  namespace?: string;
  scalerMetadata?: Record<string, string>;
}

export interface ScalerSpec {
  endpointId: string;
  scalerType: ScalerType;
  scalerValue: number;
}

export function metricFor(spec: ScalerSpec, c: EndpointCounts, now = Date.now(), held = false): { metric: number; target: number; active: boolean } {
  const active = c.waiting > 0 || c.active > 0;
  if (spec.scalerType === "REQUEST_COUNT") {
    const metric = c.waiting + c.active;
    return { metric: held ? Math.min(metric, spec.scalerValue) : metric, target: spec.scalerValue, active };
  }
  const ageS = c.oldestCreatedAt > 0 ? (now - c.oldestCreatedAt) / 1000 : 0;
  const metric = c.active + (ageS > spec.scalerValue ? c.waiting : 0);
  return { metric: held ? Math.min(metric, 1) : metric, target: 1, active };
}

class ScalerError extends Error {
  constructor(readonly code: grpc.status, msg: string) {
    super(msg);
  }
}

export class ScalerServer {
  private server = new grpc.Server();
  private streams = new Set<grpc.ServerWritableStream<Ref, unknown>>();
  port = 0;

  constructor(
    private readonly q: JobQueue,
    private readonly reg: EndpointRegistry,
    private readonly pushIntervalMs: number,
    private readonly log: Logger,
    /** the endpoint is crash-looping: scale-up held (health.ts) */
    private readonly held: (ep: string) => boolean = () => false,
    /** counts kept outside Redis (HTTP endpoints: requests waiting in / in flight through the proxy) */
    private readonly localCounts?: (endpointId: string) => Promise<EndpointCounts | undefined> | EndpointCounts | undefined,
  ) {
    const pkg = loadScalerProto();
    const svc = (pkg.ExternalScaler as grpc.ServiceClientConstructor).service;
    this.server.addService(svc, {
      IsActive: (call: grpc.ServerUnaryCall<Ref, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        this.unary(cb, async () => {
          const spec = this.spec(call.request);
          const c = await this.counts(spec.endpointId);
          return { result: metricFor(spec, c).active };
        }),
      GetMetricSpec: (call: grpc.ServerUnaryCall<Ref, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        this.unary(cb, async () => {
          const spec = this.spec(call.request);
          const target = spec.scalerType === "REQUEST_COUNT" ? spec.scalerValue : 1;
          return { metricSpecs: [{ metricName: metricName(spec), targetSize: target, targetSizeFloat: target }] };
        }),
      GetMetrics: (call: grpc.ServerUnaryCall<{ scaledObjectRef?: Ref; metricName?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        this.unary(cb, async () => {
          const spec = this.spec(call.request.scaledObjectRef ?? {});
          const c = await this.counts(spec.endpointId);
          const m = metricFor(spec, c, Date.now(), this.held(spec.endpointId));
          return { metricValues: [{ metricName: call.request.metricName || metricName(spec), metricValue: Math.ceil(m.metric), metricValueFloat: m.metric }] };
        }),
      StreamIsActive: (call: grpc.ServerWritableStream<Ref, unknown>) => this.streamIsActive(call),
    });
  }

  private spec(ref: Ref): ScalerSpec {
    const md = ref.scalerMetadata ?? {};
    const endpointId = md.endpointId;
    if (!endpointId) throw new ScalerError(grpc.status.INVALID_ARGUMENT, "scalerMetadata.endpointId is required");
    const ep = this.reg.get(endpointId);
    if (!ep) throw new ScalerError(grpc.status.NOT_FOUND, `endpoint ${endpointId} is not known to the gateway`);
    const scalerType = (md.scalerType || ep.scalerType || "QUEUE_DELAY") as ScalerType;
    if (scalerType !== "QUEUE_DELAY" && scalerType !== "REQUEST_COUNT") {
      throw new ScalerError(grpc.status.INVALID_ARGUMENT, `scalerMetadata.scalerType must be QUEUE_DELAY or REQUEST_COUNT, got ${scalerType}`);
    }
    const raw = md.scalerValue ?? (ep.scalerValue !== undefined ? String(ep.scalerValue) : scalerType === "QUEUE_DELAY" ? "4" : "1");
    const scalerValue = Number(raw);
    if (!Number.isFinite(scalerValue) || scalerValue <= 0 || (scalerType === "REQUEST_COUNT" && !Number.isInteger(scalerValue))) {
      throw new ScalerError(grpc.status.INVALID_ARGUMENT, `scalerMetadata.scalerValue must be a positive number (integer for REQUEST_COUNT), got ${raw}`);
    }
    return { endpointId, scalerType, scalerValue };
  }

  private async counts(endpointId: string): Promise<EndpointCounts> {
    return (await this.localCounts?.(endpointId)) ?? this.q.counts(endpointId);
  }

  private unary(cb: grpc.sendUnaryData<unknown>, fn: () => Promise<unknown>) {
    fn().then(
      (r) => cb(null, r),
      (e: Error) => cb({ code: e instanceof ScalerError ? e.code : grpc.status.UNAVAILABLE, details: e.message } as grpc.ServiceError, null),
    );
  }

  private streamIsActive(call: grpc.ServerWritableStream<Ref, unknown>) {
    let spec: ScalerSpec;
    try {
      spec = this.spec(call.request);
    } catch (e) {
      call.destroy(Object.assign(new Error((e as Error).message), { code: (e as ScalerError).code ?? grpc.status.INVALID_ARGUMENT }));
      return;
    }
    this.streams.add(call);
    let last: boolean | undefined;
    let busy = false;
    let ended = false;
    const check = async () => {
      if (busy || ended) return;
      busy = true;
      try {
        const c = await this.counts(spec.endpointId);
        const active = metricFor(spec, c).active;
        if (active !== last) {
          last = active;
          call.write({ result: active });
          // One line per change (not per check): the cold-start bench reads when activation was sent.
          this.log.info({ endpointId: spec.endpointId, active, at: Date.now() }, "scaler: activity pushed");
        }
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, "StreamIsActive check failed");
      } finally {
        busy = false;
      }
    };
    const onNew = () => void check();
    const ev = `new|${spec.endpointId}`;
    this.q.events.on(ev, onNew);
    const timer = setInterval(check, this.pushIntervalMs);
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(timer);
      this.q.events.off(ev, onNew);
      this.streams.delete(call);
    };
    call.on("cancelled", end);
    call.on("close", end);
    call.on("error", end);
    void check();
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
        if (err) return reject(err);
        this.port = p;
        resolve(p);
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.streams) s.end();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

export function metricName(spec: ScalerSpec) {
  return `longshore-${spec.endpointId}-${spec.scalerType === "REQUEST_COUNT" ? "requests" : "queue-delay"}`;
}
