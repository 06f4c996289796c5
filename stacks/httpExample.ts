// The `local` stack's HTTP (load-balancing) endpoint: the seed-004 AI API server (examples/ai-api-server, FastAPI +
// uvicorn, its Dockerfile unchanged) as an HttpEndpoint that scales from zero, with its SQLite request log on a
// volume. Config key `longshore:httpEndpoint` (an object, set in stacks/local.defaults.yaml; without it or with
// `enabled: false` the stack has no HTTP endpoint).
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { HttpEndpoint, PlatformRef, WorkerImage } from "../components";

export interface HttpExampleConfig {
    enabled?: boolean;
    id?: string;
    /** build context of the server image. Default examples/ai-api-server */
    context?: string;
    port?: number;
    targetConcurrency?: number;
    minWorkers?: number;
    maxWorkers?: number;
    idleTimeoutSeconds?: number;
    queueTimeoutSeconds?: number;
    requestTimeoutSeconds?: number;
    gpuCount?: number;
    cpuOnly?: boolean;
    /** volume for the SQLite log: size of the claim (default 1Gi) … */
    volumeSize?: string;
    /** … its storage class ("" = no class: binds the hostPath volume below) */
    volumeStorageClass?: string;
    /** one-node clusters without a provisioner (the proving ground): a hostPath PersistentVolume at this node path, reserved for the claim */
    volumeHostPath?: string;
}

export function httpExample(
    cfg: pulumi.Config, platform: PlatformRef & { namespace: pulumi.Output<string> }, registry: string, opts: pulumi.ComponentResourceOptions,
): Record<string, pulumi.Input<unknown>> {
    const c = cfg.getObject<HttpExampleConfig>("httpEndpoint");
    if (!c || c.enabled === false) return {};
    const id = c.id ?? "ai-api";
    const image = new WorkerImage("ai-api-server", {
        context: c.context ?? "examples/ai-api-server",
        repository: `${registry}/longshore/${id}`,
        tags: ["0.1.0"],
        builderName: cfg.get("builderName") ?? process.env.LONGSHORE_BUILDER,
    }, opts);
    const claimName = `${id}-volume`;
    const deps: pulumi.Resource[] = [];
    if (c.volumeHostPath) {
        deps.push(new k8s.core.v1.PersistentVolume(`${id}-volume`, {
            metadata: { name: `longshore-${id}-volume`, labels: { "app.kubernetes.io/part-of": "longshore" } },
            spec: {
                capacity: { storage: c.volumeSize ?? "1Gi" },
                accessModes: ["ReadWriteMany"],
                persistentVolumeReclaimPolicy: "Retain",
                storageClassName: "",
                hostPath: { path: c.volumeHostPath, type: "DirectoryOrCreate" },
                claimRef: { namespace: platform.namespace, name: claimName },
            },
        }, opts));
    }
    const ep = new HttpEndpoint(id, {
        platform,
        endpointId: id,
        image: image.ref,
        port: c.port ?? 8000,
        targetConcurrency: c.targetConcurrency,
        minWorkers: c.minWorkers,
        maxWorkers: c.maxWorkers,
        idleTimeoutSeconds: c.idleTimeoutSeconds,
        queueTimeoutSeconds: c.queueTimeoutSeconds,
        requestTimeoutSeconds: c.requestTimeoutSeconds,
        gpuCount: c.cpuOnly ? undefined : c.gpuCount,
        cpuOnly: c.cpuOnly,
        // the seed's Dockerfile keeps its database in /app/data
        volume: { size: c.volumeSize ?? "1Gi", storageClassName: c.volumeStorageClass, mountPath: "/app/data" },
    }, { ...opts, dependsOn: deps });
    return {
        httpEndpointId: ep.endpointId,
        httpEndpointUrl: ep.url,
        httpWorkerImage: image.ref,
        httpWorkerDeployment: ep.deploymentName,
        httpScaledObject: ep.scaledObjectName,
    };
}
