// NvidiaDevicePlugin: NVIDIA's k8s-device-plugin as a DaemonSet on the GPU nodes, so the kubelet advertises
// `nvidia.com/gpu`. Version pinned, image overridable (mirrors, air-gapped, or a test double such as the
// proving ground's fake plugin), optional time-slicing.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { Validator, dnsLabel, positiveInteger, envName, oneOf, ImagePullPolicy, IMAGE_PULL_POLICIES } from "./validate";
import { pinnedImage } from "./imageRef";
import { getChild, setChild } from "./children";

export const DEFAULT_DEVICE_PLUGIN_VERSION = "v0.17.0";
export const DEVICE_PLUGIN_REPOSITORY = "nvcr.io/nvidia/k8s-device-plugin";
export const DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins";

/** GPU time-slicing (named without "Args": the SDKs of other languages add that suffix themselves). */
export interface TimeSlicing {
    /** Virtual GPUs per physical GPU (>= 2 to be meaningful; 1 is refused: it would not share anything). */
    replicas: pulumi.Input<number>;
    /** Rename shared GPUs to nvidia.com/gpu.shared (default false: keep nvidia.com/gpu). */
    renameByDefault?: pulumi.Input<boolean>;
}


export interface NvidiaDevicePluginArgs {
    /** Namespace. Default kube-system. */
    namespace?: pulumi.Input<string>;
    /** Plugin version tag. Default v0.17.0. Ignored when `image` is given. */
    version?: pulumi.Input<string>;
    /** Full image override (version tag or digest; `latest` refused), e.g. a mirror or a fake plugin. */
    image?: pulumi.Input<string>;
    /** imagePullPolicy of the plugin container. Default IfNotPresent. */
    imagePullPolicy?: pulumi.Input<ImagePullPolicy>;
    /**
     * Nodes to run on. Default { "nvidia.com/gpu.present": "true" } (GpuNodePool labels its nodes so).
     * Pass {} to run on every node the tolerations allow.
     */
    nodeSelector?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Extra tolerations; the nvidia.com/gpu NoSchedule toleration and CriticalAddonsOnly are always added. */
    tolerations?: pulumi.Input<pulumi.Input<k8s.types.input.core.v1.Toleration>[]>;
    /** Time-slicing: share each GPU between several pods. */
    timeSlicing?: TimeSlicing;
    /** Extra container args / env (e.g. for a replacement plugin image). */
    args?: pulumi.Input<pulumi.Input<string>[]>;
    /** Extra container environment variables. */
    env?: Record<string, pulumi.Input<string>>;
    /** Plugin container resources. Default none. */
    resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    /** PriorityClass. Default system-node-critical (the plugin must not be evicted before GPU pods). */
    priorityClassName?: pulumi.Input<string>;
    /** Image pull secrets (names of Secrets in the namespace). */
    imagePullSecrets?: pulumi.Input<pulumi.Input<string>[]>;
}

/**
 * NVIDIA's k8s-device-plugin as a DaemonSet on the GPU nodes, so the kubelet advertises nvidia.com/gpu;
 * version pinned, image overridable, optional time-slicing.
 */
export class NvidiaDevicePlugin extends pulumi.ComponentResource {
    /** Namespace of the DaemonSet. */
    public readonly namespace: pulumi.Output<string>;
    /** Name of the DaemonSet. */
    public readonly daemonSetName: pulumi.Output<string>;
    /** The plugin image deployed. */
    public readonly image: pulumi.Output<string>;
    // Child resources: getters, TypeScript only (components/children.ts says why).
    /** The plugin DaemonSet. */
    public get daemonSet(): k8s.apps.v1.DaemonSet {
        return getChild(this, "daemonSet");
    }
    /** The time-slicing ConfigMap (undefined without timeSlicing). */
    public get configMap(): k8s.core.v1.ConfigMap | undefined {
        return getChild(this, "configMap");
    }

