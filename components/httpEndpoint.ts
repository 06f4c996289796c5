// HttpEndpoint: RunPod's "load-balancing endpoint" — any containerised HTTP API server (FastAPI, vLLM's OpenAI
// server, Express…) deployed unchanged as a serverless endpoint that scales from zero. The gateway proxies
// `<gateway>/http/<id>/<path>` (and `<id>.<domain>/<path>`) to the workers' HTTP servers, holds requests while the
// endpoint wakes, queues the ones over the workers' target concurrency, and is KEDA's scaler for it.
//
// A sibling of ServerlessEndpoint rather than a mode of it: the worker contract differs in every part the
// component writes — no job-protocol env, worker token or heartbeat; a port, a health check and a per-worker
// concurrency instead of a scaler type; a preStop pause so the gateway stops routing before the server stops —
// and a union of both argument sets would make half of each set an error in the other mode (docs/http-endpoints.md).
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { Validator, dnsLabel, nonNegativeInteger, positiveInteger, atMost, httpUrl, hostPort } from "./validate";
import { digestRef } from "./imageRef";
import { PlatformRef } from "./serverlessPlatform";
import { getChild, setChild } from "./children";
import { EndpointResources, EndpointVolume } from "./serverlessEndpoint";
import { checkEnvNames, endpointVolume, gpuPlacement, plainEnvValue } from "./workerPod";
import {
    DEFAULT_HEALTH_PATH, DEFAULT_HTTP_PORT, ENDPOINT_LABEL, ENDPOINT_SECRET_KEYS, EXECUTION_TIMEOUT_ANNOTATION, HTTP_PATH_PREFIX,
    HTTP_WORKER_COMPONENT, HTTP_WORKER_ENV, HttpEndpointSettings, WORKER_ENV, endpointIdError,
} from "../contract";

/** Seconds a terminating worker keeps serving before its server gets SIGTERM: time for the gateway's pod watch
 *  to take it out of routing, so no new request reaches a server that is shutting down. */
export const HTTP_PRESTOP_SECONDS = 3;
/** Env vars HttpEndpoint sets itself (RunPod's load-balancing worker contract). */
export const RESERVED_HTTP_WORKER_ENV: readonly string[] = [...HTTP_WORKER_ENV, ...WORKER_ENV];

