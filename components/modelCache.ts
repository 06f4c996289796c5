// ModelCache (RunPod's "cached models"): fills a volume ONCE with a model from an S3-compatible store or an HTTP
// URL, checks its sha256, and hands the claim to an endpoint, which mounts it read-only — so weights are neither
// baked into every image nor downloaded by every worker.
//
// The fill is a Kubernetes Job keyed by (version, sha256, source): its name carries a hash of the key, so the
// same key is the same Job (Pulumi leaves it alone, it never runs again) and a new version or checksum is a new
// Job. The Job itself is idempotent too (components/model-cache-fill/fill.py): a version already on the volume
// with the same checksum is left as it is, a download is published under <volume>/<version>/ by an atomic
// rename only after its checksum matched. Pulumi waits for the Job, so an endpoint that `dependsOn` the cache
// starts only after the model is there; a missing source or a wrong checksum fails the Job at once (fill.py exits,
// backoffLimit 0: transient errors are retried inside the fill) and `pulumi up` with it, the reason in the pod's
// termination message.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { Validator, dnsLabel, quantity, httpUrl, nonEmptyString } from "./validate";
import { digestRef } from "./imageRef";
import { getChild, setChild } from "./children";

/** Exit codes of the fill Job (fill.py): permanent failures are not retried. */
export const MODEL_CACHE_EXIT = { sourceMissing: 2, checksumMismatch: 3 } as const;
/** Where the fill Job mounts the volume. */
export const MODEL_CACHE_FILL_MOUNT = "/cache";
/** Default mount path in the workers. */
export const DEFAULT_MODEL_CACHE_MOUNT = "/models";

/** Credentials for an S3 source (static keys; stored in a Kubernetes Secret). */
export interface ModelCacheCredentials {
    /** AWS_ACCESS_KEY_ID of the store. */
    accessKeyId: pulumi.Input<string>;
    /** AWS_SECRET_ACCESS_KEY of the store (use a Pulumi secret). */
    secretAccessKey: pulumi.Input<string>;
}

/** Where the model comes from: one object (a file, or a tar archive with `extract: true`). */
export interface ModelCacheSource {
    /** s3://bucket/key or http(s)://host/path. */
    url: pulumi.Input<string>;
    /** Endpoint of an S3-compatible store (SeaweedFS, MinIO, R2…), e.g. http://10.0.0.5:8333. Default: AWS S3. */
    s3Endpoint?: pulumi.Input<string>;
    /** S3 region. Default us-east-1. */
    region?: pulumi.Input<string>;
    /** Static S3 credentials. Default: none (the pod's own identity, e.g. EKS Pod Identity / IRSA, or a public object). */
    credentials?: ModelCacheCredentials;
}

/** The volume the cache lives on: a new claim (`size`) or an existing one (`claimName`), exactly one. */
export interface ModelCacheStorage {
    /** Create a claim of this size, e.g. "100Gi". */
    size?: pulumi.Input<string>;
    /** Or use this existing PersistentVolumeClaim. */
    claimName?: pulumi.Input<string>;
    /** Storage class of a created claim (e.g. EFS/NFS so every worker node can mount it). Default: the cluster's. */
    storageClassName?: pulumi.Input<string>;
    /** Access modes of a created claim. Default ["ReadWriteMany"]. */
    accessModes?: pulumi.Input<pulumi.Input<string>[]>;
}

export interface ModelCacheArgs {
    /** Namespace of the claim and the fill Job: the workers' namespace. */
    namespace: pulumi.Input<string>;
    /** The model's version: the directory under the volume (<mount>/<version>/) and part of the fill key. */
    version: pulumi.Input<string>;
    /** sha256 (64 hex) of the object: checked after the download, before anything is published. */
    sha256: pulumi.Input<string>;
    /** Where the model comes from. */
    source: ModelCacheSource;
    /** The volume. */
    storage: ModelCacheStorage;
    /** The fill image (components/model-cache-fill built with WorkerImage), pinned by digest. */
    fillImage: pulumi.Input<string>;
    /** File name under <version>/. Default: the last part of the URL. Ignored with extract. */
    fileName?: pulumi.Input<string>;
    /** Unpack the object as a tar archive (.tar, .tar.gz…) into <version>/. Default false. */
    extract?: pulumi.Input<boolean>;
    /** Mount path the workers should use (ModelCache only reports it: see `modelPath`). Default /models. */
    mountPath?: pulumi.Input<string>;
    /** Tolerations of the fill Job (e.g. the nvidia.com/gpu taint when only GPU nodes exist). */
    tolerations?: pulumi.Input<pulumi.Input<k8s.types.input.core.v1.Toleration>[]>;
    /** Node selector of the fill Job. */
    nodeSelector?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Seconds the fill may take before it is failed. Default 3600. */
    timeoutSeconds?: pulumi.Input<number>;
}

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const versionRule = (v: unknown) => (typeof v === "string" && VERSION_RE.test(v) ? undefined : "must be 1-63 characters of letters, digits, '.', '_' or '-' (it names a directory)");
const sha256Rule = (v: unknown) => (typeof v === "string" && /^[0-9a-fA-F]{64}$/.test(v) ? undefined : "must be a sha256 of 64 hex digits");
const sourceUrlRule = (v: unknown) => {
    if (typeof v !== "string") return "must be s3://bucket/key or http(s)://…";
    const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(v);
    if (s3) return undefined;
    if (v.startsWith("s3://")) return "must be s3://<bucket>/<key> with a valid bucket name and a key";
    return httpUrl(v) === undefined ? undefined : "must be s3://bucket/key or http(s)://…";
};
const absPath = (x: unknown) => (typeof x === "string" && x.startsWith("/") ? undefined : "must be an absolute path");
const fileNameRule = (x: unknown) => (typeof x === "string" && /^[^/\0]{1,255}$/.test(x) && x !== "." && x !== ".." ? undefined : "must be a plain file name (no '/')");

