/**
 * Longshore's CrossGuard policies: the rules that keep serverless GPU workers on Kubernetes safe to scale,
 * drain and roll out. They are plain `@pulumi/policy` `ResourceValidationPolicy` objects, so a team can run the
 * bundled pack (`pulumi preview --policy-pack policy/pack`) or put any of them into its own pack:
 *
 * ```typescript
 * import { PolicyPack } from "@pulumi/policy";
 * import { longshorePolicies } from "longshore/policy";
 *
 * new PolicyPack("my-org", { policies: [...longshorePolicies, ...myOwnPolicies] });
 * ```
 *
 * The rules look only at the resource's own inputs (no cloud calls), so they run in `pulumi preview`.
 * See docs/policy.md for every rule, its configuration and how to fix a violation.
 *
 * @module policy
 */
import type { ResourceValidationArgs, ResourceValidationPolicy, ReportViolation } from "@pulumi/policy";
import { COUNTS_IN_FLIGHT_ANNOTATION, EXECUTION_TIMEOUT_ANNOTATION, KEY_PREFIX, SCALER_TYPES } from "../contract";

/**
 * Pod-template annotation carrying the worker's execution timeout in seconds. `ServerlessEndpoint` writes it on
 * every worker Deployment so the drain rule can compare it with `terminationGracePeriodSeconds`; a hand-written
 * worker Deployment should set it too.
 */
export const ANNOTATION_EXECUTION_TIMEOUT = EXECUTION_TIMEOUT_ANNOTATION;

/**
 * ScaledObject annotation that declares, for a trigger the policy cannot recognise (for example a Prometheus query
 * summing waiting and active jobs), that the scaling metric already counts in-flight work. Value must be `"true"`.
 */
export const ANNOTATION_COUNTS_IN_FLIGHT = COUNTS_IN_FLIGHT_ANNOTATION;

/** The Kubernetes resource type tokens (as `@pulumi/kubernetes` registers them) that carry a pod template. */
export const WORKLOAD_TYPES = [
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:core/v1:Pod",
] as const;

/**
 * Type token of a KEDA ScaledObject. `@pulumi/kubernetes` names a `CustomResource` (and every object a
 * `yaml.ConfigFile`/`ConfigGroup` renders) `kubernetes:<apiVersion>:<kind>`.
 */
export const SCALED_OBJECT_TYPE = "kubernetes:keda.sh/v1alpha1:ScaledObject";

/** The pod template found inside a workload's inputs, with the property path used in violation messages. */
export interface PodTemplate {
    /** Property path of the pod spec inside the resource, e.g. `spec.template.spec`. */
    path: string;
    /** The pod template's metadata (for a Pod, the Pod's own metadata). */
    metadata: Record<string, any>;
    /** The pod spec. */
    spec: Record<string, any>;
}

/** One container of a pod spec, with its path for messages. */
export interface ContainerRef {
    /** e.g. `spec.template.spec.initContainers[0]`. */
    path: string;
    /** The container's name, or `""` when unnamed. */
    name: string;
    /** The container object itself. */
    container: Record<string, any>;
}

function obj(v: unknown): Record<string, any> | undefined {
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, any>) : undefined;
}

function arr(v: unknown): any[] {
    return Array.isArray(v) ? v : [];
}

/**
 * Returns the pod template of a workload resource (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
 * Pod), or `undefined` for any other type or when the inputs carry no pod spec.
 */
export function podTemplateOf(type: string, props: Record<string, any>): PodTemplate | undefined {
    const spec = obj(props?.spec);
    switch (type) {
        case "kubernetes:core/v1:Pod":
            return spec ? { path: "spec", metadata: obj(props.metadata) ?? {}, spec } : undefined;
        case "kubernetes:batch/v1:CronJob": {
            const tmpl = obj(obj(obj(spec?.jobTemplate)?.spec)?.template);
            const podSpec = obj(tmpl?.spec);
            return podSpec
                ? { path: "spec.jobTemplate.spec.template.spec", metadata: obj(tmpl!.metadata) ?? {}, spec: podSpec }
                : undefined;
        }
        default: {
            if (!(WORKLOAD_TYPES as readonly string[]).includes(type)) {
                return undefined;
            }
            const tmpl = obj(spec?.template);
            const podSpec = obj(tmpl?.spec);
            return podSpec ? { path: "spec.template.spec", metadata: obj(tmpl!.metadata) ?? {}, spec: podSpec } : undefined;
        }
    }
}

