// ServerlessPlatform: the control plane every ServerlessEndpoint attaches to — namespace, queue (Redis),
// the job gateway (RunPod-compatible HTTP API on 8080 + KEDA external scaler gRPC on 9090), its RBAC for
// endpoint discovery, and the client API keys as a Kubernetes Secret created from Pulumi secrets.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { Validator, dnsLabel, positiveInteger, nonEmptyArray, nonEmptyString, redisUrl, quantity, oneOf, envName } from "./validate";
import { digestRef, pinnedImage } from "./imageRef";
import { RandomToken } from "./randomToken";
import { getChild, setChild } from "./children";
import { cidrProblem } from "../gateway/src/config";
import { KubectlRunner } from "./kedaPreflight";
import { execFileSync } from "child_process";

const defaultKubectl: KubectlRunner = (args) => {
    try {
        return execFileSync("kubectl", args, { encoding: "utf8", timeout: 20_000, stdio: ["ignore", "pipe", "pipe"] });
    } catch {
        return undefined;
    }
};

export const GATEWAY_NAME = "longshore-gateway";
export const REDIS_NAME = "longshore-redis";
export const REDIS_SECRET = "longshore-redis";
export const GATEWAY_HTTP_PORT = 8080;
export const GATEWAY_SCALER_PORT = 9090;
/** Prometheus /metrics of the gateway: a container port only (scraped per pod), never on the gateway Service,
 *  which may be a LoadBalancer: metrics list endpoint ids and queue depths. */
export const GATEWAY_METRICS_PORT = 9091;
/** the gateway's preStop pause before SIGTERM: Service endpoint removal reaches every node's kube-proxy first */
export const GATEWAY_PRESTOP_SECONDS = 5;
/** Default gateway resources. The memory limit matches the gateway's own bounds: its in-flight request-body
 *  budget (48 MB, ~5x that while parsed and stored) plus ~100 MB baseline stays under 512Mi, and the V8 heap
 *  is capped below the limit (NODE_OPTIONS) so the gateway collects garbage before the kernel kills it. */
export const DEFAULT_GATEWAY_RESOURCES = { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } };
const DEFAULT_GATEWAY_NODE_OPTIONS = "--max-old-space-size=384";
/** Default in-cluster Redis image (a version tag; override with a digest ref or a mirror for air-gapped clusters). */
export const DEFAULT_REDIS_IMAGE = "docker.io/library/redis:7.2.5";

/** How the in-cluster Redis keeps its data. */
export const RedisStorage = {
    /** A PersistentVolumeClaim (the default): jobs survive pod deletion and rescheduling. */
    Persistent: "persistent",
    /** emptyDir: data survives container restarts, not pod deletion. */
    Ephemeral: "ephemeral",
    /**
     * A directory on the node (`redis.hostPath`): data survives pod deletion while the pod comes back on the same
     * node — for one-node clusters without a storage provisioner (the proving ground), not for multi-node ones.
     */
    HostPath: "hostPath",
} as const;
export type RedisStorage = (typeof RedisStorage)[keyof typeof RedisStorage];
export const REDIS_STORAGE_TYPES: readonly RedisStorage[] = Object.values(RedisStorage);

/** Service type of the gateway. */
export const GatewayServiceType = {
    /** Reachable inside the cluster only (the default). */
    ClusterIP: "ClusterIP",
    /** Also on a port of every node. */
    NodePort: "NodePort",
    /** Also through a cloud load balancer. */
    LoadBalancer: "LoadBalancer",
} as const;
export type GatewayServiceType = (typeof GatewayServiceType)[keyof typeof GatewayServiceType];
export const GATEWAY_SERVICE_TYPES: readonly GatewayServiceType[] = Object.values(GatewayServiceType);

/**
 * The queue. Either `url` (an external Redis such as ElastiCache) or the in-cluster Redis settings (`image`,
 * `storage`, `storageSize`, `storageClassName`, `password`, `resources`), not both; `{}` or nothing is an
 * in-cluster Redis with the defaults.
 *
 * One interface with optional fields rather than a union of two: Pulumi's component analysis, which gives
 * these components to Python/Go/YAML programs, supports no object unions. The constructor refuses a mix.
 */
