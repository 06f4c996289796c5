// The Keda component's preflight: a KEDA someone else installed is found (and named) before anything is
// applied; a KEDA that Pulumi applied, no KEDA, or no answer from the cluster lets the install go ahead.
import * as assert from "assert";
import { findForeignKeda, foreignKedaMessage, isPulumiManager, KubectlRunner } from "../../components/kedaPreflight";

const crd = (...managers: string[]) => JSON.stringify({
    kind: "CustomResourceDefinition",
    metadata: { name: "scaledobjects.keda.sh", managedFields: managers.map((manager) => ({ manager, operation: "Apply" })) },
});

describe("Keda preflight", () => {
    it("finds a KEDA applied with kubectl (what an older proving ground did) and names its field managers", () => {
        const found = findForeignKeda(undefined, () => crd("kubectl", "kube-apiserver"));
        assert.deepStrictEqual(found, { object: "CustomResourceDefinition/scaledobjects.keda.sh", managers: ["kubectl"] });
    });

    it("finds a KEDA installed by Helm", () => {
        assert.deepStrictEqual(findForeignKeda(undefined, () => crd("helm"))?.managers, ["helm"]);
    });

    it("lets a KEDA that Pulumi's Kubernetes provider applied through (a second `pulumi up`)", () => {
        assert.strictEqual(findForeignKeda(undefined, () => crd("pulumi-kubernetes-7f3a2c1d", "kube-apiserver")), undefined);
        assert.ok(isPulumiManager("pulumi-kubernetes-7f3a2c1d"));
        assert.ok(!isPulumiManager("kubectl"));
    });

    it("says nothing when there is no KEDA, no answer, or an answer it cannot read", () => {
        assert.strictEqual(findForeignKeda(undefined, () => ""), undefined);          // NotFound
        assert.strictEqual(findForeignKeda(undefined, () => undefined), undefined);   // no kubectl / no cluster
        assert.strictEqual(findForeignKeda(undefined, () => "not json"), undefined);
    });

    it("asks the context the stack deploys to", () => {
        let args: string[] = [];
        const run: KubectlRunner = (a) => { args = a; return ""; };
        findForeignKeda("dev-cluster", run);
        assert.deepStrictEqual(args.slice(0, 2), ["--context", "dev-cluster"]);
        assert.ok(args.includes("scaledobjects.keda.sh"));
        assert.ok(args.includes("--show-managed-fields"), "kubectl's -o json hides managedFields unless asked");
    });

    it("the message names the owner, the cluster and both ways out", () => {
        const msg = foreignKedaMessage("keda", { object: "CustomResourceDefinition/scaledobjects.keda.sh", managers: ["kubectl"] }, "dev");
        assert.match(msg, /already installed in the cluster of kubeconfig context "dev"/);
        assert.match(msg, /managed by kubectl, not by Pulumi/);
        assert.match(msg, /pulumi config set longshore:installKeda false/);
        assert.match(msg, /helm uninstall keda -n keda/);
    });
});
