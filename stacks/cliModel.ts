// The `local` stack's command endpoint (docs/bring-any-image.md): examples/cli-model — a model image whose
// ENTRYPOINT is a CLI, built unchanged — served from the queue by the injected longshore-adapter.
// Config `longshore:cliModel` ({ id, maxWorkers, idleTimeoutSeconds, executionTimeoutSeconds }); absent: no endpoint.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { PlatformRef, ServerlessEndpoint, WorkerImage } from "../components";
import { adapterImageFrom } from "./adapterImage";

export interface CliModelConfig {
    id?: string;
    maxWorkers?: number;
    idleTimeoutSeconds?: number;
    executionTimeoutSeconds?: number;
}

export function cliModelEndpoint(cfg: pulumi.Config, registry: string, platform: PlatformRef, opts: pulumi.ComponentResourceOptions) {
    const c = cfg.getObject<CliModelConfig>("cliModel");
    if (!c) return undefined;
    const id = c.id ?? "cli-model";
    const image = new WorkerImage("cli-model", {
        context: "examples/cli-model",
        repository: `${registry}/longshore/cli-model`,
        tags: ["0.1.0"],
        builderName: cfg.get("builderName") ?? process.env.LONGSHORE_BUILDER,
    }).ref;
    const endpoint = new ServerlessEndpoint(id, {
        platform,
        endpointId: id,
        image,
        // the CLI's own flags, from the example's worker.json (which `longshore test --local --image … --worker`
        // uses too); the image's ENTRYPOINT (python /var/cli-model/cli.py) is read from the registry
        worker: { ...JSON.parse(fs.readFileSync(path.join(__dirname, "..", "examples", "cli-model", "worker.json"), "utf8")), adapterImage: adapterImageFrom(cfg, registry) },
        cpuOnly: true,
        // single-node clusters whose only node carries the GPU taint (the proving ground) need the same
        // tolerations as the platform
        tolerations: cfg.getObject<k8s.types.input.core.v1.Toleration[]>("platformTolerations"),
        minWorkers: 0,
        maxWorkers: c.maxWorkers ?? 1,
        idleTimeoutSeconds: c.idleTimeoutSeconds ?? 10,
        executionTimeoutSeconds: c.executionTimeoutSeconds ?? 120,
        scalerType: "QUEUE_DELAY",
        scalerValue: 1,
        resources: { cpu: "100m", memory: "256Mi" },
    }, opts);
    return { endpointId: endpoint.endpointId, jobUrl: endpoint.jobUrl, deployment: endpoint.deploymentName, image };
}