export interface RedisSettings {
    /** External Redis: redis:// or rediss:// URL (e.g. ElastiCache with TLS + AUTH). Stored as a Kubernetes Secret. */
    url?: pulumi.Input<string>;
    /** In-cluster Redis image (version tag or digest; `latest` refused). Default docker.io/library/redis:7.2.5. */
    image?: pulumi.Input<string>;
    /** In-cluster Redis storage: persistent (PVC, default), ephemeral (emptyDir) or hostPath (a node directory). */
    storage?: pulumi.Input<RedisStorage>;
    /** The node directory of `storage: hostPath` (absolute path; created if missing). */
    hostPath?: pulumi.Input<string>;
    /** In-cluster Redis PVC size for persistent storage. Default "8Gi". */
    storageSize?: pulumi.Input<string>;
    /** In-cluster Redis PVC storage class. Default: the cluster's default class. */
    storageClassName?: pulumi.Input<string>;
    /** In-cluster Redis AUTH password (a Pulumi secret). Default: a random 256-bit token kept in state. */
    password?: pulumi.Input<string>;
    /** In-cluster Redis container resources. Default requests cpu 100m, memory 128Mi. */
    resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
}

/** The in-cluster settings of RedisSettings (a `url` cannot be combined with them). */
export const IN_CLUSTER_REDIS_KEYS = ["image", "storage", "storageSize", "storageClassName", "hostPath", "password", "resources"] as const;


export interface ServerlessPlatformArgs {
    /** Namespace for the control plane and (by default) the endpoints' workers. Default "longshore". */
    namespace?: pulumi.Input<string>;
    /** Create the namespace (default true). Set false to use an existing one. */
    createNamespace?: boolean;
    /** Gateway image pinned by digest (repo@sha256:…), e.g. a WorkerImage's `ref`. */
    gatewayImage: pulumi.Input<string>;
    /** Gateway replicas. Default 1. */
    gatewayReplicas?: pulumi.Input<number>;
    /**
     * Gateway container resources. Default requests cpu 100m, memory 256Mi; limit memory 512Mi (with
     * NODE_OPTIONS=--max-old-space-size=384). With your own limit, set gatewayEnv.NODE_OPTIONS to match
     * (about 75 % of it).
     */
    gatewayResources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    /**
     * CIDRs the gateway may send webhooks to although they are private, loopback or link-local — for
     * receivers inside the cluster (e.g. the Service CIDR "10.96.0.0/12"). Default none: webhooks go to
     * public addresses only (docs/gateway.md, SSRF policy).
     */
    webhookAllowCidrs?: string[];
    /**
     * HTTP endpoints' host-based URLs: `<endpoint id>.<httpDomain>/<path>` (RunPod's `ENDPOINT_ID.api.runpod.ai`),
     * for a wildcard DNS name and an ingress or load balancer in front of the gateway. Without it, HTTP endpoints
     * answer at `<gatewayUrl>/http/<id>/<path>` (always available).
     */
    httpDomain?: pulumi.Input<string>;
    /** Extra plain environment for the gateway (e.g. LOG_LEVEL). */
    gatewayEnv?: Record<string, pulumi.Input<string>>;
    /** Client API keys accepted by the gateway (Pulumi secrets). At least one. */
    apiKeys: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * Queue: `{ url }` for an external Redis (ElastiCache…), otherwise an in-cluster Redis (default settings, or
     * `{ image, storage, storageSize, storageClassName, password, resources }`).
     */
    redis?: RedisSettings;
    /** Service type of the gateway: ClusterIP (default), NodePort or LoadBalancer. */
    serviceType?: pulumi.Input<GatewayServiceType>;
    /** Image pull secrets (names in the namespace) for the gateway and Redis pods. */
    imagePullSecrets?: pulumi.Input<pulumi.Input<string>[]>;
    /** NetworkPolicy so that only the gateway reaches Redis. Default true. */
    networkPolicies?: boolean;
    /** Extra labels on every object. */
    labels?: Record<string, string>;
    /**
     * Tolerations for the gateway and Redis pods. Default none: the control plane belongs on CPU nodes. On a
     * cluster whose only nodes carry the GPU taint (a one-node dev cluster), tolerate `nvidia.com/gpu`.
     */
    tolerations?: pulumi.Input<pulumi.Input<k8s.types.input.core.v1.Toleration>[]>;
    /** Node selector for the gateway and Redis pods. */
    nodeSelector?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /**
     * Admin key of the gateway's admin API (`GET /admin/v1/status`, what `longshore status` reads), a Pulumi
     * secret of at least 16 characters. Client API keys are not admin keys. Default: a random 32-character
     * token, readable as the `adminKey` output (`pulumi stack output --show-secrets`) or from the
     * platform's API-key Secret (output apiKeySecretName), key `adminKeys`.
     */
    adminKey?: pulumi.Input<string>;
    /**
     * A prometheus-operator ServiceMonitor (and a Service on the gateway's metrics port 9091 for it). Default:
     * created when the cluster has the ServiceMonitor CRD (servicemonitors.monitoring.coreos.com; asked with
     * kubectl at preview), else not. true creates it anyway (the CRD must exist at apply), false never.
     */
    serviceMonitor?: boolean;
}

