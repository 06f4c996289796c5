// ImagePrePull: keeps one image, by digest, on every node that can run it, so a worker that scales up from zero
// never waits for a pull (the biggest step of a cold start once images are many GB: docs/cold-start.md).
//
// How: a DaemonSet whose init container is the image itself running a no-op command (the kubelet must pull the
// image to run it), and whose long-running container is the tiny pause image. The pod stays Running, so the
// image stays "in use" for the kubelet's image garbage collection. The DaemonSet carries the same node selector,
// affinity and tolerations as the workers (GPU taint included), so it lands exactly on the nodes the workers can
// land on — including nodes the autoscaler adds later. The image is a digest ref, so a new digest changes the
// pod template and rolls the DaemonSet: the new image is pulled everywhere before the old pods go.
// Why hand-written: the ecosystem's image pre-pullers (kube-fledged, OpenKruise's ImagePullJob) are operators with
// their own CRDs and controllers to install and run; a DaemonSet is one object the cluster already runs.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { Validator, dnsLabel, nonEmptyString, each } from "./validate";
import { digestRef } from "./imageRef";
import { getChild, setChild } from "./children";

/** The pause image the pre-pull pod idles on (a few hundred KB), by digest like every image Longshore deploys. */
export const DEFAULT_PAUSE_IMAGE = "registry.k8s.io/pause:3.10@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a";
/** What the pre-pulled image runs: nothing (it exits at once; only the pull matters). Needs `sh` in the image. */
export const DEFAULT_PREPULL_COMMAND: readonly string[] = ["sh", "-c", "exit 0"];
/** Label every pre-pull pod carries (value: the ImagePrePull's name). */
export const PREPULL_LABEL = "longshore.dev/prepull";

export interface ImagePrePullArgs {
    /** The image to keep on the nodes, pinned by digest (repo@sha256:…), e.g. a WorkerImage's `ref`. */
    image: pulumi.Input<string>;
    /** Namespace of the DaemonSet. */
    namespace: pulumi.Input<string>;
    /** No-op command run once in the image after the pull. Default ["sh", "-c", "exit 0"]. */
    command?: pulumi.Input<pulumi.Input<string>[]>;
    /** Image the pod idles on afterwards, pinned by digest. Default registry.k8s.io/pause:3.10 (by digest). */
    pauseImage?: pulumi.Input<string>;
    /** Node selector of the nodes to keep the image on (the workers'). */
    nodeSelector?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Tolerations (the workers': for GPU endpoints the nvidia.com/gpu taint). */
    tolerations?: pulumi.Input<pulumi.Input<k8s.types.input.core.v1.Toleration>[]>;
    /** Node affinity (the workers': GPU types). */
    affinity?: pulumi.Input<k8s.types.input.core.v1.Affinity>;
    /** Image pull secrets (names of Secrets in the namespace). */
    imagePullSecrets?: pulumi.Input<pulumi.Input<string>[]>;
    /** Extra labels on the DaemonSet and its pods. */
    labels?: Record<string, string>;
}

/** Keeps an image (by digest) on every node that can run it: a DaemonSet with the image as a no-op init container. */
export class ImagePrePull extends pulumi.ComponentResource {
    /** Name of the DaemonSet. */
    public readonly daemonSetName: pulumi.Output<string>;
    /** Namespace of the DaemonSet. */
    public readonly namespace: pulumi.Output<string>;
    /** The image kept on the nodes. */
    public readonly image: pulumi.Output<string>;
    /** The DaemonSet (TypeScript only: components/children.ts). */
    public get daemonSet(): k8s.apps.v1.DaemonSet {
        return getChild(this, "daemonSet");
    }

    constructor(name: string, args: ImagePrePullArgs, opts?: pulumi.ComponentResourceOptions) {
        super("longshore:index:ImagePrePull", name, {}, opts);
        const v = new Validator("ImagePrePull", name);
        if (!args) v.fail("args", "are required (image, namespace)");
        if (args.image === undefined) v.fail("image", "is required: a digest-pinned reference (repo@sha256:…)");
        if (args.namespace === undefined) v.fail("namespace", "is required");
        const image = v.check("image", args.image, [digestRef]);
        const namespace = v.check("namespace", args.namespace, [dnsLabel(63)]);
        const pause = v.check("pauseImage", args.pauseImage, [digestRef], DEFAULT_PAUSE_IMAGE);
        const command = v.check<string[]>("command", args.command as any, [
            (x) => (Array.isArray(x) && x.length > 0 ? undefined : "must be a non-empty list (the no-op command run in the image)"),
            each(nonEmptyString),
        ], [...DEFAULT_PREPULL_COMMAND]);
        // DaemonSet names are DNS subdomains; keep the derived name a label so its pods' names stay valid.
        const dsName = v.check("name", `${name}-prepull`, [dnsLabel(63)]);

        const selector = { "app.kubernetes.io/name": "longshore-prepull", [PREPULL_LABEL]: name };
        const labels = { "app.kubernetes.io/part-of": "longshore", "app.kubernetes.io/managed-by": "pulumi", ...(args.labels ?? {}), ...selector };
        // A few millicores and MiB: the pod must fit beside full-size workers on a GPU node.
        const tiny = { requests: { cpu: "1m", memory: "8Mi" }, limits: { memory: "32Mi" } };
        const ds = new k8s.apps.v1.DaemonSet(`${name}-prepull`, {
            metadata: { name: dsName, namespace, labels },
            spec: {
                selector: { matchLabels: selector },
                // Roll every node at once: a node without the new image is the thing to avoid, not a pod gap.
                updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "100%" } },
                template: {
                    metadata: { labels },
                    spec: {
                        automountServiceAccountToken: false,
                        enableServiceLinks: false,
                        terminationGracePeriodSeconds: 1,
                        nodeSelector: args.nodeSelector,
                        tolerations: args.tolerations,
                        affinity: args.affinity,
                        imagePullSecrets: args.imagePullSecrets !== undefined
                            ? pulumi.output(args.imagePullSecrets).apply((ss) => ss.map((s) => ({ name: s })))
                            : undefined,
                        initContainers: [{
                            name: "prepull",
                            image,
                            imagePullPolicy: "IfNotPresent",
                            command,
                            resources: tiny,
                            securityContext: { allowPrivilegeEscalation: false },
                        }],
                        containers: [{
                            name: "pause",
                            image: pause,
                            imagePullPolicy: "IfNotPresent",
                            resources: tiny,
                            securityContext: { allowPrivilegeEscalation: false },
                        }],
                    },
                },
            },
        }, { parent: this });
        setChild(this, "daemonSet", ds);

        this.daemonSetName = ds.metadata.name;
        this.namespace = namespace;
        this.image = image;
        this.registerOutputs({ daemonSetName: this.daemonSetName, namespace: this.namespace, image: this.image });
    }
}
