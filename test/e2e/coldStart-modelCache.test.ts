// End-to-end, cold start (issue 16, docs/cold-start.md) on the `local` stack's `coldstart` endpoint:
//  - image pre-pull: after `pulumi up` the worker image is in the node's containerd (CRI namespace k8s.io) by
//    digest, pulled by the pre-pull DaemonSet, before any job ran;
//  - model cache: the fill Job copied the model from the proving ground's real S3 server (SeaweedFS, part 70)
//    onto the volume, and a worker reads it read-only with the right sha256;
//  - a wrong checksum and a missing source fail `pulumi up` of a program that uses ModelCache, and the reason
//    is spelled out (checksum expected/got; "not found").
import { strict as assert } from "assert";
import { execFile } from "child_process";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { kubectlJson, log } from "./harness";
import { DeployedStack, deployedStack } from "./stack";
import { runJob } from "./loadKit";
import { ModelCache } from "../../components";
import { provingGroundValue } from "../../stacks/coldStart";

const CONTAINERD_SOCK = "/run/containerd/containerd.sock";

function ctrImages(): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("ctr", ["--address", CONTAINERD_SOCK, "-n", "k8s.io", "images", "ls"], { encoding: "utf8", maxBuffer: 32 << 20 },
      (e, so, se) => (e ? reject(new Error(`ctr images ls: ${se || e.message}`)) : resolve(so))));
}

describe("e2e: cold start — image pre-pull and model cache (coldstart endpoint)", function () {
  this.timeout(20 * 60_000);
  let d: DeployedStack;

  before(async function () {
    d = await deployedStack();
  });

  it("model cache: the fill Job copied the model from S3 and a worker reads it read-only with the right sha256", async () => {
    const job = await kubectlJson(["-n", d.ns, "get", "job", d.out("modelCacheJob")]);
    assert.equal(job.status.succeeded, 1, `fill Job ${d.out("modelCacheJob")}: ${JSON.stringify(job.status)}`);
    const t0 = Date.now();
    const r = await runJob(d, d.out("coldStartEndpointId"), { model: true });
    assert.equal(r.status, "COMPLETED", JSON.stringify(r));
    assert.equal(r.output.modelPath, "/models/tiny-v1");
    assert.deepEqual(r.output.model, { "model.bin": d.out("modelCacheSha256") });
    assert.equal(r.output.modelWritable, false, "the cache is mounted read-only in the workers");
    log(`model cache read by ${r.output.pod} in ${Date.now() - t0} ms after /run (cold worker)`);
  });

  it("model cache: a wrong checksum and a missing source fail pulumi up with the reason spelled out", async () => {
    const ns = d.ns;
    const endpoint = d.out("s3Endpoint");
    const fillImage = d.out("modelCacheFillImage");
    const sha = d.out("modelCacheSha256");
    const wrong = "0".repeat(64);
    const accessKeyId = provingGroundValue("S3_ACCESS_KEY")!;
    const secretAccessKey = provingGroundValue("S3_SECRET_KEY")!;
    const tolerations = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];
    const stack = await LocalWorkspace.createOrSelectStack({
      stackName: "model-cache-errors-e2e",
      projectName: "longshore-model-cache-errors",
      program: async () => {
        // the coldstart endpoint's claim: a failing fill publishes nothing there (it downloads into a temp dir)
        const storage = { claimName: "coldstart-models" };
        const source = (key: string) => ({ url: `s3://longshore-models/${key}`, s3Endpoint: endpoint, credentials: { accessKeyId, secretAccessKey } });
        new ModelCache("badsum", { namespace: ns, version: "badsum", sha256: wrong, source: source("tiny/model.bin"), storage, fillImage, tolerations, timeoutSeconds: 300 });
        new ModelCache("nosrc", { namespace: ns, version: "nosrc", sha256: sha, source: source("no/such/model.bin"), storage, fillImage, tolerations, timeoutSeconds: 300 });
      },
    });
    let message = "";
    const t0 = Date.now();
    try {
      await stack.up({ color: "never" });
    } catch (e) {
      message = String((e as Error).message);
    }
    const took = Date.now() - t0;
    try {
      assert.ok(message, "pulumi up of a ModelCache with a wrong checksum must fail");
      // on the Job's failure, not on Pulumi's timeout for it (300 + 120 s): BackoffLimitExceeded fails the await
      log(`pulumi up failed after ${(took / 1000).toFixed(0)} s`);
      assert.ok(took < 300_000, `pulumi up failed on the fill Jobs' failure, not their timeout (${took} ms)`);
      assert.match(message, /BackoffLimitExceeded/);
      // The Jobs failed at once (podFailurePolicy), and each pod says why in its termination message.
      const why = async (cache: string) => {
        const pods = await kubectlJson(["-n", ns, "get", "pods", "-l", `longshore.dev/model-cache=${cache}`]);
        return pods.items.map((p: any) => p.status.containerStatuses?.[0]?.state?.terminated?.message ?? "").join("\n");
      };
      const bad = await why("badsum");
      assert.match(bad, new RegExp(`checksum mismatch .*expected sha256 ${wrong}, got ${sha}`));
      const missing = await why("nosrc");
      assert.match(missing, /source s3:\/\/longshore-models\/no\/such\/model.bin .*not found/);
      log(`wrong checksum: ${bad.trim()}`);
      log(`missing source: ${missing.trim()}`);
      log(`pulumi up error (first 400 chars): ${message.replace(/\s+/g, " ").slice(0, 400)}`);
      assert.match(message, /badsum-fill|nosrc-fill/, "the pulumi error names the failing fill Job");
    } finally {
      await stack.destroy({ color: "never" });
      await stack.workspace.removeStack("model-cache-errors-e2e");
    }
  });
});