    constructor(name: string, args: NvidiaDevicePluginArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("longshore:index:NvidiaDevicePlugin", name, {}, opts);
        const v = new Validator("NvidiaDevicePlugin", name);
        const namespace = v.check("namespace", args.namespace, [dnsLabel(63)], "kube-system");
        const version = v.check("version", args.version, [
            (x) => (typeof x === "string" && /^v?\d+\.\d+\.\d+([-.][A-Za-z0-9.]+)?$/.test(x) ? undefined : "must be a version such as v0.17.0"),
        ], DEFAULT_DEVICE_PLUGIN_VERSION);
        const image = args.image !== undefined
            ? v.check("image", args.image, [pinnedImage])
            : pulumi.interpolate`${DEVICE_PLUGIN_REPOSITORY}:${version}`;
        const pullPolicy = v.check<ImagePullPolicy>("imagePullPolicy", args.imagePullPolicy, [oneOf(IMAGE_PULL_POLICIES)], ImagePullPolicy.IfNotPresent);
        for (const key of Object.keys(args.env ?? {})) {
            const broken = envName(key);
            if (broken) v.fail(`env.${key}`, broken);
        }
        const labels = { "app.kubernetes.io/name": "nvidia-device-plugin", "app.kubernetes.io/part-of": "longshore" };
        const child = { parent: this };

        const env: pulumi.Input<k8s.types.input.core.v1.EnvVar>[] = [
            { name: "FAIL_ON_INIT_ERROR", value: "false" },
            ...Object.entries(args.env ?? {}).map(([k, val]) => ({ name: k, value: val })),
        ];
        const volumes: pulumi.Input<k8s.types.input.core.v1.Volume>[] = [
            { name: "device-plugin", hostPath: { path: DEVICE_PLUGIN_DIR } },
        ];
        const mounts: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[] = [
            { name: "device-plugin", mountPath: DEVICE_PLUGIN_DIR },
        ];
        if (args.timeSlicing) {
            const ts = args.timeSlicing;
            const replicas = v.check("timeSlicing.replicas", ts.replicas, [
                positiveInteger,
                (x) => (typeof x === "number" && x < 2 ? "must be >= 2 (1 would not share a GPU)" : undefined),
            ]);
            const configMap = setChild(this, "configMap", new k8s.core.v1.ConfigMap(`${name}-config`, {
                metadata: { name: pulumi.interpolate`${name}-config`, namespace, labels },
                data: {
                    "config.yaml": pulumi.all([replicas, ts.renameByDefault]).apply(([r, rename]) => [
                        "version: v1",
                        "flags:",
                        "  migStrategy: none",
                        "sharing:",
                        "  timeSlicing:",
                        `    renameByDefault: ${rename ? "true" : "false"}`,
                        "    resources:",
                        "    - name: nvidia.com/gpu",
                        `      replicas: ${r}`,
                        "",
                    ].join("\n")),
                },
            }, child)) as k8s.core.v1.ConfigMap;
            env.push({ name: "CONFIG_FILE", value: "/config/config.yaml" });
            volumes.push({ name: "config", configMap: { name: configMap.metadata.name } });
            mounts.push({ name: "config", mountPath: "/config", readOnly: true });
        }

        const tolerations = pulumi.output(args.tolerations ?? []).apply((extra) => [
            { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
            { key: "CriticalAddonsOnly", operator: "Exists" },
            ...(extra as k8s.types.output.core.v1.Toleration[]),
        ]);

        setChild(this, "daemonSet", new k8s.apps.v1.DaemonSet(`${name}`, {
            metadata: { name: "nvidia-device-plugin", namespace, labels },
            spec: {
                selector: { matchLabels: { "app.kubernetes.io/name": "nvidia-device-plugin" } },
                updateStrategy: { type: "RollingUpdate" },
                template: {
                    metadata: { labels },
                    spec: {
                        priorityClassName: args.priorityClassName ?? "system-node-critical",
                        tolerations,
                        nodeSelector: args.nodeSelector ?? { "nvidia.com/gpu.present": "true" },
                        automountServiceAccountToken: false,
                        imagePullSecrets: args.imagePullSecrets !== undefined
                            ? pulumi.output(args.imagePullSecrets).apply((ss) => ss.map((s) => ({ name: s })))
                            : undefined,
                        containers: [{
                            name: "nvidia-device-plugin",
                            image,
                            imagePullPolicy: pullPolicy,
                            args: args.args,
                            env,
                            resources: args.resources,
                            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                            volumeMounts: mounts,
                        }],
                        volumes,
                    },
                },
            },
        }, child));

        this.namespace = namespace;
        this.daemonSetName = this.daemonSet.metadata.name;
        this.image = image;
        this.registerOutputs({ namespace: this.namespace, daemonSetName: this.daemonSetName, image: this.image });
    }
}