/** All containers of a pod spec: `containers`, `initContainers` and `ephemeralContainers`. */
export function containersOf(tmpl: PodTemplate): ContainerRef[] {
    const out: ContainerRef[] = [];
    for (const field of ["containers", "initContainers", "ephemeralContainers"]) {
        arr(tmpl.spec[field]).forEach((c, i) => {
            const container = obj(c);
            if (container) {
                out.push({ path: `${tmpl.path}.${field}[${i}]`, name: String(container.name ?? ""), container });
            }
        });
    }
    return out;
}

function label(c: ContainerRef): string {
    return c.name ? `${c.path} ("${c.name}")` : c.path;
}

const DIGEST_RE = /@sha256:[0-9a-f]{64}$/;

/** True when an image reference is pinned by a sha256 digest (`repo@sha256:…` or `repo:tag@sha256:…`). */
export function isPinnedByDigest(image: string): boolean {
    return DIGEST_RE.test(image);
}

function stringList(v: unknown): string[] {
    return arr(v).filter((x): x is string => typeof x === "string");
}

/** Configuration of {@link imagePinnedByDigest}. */
export interface ImagePinnedByDigestConfig {
    /** Image name prefixes allowed without a digest (e.g. a vendor image you cannot pin yet). Default none. */
    exemptImages?: string[];
}

/**
 * Every container image (init and ephemeral containers too) must be pinned by digest, so what runs is exactly what
 * was built and tested, every node pulls the same bytes, and an image change shows in `pulumi preview --diff` as
 * the one `image:` field going from `repo@sha256:a…` to `repo@sha256:b…`.
 */
export const imagePinnedByDigest: ResourceValidationPolicy = {
    name: "image-pinned-by-digest",
    description: "Container images must be pinned by digest (repo@sha256:…), never by tag alone.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Reference the image by digest: use WorkerImage's `ref` output (repo@sha256:…), or resolve the tag with " +
        "`docker buildx imagetools inspect` / `crane digest` and write repo@sha256:<digest>.",
    configSchema: {
        properties: {
            exemptImages: { type: "array", items: { type: "string" }, default: [] },
        },
    },
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        const tmpl = podTemplateOf(args.type, args.props);
        if (!tmpl) {
            return;
        }
        const exempt = stringList(args.getConfig<ImagePinnedByDigestConfig>().exemptImages);
        for (const c of containersOf(tmpl)) {
            const image = c.container.image;
            if (typeof image !== "string" || image === "") {
                reportViolation(`${label(c)}: no image set; set image to repo@sha256:<digest>.`);
                continue;
            }
            if (isPinnedByDigest(image) || exempt.some((p) => image.startsWith(p))) {
                continue;
            }
            reportViolation(
                `${label(c)}: image "${image}" is not pinned by digest; a tag can move under you. ` +
                    `Use ${image.replace(/:[^/:@]+$/, "")}@sha256:<digest> (WorkerImage's \`ref\` output is pinned).`,
            );
        }
    },
};

/** Configuration of {@link gpuWorkersLimitsAndTolerations}. */
export interface GpuWorkersConfig {
    /** Extended resource name of the GPU. Default `nvidia.com/gpu`. */
    gpuResource?: string;
    /** Key of the taint GPU nodes carry. Default `nvidia.com/gpu`. */
    taintKey?: string;
    /** Value of that taint (matters only for `operator: Equal` tolerations). Default `present`. */
    taintValue?: string;
    /** Effect of that taint. Default `NoSchedule`. */
    taintEffect?: string;
}

