// The `local` target of the root program: a whole Longshore platform on the cluster of any kubeconfig context.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as path from "path";
import { Keda, NvidiaDevicePlugin, ServerlessPlatform, ServerlessEndpoint, KedaImages, WorkerImage } from "../components";
import { apiKeysFrom, endpointArgsFrom, endpointConfig, EndpointConfig, gatewayImageFrom, workerImageFrom } from "./common";
import { coldStartBlock } from "./coldStart";
import { cliModelEndpoint } from "./cliModel";
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
                // redisHostPath (set in local.defaults.yaml): Redis's AOF on a node directory, so it survives a
                // pod deletion on a one-node cluster without a storage provisioner (emptyDir would not)
                storage: cfg.get("redisHostPath") ? "hostPath"
                    : (cfg.get("redisStorage") as "persistent" | "ephemeral" | undefined) ?? "persistent",
                hostPath: cfg.get("redisHostPath"),
                storageSize: cfg.get("redisStorageSize"),
                storageClassName: cfg.get("redisStorageClass"),
            },
        gatewayReplicas: cfg.getNumber("gatewayReplicas"),
        gatewayEnv: cfg.getObject<Record<string, string>>("gatewayEnv"),
        tolerations: cfg.getObject<k8s.types.input.core.v1.Toleration[]>("platformTolerations"),
        nodeSelector: cfg.getObject<Record<string, string>>("platformNodeSelector"),
    }, k8sOpts);

    const workerImage = workerImageFrom(cfg, endpointId, registry);
    // Image pre-pull (on for GPU endpoints) idles on this pause image: the proving ground's own, by digest.
    const prePullPause = pinnedImage(cfg.get("prePullPauseImage"), "prepull-pause-image");
    const endpoint = new ServerlessEndpoint(endpointId, { ...endpointArgsFrom(ep, endpointId, platform, workerImage), prePull: { pauseImage: prePullPause } },
        { ...k8sOpts, dependsOn: deps });
    const coldStart = coldStartBlock(cfg, platform, registry, prePullPause, k8sOpts, deps);

    // OpenAI-compatible example (docs/openai.md): examples/openai-worker behind /v2/<id>/openai/v1; config
    // `longshore:openaiEndpoint` (an endpoint object like `endpoint`; unset: not deployed)
    const oaiCfg = cfg.getObject<EndpointConfig>("openaiEndpoint");
    const oaiId = oaiCfg?.id ?? "openai";
    // CPU only: it tolerates what the platform tolerates (the proving ground's one node carries the GPU taint)
    const openai = oaiCfg && new ServerlessEndpoint(oaiId, {
        ...endpointArgsFrom(oaiCfg, oaiId, platform, new WorkerImage("openai-worker", {
            context: cfg.get("openaiWorkerContext") ?? "examples/openai-worker",
            repository: `${registry}/longshore/${oaiId}`,
            tags: ["0.1.0"],
            builderName: cfg.get("builderName") ?? process.env.LONGSHORE_BUILDER,
        }).ref),
        tolerations: cfg.getObject<k8s.types.input.core.v1.Toleration[]>("platformTolerations"),
    }, { ...k8sOpts, dependsOn: deps });

    // a command endpoint: examples/cli-model's CLI image, unchanged, behind the adapter (stacks/cliModel.ts)
    const cliModel = cliModelEndpoint(cfg, registry, platform, { ...k8sOpts, dependsOn: deps });

    const burst = burstEndpoint(cfg, registry, platform, prePullPause, k8sOpts, deps);

    // HTTP (load-balancing) endpoint: the seed-004 AI API server, unchanged (stacks/httpExample.ts)
    const http = httpExample(cfg, platform, registry, { ...k8sOpts, dependsOn: deps });

    return {
        openaiEndpointId: openai ? openai.endpointId : undefined,
        ...burst,
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
        /** The pause image the endpoints' image pre-pull idles on (by digest); other stacks pass it on. */
        prePullPauseImage: prePullPause,
        ...coldStart,
        cliModelEndpointId: cliModel?.endpointId,
        cliModelDeployment: cliModel?.deployment,
    };
}

/**
 * `burstEndpoint` (an object; local.defaults.yaml): a second endpoint beside the Python one, its workers written
 * in TypeScript with `longshore/worker` (examples/hello-typescript, built from the repository root). The e2e
 * suite's burst and fault tests (test/e2e/burst.test.ts) run on it, so they depend on no other endpoint.
 */
function burstEndpoint(cfg: pulumi.Config, registry: string, platform: ServerlessPlatform, prePullPause: pulumi.Input<string> | undefined,
    k8sOpts: pulumi.ComponentResourceOptions, deps: pulumi.Resource[]): Record<string, pulumi.Input<unknown>> {
    const ep = cfg.getObject<EndpointConfig>("burstEndpoint");
    if (!ep) return {};
    const id = ep.id ?? "hello-ts";
    const image = new WorkerImage("burst-worker", {
        context: ".",
        dockerfile: "examples/hello-typescript/Dockerfile",
        repository: `${registry}/longshore/${id}`,
        tags: ["0.1.0"],
        builderName: cfg.get("builderName") ?? process.env.LONGSHORE_BUILDER,
    }).ref;
    // a GPU endpoint: its image pre-pull idles on the same local pause image as the others (no registry.k8s.io here)
    const endpoint = new ServerlessEndpoint(id, { ...endpointArgsFrom(ep, id, platform, image), prePull: { pauseImage: prePullPause } }, { ...k8sOpts, dependsOn: deps });
    return {
        burstEndpointId: endpoint.endpointId,
        burstWorkerImage: image,
        burstWorkerDeployment: endpoint.deploymentName,
        burstScaledObject: endpoint.scaledObjectName,
    };
}
