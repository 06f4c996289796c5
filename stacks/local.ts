// The `local` target of the root program: a whole Longshore platform on the cluster of any kubeconfig context.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as path from "path";
import { Keda, NvidiaDevicePlugin, ServerlessPlatform, ServerlessEndpoint, KedaImages, WorkerImage } from "../components";
import { apiKeysFrom, endpointArgsFrom, endpointConfig, gatewayImageFrom, workerImageFrom } from "./common";
import { httpExample } from "./httpExample";

/**
 * Redis image: `redisImage` as given; with `buildRedis: true`, Debian's redis-server built from
 * stacks/redis-image on `redisBaseImage` and pushed to `<registry>/longshore/redis` (pinned by digest);
 * otherwise the ServerlessPlatform default.
 */
export function redisImageFrom(cfg: pulumi.Config, registry: string): pulumi.Input<string> | undefined {
    const given = cfg.get("redisImage");
    if (given) return given;
    if (!(cfg.getBoolean("buildRedis") ?? false)) return undefined;
    return new WorkerImage("redis", {
        context: path.relative(process.cwd(), path.join(__dirname, "redis-image")) || ".",
        repository: `${registry}/longshore/redis`,
        tags: [cfg.get("redisTag") ?? "7.0-bookworm"],
        buildArgs: { BASE_IMAGE: cfg.get("redisBaseImage") ?? `${registry}/longshore/python-base:3.11-bookworm` },
        builderName: cfg.get("builderName") ?? process.env.LONGSHORE_BUILDER,
    }).ref;
}

/**
 * An image given by tag is pinned to the digest its registry serves now (WorkerImage.pin), so the cluster runs
 * exactly what the preview showed and the policy pack's digest rule holds; a digest ref is used as is.
 */
function pinnedImage(image: string | undefined, name: string): pulumi.Input<string> | undefined {
    if (image === undefined || image.includes("@sha256:")) return image;
    return WorkerImage.pin(name, image).ref;
}

/** `local` target: everything on the cluster of the current (or configured) kubeconfig context. */
export function localStack(cfg: pulumi.Config): Record<string, pulumi.Input<unknown>> {
    const context = cfg.get("kubeContext");
    const provider = context ? new k8s.Provider("local", { context, enableServerSideApply: true }) : undefined;
    const k8sOpts: pulumi.ComponentResourceOptions = provider ? { providers: { kubernetes: provider } } : {};
    const registry = cfg.get("registry") ?? process.env.LONGSHORE_REGISTRY ?? "localhost:5000";
    const ep = endpointConfig(cfg);
    const endpointId = ep.id ?? "hello";

    const deps: pulumi.Resource[] = [];
    if (cfg.getBoolean("installKeda") ?? true) {
        deps.push(new Keda("keda", {
            version: cfg.get("kedaVersion"),
            source: cfg.get("kedaManifests") ? { manifests: cfg.require("kedaManifests") } : undefined,
            images: cfg.getObject<KedaImages>("kedaImages"),
            webhooks: cfg.getBoolean("kedaWebhooks"),
            kubeContext: context,
        }, k8sOpts));
    }
    if (cfg.getBoolean("installDevicePlugin") ?? true) {
        new NvidiaDevicePlugin("nvidia-device-plugin", {
            image: pinnedImage(cfg.get("devicePluginImage"), "device-plugin-image"),
            version: cfg.get("devicePluginVersion"),
            args: cfg.getObject<string[]>("devicePluginArgs"),
            env: cfg.getObject<Record<string, string>>("devicePluginEnv"),
            nodeSelector: cfg.getObject<Record<string, string>>("devicePluginNodeSelector"),
            timeSlicing: cfg.getNumber("gpuTimeSlicing") ? { replicas: cfg.requireNumber("gpuTimeSlicing") } : undefined,
        }, k8sOpts);
    }

    const gatewayImage = gatewayImageFrom(cfg, registry);
    const redisUrl = cfg.getSecret("redisUrl");
    const platform = new ServerlessPlatform("platform", {
        namespace: cfg.get("namespace") ?? "longshore",
        gatewayImage,
        apiKeys: apiKeysFrom(cfg),
        redis: redisUrl
            ? { url: redisUrl }
            : {
                image: redisImageFrom(cfg, registry),
                storage: (cfg.get("redisStorage") as "persistent" | "ephemeral" | undefined) ?? "persistent",
                storageSize: cfg.get("redisStorageSize"),
                storageClassName: cfg.get("redisStorageClass"),
            },
        gatewayEnv: cfg.getObject<Record<string, string>>("gatewayEnv"),
        tolerations: cfg.getObject<k8s.types.input.core.v1.Toleration[]>("platformTolerations"),
        nodeSelector: cfg.getObject<Record<string, string>>("platformNodeSelector"),
    }, k8sOpts);

    const workerImage = workerImageFrom(cfg, endpointId, registry);
    const endpoint = new ServerlessEndpoint(endpointId, endpointArgsFrom(ep, endpointId, platform, workerImage),
        { ...k8sOpts, dependsOn: deps });

    // HTTP (load-balancing) endpoint: the seed-004 AI API server, unchanged (stacks/httpExample.ts)
    const http = httpExample(cfg, platform, registry, { ...k8sOpts, dependsOn: deps });

    return {
        ...http,
        target: "local",
        namespace: platform.namespace,
        gatewayUrl: platform.gatewayUrl,
        scalerAddress: platform.scalerAddress,
        apiKeySecretName: platform.apiKeySecretName,
        gatewayImage,
        endpointId: endpoint.endpointId,
        /** The endpoint's worker image (repo@sha256:…); other stacks (examples/python-program) deploy it too. */
        workerImage,
        jobUrl: endpoint.jobUrl,
        workerDeployment: endpoint.deploymentName,
        scaledObject: endpoint.scaledObjectName,
    };
}
