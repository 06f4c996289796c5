// The root Pulumi program: composes a whole Longshore platform from stack config.
//
//   pulumi stack select local   # any kubeconfig context (the local proving ground, kind, k3s, a dev cluster)
//   pulumi stack select eks     # VPC + EKS + GPU node pool + cluster-autoscaler + ECR (stacks/eks.ts)
//
// Every config key is documented in docs/components/root-program.md. Keys live in the `longshore:` namespace.
// A missing required key stops the program with Pulumi's "Missing required configuration variable" error,
// which names the key and the `pulumi config set` command to fix it.
import * as pulumi from "@pulumi/pulumi";
import { localStack } from "./stacks/local";
import { eksStack } from "./stacks/eks";

/** Entry point (Pulumi calls an exported function and exports what it returns as stack outputs). */
function main(): Record<string, pulumi.Input<unknown>> {
    const cfg = new pulumi.Config("longshore");
    const stack = pulumi.getStack();
    const target = cfg.get("target") ?? (stack === "eks" || stack.startsWith("eks-") ? "eks" : stack === "local" || stack.startsWith("local-") ? "local" : undefined);
    if (target === undefined) {
        throw new pulumi.RunError(`config longshore:target is required for stack "${stack}": set it to "local" or "eks" (pulumi config set longshore:target local)`);
    }
    if (target === "local") return localStack(cfg);
    if (target === "eks") return eksStack(cfg);
    throw new pulumi.RunError(`config longshore:target ("${target}") must be "local" or "eks"`);
}

export = main;
