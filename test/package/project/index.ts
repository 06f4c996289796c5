// A user's Pulumi TypeScript program, written against the installed npm package only (test/package/install.test.ts
// copies this directory into a fresh project outside the repository and installs the packed tarball into it).
import * as pulumi from "@pulumi/pulumi";
import { Keda, NvidiaDevicePlugin, ServerlessPlatform, ServerlessEndpoint, WorkerImage } from "longshore";

export interface ProgramArgs {
    registry: string;
    maxWorkers?: number;
}

export function program(args: ProgramArgs): Record<string, pulumi.Output<unknown>> {
    // KEDA from the manifests the package ships (no cache, no checkout, no network at preview)
    const keda = new Keda("keda", {});
    new NvidiaDevicePlugin("nvidia", { version: "v0.17.0" });
    // the gateway image built from the package's own build context (or: a published image pinned by digest)
    const gateway = new WorkerImage("gateway", {
        context: ".",
        dockerfile: "node_modules/longshore/gateway/package-image/Dockerfile",
        repository: `${args.registry}/longshore/gateway`,
        tags: ["0.1.0"],
    });
    const platform = new ServerlessPlatform("platform", {
        namespace: "longshore",
        gatewayImage: gateway.ref,
        apiKeys: ["lsk-0123456789abcdef0123"],
        redis: { storage: "ephemeral" },
    }, { dependsOn: [keda] });
    const endpoint = new ServerlessEndpoint("hello", {
        platform,
        image: `${args.registry}/team/hello@sha256:${"ab".repeat(32)}`,
        minWorkers: 0, maxWorkers: args.maxWorkers ?? 2, idleTimeoutSeconds: 5, executionTimeoutSeconds: 600,
        scalerType: "QUEUE_DELAY", scalerValue: 4, gpuCount: 1,
    });
    return { jobUrl: endpoint.jobUrl, kedaObjects: keda.objectCount, gatewayDockerfile: pulumi.output(gateway.ref) };
}
