// Before the Keda component installs KEDA: is KEDA already in the target cluster, put there by someone else
// (kubectl, Helm, another tool)? Two owners of one object make Server-Side Apply refuse the stack's objects
// field by field halfway through `pulumi up` (".webhooks[name=...].rules conflicts with \"kubectl\""); this
// check says so before anything is applied, and what to do about it.
//
// It asks kubectl, not a client library: kubectl honours every kubeconfig auth method users have (client
// certificates, tokens, exec plugins such as `aws eks get-token`), reads KUBECONFIG as the Kubernetes provider
// does, and this package carries no Kubernetes client of its own. Where kubectl is missing or the cluster does
// not answer, the check says nothing and the apply itself reports.
import { execFileSync } from "child_process";

/** The CRD every KEDA install has, whoever installed it. */
export const KEDA_MARKER_CRD = "scaledobjects.keda.sh";

/** A KEDA in the cluster that this stack does not manage. */
export interface ForeignKeda {
    /** The object found (kind/name). */
    object: string;
    /** Its field managers (kubectl, helm, …). */
    managers: string[];
}

/** Runs kubectl with the given arguments and returns its stdout, or undefined where it cannot answer. */
export type KubectlRunner = (args: string[]) => string | undefined;

const runKubectl: KubectlRunner = (args) => {
    try {
        return execFileSync("kubectl", args, { encoding: "utf8", timeout: 20_000, stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
        // "Error from server (NotFound)" is an answer: no KEDA there. Anything else (no kubectl, no cluster) is none.
        return /\(NotFound\)/.test(String((e as { stderr?: unknown }).stderr ?? "")) ? "" : undefined;
    }
};

/** Pulumi's Kubernetes provider applies as field manager "pulumi-kubernetes-<suffix>". */
export function isPulumiManager(manager: string): boolean {
    return manager.startsWith("pulumi-kubernetes");
}

/**
 * Finds a KEDA that someone other than Pulumi installed in the cluster of `kubeContext` (default: the current
 * context). Undefined when there is none, when Pulumi manages it, or when the cluster cannot be asked.
 */
export function findForeignKeda(kubeContext?: string, kubectl: KubectlRunner = runKubectl, crdName = KEDA_MARKER_CRD): ForeignKeda | undefined {
    const ctx = kubeContext ? ["--context", kubeContext] : [];
    // `-o json` leaves managedFields out unless asked.
    const out = kubectl([...ctx, "get", "customresourcedefinition", crdName, "-o", "json", "--show-managed-fields", "--request-timeout=15s"]);
    if (!out) return undefined;
    let crd: { metadata?: { managedFields?: { manager?: string }[] } };
    try {
        crd = JSON.parse(out);
    } catch {
        return undefined;
    }
    const managers = [...new Set((crd.metadata?.managedFields ?? []).map((f) => f.manager ?? "").filter((m) => m !== ""))];
    // The API server itself updates status ("kube-apiserver"); only appliers count as owners.
    const owners = managers.filter((m) => m !== "kube-apiserver");
    if (owners.length === 0 || owners.some(isPulumiManager)) return undefined;
    return { object: `CustomResourceDefinition/${crdName}`, managers: owners };
}

/** What the user reads when a foreign KEDA is found. */
export function foreignKedaMessage(component: string, found: ForeignKeda, kubeContext?: string): string {
    const where = kubeContext ? `the cluster of kubeconfig context "${kubeContext}"` : "the cluster of the current kubeconfig context";
    return [
        `Keda ${component}: KEDA is already installed in ${where}, by someone else: ${found.object} is managed by ` +
            `${found.managers.join(", ")}, not by Pulumi.`,
        "Installing it again from this stack would make Server-Side Apply refuse the stack's objects field by field. Either:",
        "  - keep that KEDA and don't install one from this stack: `pulumi config set longshore:installKeda false` " +
            "(the root program's local stack), or drop the Keda component from your program; or",
        "  - remove that KEDA first (`helm uninstall keda -n keda`, or `kubectl delete -f <the manifests it was installed from>`; " +
            "on the proving ground: `bash proving-ground/parts/60-keda.sh uninstall`), then run `pulumi up` again.",
        "(Keda's `preflight: false` skips this check.)",
    ].join("\n");
}
