// Runnable entry of the bundled policy pack: `pulumi preview --policy-pack policy/pack`.
// Pulumi starts it through `pulumi-analyzer-policy`, which runs @pulumi/pulumi's run-policy-pack with this
// directory as the working directory; Node resolves @pulumi/policy and ts-node from the repository's node_modules
// (parent directories), so this directory needs no install of its own. package.json here only carries the pack
// version that PolicyPack reads from the working directory.
import { PolicyPack } from "@pulumi/policy";
import { POLICY_PACK_NAME, longshorePolicies } from "..";

new PolicyPack(POLICY_PACK_NAME, {
    policies: longshorePolicies,
    description: "Longshore rules for serverless GPU workers on Kubernetes.",
    enforcementLevel: "mandatory",
});
