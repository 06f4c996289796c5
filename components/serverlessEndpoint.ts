// ServerlessEndpoint: one RunPod-style endpoint — GPU worker Deployment (image by digest) that scales from
// zero on the gateway's queue through a KEDA ScaledObject (external-push trigger served by the gateway), plus
// the endpoint Secret the gateway discovers it by.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import {
    Validator, dnsLabel, nonNegativeInteger, positiveInteger, oneOf, atMost, envName,
    nonEmptyString, httpUrl, hostPort, isPlain,
} from "./validate";
import { digestRef } from "./imageRef";
import { RandomToken } from "./randomToken";
import { PlatformRef } from "./serverlessPlatform";
import { getChild, setChild } from "./children";
import { endpointVolume, gpuPlacement } from "./workerPod";
import { ImagePrePull } from "./imagePrePull";
import { EndpointWorker, adapterInjection } from "./commandWorker";
import {
    DEFAULT_SCALER_VALUE, ENDPOINT_LABEL, ENDPOINT_SECRET_KEYS, EXECUTION_TIMEOUT_ANNOTATION, ScalerType, SCALER_TYPES, WORKER_ENV,
    endpointIdError, webhookSecretError, workerTokenError, workerUrls,
    DEFAULT_MAX_WORKER_LOSSES, DEFAULT_CRASH_LOOP_FAIL_AFTER_MS,
} from "../contract";

export { DEFAULT_SCALER_VALUE, EXECUTION_TIMEOUT_ANNOTATION, ScalerType, SCALER_TYPES } from "../contract";
/** Seconds added to the execution timeout for the drain grace period (SDK shutdown + final result post). */
export const DRAIN_MARGIN_SECONDS = 30;
export const GPU_RESOURCE = "nvidia.com/gpu";
export const GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";
/** Where RunPod mounts a network volume; workers written for RunPod look there. */
export const DEFAULT_VOLUME_MOUNT = "/runpod-volume";
/** Env vars ServerlessEndpoint sets itself (the worker env contract); user env may not override them. */
export const RESERVED_WORKER_ENV: readonly string[] = WORKER_ENV;

/** Worker container resources besides the GPUs. */
export interface EndpointResources {
    /** CPU request, e.g. "2". */
    cpu?: pulumi.Input<string>;
    /** Memory request (and limit unless memoryLimit is given), e.g. "16Gi". */
    memory?: pulumi.Input<string>;
    /** CPU limit, e.g. "4". Default none. */
    cpuLimit?: pulumi.Input<string>;
    /** Memory limit. Default: the memory request. */
    memoryLimit?: pulumi.Input<string>;
}

/** A network volume for the workers: an existing claim (`claimName`) or a new one (`size`), exactly one. */
export interface EndpointVolume {
    /** Use an existing PersistentVolumeClaim (e.g. a ReadWriteMany EFS/NFS claim shared by all workers). */
    claimName?: pulumi.Input<string>;
    /** Or create a claim of this size. */
    size?: pulumi.Input<string>;
    /** Storage class of a created claim (e.g. an EFS/NFS class). Default: the cluster's default class. */
    storageClassName?: pulumi.Input<string>;
    /** Access modes of a created claim. Default ["ReadWriteMany"] (a network volume shared by workers). */
    accessModes?: pulumi.Input<pulumi.Input<string>[]>;
    /** Mount path. Default /runpod-volume (RunPod's network volume path). */
    mountPath?: pulumi.Input<string>;
    /** Mount read-only. Default false. */
    readOnly?: pulumi.Input<boolean>;
}

/** Image pre-pull (components/imagePrePull.ts): keep the worker image on every node the workers can run on. */
export interface EndpointPrePull {
    /** Default: true for GPU endpoints, false for cpuOnly ones. */
    enabled?: boolean;
    /** Image the pre-pull pod idles on, by digest. Default registry.k8s.io/pause:3.10 (by digest). */
    pauseImage?: pulumi.Input<string>;
    /** No-op command run in the worker image after the pull. Default ["sh", "-c", "exit 0"]. */
    command?: pulumi.Input<pulumi.Input<string>[]>;
}

