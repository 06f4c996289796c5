// Runs one @pulumi/policy ResourceValidationPolicy against constructed resource inputs, the way the policy server
// does (same args shape, config minus enforcementLevel), and returns the reported violation messages.
import type { ResourceValidation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";

export async function violations(
    policy: ResourceValidationPolicy,
    type: string,
    props: Record<string, any>,
    config: Record<string, any> = {},
): Promise<string[]> {
    const out: string[] = [];
    const args: ResourceValidationArgs = {
        type,
        props,
        urn: `urn:pulumi:test::longshore::${type}::r`,
        name: "r",
        opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig: <T extends object>() => config as T,
        notApplicable: (reason?: string): never => {
            throw new Error(`notApplicable: ${reason}`);
        },
    };
    const fns: ResourceValidation[] = Array.isArray(policy.validateResource)
        ? policy.validateResource
        : policy.validateResource ? [policy.validateResource] : [];
    for (const fn of fns) {
        await fn(args, (message: string) => {
            out.push(message);
        });
    }
    return out;
}

export const DIGEST = "sha256:" + "a".repeat(64);

/** A Deployment's inputs as @pulumi/kubernetes sends them, with a pod spec you pass. */
export function deployment(podSpec: Record<string, any>, annotations?: Record<string, string>): Record<string, any> {
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "w", namespace: "default" },
        spec: {
            replicas: 0,
            selector: { matchLabels: { app: "w" } },
            template: { metadata: { labels: { app: "w" }, annotations }, spec: podSpec },
        },
    };
}
