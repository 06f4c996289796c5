// Worker pod pieces an endpoint component needs besides its container contract: GPU placement (resources,
// the GPU toleration, ordered GPU-type preference), the network volume, and user env checks. HttpEndpoint and
// ServerlessEndpoint both build their pods from these, so the two endpoint kinds place and mount workers alike.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { Validator, positiveInteger, quantity, each, nonEmptyString, labelValue, uniqueArray, dnsLabel, envName, isPlain } from "./validate";
import { DEFAULT_VOLUME_MOUNT, EndpointResources, EndpointVolume, GPU_PRODUCT_LABEL, GPU_RESOURCE, gpuProductLabel, preferenceWeights } from "./serverlessEndpoint";

export interface GpuArgs {
    gpuCount?: pulumi.Input<number>;
    gpuTypes?: pulumi.Input<pulumi.Input<string>[]>;
    cpuOnly?: boolean;
    resources?: EndpointResources;
    containerDisk?: pulumi.Input<string>;
    tolerations?: pulumi.Input<pulumi.Input<k8s.types.input.core.v1.Toleration>[]>;
}

/** Container resources, tolerations and node affinity of a worker (GPU or CPU-only). */
export function gpuPlacement(v: Validator, args: GpuArgs) {
    const cpuOnly = args.cpuOnly ?? false;
    if (cpuOnly && args.gpuCount !== undefined) v.fail("gpuCount", "cannot be set with cpuOnly: true");
    if (cpuOnly && args.gpuTypes !== undefined) v.fail("gpuTypes", "cannot be set with cpuOnly: true");
    const gpuCount = v.check("gpuCount", args.gpuCount, [positiveInteger], 1);
    const gpuTypes = v.check<string[]>("gpuTypes", args.gpuTypes as any, [
        (x) => (Array.isArray(x) ? undefined : "must be a list of GPU types"),
        each(nonEmptyString),
        (x) => each(labelValue)((x as string[]).map(gpuProductLabel)),
        (x) => uniqueArray()((x as string[]).map(gpuProductLabel)),
    ], []).apply((ts) => ts.map(gpuProductLabel));
    const res = args.resources ?? {};
    const q = (arg: string, val: pulumi.Input<string> | undefined) => (val === undefined ? undefined : v.check(arg, val, [quantity]));
    const cpu = q("resources.cpu", res.cpu);
    const memory = q("resources.memory", res.memory);
    const cpuLimit = q("resources.cpuLimit", res.cpuLimit);
    const memoryLimit = q("resources.memoryLimit", res.memoryLimit);
    const disk = q("containerDisk", args.containerDisk);
    const resources = pulumi.all([gpuCount, cpu, memory, cpuLimit, memoryLimit, disk]).apply(([g, c, m, cl, ml, d]) => {
        const requests: Record<string, string> = {};
        const limits: Record<string, string> = {};
        if (!cpuOnly) {
            requests[GPU_RESOURCE] = String(g);
            limits[GPU_RESOURCE] = String(g);
        }
        if (c !== undefined) requests.cpu = String(c);
        if (cl !== undefined) limits.cpu = String(cl);
        if (m !== undefined) requests.memory = String(m);
        if (ml !== undefined || m !== undefined) limits.memory = String(ml ?? m);
        if (d !== undefined) {
            requests["ephemeral-storage"] = String(d);
            limits["ephemeral-storage"] = String(d);
        }
        return { requests, limits };
    });
    const tolerations = pulumi.output(args.tolerations ?? []).apply((extra) => [
        ...(cpuOnly ? [] : [{ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" }]),
        ...(extra as k8s.types.output.core.v1.Toleration[]),
    ]);
    const affinity = gpuTypes.apply((types) => {
        if (cpuOnly || types.length === 0) return undefined;
        const weights = preferenceWeights(types.length);
        return {
            nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                    nodeSelectorTerms: [{ matchExpressions: [{ key: GPU_PRODUCT_LABEL, operator: "In", values: types }] }],
                },
                preferredDuringSchedulingIgnoredDuringExecution: types.map((t, i) => ({
                    weight: weights[i],
                    preference: { matchExpressions: [{ key: GPU_PRODUCT_LABEL, operator: "In", values: [t] }] },
                })),
            },
        };
    });
    return { resources, tolerations, affinity };
}

/** The volume and mount of a worker: an existing claim or a new one (exactly one). */
export function endpointVolume(
    v: Validator, name: string, vol: EndpointVolume | undefined, claimNameFor: pulumi.Input<string>, namespace: pulumi.Input<string>,
    labels: Record<string, string>, opts: pulumi.CustomResourceOptions,
) {
    const volumes: pulumi.Input<k8s.types.input.core.v1.Volume>[] = [];
    const volumeMounts: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[] = [];
    if (!vol) return { volumes, volumeMounts };
    if ((vol.claimName === undefined) === (vol.size === undefined)) v.fail("volume", "needs exactly one of claimName (existing claim) or size (create a claim)");
    let claimName: pulumi.Input<string>;
    if (vol.claimName !== undefined) {
        claimName = v.check("volume.claimName", vol.claimName, [dnsLabel(253)]);
    } else {
        const size = v.check("volume.size", vol.size as pulumi.Input<string>, [quantity]);
        const pvc = new k8s.core.v1.PersistentVolumeClaim(`${name}-volume`, {
            metadata: { name: claimNameFor, namespace, labels },
            spec: {
                accessModes: vol.accessModes ?? ["ReadWriteMany"],
                storageClassName: vol.storageClassName,
                resources: { requests: { storage: size } },
            },
        }, opts);
        claimName = pvc.metadata.name;
    }
    const mountPath = v.check("volume.mountPath", vol.mountPath, [(x) => (typeof x === "string" && x.startsWith("/") ? undefined : "must be an absolute path")], DEFAULT_VOLUME_MOUNT);
    volumes.push({ name: "volume", persistentVolumeClaim: { claimName, readOnly: vol.readOnly } });
    volumeMounts.push({ name: "volume", mountPath, readOnly: vol.readOnly });
    return { volumes, volumeMounts };
}

/** Checks env / secretEnv names (valid, not reserved, not given twice). */
export function checkEnvNames(v: Validator, env: Record<string, unknown>, secretEnv: Record<string, unknown>, reserved: readonly string[], component: string) {
    for (const [group, obj] of [["env", env], ["secretEnv", secretEnv]] as const) {
        for (const key of Object.keys(obj)) {
            const broken = envName(key);
            if (broken) v.fail(`${group}.${key}`, broken);
            if (reserved.includes(key)) v.fail(`${group}.${key}`, `is set by ${component} and cannot be overridden`);
        }
    }
    for (const key of Object.keys(env)) if (key in secretEnv) v.fail(`env.${key}`, "is also in secretEnv: give it once");
}

/** A plain env value that is a Pulumi secret would be written in clear text into the pod spec: refuse it. */
export function plainEnvValue(v: Validator, key: string, val: pulumi.Input<string>): pulumi.Input<string> {
    if (isPlain(val)) return val;
    const o = pulumi.output(val);
    return pulumi.output(pulumi.isSecret(o).then((secret) => {
        if (secret) v.fail(`env.${key}`, "is a Pulumi secret: put it in secretEnv so it is stored in a Kubernetes Secret, not in the pod spec");
        return o;
    }));
}