/** The fill key: a short hash of everything that makes the cached content what it is. */
export function fillKey(version: string, sha256: string, url: string, extract: boolean): string {
    return crypto.createHash("sha256").update(JSON.stringify([version, sha256.toLowerCase(), url, extract])).digest("hex").slice(0, 10);
}

/** A volume filled once with a model (S3 or HTTP), checked by sha256, for endpoints to mount read-only. */
export class ModelCache extends pulumi.ComponentResource {
    /** The claim to mount (ServerlessEndpoint `volume: { claimName, mountPath, readOnly: true }`). */
    public readonly claimName: pulumi.Output<string>;
    /** The mount path the workers use. */
    public readonly mountPath: pulumi.Output<string>;
    /** Where the handler finds the model: <mountPath>/<version>. */
    public readonly modelPath: pulumi.Output<string>;
    /** Name of the fill Job (changes with the fill key). */
    public readonly jobName: pulumi.Output<string>;
    /** The fill Job (TypeScript only: components/children.ts). */
    public get job(): k8s.batch.v1.Job {
        return getChild(this, "job");
    }

    constructor(name: string, args: ModelCacheArgs, opts?: pulumi.ComponentResourceOptions) {
        super("longshore:index:ModelCache", name, {}, opts);
        const v = new Validator("ModelCache", name);
        if (!args) v.fail("args", "are required (namespace, version, sha256, source, storage, fillImage)");
        for (const k of ["namespace", "version", "sha256", "source", "storage", "fillImage"] as const) {
            if (args[k] === undefined) v.fail(k, "is required");
        }
        if (args.source.url === undefined) v.fail("source.url", "is required: s3://bucket/key or http(s)://…");
        const namespace = v.check("namespace", args.namespace, [dnsLabel(63)]);
        const version = v.check("version", args.version, [versionRule]);
        const sha256 = v.check("sha256", args.sha256, [sha256Rule]).apply((s) => s.toLowerCase());
        const url = v.check("source.url", args.source.url, [sourceUrlRule]);
        const s3Endpoint = args.source.s3Endpoint !== undefined ? v.check("source.s3Endpoint", args.source.s3Endpoint, [httpUrl]) : undefined;
        const region = args.source.region !== undefined ? v.check("source.region", args.source.region, [nonEmptyString]) : undefined;
        const fillImage = v.check("fillImage", args.fillImage, [digestRef]);
        const fileName = args.fileName !== undefined ? v.check("fileName", args.fileName, [fileNameRule]) : undefined;
        const extract = v.check<boolean>("extract", args.extract, [(x) => (typeof x === "boolean" ? undefined : "must be true or false")], false);
        const mountPath = v.check("mountPath", args.mountPath, [absPath], DEFAULT_MODEL_CACHE_MOUNT);
        const timeout = v.check("timeoutSeconds", args.timeoutSeconds, [(x) => (typeof x === "number" && Number.isInteger(x) && x > 0 ? undefined : "must be a positive integer")], 3600);
        // An s3Endpoint only makes sense for an s3:// source.
        v.relate<[string | undefined, string | undefined]>([args.source.url, args.source.s3Endpoint], (u, e) =>
            e !== undefined && typeof u === "string" && !u.startsWith("s3://") ? ["source.s3Endpoint", "is only for s3:// sources"] : undefined);

        const st = args.storage;
        if ((st.size === undefined) === (st.claimName === undefined)) v.fail("storage", "needs exactly one of size (create a claim) or claimName (an existing claim)");
        const labels = { "app.kubernetes.io/part-of": "longshore", "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/name": "longshore-model-cache", "longshore.dev/model-cache": name };
        const child = { parent: this };
        let claimName: pulumi.Output<string>;
        if (st.claimName !== undefined) {
            claimName = v.check("storage.claimName", st.claimName, [dnsLabel(253)]);
        } else {
            const size = v.check("storage.size", st.size as pulumi.Input<string>, [quantity]);
            claimName = new k8s.core.v1.PersistentVolumeClaim(`${name}-cache`, {
                metadata: { name: `${name}-model-cache`, namespace, labels },
                spec: {
                    accessModes: st.accessModes ?? ["ReadWriteMany"],
                    storageClassName: st.storageClassName,
                    resources: { requests: { storage: size } },
                },
            }, child).metadata.name;
        }

        let credsSecret: k8s.core.v1.Secret | undefined;
        if (args.source.credentials) {
            const c = args.source.credentials;
            if (c.accessKeyId === undefined || c.secretAccessKey === undefined) v.fail("source.credentials", "needs accessKeyId and secretAccessKey");
            credsSecret = new k8s.core.v1.Secret(`${name}-s3`, {
                metadata: { name: `${name}-model-cache-s3`, namespace, labels },
                type: "Opaque",
                stringData: pulumi.secret({ AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey } as Record<string, pulumi.Input<string>>),
            }, child);
        }

        const key = pulumi.all([version, sha256, url, extract]).apply(([ver, sum, u, x]) => fillKey(ver, sum, u, x));
        const jobName = key.apply((k) => {
            const n = `${name}-fill-${k}`;
            const broken = dnsLabel(63)(n);
            if (broken) v.fail("name", `makes the Job name ${JSON.stringify(n)}, which ${broken}: use a shorter resource name`);
            return n;
        });
        const env: pulumi.Input<k8s.types.input.core.v1.EnvVar>[] = [
            { name: "MC_SOURCE_URL", value: url },
            { name: "MC_SHA256", value: sha256 },
            { name: "MC_VERSION", value: version },
            { name: "MC_DEST", value: MODEL_CACHE_FILL_MOUNT },
            { name: "MC_EXTRACT", value: extract.apply((x) => (x ? "tar" : "")) },
            ...(fileName ? [{ name: "MC_FILE", value: fileName }] : []),
            ...(s3Endpoint ? [{ name: "MC_S3_ENDPOINT", value: s3Endpoint }] : []),
            ...(region ? [{ name: "MC_S3_REGION", value: region }] : []),
            ...(credsSecret ? ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].map((k) => ({
                name: k, valueFrom: { secretKeyRef: { name: (credsSecret as k8s.core.v1.Secret).metadata.name, key: k } },
            })) : []),
        ];
        const job = new k8s.batch.v1.Job(`${name}-fill`, {
            metadata: { name: jobName, namespace, labels: key.apply((k) => ({ ...labels, "longshore.dev/fill-key": k })) },
            spec: {
                // The fill retries transient errors itself (fill.py, with a backoff) and exits at once on a
                // missing source or a wrong checksum, which will not fix themselves. So the Job fails on its
                // first failed pod: reason BackoffLimitExceeded, which Pulumi's Job awaiter fails `up` on at
                // once (with a podFailurePolicy FailJob, reason PodFailurePolicy, it waits out its whole timeout).
                backoffLimit: 0,
                activeDeadlineSeconds: timeout,
                // a pod evicted by a node drain or preemption is not a failure of the fill: the Job makes another
                podFailurePolicy: { rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }] },
                template: {
                    metadata: { labels },
                    spec: {
                        restartPolicy: "Never",
                        automountServiceAccountToken: false,
                        enableServiceLinks: false,
                        tolerations: args.tolerations,
                        nodeSelector: args.nodeSelector,
                        containers: [{
                            name: "fill",
                            image: fillImage,
                            imagePullPolicy: "IfNotPresent",
                            env,
                            terminationMessagePolicy: "FallbackToLogsOnError",
                            volumeMounts: [{ name: "cache", mountPath: MODEL_CACHE_FILL_MOUNT }],
                            securityContext: { allowPrivilegeEscalation: false },
                        }],
                        volumes: [{ name: "cache", persistentVolumeClaim: { claimName } }],
                    },
                },
            },
        }, {
            parent: this,
            // Pulumi waits for the Job (10 minutes by default): as long as the fill may take, plus a margin.
            customTimeouts: typeof args.timeoutSeconds === "number" ? { create: `${args.timeoutSeconds + 120}s`, update: `${args.timeoutSeconds + 120}s` } : { create: "62m", update: "62m" },
        });
        setChild(this, "job", job);

        this.claimName = claimName;
        this.mountPath = mountPath;
        this.modelPath = pulumi.interpolate`${mountPath}/${version}`;
        this.jobName = job.metadata.name;
        this.registerOutputs({ claimName: this.claimName, mountPath: this.mountPath, modelPath: this.modelPath, jobName: this.jobName });
    }
}