export interface ServerlessEndpointArgs {
    /** The control plane: a ServerlessPlatform, or its outputs { namespace, gatewayUrl, scalerAddress }. */
    platform: PlatformRef;
    /** Endpoint id used in URLs (/v2/<id>/run). DNS label, at most 40 chars (contract ENDPOINT_ID_MAX). Default: the resource name. */
    endpointId?: pulumi.Input<string>;
    /** Worker image pinned by digest (repo@sha256:…), e.g. a WorkerImage's `ref`. A tag is refused. */
    image: pulumi.Input<string>;
    /** Namespace of the workers. Default: the platform namespace. */
    namespace?: pulumi.Input<string>;
    /** Always-on workers (RunPod "active workers"). Default 0 (scale from zero). */
    minWorkers?: pulumi.Input<number>;
    /** Upper bound of workers. Default 3. */
    maxWorkers?: pulumi.Input<number>;
    /** Seconds a worker stays after the queue empties (KEDA cooldownPeriod + HPA scale-down window). Default 5. */
    idleTimeoutSeconds?: pulumi.Input<number>;
    /** Maximum seconds one job may run. Default 600. Drives the drain grace period. */
    executionTimeoutSeconds?: pulumi.Input<number>;
    /** Pod termination grace; must be >= executionTimeoutSeconds. Default executionTimeoutSeconds + 30. */
    terminationGracePeriodSeconds?: pulumi.Input<number>;
    /** RunPod scaler: QUEUE_DELAY (seconds a job may wait) or REQUEST_COUNT (jobs per worker). Default QUEUE_DELAY. */
    scalerType?: pulumi.Input<ScalerType>;
    /** Scaler value: seconds for QUEUE_DELAY (default 4), jobs per worker for REQUEST_COUNT (default 1). */
    scalerValue?: pulumi.Input<number>;
    /** KEDA pollingInterval in seconds. Default 10 (activation from zero is pushed, not polled). */
    pollingIntervalSeconds?: pulumi.Input<number>;
    /** GPUs per worker (nvidia.com/gpu). Default 1. */
    gpuCount?: pulumi.Input<number>;
    /**
     * Allowed GPU types in order of preference, as `nvidia.com/gpu.product` label values (spaces become '-',
     * so RunPod names like "NVIDIA H100 80GB HBM3" work). Workers only land on these; earlier ones are preferred.
     */
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
    /** Optional network volume. */
    volume?: EndpointVolume;
    /** Worker token (a Pulumi secret). Default: a random 256-bit token generated once and kept in state. */
    workerToken?: pulumi.Input<string>;
    /**
     * Key the gateway signs this endpoint's webhooks with (Standard Webhooks headers webhook-id,
     * webhook-timestamp, webhook-signature; docs/gateway.md). A Pulumi secret, 16+ characters, or
     * "whsec_" + base64. Default: a random 256-bit token generated once and kept in state.
     */
    webhookSecret?: pulumi.Input<string>;
    /** Worker heartbeat interval (RUNPOD_PING_INTERVAL), ms. Default 10000. */
    pingIntervalMs?: pulumi.Input<number>;
    /**
     * A job whose worker is lost this many times (its pod died, was OOM-killed or stopped pinging) ends FAILED
     * with a reason instead of being queued again. 1–100, default 3.
     */
    maxWorkerLosses?: pulumi.Input<number>;
    /**
     * When every worker of the endpoint crashes at start (CrashLoopBackOff, image pull errors) and none is
     * healthy, the waiting jobs end FAILED with the crash as the reason after this many seconds. 0 = never
     * (they wait for their ttl). Default 600. Scale-up is held at one worker meanwhile either way.
     */
    crashLoopFailAfterSeconds?: pulumi.Input<number>;
    /** Image pull secrets (names of Secrets in the workers' namespace). */
    imagePullSecrets?: pulumi.Input<pulumi.Input<string>[]>;
    /** Extra node selector labels. */
    nodeSelector?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Extra tolerations (the nvidia.com/gpu NoSchedule toleration is always added for GPU workers). */
    tolerations?: pulumi.Input<pulumi.Input<k8s.types.input.core.v1.Toleration>[]>;
    /** Extra labels on the Deployment and its pods. */
    labels?: Record<string, string>;
    /** Keep the worker image on the nodes so scale-up never waits for a pull. Default on for GPU endpoints. */
    prePull?: EndpointPrePull;
    /**
     * How the image takes jobs. Default: it is a RunPod SDK worker. `{ command, adapterImage }` runs a CLI image's
     * entrypoint once per job, `{ http, adapterImage }` forwards jobs to an HTTP server image — both unchanged
     * (docs/bring-any-image.md).
     */
    worker?: EndpointWorker;
}

