import * as assert from "assert";
import { mockPulumi, settle, valueOf, thrown, Recorder } from "./harness";
import { GpuNodePool, GpuNodePoolArgs } from "../../components";

const base = (extra: Partial<GpuNodePoolArgs> = {}): GpuNodePoolArgs => ({
    clusterName: "longshore",
    subnetIds: ["subnet-a", "subnet-b"],
    instanceTypes: ["g5.xlarge", "g5.2xlarge"],
    ...extra,
});

describe("GpuNodePool", () => {
    let rec: Recorder;
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    it("managed node group: NVIDIA AMI, instance types, on-demand, min 0, GPU taint and labels", async () => {
        new GpuNodePool("gpu", base());
        await settle(rec);
        const ng = rec.one("aws:eks/nodeGroup:NodeGroup").inputs;
        assert.strictEqual(ng.amiType, "AL2023_x86_64_NVIDIA");
        assert.deepStrictEqual(ng.instanceTypes, ["g5.xlarge", "g5.2xlarge"]);
        assert.strictEqual(ng.capacityType, "ON_DEMAND");
        assert.deepStrictEqual(ng.scalingConfig, { minSize: 0, maxSize: 2, desiredSize: 0 });
        assert.deepStrictEqual(ng.taints, [{ key: "nvidia.com/gpu", value: "true", effect: "NO_SCHEDULE" }]);
        assert.strictEqual(ng.labels["nvidia.com/gpu.present"], "true");
        assert.strictEqual(ng.labels["nvidia.com/gpu.product"], "NVIDIA-A10G");
        assert.strictEqual(ng.clusterName, "longshore");
        assert.deepStrictEqual(ng.subnetIds, ["subnet-a", "subnet-b"]);
    });

    it("ASG tags for cluster-autoscaler scale-from-zero: labels, taint, GPU resource — on the node group's ASG", async () => {
        const pool = new GpuNodePool("gpu", base({ capacityType: "SPOT", labels: { team: "ml" } }));
        await settle(rec);
        const tags = rec.byType("aws:autoscaling/tag:Tag").map((t) => t.inputs);
        const byKey = Object.fromEntries(tags.map((t) => [t.tag.key, t]));
        const T = "k8s.io/cluster-autoscaler/node-template";
        assert.strictEqual(byKey[`${T}/label/nvidia.com/gpu.present`].tag.value, "true");
        assert.strictEqual(byKey[`${T}/label/nvidia.com/gpu.product`].tag.value, "NVIDIA-A10G");
        assert.strictEqual(byKey[`${T}/label/team`].tag.value, "ml");
        assert.strictEqual(byKey[`${T}/taint/nvidia.com/gpu`].tag.value, "true:NoSchedule");
        assert.strictEqual(byKey[`${T}/resources/nvidia.com/gpu`].tag.value, "1");
        for (const t of tags) {
            assert.strictEqual(t.autoscalingGroupName, "eks-gpu-asg");
            assert.strictEqual(t.tag.propagateAtLaunch, false);
        }
        assert.strictEqual(rec.one("aws:eks/nodeGroup:NodeGroup").inputs.capacityType, "SPOT");
        assert.strictEqual(await valueOf(pool.autoscalingGroupName), "eks-gpu-asg");
        const asgTags = await valueOf(pool.autoscalerTags);
        assert.strictEqual(Object.keys(asgTags).length, tags.length);
    });

    it("least-privilege node role: EC2 trust, exactly the node, registry pull-only and CNI policies", async () => {
        new GpuNodePool("gpu", base());
        await settle(rec);
        const role = rec.one("aws:iam/role:Role").inputs;
        const trust = JSON.parse(role.assumeRolePolicy);
        assert.deepStrictEqual(trust.Statement, [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }]);
        const arns = rec.byType("aws:iam/rolePolicyAttachment:RolePolicyAttachment").map((a) => a.inputs.policyArn).sort();
        assert.deepStrictEqual(arns, [
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        ]);
        assert.strictEqual(rec.one("aws:eks/nodeGroup:NodeGroup").inputs.nodeRoleArn, "arn:aws:iam::123456789012:role/gpu-node");
    });

    it("IMDSv2 only (hop limit 1) and an encrypted gp3 disk via the launch template; Bottlerocket uses the data volume", async () => {
        new GpuNodePool("gpu", base({ amiType: "BOTTLEROCKET_x86_64_NVIDIA", diskSizeGiB: 200 }));
        await settle(rec);
        const lt = rec.one("aws:ec2/launchTemplate:LaunchTemplate").inputs;
        assert.deepStrictEqual(lt.metadataOptions, { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
        assert.deepStrictEqual(lt.blockDeviceMappings[0], { deviceName: "/dev/xvdb", ebs: { volumeSize: 200, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" } });
        assert.strictEqual(rec.one("aws:eks/nodeGroup:NodeGroup").inputs.amiType, "BOTTLEROCKET_x86_64_NVIDIA");
    });

    it("pre-pulled images: a Bottlerocket data volume starts from the image-cache snapshot; other AMIs refuse it", async () => {
        new GpuNodePool("gpu", base({ amiType: "BOTTLEROCKET_x86_64_NVIDIA", imageCacheSnapshotId: "snap-0123456789abcdef0" }));
        await settle(rec);
        const lt = rec.one("aws:ec2/launchTemplate:LaunchTemplate").inputs;
        assert.strictEqual(lt.blockDeviceMappings[0].deviceName, "/dev/xvdb");
        assert.strictEqual(lt.blockDeviceMappings[0].ebs.snapshotId, "snap-0123456789abcdef0");
        assert.match(thrown(() => new GpuNodePool("bad", base({ imageCacheSnapshotId: "snap-1" }))), /GpuNodePool "bad": imageCacheSnapshotId needs a Bottlerocket amiType/);
    });

    it("an existing node role is used as is; unknown instance types take gpuProduct/gpusPerNode", async () => {
        new GpuNodePool("gpu", base({ nodeRoleArn: "arn:aws:iam::1:role/mine", instanceTypes: ["p6.48xlarge"], gpuProduct: "NVIDIA-B200", gpusPerNode: 8 }));
        await settle(rec);
        assert.strictEqual(rec.byType("aws:iam/role:Role").length, 0);
        const ng = rec.one("aws:eks/nodeGroup:NodeGroup").inputs;
        assert.strictEqual(ng.nodeRoleArn, "arn:aws:iam::1:role/mine");
        assert.strictEqual(ng.labels["nvidia.com/gpu.product"], "NVIDIA-B200");
        const gpuTag = rec.byType("aws:autoscaling/tag:Tag").find((t) => t.inputs.tag.key.endsWith("/resources/nvidia.com/gpu"))!;
        assert.strictEqual(gpuTag.inputs.tag.value, "8");
    });

    describe("validation", () => {
        const cases: [string, Partial<GpuNodePoolArgs>, RegExp][] = [
            ["no instance types", { instanceTypes: [] }, /instanceTypes \(\[\]\) must contain at least one instance type/],
            ["bad capacity type", { capacityType: "RESERVED" as any }, /capacityType \("RESERVED"\) must be one of ON_DEMAND, SPOT/],
            ["non-GPU AMI", { amiType: "AL2023_x86_64_STANDARD" as any }, /amiType \("AL2023_x86_64_STANDARD"\) must be one of AL2023_x86_64_NVIDIA, BOTTLEROCKET_x86_64_NVIDIA/],
            ["max < min", { minSize: 3, maxSize: 1 }, /maxSize \(1\) must be >= minSize \(3\)/],
            ["negative min", { minSize: -1 }, /minSize \(-1\) must be a non-negative integer/],
            ["desired outside bounds", { minSize: 0, maxSize: 2, desiredSize: 5 }, /desiredSize \(5\) must be between minSize \(0\) and maxSize \(2\)/],
            ["tiny disk", { diskSizeGiB: 8 }, /diskSizeGiB \(8\) must be >= 20/],
            ["mixed GPU products", { instanceTypes: ["g5.xlarge", "g6.xlarge"] }, /instanceTypes .* span several GPU products \(NVIDIA-A10G, NVIDIA-L4\)/],
            ["unknown type without product", { instanceTypes: ["x9.huge"] }, /gpuProduct is required: instance types x9.huge/],
            ["unknown type without count", { instanceTypes: ["x9.huge"], gpuProduct: "NVIDIA-X" }, /gpusPerNode is required/],
            ["zero GPUs per node", { gpusPerNode: 0 }, /gpusPerNode \(0\) must be a positive integer/],
            ["bad label", { labels: { team: "ML team" } }, /labels\.team \("ML team"\) must be a valid Kubernetes label value/],
        ];
        for (const [what, extra, re] of cases) {
            it(what, () => {
                const msg = thrown(() => new GpuNodePool("bad", base(extra)));
                assert.match(msg, /^GpuNodePool "bad": /);
                assert.match(msg, re);
            });
        }
    });

    it("preview: registers the node group, role and ASG tags without AWS calls", async () => {
        rec = await mockPulumi({ preview: true });
        new GpuNodePool("gpu", base());
        await settle(rec);
        assert.strictEqual(rec.byType("aws:eks/nodeGroup:NodeGroup").length, 1);
        assert.ok(rec.byType("aws:autoscaling/tag:Tag").length >= 5);
        assert.strictEqual(rec.invokes.length, 0);
    });
});