/** The CRD a ServiceMonitor needs (prometheus-operator). */
export const SERVICE_MONITOR_CRD = "servicemonitors.monitoring.coreos.com";

/** Whether the current kubeconfig's cluster has the ServiceMonitor CRD: undefined where kubectl cannot answer. */
export function serviceMonitorCrdPresent(kubectl: KubectlRunner = defaultKubectl): boolean {
    const out = kubectl(["get", "customresourcedefinition", SERVICE_MONITOR_CRD, "-o", "name", "--request-timeout=15s"]);
    return !!out && out.includes(SERVICE_MONITOR_CRD);
}

/** What an endpoint needs from its platform; a ServerlessPlatform or its exported outputs both fit. */
export interface PlatformRef {
    /** The platform namespace (the endpoint Secret goes there, where the gateway discovers it). */
    namespace: pulumi.Input<string>;
    /** In-cluster base URL of the gateway, e.g. http://longshore-gateway.longshore.svc.cluster.local:8080 */
    gatewayUrl: pulumi.Input<string>;
    /** KEDA external-push scaler address (host:port), e.g. longshore-gateway.longshore.svc.cluster.local:9090 */
    scalerAddress: pulumi.Input<string>;
}

/** Set = given (a value or an Output; other languages may send null for an unset field). */
function given(x: unknown): boolean {
    return x !== undefined && x !== null;
}

/**
 * The control plane every ServerlessEndpoint attaches to: namespace, queue (in-cluster or external Redis), the
 * RunPod-compatible job gateway (HTTP 8080 + KEDA external scaler gRPC 9090) with its RBAC for endpoint
 * discovery, and the client API keys as a Kubernetes Secret.
 */
export class ServerlessPlatform extends pulumi.ComponentResource implements PlatformRef {
    /** The platform namespace. */
    public readonly namespace: pulumi.Output<string>;
    /** In-cluster base URL of the gateway, e.g. http://longshore-gateway.longshore.svc.cluster.local:8080 */
    public readonly gatewayUrl: pulumi.Output<string>;
    /** KEDA external-push scaler address, e.g. longshore-gateway.longshore.svc.cluster.local:9090 */
    public readonly scalerAddress: pulumi.Output<string>;
    /** Name of the Secret holding the client API keys (key `apiKeys`, comma-separated). */
    public readonly apiKeySecretName: pulumi.Output<string>;
    /** Name of the gateway Service. */
    public readonly gatewayServiceName: pulumi.Output<string>;
    /** Name of the Secret holding the Redis URL (key `url`). */
    public readonly redisSecretName: pulumi.Output<string>;
    /** The admin key (`longshore status --admin-key`), a secret output. */
    public readonly adminKey: pulumi.Output<string>;
    // Child resources: getters, TypeScript only (components/children.ts says why).
    /** The gateway Deployment. */
    public get gatewayDeployment(): k8s.apps.v1.Deployment {
        return getChild(this, "gatewayDeployment");
    }
    /** The gateway Service (8080 http, 9090 scaler). */
    public get gatewayService(): k8s.core.v1.Service {
        return getChild(this, "gatewayService");
    }
    /** The ServiceMonitor (undefined when none was created: see `serviceMonitor`). */
    public get serviceMonitor(): k8s.apiextensions.CustomResource | undefined {
        return getChild(this, "serviceMonitor");
    }
    /** The in-cluster Redis StatefulSet (undefined with an external Redis). */
    public get redisStatefulSet(): k8s.apps.v1.StatefulSet | undefined {
        return getChild(this, "redisStatefulSet");
    }