/** Normalises a GPU type name to its nvidia.com/gpu.product label value. */
export function gpuProductLabel(t: string): string {
    return t.trim().replace(/\s+/g, "-");
}

/** Preference weights (1..100) for an ordered list: first = 100, strictly decreasing, last >= 1. */
export function preferenceWeights(n: number): number[] {
    if (n <= 0) return [];
    if (n === 1) return [100];
    return Array.from({ length: n }, (_, i) => Math.max(1, Math.round(100 - (i * 99) / (n - 1))));
}

/**
 * One RunPod-style endpoint: a GPU worker Deployment (image by digest) that scales from zero on the platform's
 * queue through a KEDA ScaledObject, plus the endpoint Secret the gateway discovers it by.
 */
export class ServerlessEndpoint extends pulumi.ComponentResource {
    /** The endpoint id used in URLs (/v2/<id>/run). */
    public readonly endpointId: pulumi.Output<string>;
    /** `<gatewayUrl>/v2/<endpointId>` — base of /run, /runsync, /status… */
    public readonly jobUrl: pulumi.Output<string>;
    /** Namespace of the workers. */
    public readonly namespace: pulumi.Output<string>;
    /** Name of the worker Deployment. */
    public readonly deploymentName: pulumi.Output<string>;
    /** Name of the KEDA ScaledObject. */
    public readonly scaledObjectName: pulumi.Output<string>;
    /** Name of the endpoint Secret (in the platform namespace). */
    public readonly secretName: pulumi.Output<string>;
    /** The webhook signing key (a Pulumi secret): give it to your webhook receivers to verify signatures. */
    public readonly webhookSecret: pulumi.Output<string>;
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

