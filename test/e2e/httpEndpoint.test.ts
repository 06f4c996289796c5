// End-to-end: the HTTP (load-balancing) endpoint of the `local` stack — the seed-004 AI API server
// (examples/ai-api-server, FastAPI + uvicorn, its Dockerfile unchanged) deployed by `pulumi up` as an HttpEndpoint,
// woken from zero by a plain HTTP request through the gateway, spread over its workers, back to zero.
import { strict as assert } from "assert";
import { kubectlJson, log, waitFor } from "./harness";
import { DeployedStack, deployedStack } from "./stack";

describe("e2e: HTTP endpoint (examples/ai-api-server) on the proving ground", function () {
  this.timeout(20 * 60_000);
  let d: DeployedStack;
  let base = "";
  let ns = "";
  let maxWorkers = 0;
  const auth = () => ({ authorization: `Bearer ${d.apiKey}`, "content-type": "application/json" });
  const workerPods = async () => {
    const pods = await kubectlJson(["-n", ns, "get", "pods", "-l", `longshore.dev/endpoint=${d.out("httpEndpointId")},app.kubernetes.io/component=http-worker`]);
    return pods.items as { metadata: { name: string; deletionTimestamp?: string }; status: { phase: string } }[];
  };
  const replicas = async () => {
    const dep = await kubectlJson(["-n", ns, "get", "deployment", d.out("httpWorkerDeployment")]);
    return { spec: dep.spec.replicas ?? 0, status: dep.status.replicas ?? 0 };
  };
  const predict = async (features: number[], simulateMs = 0) => {
    const r = await fetch(`${base}/predict`, { method: "POST", headers: auth(), body: JSON.stringify({ features, simulate_ms: simulateMs }) });
    const text = await r.text();
    return { status: r.status, worker: r.headers.get("x-longshore-worker-id"), runpodWorker: r.headers.get("x-runpod-worker-id"), text, body: r.status === 200 ? JSON.parse(text) : undefined };
  };

  before(async function () {
    d = await deployedStack();
    ns = d.ns;
    base = `${d.gatewayBase}/http/${d.out("httpEndpointId")}`;
    assert.equal(d.out("httpEndpointUrl"), `http://longshore-gateway.${ns}.svc.cluster.local:8080/http/${d.out("httpEndpointId")}`);
    const so = await kubectlJson(["-n", ns, "get", "scaledobject", d.out("httpScaledObject")]);
    maxWorkers = so.spec.maxReplicaCount;
    assert.ok(maxWorkers >= 2, `the example's maxWorkers (${maxWorkers}) must be >= 2 to show spreading`);
  });

  it("pulumi up created an HttpEndpoint: the server image by digest, PORT set, labelled for the gateway's watch, at zero", async () => {
    const state = await d.stack.exportStack();
    assert.ok((state.deployment.resources ?? []).some((r: { type: string }) => r.type === "longshore:index:HttpEndpoint"), "no HttpEndpoint in the state");
    const dep = await kubectlJson(["-n", ns, "get", "deployment", d.out("httpWorkerDeployment")]);
    const c = dep.spec.template.spec.containers[0];
    assert.match(c.image, /@sha256:[0-9a-f]{64}$/);
    assert.equal(c.env.find((e: { name: string }) => e.name === "PORT").value, "8000");
    assert.equal(dep.spec.template.metadata.labels["app.kubernetes.io/component"], "http-worker");
    await waitFor("the ScaledObject to be Ready", 120_000, async () =>
      (await kubectlJson(["-n", ns, "get", "scaledobject", d.out("httpScaledObject")])).status?.conditions?.some(
        (x: { type: string; status: string }) => x.type === "Ready" && x.status === "True") || undefined);
    await waitFor("zero HTTP workers", 240_000, async () => {
      const r = await replicas();
      return r.spec === 0 && r.status === 0 && (await workerPods()).length === 0 ? true : undefined;
    }, 2000);
  });

  it("a request to the idle endpoint is held while it wakes from zero and returns the model's answer", async () => {
    const noKey = await fetch(`${base}/predict`, { method: "POST", body: "{}" });
    assert.equal(noKey.status, 401, "the gateway's API keys guard HTTP endpoints");
    const t0 = Date.now();
    const r = await predict([5.1, 3.5, 1.4, 0.2]);
    const s = (Date.now() - t0) / 1000;
    log(`HTTP endpoint: first request answered ${s.toFixed(1)} s after it was sent to the idle endpoint (scale from zero)`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.prediction, "setosa");
    assert.ok(r.worker, "X-Longshore-Worker-Id is set");
    assert.equal(r.runpodWorker, r.worker);
    assert.equal(r.body.worker, r.worker, "the answering pod's RUNPOD_POD_ID is the worker id the gateway reports");
    assert.ok((await workerPods()).some((p) => p.metadata.name === r.worker));
  });

  it("40 concurrent requests spread over more than one worker, up to maxWorkers and never above", async () => {
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const live = (await workerPods()).filter((p) => !p.metadata.deletionTimestamp).length;
        peak = Math.max(peak, live, (await replicas()).spec);
        await new Promise((res) => setTimeout(res, 500));
      }
    })();
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => predict([6.7, 3.0, 5.2, 2.3], 1500 + (i % 3) * 100)));
    sampling = false;
    await sampler;
    const per: Record<string, number> = {};
    for (const r of rs) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.prediction, "virginica");
      per[r.worker!] = (per[r.worker!] ?? 0) + 1;
    }
    log(`HTTP endpoint: 40 concurrent requests in ${((Date.now() - t0) / 1000).toFixed(1)} s over ${JSON.stringify(per)}; peak workers ${peak}`);
    assert.ok(Object.keys(per).length > 1, `requests spread over more than one worker: ${JSON.stringify(per)}`);
    assert.ok(Object.keys(per).length <= maxWorkers, JSON.stringify(per));
    assert.ok(peak <= maxWorkers, `never above maxWorkers (${maxWorkers}): peak ${peak}`);
  });

  it("every request is in the server's SQLite log on the endpoint's volume, written by each worker", async () => {
    const r = await fetch(`${base}/history?limit=1000`, { headers: auth() });
    assert.equal(r.status, 200);
    const h = (await r.json()) as { total: number; requests: { worker: string }[] };
    assert.ok(h.total >= 41, `total ${h.total}`);
    assert.ok(new Set(h.requests.map((x) => x.worker)).size > 1, "both workers wrote to the shared volume");
  });

  it("the endpoint returns to zero workers after its idle timeout", async () => {
    const t0 = Date.now();
    await waitFor("HTTP endpoint scale-in to zero", 300_000, async () => ((await replicas()).spec === 0 ? true : undefined), 2000);
    log(`HTTP endpoint: scaled to zero ${((Date.now() - t0) / 1000).toFixed(0)} s after the last request`);
    await waitFor("worker pods gone", 180_000, async () => ((await workerPods()).length === 0 ? true : undefined), 2000);
  });

  it("a second `pulumi preview` shows no changes", async () => {
    const pv = await d.stack.preview({ color: "never" });
    const changed = Object.entries(pv.changeSummary).filter(([op, n]) => op !== "same" && (n ?? 0) > 0);
    assert.deepEqual(changed, [], `expected a no-op preview, got ${JSON.stringify(pv.changeSummary)}`);
  });
});
