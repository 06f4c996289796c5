// The mock-backed preview: runs program() under Pulumi's mocks the way `pulumi preview` runs a program (unknown
// outputs for new resources), then prints what it registered as JSON on stdout. Also checks, with the package's
// other entry points, that they load: longshore/worker, longshore/policy.
import * as pulumi from "@pulumi/pulumi";
import worker from "longshore/worker";
import { longshorePolicies, isPinnedByDigest } from "longshore/policy";
import { program } from "./index";

async function main(): Promise<void> {
    const registered: { type: string; name: string; inputs: Record<string, any> }[] = [];
    await pulumi.runtime.setMocks({
        newResource: (a) => {
            registered.push({ type: a.type, name: a.name, inputs: a.inputs });
            const state: Record<string, unknown> = { ...a.inputs };
            if (a.type === "docker-build:index:Image") Object.assign(state, { digest: `sha256:${"cd".repeat(32)}`, ref: `${a.inputs.tags[0]}@sha256:${"cd".repeat(32)}` });
            return { id: undefined as unknown as string, state };
        },
        call: () => ({}),
    }, "fresh-project", "dev", true);
    let error: string | undefined;
    try {
        if (process.argv[2] === "bad") program({ registry: "registry.example.com", maxWorkers: -1 });
        else program({ registry: "registry.example.com" });
    } catch (e) {
        error = (e as Error).message;
    }
    let last = -1;
    while (registered.length !== last) {
        last = registered.length;
        await new Promise((r) => setTimeout(r, 300));
    }
    process.stdout.write(JSON.stringify({
        error,
        resources: registered,
        worker: { start: typeof worker.start, progressUpdate: typeof worker.progressUpdate },
        policies: longshorePolicies.map((p) => p.name),
        pinned: isPinnedByDigest(`r/x@sha256:${"ab".repeat(32)}`),
    }) + "\n");
}

main().catch((e) => {
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exit(1);
});