function quantityGiven(v: unknown): boolean {
    return (typeof v === "string" && v.trim() !== "") || typeof v === "number";
}

function sameQuantity(a: unknown, b: unknown): boolean {
    return String(a).trim() === String(b).trim();
}

/** True when one of `tolerations` tolerates the taint `key=value:effect` (Kubernetes' matching rules). */
export function tolerates(tolerations: unknown, key: string, value: string, effect: string): boolean {
    return arr(tolerations).some((t) => {
        const tol = obj(t);
        if (!tol) {
            return false;
        }
        const op = tol.operator ?? "Equal";
        if (tol.effect && tol.effect !== effect) {
            return false;
        }
        if (!tol.key) {
            // An empty key with operator Exists tolerates every taint.
            return op === "Exists";
        }
        if (tol.key !== key) {
            return false;
        }
        return op === "Exists" || (op === "Equal" && String(tol.value ?? "") === value);
    });
}

/**
 * A GPU worker (any container asking for `nvidia.com/gpu`) must declare the GPU in `resources.limits` (extended
 * resources are scheduled from limits; a request without the same limit is rejected or ignored) and its pod must
 * tolerate the GPU nodes' taint `nvidia.com/gpu=present:NoSchedule`, or it stays Pending forever.
 */
export const gpuWorkersLimitsAndTolerations: ResourceValidationPolicy = {
    name: "gpu-workers-limits-and-tolerations",
    description: "Containers that use GPUs must set the GPU in resources.limits and tolerate the GPU node taint.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Set resources.limits['nvidia.com/gpu'] (equal to any request) and add the toleration " +
        "{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' } to the pod spec. ServerlessEndpoint " +
        "does both when `gpu` is set.",
    configSchema: {
        properties: {
            gpuResource: { type: "string", default: "nvidia.com/gpu" },
            taintKey: { type: "string", default: "nvidia.com/gpu" },
            taintValue: { type: "string", default: "present" },
            taintEffect: { type: "string", default: "NoSchedule" },
        },
    },
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        const tmpl = podTemplateOf(args.type, args.props);
        if (!tmpl) {
            return;
        }
        const cfg = args.getConfig<GpuWorkersConfig>();
        const gpu = cfg.gpuResource ?? "nvidia.com/gpu";
        const taintKey = cfg.taintKey ?? "nvidia.com/gpu";
        const taintValue = cfg.taintValue ?? "present";
        const taintEffect = cfg.taintEffect ?? "NoSchedule";
        let usesGpu = false;
        for (const c of containersOf(tmpl)) {
            const resources = obj(c.container.resources);
            const request = obj(resources?.requests)?.[gpu];
            const limit = obj(resources?.limits)?.[gpu];
            if (!quantityGiven(request) && !quantityGiven(limit)) {
                continue;
            }
            usesGpu = true;
            if (!quantityGiven(limit)) {
                reportViolation(
                    `${label(c)}: requests ${gpu}=${request} but sets no resources.limits["${gpu}"]; ` +
                        `GPUs are scheduled from limits, set limits["${gpu}"]=${request}.`,
                );
            } else if (quantityGiven(request) && !sameQuantity(request, limit)) {
                reportViolation(
                    `${label(c)}: resources.requests["${gpu}"]=${request} differs from limits["${gpu}"]=${limit}; ` +
                        `GPUs cannot be overcommitted, make them equal.`,
                );
            }
        }
        if (usesGpu && !tolerates(tmpl.spec.tolerations, taintKey, taintValue, taintEffect)) {
            reportViolation(
                `${tmpl.path}.tolerations: the pod uses ${gpu} but does not tolerate the GPU node taint ` +
                    `${taintKey}=${taintValue}:${taintEffect}, so it can never be scheduled on a GPU node. Add ` +
                    `{ key: "${taintKey}", operator: "Exists", effect: "${taintEffect}" }.`,
            );
        }
    },
};