    constructor(name: string, args: ServerlessPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super("longshore:index:ServerlessPlatform", name, {}, opts);
        const v = new Validator("ServerlessPlatform", name);
        if (!args) v.fail("args", "are required (gatewayImage, apiKeys)");

        const nsName = v.check("namespace", args.namespace, [dnsLabel(63)], "longshore");
        if (args.gatewayImage === undefined) v.fail("gatewayImage", "is required (a digest-pinned ref such as a WorkerImage's `ref`)");
        const gatewayImage = v.check("gatewayImage", args.gatewayImage, [digestRef]);
        const replicas = v.check("gatewayReplicas", args.gatewayReplicas, [positiveInteger], 1);
        if (args.apiKeys === undefined) v.fail("apiKeys", "is required: at least one client API key (a Pulumi secret)");
        // Keys are secrets: the rules below never echo a key in the message.
        const apiKeys = v.check<string[]>("apiKeys", args.apiKeys as any, [
            nonEmptyArray("API key"),
            (ks) => ((ks as unknown[]).some((k) => nonEmptyString(k) !== undefined) ? "must contain only non-empty strings" : undefined),
            (ks) => ((ks as string[]).some((k) => k.includes(",")) ? "must not contain ',' in a key (the gateway reads them comma-separated)" : undefined),
        ], undefined, { sensitive: true });
        const adminKey = args.adminKey !== undefined
            ? v.check("adminKey", args.adminKey, [nonEmptyString, (k) => (typeof k === "string" && (k.length < 16 || k.includes(",")) ? "must be at least 16 characters without ','" : undefined)], undefined, { sensitive: true })
            : undefined;
        const serviceType = v.check("serviceType", args.serviceType, [oneOf(GATEWAY_SERVICE_TYPES)], GatewayServiceType.ClusterIP);
        // redis: url (external) or in-cluster settings, not both. Presence is checked, so an Output counts as given.
        const r: RedisSettings = args.redis ?? {};
        if (given(r.url)) {
            const mixed = IN_CLUSTER_REDIS_KEYS.filter((k) => given(r[k]));
            if (mixed.length > 0) {
                v.fail("redis.url", `cannot be combined with the in-cluster Redis settings ${mixed.map((k) => `redis.${k}`).join(", ")}: give either url (external Redis) or in-cluster settings`);
            }
        }
        const webhookAllowCidrs: string[] = args.webhookAllowCidrs ?? [];
        if (!Array.isArray(webhookAllowCidrs)) v.fail("webhookAllowCidrs", "must be an array of CIDRs such as 10.96.0.0/12");
        webhookAllowCidrs.forEach((c, i) => {
            const broken = typeof c === "string" ? cidrProblem(c) : "must be a string";
            if (broken) v.fail(`webhookAllowCidrs[${i}]`, broken);
        });
        for (const key of Object.keys(args.gatewayEnv ?? {})) {
            const broken = envName(key);
            if (broken) v.fail(`gatewayEnv.${key}`, broken);
            if (RESERVED_GATEWAY_ENV.includes(key)) v.fail(`gatewayEnv.${key}`, "is set by ServerlessPlatform and cannot be overridden");
        }

        const labels = { "app.kubernetes.io/part-of": "longshore", "app.kubernetes.io/managed-by": "pulumi", ...(args.labels ?? {}) };
        const child = { parent: this };

        let namespace: pulumi.Output<string>;
        if (args.createNamespace ?? true) {
            const ns = new k8s.core.v1.Namespace(`${name}-ns`, { metadata: { name: nsName, labels } }, child);
            namespace = ns.metadata.name;
        } else {
            namespace = nsName;
        }
        const pullSecrets = args.imagePullSecrets !== undefined
            ? pulumi.output(args.imagePullSecrets).apply((ss) => ss.map((s) => ({ name: s })))
            : undefined;

        // ---- client API keys ----
        // Auto-named (`<name>-api-keys-<suffix>`), not a fixed name: pulumi-kubernetes treats a Secret's data as
        // immutable (unless the provider sets enableSecretMutable), so a key change REPLACES the Secret; with a
        // fixed name that replacement must delete first, and the engine then replaces every resource that
        // depends on it too — the gateway Deployment was deleted and recreated (all replicas down at once).
        // With a generated name the new Secret is created first and the Deployment's secretKeyRef changes in
        // place: a rolling update, which the gateway needs anyway to read the new keys (env from a Secret).
        // ---- client API keys, and the admin key (a separate key in the same Secret) ----
        const adminKeyValue: pulumi.Output<string> = adminKey !== undefined
            ? pulumi.output(adminKey)
            : new RandomToken(`${name}-admin-key`, { length: 32 }, child).result;
        const apiKeySecret = new k8s.core.v1.Secret(`${name}-api-keys`, {
            metadata: { namespace, labels },
            type: "Opaque",
            stringData: { apiKeys: pulumi.secret(apiKeys.apply((ks) => ks.join(","))), adminKeys: pulumi.secret(adminKeyValue) },
        }, child);

        // ---- queue ----
        let redisUrlValue: pulumi.Output<string>;
        if (given(r.url)) {
            redisUrlValue = v.check("redis.url", r.url, [nonEmptyString, redisUrl], undefined, { sensitive: true });
        } else {
            const redisImage = v.check("redis.image", r.image, [pinnedImage], DEFAULT_REDIS_IMAGE);
            const storage = v.check<RedisStorage>("redis.storage", r.storage, [oneOf(REDIS_STORAGE_TYPES)], RedisStorage.Persistent);
            const hostPath = given(r.hostPath)
                ? v.check("redis.hostPath", r.hostPath, [(p) => (typeof p === "string" && p.startsWith("/") && !p.split("/").includes("..") ? undefined : "must be an absolute path without '..'")])
                : undefined;
            const checkHostPath = (st: string | undefined): void => {
                if (st === RedisStorage.HostPath && hostPath === undefined) v.fail("redis.hostPath", "is required with redis.storage hostPath (a directory on the node)");
                if (st !== RedisStorage.HostPath && hostPath !== undefined) v.fail("redis.hostPath", `is only used with redis.storage hostPath (storage is ${st})`);
            };
            // a plain value fails here; an Output fails the StatefulSet's registration (volumes below)
            if (!pulumi.Output.isInstance(r.storage) && !(r.storage instanceof Promise)) checkHostPath((r.storage as string | undefined) ?? RedisStorage.Persistent);
            const storageSize = v.check("redis.storageSize", r.storageSize, [quantity], "8Gi");
            const password = given(r.password)
                ? v.check("redis.password", r.password, [nonEmptyString], undefined, { sensitive: true })
                : new RandomToken(`${name}-redis-password`, { length: 32 }, child).result;
            const redisLabels = { ...labels, "app.kubernetes.io/name": REDIS_NAME, "app.kubernetes.io/component": "queue" };
            const passwordSecret = new k8s.core.v1.Secret(`${name}-redis-auth`, {
                metadata: { name: `${REDIS_NAME}-auth`, namespace, labels },
                type: "Opaque",
                stringData: { password: pulumi.secret(password) },
            }, child);
            const redisSvc = new k8s.core.v1.Service(`${name}-redis`, {
                metadata: { name: REDIS_NAME, namespace, labels: redisLabels },
                spec: {
                    selector: { "app.kubernetes.io/name": REDIS_NAME },
                    ports: [{ name: "redis", port: 6379, targetPort: 6379 }],
                },
            }, child);
            const persistent = pulumi.output(storage).apply((s) => s === RedisStorage.Persistent);
            setChild(this, "redisStatefulSet", new k8s.apps.v1.StatefulSet(`${name}-redis`, {
                metadata: { name: REDIS_NAME, namespace, labels: redisLabels },
                spec: {
                    serviceName: redisSvc.metadata.name,
                    replicas: 1,
                    // Parallel: a pod that never became ready (bad image, unschedulable) is replaced on the next
                    // update instead of blocking the rollout (OrderedReady needs a manual pod delete then).
                    podManagementPolicy: "Parallel",
                    selector: { matchLabels: { "app.kubernetes.io/name": REDIS_NAME } },
                    template: {
                        metadata: { labels: redisLabels },
                        spec: {
                            imagePullSecrets: pullSecrets,
                            tolerations: args.tolerations,
                            nodeSelector: args.nodeSelector,
                            automountServiceAccountToken: false,
                            terminationGracePeriodSeconds: 30,
                            containers: [{
                                name: "redis",
                                image: redisImage,
                                command: ["redis-server"],
                                // AOF with fsync every second: an accepted job survives a Redis restart.
                                // noeviction: BullMQ requires it (evicted keys would lose jobs).
                                args: [
                                    "--appendonly", "yes",
                                    "--appendfsync", "everysec",
                                    "--dir", "/data",
                                    "--maxmemory-policy", "noeviction",
                                    "--requirepass", "$(REDIS_PASSWORD)",
                                ],
                                env: [{ name: "REDIS_PASSWORD", valueFrom: { secretKeyRef: { name: passwordSecret.metadata.name, key: "password" } } }],
                                ports: [{ name: "redis", containerPort: 6379 }],
                                readinessProbe: { tcpSocket: { port: 6379 }, periodSeconds: 5 },
                                livenessProbe: { tcpSocket: { port: 6379 }, periodSeconds: 10, initialDelaySeconds: 10 },
                                resources: r.resources ?? { requests: { cpu: "100m", memory: "128Mi" } },
                                volumeMounts: [{ name: "data", mountPath: "/data" }],
                                securityContext: { allowPrivilegeEscalation: false },
                            }],
                            volumes: pulumi.all([storage, hostPath]).apply(([st, hp]) => (checkHostPath(st), st) === RedisStorage.Persistent ? []
                                    : st === RedisStorage.HostPath ? [{ name: "data", hostPath: { path: hp!, type: "DirectoryOrCreate" } }]
                                        : [{ name: "data", emptyDir: {} }]),
                        },
                    },
                    volumeClaimTemplates: pulumi.all([persistent, storageSize, r.storageClassName]).apply(([p, size, sc]) =>
                        p
                            ? [{
                                metadata: { name: "data" },
                                spec: {
                                    accessModes: ["ReadWriteOnce"],
                                    storageClassName: sc,
                                    resources: { requests: { storage: size } },
                                },
                            }]
                            : []),
                },
            }, child));
            redisUrlValue = pulumi.interpolate`redis://:${password}@${REDIS_NAME}.${namespace}.svc.cluster.local:6379`;
            if (args.networkPolicies ?? true) {
                new k8s.networking.v1.NetworkPolicy(`${name}-redis`, {
                    metadata: { name: REDIS_NAME, namespace, labels },
                    spec: {
                        podSelector: { matchLabels: { "app.kubernetes.io/name": REDIS_NAME } },
                        policyTypes: ["Ingress"],
                        ingress: [{
                            from: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": GATEWAY_NAME } } }],
                            ports: [{ port: 6379, protocol: "TCP" }],
                        }],
                    },
                }, child);
            }
        }
        const redisSecret = new k8s.core.v1.Secret(`${name}-redis-url`, {
            metadata: { name: REDIS_SECRET, namespace, labels },
            type: "Opaque",
            stringData: { url: pulumi.secret(redisUrlValue) },
        }, child);

        // ---- gateway RBAC: discover endpoints from labelled Secrets in its namespace ----
        const sa = new k8s.core.v1.ServiceAccount(`${name}-gateway`, {
            metadata: { name: GATEWAY_NAME, namespace, labels },
        }, child);
        const role = new k8s.rbac.v1.Role(`${name}-gateway`, {
            metadata: { name: GATEWAY_NAME, namespace, labels },
            rules: [
                { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] },
                // worker states from the pods (gateway/src/pods.ts); delete = recycling a worker after stopPod
                { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "delete"] },
                // Warning Events on worker pods: crash-looping endpoints, workers reporting unhealthy
                { apiGroups: [""], resources: ["events"], verbs: ["create"] },
                // HTTP endpoints: the gateway routes to their worker pods (http/discovery.ts) — the same pods rule
            ],
        }, child);
        new k8s.rbac.v1.RoleBinding(`${name}-gateway`, {
            metadata: { name: GATEWAY_NAME, namespace, labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
            subjects: [{ kind: "ServiceAccount", name: sa.metadata.name, namespace }],
        }, child);

        // ---- gateway ----
        const gwLabels = { ...labels, "app.kubernetes.io/name": GATEWAY_NAME, "app.kubernetes.io/component": "gateway" };
        const extraEnv = Object.entries(args.gatewayEnv ?? {}).map(([k, val]) => ({ name: k, value: val }));
        setChild(this, "gatewayDeployment", new k8s.apps.v1.Deployment(`${name}-gateway`, {
            metadata: { name: GATEWAY_NAME, namespace, labels: gwLabels },
            spec: {
                replicas,
                selector: { matchLabels: { "app.kubernetes.io/name": GATEWAY_NAME } },
                template: {
                    metadata: {
                        labels: gwLabels,
                        annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(GATEWAY_METRICS_PORT), "prometheus.io/path": "/metrics" },
                    },
                    spec: {
                        serviceAccountName: sa.metadata.name,
                        imagePullSecrets: pullSecrets,
                        tolerations: args.tolerations,
                        nodeSelector: args.nodeSelector,
                        containers: [{
                            name: "gateway",
                            image: gatewayImage,
                            ports: [
                                { name: "http", containerPort: GATEWAY_HTTP_PORT },
                                { name: "scaler", containerPort: GATEWAY_SCALER_PORT },
                                { name: "metrics", containerPort: GATEWAY_METRICS_PORT },
                            ],
                            env: [
                                { name: "PORT", value: String(GATEWAY_HTTP_PORT) },
                                { name: "SCALER_PORT", value: String(GATEWAY_SCALER_PORT) },
                                { name: "METRICS_PORT", value: String(GATEWAY_METRICS_PORT) },
                                ...(args.httpDomain !== undefined ? [{ name: "LONGSHORE_HTTP_DOMAIN", value: v.check("httpDomain", args.httpDomain, [dnsName]) }] : []),
                                ...(webhookAllowCidrs.length ? [{ name: "LONGSHORE_WEBHOOK_ALLOW_CIDRS", value: webhookAllowCidrs.join(",") }] : []),
                                ...(args.gatewayResources === undefined && args.gatewayEnv?.NODE_OPTIONS === undefined ? [{ name: "NODE_OPTIONS", value: DEFAULT_GATEWAY_NODE_OPTIONS }] : []),
                                { name: "REDIS_URL", valueFrom: { secretKeyRef: { name: redisSecret.metadata.name, key: "url" } } },
                                { name: "LONGSHORE_API_KEYS", valueFrom: { secretKeyRef: { name: apiKeySecret.metadata.name, key: "apiKeys" } } },
                                { name: "LONGSHORE_ADMIN_KEYS", valueFrom: { secretKeyRef: { name: apiKeySecret.metadata.name, key: "adminKeys" } } },
                                { name: "LONGSHORE_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                                { name: "LONGSHORE_ENDPOINT_DISCOVERY", value: "kubernetes" },
                                ...extraEnv,
                            ],
                            livenessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 10, failureThreshold: 3 },
                            readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 5, failureThreshold: 2 },
                            // a pod being replaced keeps serving while the Service's endpoints drop it (kube-proxy
                            // on every node lags a few seconds); only then SIGTERM: stop accepting, drain
                            lifecycle: { preStop: { sleep: { seconds: GATEWAY_PRESTOP_SECONDS } } },
                            resources: args.gatewayResources ?? DEFAULT_GATEWAY_RESOURCES,
                            securityContext: { allowPrivilegeEscalation: false },
                        }],
                    },
                },
            },
        }, child));
        setChild(this, "gatewayService", new k8s.core.v1.Service(`${name}-gateway`, {
            metadata: { name: GATEWAY_NAME, namespace, labels: gwLabels },
            spec: {
                type: serviceType,
                selector: { "app.kubernetes.io/name": GATEWAY_NAME },
                ports: [
                    { name: "http", port: GATEWAY_HTTP_PORT, targetPort: "http", protocol: "TCP" },
                    { name: "scaler", port: GATEWAY_SCALER_PORT, targetPort: "scaler", protocol: "TCP", appProtocol: "grpc" },
                ],
            },
        }, child));

        // ---- optional ServiceMonitor (prometheus-operator) on a metrics-only Service ----
        if (args.serviceMonitor ?? serviceMonitorCrdPresent()) {
            const metricsLabels = { ...labels, "app.kubernetes.io/name": `${GATEWAY_NAME}-metrics`, "app.kubernetes.io/component": "gateway" };
            const metricsSvc = new k8s.core.v1.Service(`${name}-gateway-metrics`, {
                metadata: { name: `${GATEWAY_NAME}-metrics`, namespace, labels: metricsLabels },
                spec: {
                    type: "ClusterIP",
                    selector: { "app.kubernetes.io/name": GATEWAY_NAME },
                    ports: [{ name: "metrics", port: GATEWAY_METRICS_PORT, targetPort: "metrics", protocol: "TCP" }],
                },
            }, child);
            setChild(this, "serviceMonitor", new k8s.apiextensions.CustomResource(`${name}-gateway`, {
                apiVersion: "monitoring.coreos.com/v1",
                kind: "ServiceMonitor",
                metadata: { name: GATEWAY_NAME, namespace, labels },
                spec: {
                    selector: { matchLabels: { "app.kubernetes.io/name": `${GATEWAY_NAME}-metrics` } },
                    namespaceSelector: { matchNames: [namespace] },
                    endpoints: [{ port: "metrics", path: "/metrics", interval: "15s" }],
                },
            }, { parent: this, dependsOn: [metricsSvc] }));
        }

        this.adminKey = pulumi.secret(adminKeyValue);
        this.namespace = namespace;
        this.gatewayServiceName = this.gatewayService.metadata.name;
        this.gatewayUrl = pulumi.interpolate`http://${this.gatewayService.metadata.name}.${namespace}.svc.cluster.local:${GATEWAY_HTTP_PORT}`;
        this.scalerAddress = pulumi.interpolate`${this.gatewayService.metadata.name}.${namespace}.svc.cluster.local:${GATEWAY_SCALER_PORT}`;
        this.apiKeySecretName = apiKeySecret.metadata.name;
        this.redisSecretName = redisSecret.metadata.name;
        this.registerOutputs({
            namespace: this.namespace,
            gatewayUrl: this.gatewayUrl,
            scalerAddress: this.scalerAddress,
            apiKeySecretName: this.apiKeySecretName,
            gatewayServiceName: this.gatewayServiceName,
            adminKey: this.adminKey,
        });
    }
}

/** A DNS name such as api.example.com. */
const dnsName = (x: unknown): string | undefined =>
    typeof x === "string" && /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/.test(x) ? undefined : "must be a lowercase DNS name such as api.example.com";

const RESERVED_GATEWAY_ENV = ["LONGSHORE_HTTP_DOMAIN", "PORT", "SCALER_PORT", "METRICS_PORT", "LONGSHORE_WEBHOOK_ALLOW_CIDRS", "REDIS_URL", "LONGSHORE_API_KEYS", "LONGSHORE_ADMIN_KEYS", "LONGSHORE_NAMESPACE", "LONGSHORE_ENDPOINT_DISCOVERY"];
