// Shared config readers for the root program's stacks (index.ts) and the examples/eks-gpu project.
// Config keys: docs/components/root-program.md.
import * as pulumi from "@pulumi/pulumi";
import { WorkerImage, ScalerType, ServerlessEndpointArgs, PlatformRef } from "../components";

/** Settings of the example endpoint (config key `longshore:endpoint`, an object). */
export interface EndpointConfig {
    id?: string;
    minWorkers?: number;
    maxWorkers?: number;
    idleTimeoutSeconds?: number;
    executionTimeoutSeconds?: number;
    scalerType?: ScalerType;
    scalerValue?: number;
    gpuCount?: number;
    gpuTypes?: string[];
    cpuOnly?: boolean;
    containerDisk?: string;
    env?: Record<string, string>;
}

/** Reads the example-endpoint config shared by both stacks. */
export function endpointConfig(cfg: pulumi.Config): EndpointConfig {
    return cfg.getObject<EndpointConfig>("endpoint") ?? {};
}

/**
 * The ServerlessEndpoint arguments both stacks derive from the `longshore:endpoint` config object; a stack
 * passes what differs (e.g. a default GPU type or container disk) in `defaults`.
 */
export function endpointArgsFrom(
    ep: EndpointConfig, endpointId: string, platform: PlatformRef, image: pulumi.Input<string>,
    defaults: { gpuTypes?: string[]; containerDisk?: string } = {},
): ServerlessEndpointArgs {
    return {
        platform,
        endpointId,
        image,
        minWorkers: ep.minWorkers,
        maxWorkers: ep.maxWorkers,
        idleTimeoutSeconds: ep.idleTimeoutSeconds,
        executionTimeoutSeconds: ep.executionTimeoutSeconds,
        scalerType: ep.scalerType,
        scalerValue: ep.scalerValue,
        gpuCount: ep.cpuOnly ? undefined : ep.gpuCount,
        gpuTypes: ep.gpuTypes ?? defaults.gpuTypes,
        cpuOnly: ep.cpuOnly,
        containerDisk: ep.containerDisk ?? defaults.containerDisk,
        env: ep.env,
    };
}

/** Splits the comma-separated `apiKeys` secret into a list (still secret). */
export function apiKeysFrom(cfg: pulumi.Config): pulumi.Output<string[]> {
    return cfg.requireSecret("apiKeys").apply((s) => s.split(",").map((k) => k.trim()).filter((k) => k.length > 0));
}

/**
 * The worker image: `workerImage` (a digest ref, used as is), `workerPin` (an existing tag, resolved to its digest),
 * or built from `workerContext` (default examples/hello-python) and pushed to `<registry>/longshore/<endpoint id>`.
 */
export function workerImageFrom(cfg: pulumi.Config, endpointId: string, registry: string, opts?: pulumi.ComponentResourceOptions): pulumi.Output<string> {
    const given = cfg.get("workerImage");
    if (given) return pulumi.output(given);
    const pin = cfg.get("workerPin");
    if (pin) return WorkerImage.pin("worker", pin, {}, opts).ref;
    return new WorkerImage("worker", {
        context: cfg.get("workerContext") ?? "examples/hello-python",
        dockerfile: cfg.get("workerDockerfile"),
        repository: `${registry}/longshore/${endpointId}`,
        tags: [cfg.get("workerTag") ?? "0.1.0"],
        buildArgs: cfg.getObject<Record<string, string>>("workerBuildArgs"),
        builderName: cfg.get("builderName") ?? process.env.LONGSHORE_BUILDER,
    }, opts).ref;
}

/** The gateway image: `gatewayImage` (digest ref) or built from gateway/Dockerfile and pushed to `<registry>/longshore/gateway`. */
export function gatewayImageFrom(cfg: pulumi.Config, registry: string, opts?: pulumi.ComponentResourceOptions): pulumi.Output<string> {
    const given = cfg.get("gatewayImage");
    if (given) return pulumi.output(given);
    return new WorkerImage("gateway", {
        context: cfg.get("gatewayContext") ?? ".",
        dockerfile: cfg.get("gatewayDockerfile") ?? "gateway/Dockerfile",
        repository: `${registry}/longshore/gateway`,
        tags: [cfg.get("gatewayTag") ?? "0.1.0"],
        buildArgs: cfg.getObject<Record<string, string>>("gatewayBuildArgs"),
        builderName: cfg.get("builderName") ?? process.env.LONGSHORE_BUILDER,
    }, opts).ref;
}
