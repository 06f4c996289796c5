// End-to-end, last in the suite (mocha loads e2e files in path order; `zz-` sorts after the others, and every
// earlier file's suites and after hooks — the Python program's stack destroy included — have run by then):
// `pulumi destroy` removes everything the stack made — its namespaces, the CRDs it owns (KEDA's), PVCs,
// ScaledObjects, the cluster-scoped RBAC and APIService — and a new `pulumi up` with the same config brings
// the stack back, answering jobs on both endpoints (so CI's `npm run up -- --expect-no-changes` after the suite
// finds it deployed and unchanged).
import { strict as assert } from "assert";
import * as fs from "fs";
import { kubectlJson, log, waitFor } from "./harness";
import { DeployedStack, deployedStack } from "./stack";
import { JobClient } from "./loadKit";

/** Every object of `kind` (all namespaces) whose labels or name say Longshore or KEDA made it. */
async function leftovers(kind: string): Promise<string[]> {
  const list = await kubectlJson(["get", kind, "--all-namespaces"]);
  return list.items
    .filter((o: any) => {
      const l = o.metadata.labels ?? {};
      return l["app.kubernetes.io/part-of"] === "longshore" || l["app.kubernetes.io/part-of"] === "keda-operator" ||
        /keda|longshore/.test(`${o.metadata.namespace ?? ""}/${o.metadata.name}`);
    })
    .map((o: any) => `${kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`);
}

describe("e2e: zz pulumi destroy leaves nothing behind, and pulumi up brings the stack back", function () {
  this.timeout(40 * 60_000);
  let d: DeployedStack;

  before(async function () {
    d = await deployedStack();
  });

  it("pulumi destroy removes the namespaces, the stack's CRDs, PVCs, ScaledObjects and cluster-scoped objects; a new pulumi up works", async () => {
    const state = await d.stack.exportStack();
    const cfg = await d.stack.getAllConfig();
    const hostPath = cfg["longshore:redisHostPath"]?.value;
    const before = (state.deployment.resources ?? []).length;
    let t0 = Date.now();
    const res = await d.stack.destroy({ color: "never" });
    log(`pulumi destroy: ${res.summary.result} in ${((Date.now() - t0) / 1000).toFixed(0)} s (${before} resources in state), ${JSON.stringify(res.summary.resourceChanges)}`);
    assert.equal(res.summary.result, "succeeded");
    const after = await d.stack.exportStack();
    assert.deepEqual((after.deployment.resources ?? []).map((r: { urn: string }) => r.urn), [], "the state is empty");

    const namespaces = (await kubectlJson(["get", "namespaces"])).items.map((n: any) => n.metadata.name);
    assert.ok(!namespaces.includes(d.ns) && !namespaces.includes("keda"), `no ${d.ns} or keda namespace left (namespaces: ${namespaces.join(", ")})`);
    const crds = (await kubectlJson(["get", "customresourcedefinitions"])).items.map((c: any) => c.metadata.name);
    assert.deepEqual(crds.filter((n: string) => n.endsWith(".keda.sh")), [], "KEDA's CRDs (owned by the stack) are gone");
    const left: string[] = [];
    for (const kind of ["persistentvolumeclaims", "persistentvolumes", "clusterroles", "clusterrolebindings", "rolebindings", "apiservices",
      "validatingwebhookconfigurations", "mutatingwebhookconfigurations", "daemonsets", "deployments", "statefulsets", "services", "secrets"]) {
      left.push(...(await leftovers(kind)));
    }
    assert.deepEqual(left, [], "nothing the stack made is left in the cluster");
    // Redis's AOF lived in a node directory (redis.storage hostPath): it is data, not an object — the stack
    // leaves the directory (like a retained volume); on this one-node cluster the node is this machine, so the
    // test empties it to start the next up from an empty queue, as a fresh cluster would
    if (hostPath && fs.existsSync(hostPath)) {
      log(`Redis data left in ${hostPath} (a node directory, not a Kubernetes object): ${fs.readdirSync(hostPath).join(", ") || "empty"}; removed`);
      fs.rmSync(hostPath, { recursive: true, force: true });
    }

    t0 = Date.now();
    await d.up();
    log(`pulumi up after destroy: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    for (const ep of [d.out("endpointId"), d.out("burstEndpointId")]) {
      const c = new JobClient(d.gatewayBase, d.apiKey, ep);
      await waitFor(`the gateway to know ${ep}`, 120_000, async () => ((await c.request("GET", `/v2/${ep}/health`)).status === 200 ? true : undefined), 1000);
      const id = await c.run({ echo: "after-destroy" });
      const s = (await c.waitAll([id], 6 * 60_000)).get(id)!;
      assert.equal(s.status, "COMPLETED", JSON.stringify(s));
      log(`${ep}: a job COMPLETED after destroy + up: ${JSON.stringify(s.output)}`);
    }
  });
});
