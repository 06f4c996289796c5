// The `local` stack's cold-start block (issue 16, docs/cold-start.md): a ModelCache filled from the proving
// ground's S3 server (proving-ground/parts/70-s3.sh, SeaweedFS) and the `coldstart` endpoint — the probe worker
// of examples/cold-start, image pre-pulled, the cache mounted read-only at /models — that the e2e
// (test/e2e/coldStart.test.ts) and the bench (bench/coldStart.ts) use. Config: `longshore:coldStart` (an object,
// defaults in stacks/local.defaults.yaml); absent or `enabled: false` leaves it out.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ModelCache, ServerlessEndpoint, WorkerImage, PlatformRef } from "../components";

export interface ColdStartConfig {
    enabled?: boolean;
    /** S3 endpoint the pods use. Default: S3_ENDPOINT in $LONGSHORE_CACHE/run/images.env (written by part 70). */
    s3Endpoint?: string;
    bucket?: string;
    key?: string;
    version?: string;
    sha256?: string;
    /** Host directory of the single-node cache volume (a hostPath PersistentVolume). */
    hostPath?: string;
}

/** A value from the proving ground's images.env ($LONGSHORE_CACHE/run/images.env), or undefined. */
export function provingGroundValue(key: string): string | undefined {
    const cache = process.env.LONGSHORE_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "longshore");
    try {
        const lines = fs.readFileSync(path.join(cache, "run", "images.env"), "utf8").split("\n");
        const hit = lines.filter((l) => l.startsWith(`${key}=`)).pop();
        return hit?.slice(key.length + 1);
    } catch {
        return undefined;
    }
}

export function coldStartBlock(
    cfg: pulumi.Config, platform: PlatformRef, registry: string, pauseImage: pulumi.Input<string> | undefined,
    opts: pulumi.ComponentResourceOptions, deps: pulumi.Resource[],
): Record<string, pulumi.Input<unknown>> {
    const cs = cfg.getObject<ColdStartConfig>("coldStart");
    if (!cs || cs.enabled === false) return {};
    const s3Endpoint = cs.s3Endpoint ?? provingGroundValue("S3_ENDPOINT");
    const accessKey = provingGroundValue("S3_ACCESS_KEY");
    const secretKey = provingGroundValue("S3_SECRET_KEY");
    if (!s3Endpoint || !accessKey || !secretKey) {
        throw new pulumi.RunError("longshore:coldStart needs the proving ground's S3 server (S3_ENDPOINT/S3_ACCESS_KEY/S3_SECRET_KEY in " +
            "$LONGSHORE_CACHE/run/images.env): run proving-ground/pg up (part 70-s3), or set longshore:coldStart.enabled false");
    }
    const ns = pulumi.output(platform.namespace);
    const builder = cfg.get("builderName") ?? process.env.LONGSHORE_BUILDER;
    const fillImage = new WorkerImage("model-cache-fill", {
        context: "components/model-cache-fill",
        repository: `${registry}/longshore/model-cache-fill`,
        tags: ["0.1.0"],
        builderName: builder,
    }, opts).ref;
    const probeImage = new WorkerImage("coldstart", {
        context: "examples/cold-start",
        repository: `${registry}/longshore/coldstart`,
        tags: ["0.1.0"],
        builderName: builder,
    }, opts).ref;

    // One node, no storage provisioner: the cache is a hostPath PersistentVolume bound to the cache's claim. On a
    // real cluster the claim comes from an RWX class (EFS/NFS) instead: ModelCache storage { size, storageClassName }.
    const claim = "coldstart-models";
    const pv = new k8s.core.v1.PersistentVolume("coldstart-models", {
        metadata: { name: "longshore-coldstart-models" },
        spec: {
            capacity: { storage: "1Gi" },
            accessModes: ["ReadWriteMany"],
            persistentVolumeReclaimPolicy: "Retain",
            storageClassName: "longshore-hostpath",
            hostPath: { path: cs.hostPath ?? "/var/lib/longshore/model-cache", type: "DirectoryOrCreate" },
            claimRef: { namespace: ns, name: claim },
        },
    }, opts);
    const pvc = new k8s.core.v1.PersistentVolumeClaim("coldstart-models", {
        metadata: { name: claim, namespace: ns },
        spec: { accessModes: ["ReadWriteMany"], storageClassName: "longshore-hostpath", volumeName: pv.metadata.name, resources: { requests: { storage: "1Gi" } } },
    }, opts);
    const gpuToleration = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];
    const cache = new ModelCache("coldstart", {
        namespace: ns,
        version: cs.version ?? "tiny-v1",
        sha256: cs.sha256 ?? "",
        source: {
            url: `s3://${cs.bucket ?? "longshore-models"}/${cs.key ?? "tiny/model.bin"}`,
            s3Endpoint,
            credentials: { accessKeyId: accessKey, secretAccessKey: pulumi.secret(secretKey) },
        },
        storage: { claimName: pvc.metadata.name },
        fillImage,
        tolerations: gpuToleration,
    }, opts);

    const endpoint = new ServerlessEndpoint("coldstart", {
        platform,
        endpointId: "coldstart",
        image: probeImage,
        minWorkers: 0,
        maxWorkers: 2,
        idleTimeoutSeconds: 10,
        executionTimeoutSeconds: 120,
        scalerType: "QUEUE_DELAY",
        scalerValue: 1,
        gpuCount: 1,
        volume: { claimName: cache.claimName, mountPath: "/models", readOnly: true },
        env: { MODEL_PATH: cache.modelPath },
        prePull: { pauseImage },
    }, { ...opts, dependsOn: [...deps, cache] });
    return {
        coldStartEndpointId: endpoint.endpointId,
        coldStartDeployment: endpoint.deploymentName,
        coldStartImage: probeImage,
        modelCacheFillImage: fillImage,
        modelCacheJob: cache.jobName,
        modelCacheSha256: cs.sha256 ?? "",
        s3Endpoint,
    };
}