/** Configuration of {@link scaledObjectCountsInFlight}. */
export interface ScaledObjectCountsInFlightConfig {
    /**
     * `longshore` (default): check ScaledObjects that belong to Longshore (a `longshore.dev/*` label or annotation,
     * a Longshore external-push trigger, or a redis trigger on a BullMQ `bull:` list). `all`: check every ScaledObject.
     */
    scope?: "longshore" | "all";
}


function hasLongshoreKey(m: unknown): boolean {
    return Object.keys(obj(m) ?? {}).some((k) => k.startsWith(KEY_PREFIX));
}

function isLongshoreScaledObject(props: Record<string, any>): boolean {
    const md = obj(props.metadata) ?? {};
    const labels = obj(md.labels) ?? {};
    if (hasLongshoreKey(labels) || hasLongshoreKey(md.annotations)) {
        return true;
    }
    if (labels["app.kubernetes.io/managed-by"] === "longshore" || labels["app.kubernetes.io/part-of"] === "longshore") {
        return true;
    }
    return arr(obj(props.spec)?.triggers).some((t) => {
        const meta = obj(obj(t)?.metadata) ?? {};
        const type = obj(t)?.type;
        if ((type === "external-push" || type === "external") && meta.endpointId !== undefined) {
            return true;
        }
        return (type === "redis" || type === "redis-cluster") && typeof meta.listName === "string" &&
            meta.listName.startsWith("bull:");
    });
}

/**
 * A ScaledObject that scales Longshore workers must count in-flight work, not only waiting jobs. KEDA scales in
 * through the HPA, which picks the pods to stop itself: with a metric of waiting jobs only, a burst that has been
 * picked up drops the metric to zero and busy workers are terminated mid-job. Accepted: the Longshore gateway's
 * external scaler (`external-push`/`external` with `endpointId` and `scalerType` metadata — it counts waiting and
 * in-flight jobs), a redis trigger on the BullMQ `…:active` list next to the waiting one, or the annotation
 * `longshore.dev/counts-in-flight: "true"` for a custom metric that does.
 */
export const scaledObjectCountsInFlight: ResourceValidationPolicy = {
    name: "scaledobject-counts-in-flight",
    description: "ScaledObjects of Longshore workers must scale on waiting + in-flight jobs, not queue length alone.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Use the gateway's external scaler: trigger type external-push with metadata scalerAddress, endpointId and " +
        "scalerType QUEUE_DELAY or REQUEST_COUNT (ServerlessEndpoint builds it). A redis list trigger (LLEN) counts " +
        "only waiting jobs.",
    configSchema: {
        properties: {
            scope: { type: "string", enum: ["longshore", "all"], default: "longshore" },
        },
    },
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== SCALED_OBJECT_TYPE) {
            return;
        }
        const props = args.props;
        const scope = args.getConfig<ScaledObjectCountsInFlightConfig>().scope ?? "longshore";
        if (scope !== "all" && !isLongshoreScaledObject(props)) {
            return;
        }
        const annotations = obj(obj(props.metadata)?.annotations) ?? {};
        if (annotations[ANNOTATION_COUNTS_IN_FLIGHT] === "true") {
            return;
        }
        const triggers = arr(obj(props.spec)?.triggers).map((t) => obj(t) ?? {});
        if (triggers.length === 0) {
            reportViolation("spec.triggers: no triggers; add the Longshore external-push trigger (see docs/policy.md).");
            return;
        }
        let countsInFlight = false;
        triggers.forEach((t, i) => {
            const meta = obj(t.metadata) ?? {};
            if (t.type === "external-push" || t.type === "external") {
                const missing = ["scalerAddress", "endpointId", "scalerType"].filter(
                    (k) => typeof meta[k] !== "string" || meta[k] === "",
                );
                if (missing.length > 0) {
                    reportViolation(
                        `spec.triggers[${i}] (${t.type}): metadata ${missing.join(", ")} missing; the Longshore ` +
                            `scaler needs scalerAddress, endpointId and scalerType (${SCALER_TYPES.join(" or ")}).`,
                    );
                } else if (!SCALER_TYPES.includes(meta.scalerType)) {
                    reportViolation(
                        `spec.triggers[${i}] (${t.type}): metadata.scalerType "${meta.scalerType}" is not one of ` +
                            `${SCALER_TYPES.join(", ")}.`,
                    );
                } else {
                    countsInFlight = true;
                }
            } else if (
                (t.type === "redis" || t.type === "redis-cluster") &&
                typeof meta.listName === "string" &&
                /:active$/.test(meta.listName)
            ) {
                countsInFlight = true;
            }
        });
        if (!countsInFlight) {
            const kinds = Array.from(new Set(triggers.map((t) => String(t.type)))).join(", ");
            reportViolation(
                `spec.triggers (${kinds}): no trigger counts in-flight jobs. A redis list trigger measures LLEN, i.e. ` +
                    `waiting jobs only, so KEDA scales busy workers away mid-job. Use the Longshore external-push ` +
                    `trigger (metadata endpointId + scalerType), add a trigger on the BullMQ ":active" list, or ` +
                    `annotate ${ANNOTATION_COUNTS_IN_FLIGHT}: "true" if your metric already counts them.`,
            );
        }
    },
};