export interface HttpEndpointArgs {
    /** The control plane: a ServerlessPlatform, or its outputs { namespace, gatewayUrl, scalerAddress }. The workers run in its namespace (the gateway watches them there). */
    platform: PlatformRef;
    /** Endpoint id used in URLs (<gateway>/http/<id>/…). DNS label, at most 40 chars. Default: the resource name. */
    endpointId?: pulumi.Input<string>;
    /** The HTTP server image pinned by digest (repo@sha256:…), e.g. a WorkerImage's `ref`. A tag is refused. */
    image: pulumi.Input<string>;
    /** Port the server listens on, set in the worker as RunPod's PORT. Default 80 (RunPod's default). */
    port?: pulumi.Input<number>;
    /** Port of the health check, set as RunPod's PORT_HEALTH. Default: `port`. */
    healthPort?: pulumi.Input<number>;
    /** Health check path (RunPod's /ping): 200 = ready, 204 = initializing, anything else = not ready. Default /ping. */
    healthPath?: pulumi.Input<string>;
    /** Requests one worker serves at once; more wait in the gateway's queue. Also the KEDA target: workers = ceil((in flight + waiting) / this). Default 1. */
    targetConcurrency?: pulumi.Input<number>;
    /** Always-on workers (RunPod "active workers"). Default 0 (scale from zero). */
    minWorkers?: pulumi.Input<number>;
    /** Upper bound of workers. Default 3. */
    maxWorkers?: pulumi.Input<number>;
    /** Seconds a worker stays after the last request (KEDA cooldownPeriod + HPA scale-down window). Default 5. */
    idleTimeoutSeconds?: pulumi.Input<number>;
    /** Seconds a request may wait in the gateway for a worker (cold start, or all at target concurrency) before a 503 with the reason. Default 120. */
    queueTimeoutSeconds?: pulumi.Input<number>;
    /** Seconds a worker may take to start answering a request before a 504. Default 600. Drives the drain grace period. */
    requestTimeoutSeconds?: pulumi.Input<number>;
    /** Requests that may wait at once (per gateway replica) before new ones are refused with 503. Default 1000. */
    maxQueued?: pulumi.Input<number>;
    /** Pod termination grace; must be >= requestTimeoutSeconds. Default requestTimeoutSeconds + 30. */
    terminationGracePeriodSeconds?: pulumi.Input<number>;
    /** KEDA pollingInterval in seconds. Default 10 (activation from zero is pushed, not polled). */
    pollingIntervalSeconds?: pulumi.Input<number>;
    /** GPUs per worker (nvidia.com/gpu). Default 1. */
    gpuCount?: pulumi.Input<number>;
    /** Allowed GPU types in order of preference (nvidia.com/gpu.product values; spaces become '-'). */
    gpuTypes?: pulumi.Input<pulumi.Input<string>[]>;
    /** CPU-only workers: no GPU request, toleration or GPU affinity. Default false. */
    cpuOnly?: boolean;
    /** CPU/memory requests and limits of each worker. */
    resources?: EndpointResources;
    /** Container disk (ephemeral-storage request and limit), e.g. "20Gi". */
    containerDisk?: pulumi.Input<string>;
    /** Plain environment variables. Secret values are refused here: use secretEnv. */
    env?: Record<string, pulumi.Input<string>>;
    /** Secret environment variables: stored in a Kubernetes Secret and referenced with secretKeyRef. */
    secretEnv?: Record<string, pulumi.Input<string>>;
    /** Optional network volume (e.g. for a SQLite file or model cache), mounted at mountPath (default /runpod-volume). */
    volume?: EndpointVolume;
    /** Image pull secrets (names of Secrets in the platform namespace). */
    imagePullSecrets?: pulumi.Input<pulumi.Input<string>[]>;
    /** Extra node selector labels. */
    nodeSelector?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Extra tolerations (the nvidia.com/gpu NoSchedule toleration is always added for GPU workers). */
    tolerations?: pulumi.Input<pulumi.Input<k8s.types.input.core.v1.Toleration>[]>;
    /** Extra labels on the Deployment and its pods. */
    labels?: Record<string, string>;
}

const port: (x: unknown) => string | undefined = (x) => (typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= 65535 ? undefined : "must be a port number (1-65535)");

/**
 * RunPod's load-balancing endpoint on your cluster: an HTTP server image, unchanged, behind the gateway's
 * reverse proxy, scaled from zero by KEDA on requests in flight and waiting.
 */
export class HttpEndpoint extends pulumi.ComponentResource {
    /** The endpoint id used in URLs. */
    public readonly endpointId: pulumi.Output<string>;
    /** `<gatewayUrl>/http/<endpointId>` — append the server's own paths, e.g. `<url>/predict`. */
    public readonly url: pulumi.Output<string>;
    /** Namespace of the workers (the platform namespace). */
    public readonly namespace: pulumi.Output<string>;
    /** Name of the worker Deployment. */
    public readonly deploymentName: pulumi.Output<string>;
    /** Name of the KEDA ScaledObject. */
    public readonly scaledObjectName: pulumi.Output<string>;
    /** Name of the endpoint Secret (in the platform namespace). */
    public readonly secretName: pulumi.Output<string>;
    // Child resources: getters, TypeScript only (components/children.ts says why).
    /** The worker Deployment. */
    public get deployment(): k8s.apps.v1.Deployment {
        return getChild(this, "deployment");
    }
    /** The KEDA ScaledObject. */
    public get scaledObject(): k8s.apiextensions.CustomResource {
        return getChild(this, "scaledObject");
    }
    /** The endpoint Secret the gateway discovers the endpoint by. */
    public get endpointSecret(): k8s.core.v1.Secret {
        return getChild(this, "endpointSecret");
    }