    constructor(name: string, args: ServerlessEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        super("longshore:index:ServerlessEndpoint", name, {}, opts);
        const v = new Validator("ServerlessEndpoint", name);
        if (!args) v.fail("args", "are required (platform, image)");
        if (!args.platform) v.fail("platform", "is required: a ServerlessPlatform or { namespace, gatewayUrl, scalerAddress }");
        if (args.image === undefined) v.fail("image", "is required: a digest-pinned reference (repo@sha256:…), e.g. a WorkerImage's `ref`");

        const endpointId = v.check("endpointId", args.endpointId, [endpointIdError], name);
        const image = v.check("image", args.image, [digestRef]);
        const platformNs = v.check("platform.namespace", args.platform.namespace, [dnsLabel(63)]);
        const gatewayUrl = v.check("platform.gatewayUrl", args.platform.gatewayUrl, [httpUrl]);
        const scalerAddress = v.check("platform.scalerAddress", args.platform.scalerAddress, [hostPort]);
        const namespace = args.namespace !== undefined ? v.check("namespace", args.namespace, [dnsLabel(63)]) : platformNs;

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
        // HPA's stabilizationWindowSeconds is capped at 3600 by Kubernetes.
        const idleTimeout = v.check("idleTimeoutSeconds", args.idleTimeoutSeconds, [nonNegativeInteger, atMost(3600)], 5);
        const executionTimeout = v.check("executionTimeoutSeconds", args.executionTimeoutSeconds, [positiveInteger], 600);
        const scalerType = v.check<ScalerType>("scalerType", args.scalerType, [oneOf(SCALER_TYPES)], "QUEUE_DELAY");
        const scalerValue = pulumi.all([scalerType, v.check<number | undefined>("scalerValue", args.scalerValue, [(x) => (x === undefined ? undefined : positiveInteger(x))])])
            .apply(([t, val]) => val ?? DEFAULT_SCALER_VALUE[t]);
        const pollingInterval = v.check("pollingIntervalSeconds", args.pollingIntervalSeconds, [positiveInteger], 10);
        const pingInterval = v.check("pingIntervalMs", args.pingIntervalMs, [positiveInteger, (x) => (typeof x === "number" && x < 1000 ? "must be >= 1000" : undefined)], 10000);
        const maxWorkerLosses = v.check("maxWorkerLosses", args.maxWorkerLosses, [positiveInteger, atMost(100)], DEFAULT_MAX_WORKER_LOSSES);
        const crashLoopFailAfter = v.check("crashLoopFailAfterSeconds", args.crashLoopFailAfterSeconds, [nonNegativeInteger], DEFAULT_CRASH_LOOP_FAIL_AFTER_MS / 1000);
        const graceRelation = (g: number | undefined, e: number | undefined): [string, string] | undefined => {
            const exec = e ?? 600;
            if (g === undefined) return undefined;
            if (typeof g !== "number" || !Number.isInteger(g) || g < 0) return ["terminationGracePeriodSeconds", `(${g}) must be a non-negative integer`];
            return g < exec ? ["terminationGracePeriodSeconds", `(${g}) must be >= executionTimeoutSeconds (${exec}) so busy workers can finish their job when scaled in`] : undefined;
        };
        v.relate<[number | undefined, number | undefined]>([args.terminationGracePeriodSeconds, args.executionTimeoutSeconds], graceRelation);
        const grace = pulumi.all([args.terminationGracePeriodSeconds, executionTimeout]).apply(([g, e]) => {
            const broken = graceRelation(g, e);
            if (broken) v.fail(broken[0], broken[1]);
            return g ?? e + DRAIN_MARGIN_SECONDS;
        });

        // GPU placement and resources (components/workerPod.ts, shared with HttpEndpoint): validated here, in
        // this order, before the settings below
        const cpuOnly = args.cpuOnly ?? false;
        const { resources, tolerations, affinity } = gpuPlacement(v, args);

        // env
        const env = args.env ?? {};
        const secretEnv = args.secretEnv ?? {};
        for (const [group, obj] of [["env", env], ["secretEnv", secretEnv]] as const) {
            for (const key of Object.keys(obj)) {
                const broken = envName(key);
                if (broken) v.fail(`${group}.${key}`, broken);
                if (RESERVED_WORKER_ENV.includes(key)) v.fail(`${group}.${key}`, "is set by ServerlessEndpoint (RunPod worker contract) and cannot be overridden");
            }
        }
        for (const key of Object.keys(env)) {
            if (key in secretEnv) v.fail(`env.${key}`, "is also in secretEnv: give it once");
        }

        const labels = { "app.kubernetes.io/part-of": "longshore", "app.kubernetes.io/managed-by": "pulumi", ...(args.labels ?? {}) };
        const child = { parent: this };
        const deploymentName = pulumi.interpolate`${endpointId}-worker`;
        const selector = pulumi.output(endpointId).apply((id) => ({ "app.kubernetes.io/name": "longshore-worker", [ENDPOINT_LABEL]: id }));
        const podLabels = pulumi.all([selector]).apply(([s]) => ({ ...labels, "app.kubernetes.io/component": "worker", ...s }));

        // ---- endpoint Secret (discovery contract: label longshore.dev/endpoint=<id>, keys endpointId/workerToken/settings) ----
        const workerToken = args.workerToken !== undefined
            ? v.check("workerToken", args.workerToken, [nonEmptyString, workerTokenError], undefined, { sensitive: true })
            : new RandomToken(`${name}-worker-token`, { length: 32 }, child).result;
        const webhookSecret = args.webhookSecret !== undefined
            ? v.check("webhookSecret", args.webhookSecret, [nonEmptyString, webhookSecretError], undefined, { sensitive: true })
            : new RandomToken(`${name}-webhook-secret`, { length: 32 }, child).result;
        // the settings the gateway reads (contract EndpointSettings); worker counts and idle timeout live in
        // the ScaledObject, which KEDA reads
        const settings = pulumi.all([executionTimeout, pingInterval, scalerType, scalerValue, maxWorkerLosses, crashLoopFailAfter]).apply(
            ([e, p, st, sv, ml, cl]) => JSON.stringify({ executionTimeoutMs: e * 1000, pingIntervalMs: p, scalerType: st, scalerValue: sv, maxWorkerLosses: ml, crashLoopFailAfterMs: cl * 1000 }),
        );
        const secretName = pulumi.interpolate`longshore-endpoint-${endpointId}`;
        setChild(this, "endpointSecret", new k8s.core.v1.Secret(`${name}-endpoint`, {
            metadata: {
                name: secretName,
                namespace: platformNs,
                labels: pulumi.output(endpointId).apply((id) => ({ ...labels, [ENDPOINT_LABEL]: id })),
            },
            type: "Opaque",
            stringData: pulumi.secret(pulumi.all([endpointId, workerToken, settings, webhookSecret]).apply(([id, tok, s, wh]) => ({
                [ENDPOINT_SECRET_KEYS.endpointId]: id, [ENDPOINT_SECRET_KEYS.workerToken]: tok, [ENDPOINT_SECRET_KEYS.settings]: s,
                [ENDPOINT_SECRET_KEYS.webhookSecret]: wh,
            }))),
        }, child));

        // The worker pod reads RUNPOD_AI_API_KEY from a Secret in its own namespace: the endpoint Secret when the
        // workers run in the platform namespace, otherwise a copy there (not labelled, so the gateway ignores it).
        let tokenRef: pulumi.Output<string> = this.endpointSecret.metadata.name;
        if (args.namespace !== undefined) {
            const workerTokenSecret = new k8s.core.v1.Secret(`${name}-worker-token`, {
                metadata: { name: pulumi.interpolate`longshore-worker-token-${endpointId}`, namespace, labels },
                type: "Opaque",
                stringData: { workerToken: pulumi.secret(workerToken) },
            }, child);
            tokenRef = workerTokenSecret.metadata.name;
        }

        let envSecret: k8s.core.v1.Secret | undefined;
        if (Object.keys(secretEnv).length > 0) {
            // Auto-named for the reason the platform's API-key Secret is (serverlessPlatform.ts): a secretEnv
            // change then rolls the workers instead of replacing their Deployment.
            envSecret = new k8s.core.v1.Secret(`${name}-env`, {
                metadata: { namespace, labels },
                type: "Opaque",
                stringData: pulumi.secret(secretEnv as Record<string, pulumi.Input<string>>),
            }, child);
        }

        // A plain env value that is a Pulumi secret would be written in clear text into the pod spec: refuse it.
        const plainEnvValue = (key: string, val: pulumi.Input<string>): pulumi.Input<string> => {
            if (isPlain(val)) return val;
            const o = pulumi.output(val);
            return pulumi.output(pulumi.isSecret(o).then((secret) => {
                if (secret) v.fail(`env.${key}`, "is a Pulumi secret: put it in secretEnv so it is stored in a Kubernetes Secret, not in the pod spec");
                return o;
            }));
        };

        const base = pulumi.interpolate`${gatewayUrl}/v2/${endpointId}`;
        const urls = base.apply(workerUrls);
        const containerEnv: pulumi.Input<k8s.types.input.core.v1.EnvVar>[] = [
            { name: "RUNPOD_POD_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
            { name: "RUNPOD_ENDPOINT_ID", value: endpointId },
            ...Object.keys(workerUrls("")).map((k) => ({ name: k, value: urls.apply((u) => u[k as keyof typeof u]) })),
            { name: "RUNPOD_AI_API_KEY", valueFrom: { secretKeyRef: { name: tokenRef, key: ENDPOINT_SECRET_KEYS.workerToken } } },
            { name: "RUNPOD_PING_INTERVAL", value: pulumi.output(pingInterval).apply(String) },
            { name: "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS", value: "true" },
            // The TS worker SDK's own limit for a job in hand while draining (Python workers ignore it).
            { name: "LONGSHORE_EXECUTION_TIMEOUT_MS", value: pulumi.output(executionTimeout).apply((e) => String(e * 1000)) },
            ...Object.entries(env).map(([k, val]) => ({ name: k, value: plainEnvValue(k, val) })),
            ...Object.keys(secretEnv).map((k) => ({
                name: k,
                valueFrom: { secretKeyRef: { name: (envSecret as k8s.core.v1.Secret).metadata.name, key: k } },
            })),
        ];

        // volume (an existing claim or a new one named <endpointId>-volume)
        const { volumes, volumeMounts } = endpointVolume(v, name, args.volume, pulumi.interpolate`${endpointId}-volume`, namespace, labels, child);

        // Image pre-pull: on by default for GPU endpoints (their images are the multi-GB ones); the workers wait
        // for it, so after `pulumi up` the image is on every node before the first job.
        const prePullOn = args.prePull?.enabled ?? !cpuOnly;
        const prePull = prePullOn ? new ImagePrePull(name, {
            image, namespace, tolerations, affinity: affinity as pulumi.Output<k8s.types.input.core.v1.Affinity>, nodeSelector: args.nodeSelector, imagePullSecrets: args.imagePullSecrets,
            pauseImage: args.prePull?.pauseImage, command: args.prePull?.command, labels: args.labels,
        }, child) : undefined;
        // command / http workers: the adapter is injected into the pod (components/commandWorker.ts)
        const adapter = args.worker !== undefined ? adapterInjection(name, v, args.worker, image, this, [...Object.keys(env), ...Object.keys(secretEnv)]) : undefined;

        setChild(this, "deployment", new k8s.apps.v1.Deployment(`${name}-worker`, {
            metadata: { name: deploymentName, namespace, labels: podLabels },
            spec: {
                // Initial size only: KEDA/HPA own the replica count afterwards (see ignoreChanges below).
                replicas: minWorkers,
                selector: { matchLabels: selector },
                template: {
                    metadata: {
                        labels: podLabels,
                        annotations: { [EXECUTION_TIMEOUT_ANNOTATION]: pulumi.output(executionTimeout).apply(String) },
                    },
                    spec: {
                        terminationGracePeriodSeconds: grace,
                        automountServiceAccountToken: false,
                        enableServiceLinks: false,
                        imagePullSecrets: args.imagePullSecrets !== undefined
                            ? pulumi.output(args.imagePullSecrets).apply((ss) => ss.map((s) => ({ name: s })))
                            : undefined,
                        nodeSelector: args.nodeSelector,
                        tolerations,
                        affinity,
                        initContainers: adapter?.initContainers,
                        containers: [{
                            name: "worker",
                            image,
                            command: adapter?.command,
                            env: [...containerEnv, ...(adapter?.env ?? [])],
                            resources,
                            // no empty lists: the API server drops them, and an `[]` against the live object's
                            // absent field showed up in every image-change preview as a volumes change
                            volumeMounts: nonEmpty([...volumeMounts, ...(adapter?.volumeMounts ?? [])]),
                            securityContext: { allowPrivilegeEscalation: false },
                        }],
                        volumes: nonEmpty([...volumes, ...(adapter?.volumes ?? [])]),
                    },
                },
            },
        }, { parent: this, ignoreChanges: ["spec.replicas"], dependsOn: prePull ? [prePull] : [] }));

        const behavior = pulumi.all([idleTimeout, maxWorkers]).apply(([idle, mx]) => ({
            scaleDown: {
                stabilizationWindowSeconds: idle,
                policies: [{ type: "Percent", value: 100, periodSeconds: 15 }],
            },
            scaleUp: {
                stabilizationWindowSeconds: 0,
                policies: [
                    { type: "Percent", value: 100, periodSeconds: 15 },
                    { type: "Pods", value: mx, periodSeconds: 15 },
                ],
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
                    metadata: {
                        scalerAddress,
                        endpointId,
                        scalerType,
                        scalerValue: scalerValue.apply(String),
                    },
                }],
            },
        }, { parent: this, dependsOn: [this.endpointSecret] }));

        this.endpointId = endpointId;
        this.namespace = namespace;
        this.jobUrl = base;
        this.deploymentName = this.deployment.metadata.name;
        this.scaledObjectName = this.scaledObject.metadata.name;
        this.secretName = this.endpointSecret.metadata.name;
        this.webhookSecret = pulumi.secret(pulumi.output(webhookSecret));
        this.registerOutputs({
            endpointId: this.endpointId,
            jobUrl: this.jobUrl,
            namespace: this.namespace,
            deploymentName: this.deploymentName,
            scaledObjectName: this.scaledObjectName,
            secretName: this.secretName,
            webhookSecret: this.webhookSecret,
        });
    }
}

/** `undefined` for an empty list: the API server drops empty lists, so sending `[]` shows as a diff forever. */
function nonEmpty<T>(xs: T[]): T[] | undefined {
    return xs.length ? xs : undefined;
}
