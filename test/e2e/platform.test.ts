// End-to-end: the root program's `local` stack deployed by the real Pulumi engine (Automation API over the
// `pulumi` CLI built by the proving ground) onto the proving ground's real one-node Kubernetes, then driven by
// the real RunPod clients. Every component of the local stack is created by `pulumi up` here:
// WorkerImage (gateway, redis, worker — built by BuildKit, pushed to the local registry, pinned by digest),
// Keda (from rendered manifests), NvidiaDevicePlugin (with the proving ground's fake-GPU image),
// ServerlessPlatform (Redis + gateway) and ServerlessEndpoint (worker Deployment + KEDA ScaledObject).
// GpuNodePool is AWS-only: it is covered by the mock tests and the eks stack's preview, not here.
// The same platform then takes an endpoint from a Python program through the generated SDK (pythonProgram.ts).
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { REPO, kubectl, kubectlJson, log, waitFor } from "./harness";
import { DeployedStack, deployedStack } from "./stack";
import { pythonProgramSuite } from "./pythonProgram";
import { KEDA_MARKER_CRD, findForeignKeda, foreignKedaMessage, isPulumiManager } from "../../components/kedaPreflight";

describe("e2e: the local stack on the proving ground", function () {
  this.timeout(40 * 60_000);
  let d: DeployedStack;
  let stack: Stack;
  let apiKey = "";
  let gatewayBase = ""; // http://<clusterIP>:8080
  let ns = "";
  const out = (k: string): string => d.out(k);

  before(async function () {
    d = await deployedStack();
    ({ stack, apiKey, gatewayBase, ns } = d);
  });

  it("created every component of the local stack with the real engine", async () => {
    const state = await stack.exportStack();
    const types = new Set<string>((state.deployment.resources ?? []).map((r: { type: string }) => r.type));
    for (const t of [
      "longshore:index:WorkerImage",
      "longshore:index:Keda",
      "longshore:index:NvidiaDevicePlugin",
      "longshore:index:ServerlessPlatform",
      "longshore:index:ServerlessEndpoint",
      "docker-build:index:Image",
      "kubernetes:keda.sh/v1alpha1:ScaledObject",
      "kubernetes:apps/v1:Deployment",
    ]) assert.ok(types.has(t), `no ${t} in the stack's state (types: ${[...types].sort().join(", ")})`);
  });

  it("the stack owns KEDA: its objects are applied by Pulumi's field manager, so the Keda preflight finds no foreign KEDA", async () => {
    const crd = await kubectlJson(["get", "customresourcedefinition", KEDA_MARKER_CRD, "--show-managed-fields"]);
    const managers: string[] = (crd.metadata.managedFields ?? []).map((f: { manager: string }) => f.manager);
    assert.ok(managers.some(isPulumiManager), `expected a Pulumi field manager on ${KEDA_MARKER_CRD}, got ${managers.join(", ")}`);
    assert.ok(!managers.includes("kubectl"), `the proving ground must not install KEDA itself (managers: ${managers.join(", ")})`);
    assert.equal(findForeignKeda(), undefined);
  });

  it("the Keda preflight names a CRD that kubectl applied (the real kubectl and API server, a throwaway CRD)", async () => {
    const name = "widgets.preflight.longshore.dev";
    const manifest = JSON.stringify({
      apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name },
      spec: { group: "preflight.longshore.dev", scope: "Namespaced", names: { kind: "Widget", plural: "widgets" },
        versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object" } } }] },
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-e2e-"));
    const file = path.join(dir, "crd.json");
    fs.writeFileSync(file, manifest);
    try {
      await kubectl(["apply", "--server-side", "-f", file]);
      const found = findForeignKeda(undefined, undefined, name);
      assert.deepEqual(found, { object: `CustomResourceDefinition/${name}`, managers: ["kubectl"] });
      assert.match(foreignKedaMessage("keda", found!), /managed by kubectl, not by Pulumi/);
    } finally {
      await kubectl(["delete", "-f", file, "--ignore-not-found"]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a second `pulumi preview` shows no changes (digest pinning keeps it stable)", async () => {
    const pv = await stack.preview({ color: "never" });
    const changed = Object.entries(pv.changeSummary).filter(([op, n]) => op !== "same" && (n ?? 0) > 0);
    assert.deepEqual(changed, [], `expected a no-op preview, got ${JSON.stringify(pv.changeSummary)}`);
  });

  it("the policy pack passes on the deployed stack", async () => {
    const pv = await stack.preview({ color: "never", policyPacks: [`${REPO}/policy/pack`] });
    assert.ok(!/mandatory|violation/i.test(pv.stdout + pv.stderr), `policy violations:\n${pv.stdout}\n${pv.stderr}`);
  });

  it("the gateway answers through its Service, and the worker Deployment is pinned by digest, asks for a GPU and sits at zero", async () => {
    const health = await fetch(`${gatewayBase}/healthz`);
    assert.equal(health.status, 200);
    const dep = await kubectlJson(["-n", ns, "get", "deployment", out("workerDeployment")]);
    const c = dep.spec.template.spec.containers[0];
    assert.match(c.image, /@sha256:[0-9a-f]{64}$/, "worker image must be a digest ref");
    assert.equal(c.resources.limits["nvidia.com/gpu"], "1");
    assert.ok(dep.spec.template.spec.tolerations.some((t: { key: string }) => t.key === "nvidia.com/gpu"), "GPU taint toleration");
    assert.ok(dep.spec.template.spec.terminationGracePeriodSeconds >= 120, "drain grace >= execution timeout");
    const so = await kubectlJson(["-n", ns, "get", "scaledobject", out("scaledObject")]);
    assert.equal(so.spec.triggers[0].type, "external-push");
    await waitFor("the ScaledObject to be Ready", 120_000, async () =>
      (await kubectlJson(["-n", ns, "get", "scaledobject", out("scaledObject")])).status?.conditions?.some(
        (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True") || undefined);
    await waitFor("zero worker replicas", 180_000, async () => {
      const d = await kubectlJson(["-n", ns, "get", "deployment", out("workerDeployment")]);
      return (d.spec.replicas ?? 0) === 0 && !(d.status.replicas > 0) ? true : undefined;
    });
  });

  it("runpod-sdk runSync wakes the endpoint from zero; an unmodified RunPod worker answers on the GPU node", async () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const runpodSdk = require("runpod-sdk").default ?? require("runpod-sdk");
    const ep = runpodSdk(apiKey, { baseUrl: `${gatewayBase}/v2` }).endpoint(out("endpointId"));
    const t0 = Date.now();
    const started = await ep.run({ input: { name: "e2e" } });
    assert.equal(started.status, "IN_QUEUE");
    const done = await waitFor("the job to finish", 300_000, async () => {
      const s = await ep.status(started.id);
      return ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].includes(s.status) ? s : undefined;
    }, 1000);
    log(`cold start → COMPLETED in ${((Date.now() - t0) / 1000).toFixed(1)} s (delayTime ${done.delayTime} ms, executionTime ${done.executionTime} ms)`);
    assert.equal(done.status, "COMPLETED", JSON.stringify(done));
    assert.equal(done.output, "Hello World");
    const pods = await kubectlJson(["-n", ns, "get", "pods", "-l", `longshore.dev/endpoint=${out("endpointId")}`]);
    const pod = pods.items.find((p: { metadata: { name: string } }) => p.metadata.name === done.workerId);
    assert.ok(pod, `the job's workerId ${done.workerId} is one of the endpoint's pods`);
    const node = await kubectlJson(["get", "node", pod.spec.nodeName]);
    assert.ok(Number(node.status.allocatable["nvidia.com/gpu"]) >= 1, "the worker ran on a node that advertises nvidia.com/gpu");
  });

  it("the Python runpod.Endpoint client runs a job synchronously against the same endpoint", async () => {
    const py = await new Promise<string>((resolve, reject) =>
      execFile("bash", [`${REPO}/scripts/setup-python.sh`], (e, so) => (e ? reject(e) : resolve(so.trim()))));
    const script = [
      "import json, os, runpod",
      "runpod.api_key = os.environ['KEY']",
      "r = runpod.Endpoint(os.environ['EP']).run_sync({'name': 'py'}, timeout=240)",
      "print(json.dumps(r))",
    ].join("\n");
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(py, ["-c", script], { env: { ...process.env, KEY: apiKey, EP: out("endpointId"), RUNPOD_ENDPOINT_BASE_URL: `${gatewayBase}/v2` }, timeout: 280_000 },
        (e, so, se) => (e ? reject(new Error(`${e.message}\n${se}`)) : resolve(so))));
    assert.equal(JSON.parse(stdout.trim().split("\n").pop()!), "Hello World");
  });

  it("the endpoint scales back to zero workers after its idle timeout", async () => {
    const t0 = Date.now();
    await waitFor("scale-in to zero", 300_000, async () => {
      const d = await kubectlJson(["-n", ns, "get", "deployment", out("workerDeployment")]);
      return (d.spec.replicas ?? 0) === 0 ? true : undefined;
    }, 2000);
    log(`scaled to zero ${((Date.now() - t0) / 1000).toFixed(0)} s after the last job`);
  });

  // Runs after the tests above, while the stack is still up (its after hook destroys the Python stack first).
  pythonProgramSuite({ out, apiKey: () => apiKey, gatewayBase: () => gatewayBase });
});