/**
 * Kubernetes' default `terminationGracePeriodSeconds` when a pod spec leaves it unset.
 */
export const DEFAULT_TERMINATION_GRACE_SECONDS = 30;

/**
 * A worker's drain grace (`terminationGracePeriodSeconds`) must be at least its execution timeout. On scale-in or
 * rollout a worker gets SIGTERM, stops taking jobs and finishes the one in hand; if the grace period is shorter
 * than a job may run, the kubelet SIGKILLs it mid-job and the job is retried or lost time is billed twice.
 * Applies to workloads whose pod template carries the `longshore.dev/execution-timeout-seconds` annotation
 * (ServerlessEndpoint sets it).
 */
export const drainGraceCoversExecutionTimeout: ResourceValidationPolicy = {
    name: "drain-grace-covers-execution-timeout",
    description: "terminationGracePeriodSeconds of a worker must be ≥ its execution timeout.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Raise terminationGracePeriodSeconds to at least the execution timeout (ServerlessEndpoint derives it from " +
        "executionTimeoutMs), or lower the execution timeout.",
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        const tmpl = podTemplateOf(args.type, args.props);
        if (!tmpl) {
            return;
        }
        const raw = obj(tmpl.metadata.annotations)?.[ANNOTATION_EXECUTION_TIMEOUT];
        if (raw === undefined) {
            return;
        }
        const metaPath = tmpl.path.replace(/\.spec$/, ".metadata").replace(/^spec$/, "metadata");
        const timeout = typeof raw === "number" ? raw : Number(String(raw).trim());
        if (String(raw).trim() === "" || !Number.isFinite(timeout) || timeout < 0) {
            reportViolation(
                `${metaPath}.annotations["${ANNOTATION_EXECUTION_TIMEOUT}"]="${raw}" is not a number of seconds.`,
            );
            return;
        }
        const graceRaw = tmpl.spec.terminationGracePeriodSeconds;
        const grace = graceRaw === undefined || graceRaw === null ? DEFAULT_TERMINATION_GRACE_SECONDS : Number(graceRaw);
        const graceText = graceRaw === undefined || graceRaw === null
            ? `unset (Kubernetes default ${DEFAULT_TERMINATION_GRACE_SECONDS})`
            : String(graceRaw);
        if (!Number.isFinite(grace) || grace < timeout) {
            reportViolation(
                `${tmpl.path}.terminationGracePeriodSeconds is ${graceText} but the execution timeout is ${timeout}s; ` +
                    `a worker stopped by scale-in or a rollout would be killed mid-job. Set it to at least ${Math.ceil(timeout)}.`,
            );
        }
    },
};