    constructor(name: string, args: HttpEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        super("longshore:index:HttpEndpoint", name, {}, opts);
        const v = new Validator("HttpEndpoint", name);
        if (!args) v.fail("args", "are required (platform, image)");
        if (!args.platform) v.fail("platform", "is required: a ServerlessPlatform or { namespace, gatewayUrl, scalerAddress }");
        if (args.image === undefined) v.fail("image", "is required: a digest-pinned reference (repo@sha256:…), e.g. a WorkerImage's `ref`");

        const endpointId = v.check("endpointId", args.endpointId, [endpointIdError], name);
        const image = v.check("image", args.image, [digestRef]);
        const namespace = v.check("platform.namespace", args.platform.namespace, [dnsLabel(63)]);
        const gatewayUrl = v.check("platform.gatewayUrl", args.platform.gatewayUrl, [httpUrl]);
        const scalerAddress = v.check("platform.scalerAddress", args.platform.scalerAddress, [hostPort]);

        const httpPort = v.check("port", args.port, [port], DEFAULT_HTTP_PORT);
        const healthPort = pulumi.all([v.check<number | undefined>("healthPort", args.healthPort, [(x) => (x === undefined ? undefined : port(x))]), httpPort]).apply(([h, p]) => h ?? p);
        const healthPath = v.check("healthPath", args.healthPath, [(x) => (typeof x === "string" && /^\/[\x21-\x7e]*$/.test(x) ? undefined : "must be a path starting with '/' (printable ASCII, no spaces)")], DEFAULT_HEALTH_PATH);
        const target = v.check("targetConcurrency", args.targetConcurrency, [positiveInteger, atMost(10_000)], 1);
        const minWorkers = v.check("minWorkers", args.minWorkers, [nonNegativeInteger], 0);
        const maxWorkers = v.check("maxWorkers", args.maxWorkers, [positiveInteger], 3);
        v.relate<[number | undefined, number | undefined]>([args.minWorkers, args.maxWorkers], (mn, mx) => {
            const min = mn ?? 0;
            const max = mx ?? 3;
            return typeof min === "number" && typeof max === "number" && max < min ? ["maxWorkers", `(${max}) must be >= minWorkers (${min})`] : undefined;
        });
        const minMax = pulumi.all([minWorkers, maxWorkers]).apply(([mn, mx]) => {
            if (mx < mn) v.fail("maxWorkers", `(${mx}) must be >= minWorkers (${mn})`);
            return [mn, mx] as const;
        });
        const idleTimeout = v.check("idleTimeoutSeconds", args.idleTimeoutSeconds, [nonNegativeInteger, atMost(3600)], 5);
        const queueTimeout = v.check("queueTimeoutSeconds", args.queueTimeoutSeconds, [positiveInteger, atMost(3600)], 120);
        const requestTimeout = v.check("requestTimeoutSeconds", args.requestTimeoutSeconds, [positiveInteger, atMost(7 * 24 * 3600)], 600);
        const maxQueued = v.check<number | undefined>("maxQueued", args.maxQueued, [(x) => (x === undefined ? undefined : positiveInteger(x))]);
        const pollingInterval = v.check("pollingIntervalSeconds", args.pollingIntervalSeconds, [positiveInteger], 10);
        const graceRelation = (g: number | undefined, r: number | undefined): [string, string] | undefined => {
            const req = r ?? 600;
            if (g === undefined) return undefined;
            if (typeof g !== "number" || !Number.isInteger(g) || g < 0) return ["terminationGracePeriodSeconds", `(${g}) must be a non-negative integer`];
            return g < req ? ["terminationGracePeriodSeconds", `(${g}) must be >= requestTimeoutSeconds (${req}) so a worker being scaled in can finish its requests`] : undefined;
        };
        v.relate<[number | undefined, number | undefined]>([args.terminationGracePeriodSeconds, args.requestTimeoutSeconds], graceRelation);
        const grace = pulumi.all([args.terminationGracePeriodSeconds, requestTimeout]).apply(([g, r]) => {
            const broken = graceRelation(g, r);
            if (broken) v.fail(broken[0], broken[1]);
            return (g ?? r + 30) + HTTP_PRESTOP_SECONDS;
        });

        const { resources, tolerations, affinity } = gpuPlacement(v, args);
        const env = args.env ?? {};
        const secretEnv = args.secretEnv ?? {};
        checkEnvNames(v, env, secretEnv, RESERVED_HTTP_WORKER_ENV, "HttpEndpoint (RunPod's load-balancing worker contract)");

        const labels = { "app.kubernetes.io/part-of": "longshore", "app.kubernetes.io/managed-by": "pulumi", ...(args.labels ?? {}) };
        const child = { parent: this };
        const deploymentName = pulumi.interpolate`${endpointId}-worker`;
        const selector = pulumi.output(endpointId).apply((id) => ({ "app.kubernetes.io/name": "longshore-http-worker", [ENDPOINT_LABEL]: id }));
        const podLabels = selector.apply((s) => ({ ...labels, "app.kubernetes.io/component": HTTP_WORKER_COMPONENT, ...s }));

        // ---- endpoint Secret: how the gateway learns the endpoint and its HTTP settings (no worker token: the
        // workers never call the gateway)
        const settings = pulumi.all([httpPort, healthPort, healthPath, target, queueTimeout, requestTimeout, maxQueued]).apply(
            ([p, hp, path, t, qt, rt, mq]) => {
                const http: HttpEndpointSettings = { port: p, healthPort: hp, healthPath: path, targetConcurrency: t, queueTimeoutMs: qt * 1000, requestTimeoutMs: rt * 1000, ...(mq !== undefined ? { maxQueued: mq } : {}) };
                return JSON.stringify({ scalerType: "REQUEST_COUNT", scalerValue: t, http });
            },
        );
        const secretName = pulumi.interpolate`longshore-endpoint-${endpointId}`;
        setChild(this, "endpointSecret", new k8s.core.v1.Secret(`${name}-endpoint`, {
            metadata: { name: secretName, namespace, labels: pulumi.output(endpointId).apply((id) => ({ ...labels, [ENDPOINT_LABEL]: id })) },
            type: "Opaque",
            stringData: pulumi.all([endpointId, settings]).apply(([id, s]) => ({ [ENDPOINT_SECRET_KEYS.endpointId]: id, [ENDPOINT_SECRET_KEYS.settings]: s })),
        }, child));

        let envSecret: k8s.core.v1.Secret | undefined;
        if (Object.keys(secretEnv).length > 0) {
            envSecret = new k8s.core.v1.Secret(`${name}-env`, {
                metadata: { name: pulumi.interpolate`${endpointId}-worker-env`, namespace, labels },
                type: "Opaque",
                stringData: pulumi.secret(secretEnv as Record<string, pulumi.Input<string>>),
            }, child);
        }
        const containerEnv: pulumi.Input<k8s.types.input.core.v1.EnvVar>[] = [
            { name: "PORT", value: httpPort.apply(String) },
            { name: "PORT_HEALTH", value: healthPort.apply(String) },
            { name: "RUNPOD_POD_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
            { name: "RUNPOD_ENDPOINT_ID", value: endpointId },
            ...Object.entries(env).map(([k, val]) => ({ name: k, value: plainEnvValue(v, k, val) })),
            ...Object.keys(secretEnv).map((k) => ({ name: k, valueFrom: { secretKeyRef: { name: (envSecret as k8s.core.v1.Secret).metadata.name, key: k } } })),
        ];
        const { volumes, volumeMounts } = endpointVolume(v, name, args.volume, pulumi.interpolate`${endpointId}-volume`, namespace, labels, child);
        const ports = pulumi.all([httpPort, healthPort]).apply(([p, hp]) => [
            { name: "http", containerPort: p },
            ...(hp !== p ? [{ name: "health", containerPort: hp }] : []),
        ]);

        setChild(this, "deployment", new k8s.apps.v1.Deployment(`${name}-worker`, {
            metadata: { name: deploymentName, namespace, labels: podLabels },
            spec: {
                // Initial size only: KEDA/HPA own the replica count afterwards (see ignoreChanges below).
                replicas: minWorkers,
                selector: { matchLabels: selector },
                template: {
                    metadata: { labels: podLabels, annotations: { [EXECUTION_TIMEOUT_ANNOTATION]: requestTimeout.apply(String) } },
                    spec: {
                        terminationGracePeriodSeconds: grace,
                        automountServiceAccountToken: false,
                        enableServiceLinks: false,
                        imagePullSecrets: args.imagePullSecrets !== undefined ? pulumi.output(args.imagePullSecrets).apply((ss) => ss.map((s) => ({ name: s }))) : undefined,
                        nodeSelector: args.nodeSelector,
                        tolerations,
                        affinity,
                        containers: [{
                            name: "server",
                            image,
                            env: containerEnv,
                            ports,
                            resources,
                            volumeMounts,
                            // Scale-in: the pod is marked terminating (the gateway stops routing to it), keeps
                            // serving for a moment, then the server gets SIGTERM and finishes what it has
                            // (uvicorn, gunicorn, Node's server.close… all drain on SIGTERM) within the grace period.
                            lifecycle: { preStop: { sleep: { seconds: HTTP_PRESTOP_SECONDS } } },
                            securityContext: { allowPrivilegeEscalation: false },
                        }],
                        volumes,
                    },
                },
            },
        }, { parent: this, ignoreChanges: ["spec.replicas"] }));

        const behavior = pulumi.all([idleTimeout, maxWorkers]).apply(([idle, mx]) => ({
            scaleDown: { stabilizationWindowSeconds: idle, policies: [{ type: "Percent", value: 100, periodSeconds: 15 }] },
            scaleUp: {
                stabilizationWindowSeconds: 0,
                policies: [{ type: "Percent", value: 100, periodSeconds: 15 }, { type: "Pods", value: mx, periodSeconds: 15 }],
                selectPolicy: "Max",
            },
        }));
        setChild(this, "scaledObject", new k8s.apiextensions.CustomResource(`${name}-scaler`, {
            apiVersion: "keda.sh/v1alpha1",
            kind: "ScaledObject",
            metadata: { name: endpointId, namespace, labels },
            spec: {
                scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: this.deployment.metadata.name },
                minReplicaCount: minMax.apply(([mn]) => mn),
                maxReplicaCount: minMax.apply(([, mx]) => mx),
                pollingInterval,
                cooldownPeriod: idleTimeout,
                advanced: { horizontalPodAutoscalerConfig: { behavior } },
                triggers: [{
                    type: "external-push",
                    // REQUEST_COUNT over the proxy's counts: workers = ceil((in flight + waiting) / targetConcurrency);
                    // in flight counts, so busy workers are not scaled away (policy scaledobject-counts-in-flight)
                    metadata: { scalerAddress, endpointId, scalerType: "REQUEST_COUNT", scalerValue: target.apply(String) },
                }],
            },
        }, { parent: this, dependsOn: [this.endpointSecret] }));

        this.endpointId = endpointId;
        this.namespace = namespace;
        this.url = pulumi.interpolate`${gatewayUrl}${HTTP_PATH_PREFIX}/${endpointId}`;
        this.deploymentName = this.deployment.metadata.name;
        this.scaledObjectName = this.scaledObject.metadata.name;
        this.secretName = this.endpointSecret.metadata.name;
        this.registerOutputs({
            endpointId: this.endpointId, url: this.url, namespace: this.namespace, deploymentName: this.deploymentName,
            scaledObjectName: this.scaledObjectName, secretName: this.secretName,
        });
    }
}