/** Configuration of {@link noPlaintextSecretEnv}. */
export interface NoPlaintextSecretEnvConfig {
    /** Env var names allowed to carry a literal value even though they look secret. Default none. */
    allowNames?: string[];
}

const SECRET_WORDS = new Set([
    "KEY", "KEYS", "APIKEY", "APIKEYS", "TOKEN", "TOKENS", "SECRET", "SECRETS", "PASSWORD", "PASSWORDS",
    "PASSWD", "CREDENTIAL", "CREDENTIALS", "PRIVATEKEY",
]);
// A trailing word that says the variable names or locates a secret rather than holding one.
const REFERENCE_WORDS = new Set(["NAME", "FILE", "PATH", "DIR", "URL", "URI", "REF", "HEADER", "TTL", "ID"]);

/**
 * True when an environment variable's name says it holds a secret: one of its `_`/`-`/`.`-separated words is KEY,
 * TOKEN, SECRET, PASSWORD, CREDENTIALS… (e.g. `RUNPOD_AI_API_KEY`, `LONGSHORE_API_KEYS`, `HF_TOKEN`), unless the
 * last word shows it only points at one (`…_SECRET_NAME`, `…_KEY_FILE`, `…_TOKEN_URL`).
 */
export function looksSecret(name: string): boolean {
    const words = name.toUpperCase().split(/[_.\-]+/).filter((w) => w !== "");
    if (words.length === 0 || (words.length > 1 && REFERENCE_WORDS.has(words[words.length - 1]))) {
        return false;
    }
    return words.some((w) => SECRET_WORDS.has(w));
}

/**
 * Env vars whose names look secret (KEY, TOKEN, SECRET, PASSWORD, e.g. `RUNPOD_AI_API_KEY`) must come from
 * `valueFrom` (a Secret), never a literal `value`: a literal lands in the Deployment object (readable by anyone who
 * can read Deployments), in `kubectl describe`, and in the Pulumi state and preview diff in plain text.
 */
export const noPlaintextSecretEnv: ResourceValidationPolicy = {
    name: "no-plaintext-secret-env",
    description: "Env vars that hold secrets (KEY, TOKEN, SECRET, PASSWORD…) must use valueFrom, not a literal value.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Put the value in a Kubernetes Secret and reference it: env: [{ name, valueFrom: { secretKeyRef: { name: " +
        "<secret>, key: <key> } } }]. ServerlessEndpoint does this for RUNPOD_AI_API_KEY.",
    configSchema: {
        properties: {
            allowNames: { type: "array", items: { type: "string" }, default: [] },
        },
    },
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        const tmpl = podTemplateOf(args.type, args.props);
        if (!tmpl) {
            return;
        }
        const allow = new Set(stringList(args.getConfig<NoPlaintextSecretEnvConfig>().allowNames));
        for (const c of containersOf(tmpl)) {
            arr(c.container.env).forEach((e, i) => {
                const env = obj(e);
                const name = env?.name;
                if (typeof name !== "string" || allow.has(name) || !looksSecret(name)) {
                    return;
                }
                const value = env!.value;
                if (value === undefined || value === null || value === "") {
                    return; // nothing leaked (valueFrom, or deliberately empty)
                }
                reportViolation(
                    `${label(c)}.env[${i}] ${name}: a secret-looking variable has a literal value; it would be ` +
                        `stored in plain text in the object and the Pulumi state. Use valueFrom.secretKeyRef.`,
                );
            });
        }
    },
};

/** Every Longshore policy, in the order the bundled pack runs them. */
export const longshorePolicies: ResourceValidationPolicy[] = [
    imagePinnedByDigest,
    gpuWorkersLimitsAndTolerations,
    scaledObjectCountsInFlight,
    drainGraceCoversExecutionTimeout,
    noPlaintextSecretEnv,
];

/** Name of the bundled policy pack (`policy/pack`). */
export const POLICY_PACK_NAME = "longshore";
