// GpuNodePool: an EKS managed node group of NVIDIA GPU instances that cluster-autoscaler can scale up from
// zero. Managed node groups do not copy their Kubernetes labels/taints/extended resources to the
// autoscaling group's tags, and with zero nodes cluster-autoscaler only knows a group from those tags
// (`k8s.io/cluster-autoscaler/node-template/...`), so they are added with `aws.autoscaling.Tag`.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { getChild, setChild } from "./children";
import { Validator, oneOf, nonNegativeInteger, positiveInteger, labelValue, each, nonEmptyArray } from "./validate";

// The two enums below are const objects plus a type of their values (not TS `enum`s): plain strings stay
// assignable, and Pulumi's component analysis turns them into schema enums for other languages.

/** EKS AMI type of the GPU nodes (an NVIDIA-driver AMI). */
export const GpuAmiType = {
    /** Amazon Linux 2023 with the NVIDIA driver (the default). */
    AL2023_x86_64_NVIDIA: "AL2023_x86_64_NVIDIA",
    /** Bottlerocket with the NVIDIA driver. */
    BOTTLEROCKET_x86_64_NVIDIA: "BOTTLEROCKET_x86_64_NVIDIA",
} as const;
export type GpuAmiType = (typeof GpuAmiType)[keyof typeof GpuAmiType];
export const GPU_AMI_TYPES: readonly GpuAmiType[] = Object.values(GpuAmiType);

/** EC2 capacity type of the node group. */
export const GpuCapacityType = {
    /** On-demand instances (the default). */
    OnDemand: "ON_DEMAND",
    /** Spot instances (cheaper; AWS can reclaim them at short notice). */
    Spot: "SPOT",
} as const;
export type GpuCapacityType = (typeof GpuCapacityType)[keyof typeof GpuCapacityType];
export const GPU_CAPACITY_TYPES: readonly GpuCapacityType[] = Object.values(GpuCapacityType);
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "true", effect: "NO_SCHEDULE" } as const;
const CA_TEMPLATE = "k8s.io/cluster-autoscaler/node-template";

/** GPU product (nvidia.com/gpu.product as NVIDIA's feature discovery reports it) and count per instance type. */
export const GPU_INSTANCE_TYPES: Record<string, { product: string; gpus: number }> = (() => {
    const t: Record<string, { product: string; gpus: number }> = {};
    const fam = (family: string, product: string, sizes: Record<string, number>) => {
        for (const [size, gpus] of Object.entries(sizes)) t[`${family}.${size}`] = { product, gpus };
    };
    fam("g4dn", "Tesla-T4", { xlarge: 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, metal: 8 });
    fam("g5", "NVIDIA-A10G", { xlarge: 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8 });
    fam("g6", "NVIDIA-L4", { xlarge: 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8 });
    fam("g6e", "NVIDIA-L40S", { xlarge: 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8 });
    fam("p3", "Tesla-V100-SXM2-16GB", { "2xlarge": 1, "8xlarge": 4, "16xlarge": 8 });
    fam("p4d", "NVIDIA-A100-SXM4-40GB", { "24xlarge": 8 });
    fam("p4de", "NVIDIA-A100-SXM4-80GB", { "24xlarge": 8 });
    fam("p5", "NVIDIA-H100-80GB-HBM3", { "48xlarge": 8 });
    return t;
})();

export interface GpuNodePoolArgs {
    /** EKS cluster name. */
    clusterName: pulumi.Input<string>;
    /** Private subnets for the nodes. */
    subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    /** Instance types (one GPU product per pool), e.g. ["g5.xlarge", "g5.2xlarge"]. */
    instanceTypes: string[];
    /** ON_DEMAND (default) or SPOT. */
    capacityType?: GpuCapacityType;
    /** AL2023_x86_64_NVIDIA (default) or BOTTLEROCKET_x86_64_NVIDIA. */
    amiType?: GpuAmiType;
    /** Minimum nodes. Default 0 (scale from zero). */
    minSize?: number;
    /** Maximum nodes. Default 2. */
    maxSize?: number;
    /** Initial desired nodes (cluster-autoscaler owns it afterwards). Default minSize. */
    desiredSize?: number;
    /** Root (AL2023) / data (Bottlerocket) volume size in GiB, gp3, encrypted. Default 100. */
    diskSizeGiB?: number;
    /**
     * Pre-pulled images (Bottlerocket only): an EBS snapshot of a Bottlerocket data volume whose containerd
     * already holds the worker images, e.g. made with AWS's bottlerocket-images-cache tooling. Each new node's data
     * volume starts from it, so a node added by the autoscaler does not pull the multi-GB worker image.
     * docs/cold-start.md#eks. Default none.
     */
    imageCacheSnapshotId?: pulumi.Input<string>;
    /** nvidia.com/gpu.product label value. Default: from the instance types (GPU_INSTANCE_TYPES). */
    gpuProduct?: string;
    /** GPUs per node. Default: from the instance types; required for types not in GPU_INSTANCE_TYPES. */
    gpusPerNode?: number;
    /** Extra Kubernetes labels on the nodes (also tagged for scale-from-zero). */
    labels?: Record<string, string>;
    /** Use this node role instead of creating a least-privilege one. */
    nodeRoleArn?: pulumi.Input<string>;
    /** Attach AmazonEKS_CNI_Policy to the created role (default true; false when aws-node uses IRSA/Pod Identity). */
    attachCniPolicy?: boolean;
    /** Kubernetes version of the nodes (default: the cluster's). */
    kubernetesVersion?: pulumi.Input<string>;
    /** AWS tags on the node group and its instances. */
    tags?: Record<string, string>;
}

/**
 * An EKS managed node group of NVIDIA GPU instances (tainted nvidia.com/gpu) that cluster-autoscaler can scale
 * up from zero, with a least-privilege node role and IMDSv2-only launch template.
 */
export class GpuNodePool extends pulumi.ComponentResource {
    /** Name of the EKS node group. */
    public readonly nodeGroupName: pulumi.Output<string>;
    /** ARN of the node IAM role (created here unless nodeRoleArn was given). */
    public readonly nodeRoleArn: pulumi.Output<string>;
    /** Name of the node group's autoscaling group. */
    public readonly autoscalingGroupName: pulumi.Output<string>;
    /** Kubernetes labels of the nodes. */
    public readonly labels: pulumi.Output<Record<string, string>>;
    /** The autoscaling-group tags added for cluster-autoscaler scale-from-zero. */
    public readonly autoscalerTags: pulumi.Output<Record<string, string>>;
    // Child resources: getters, TypeScript only (components/children.ts says why).
    /** The EKS managed node group. */
    public get nodeGroup(): aws.eks.NodeGroup {
        return getChild(this, "nodeGroup");
    }
    /** The node IAM role created here (undefined when nodeRoleArn is given). */
    public get role(): aws.iam.Role | undefined {
        return getChild(this, "role");
    }

    constructor(name: string, args: GpuNodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
        super("longshore:index:GpuNodePool", name, {}, opts);
        const v = new Validator("GpuNodePool", name);
        if (!args) v.fail("args", "are required (clusterName, subnetIds, instanceTypes)");
        if (args.clusterName === undefined) v.fail("clusterName", "is required");
        if (args.subnetIds === undefined) v.fail("subnetIds", "is required");
        const check = (arg: string, val: unknown, ...rules: ((x: unknown) => string | undefined)[]) => {
            for (const r of rules) {
                const broken = r(val);
                if (broken) v.fail(arg, `(${JSON.stringify(val)}) ${broken}`);
            }
        };
        check("instanceTypes", args.instanceTypes, nonEmptyArray("instance type"),
            each((t) => (typeof t === "string" && /^[a-z0-9-]+\.[a-z0-9-]+$/.test(t) ? undefined : "must be an EC2 instance type such as g5.xlarge")));
        const capacityType = args.capacityType ?? GpuCapacityType.OnDemand;
        check("capacityType", capacityType, oneOf(GPU_CAPACITY_TYPES));
        const amiType = args.amiType ?? GpuAmiType.AL2023_x86_64_NVIDIA;
        check("amiType", amiType, oneOf(GPU_AMI_TYPES));
        const minSize = args.minSize ?? 0;
        const maxSize = args.maxSize ?? 2;
        const desiredSize = args.desiredSize ?? minSize;
        check("minSize", minSize, nonNegativeInteger);
        check("maxSize", maxSize, positiveInteger);
        check("desiredSize", desiredSize, nonNegativeInteger);
        if (maxSize < minSize) v.fail("maxSize", `(${maxSize}) must be >= minSize (${minSize})`);
        if (desiredSize < minSize || desiredSize > maxSize) v.fail("desiredSize", `(${desiredSize}) must be between minSize (${minSize}) and maxSize (${maxSize})`);
        const diskSize = args.diskSizeGiB ?? 100;
        if (args.imageCacheSnapshotId !== undefined && !amiType.startsWith("BOTTLEROCKET")) {
            v.fail("imageCacheSnapshotId", `needs a Bottlerocket amiType (BOTTLEROCKET_x86_64_NVIDIA): the snapshot is a Bottlerocket data volume (amiType is ${amiType})`);
        }
        check("diskSizeGiB", diskSize, positiveInteger, (x) => ((x as number) < 20 ? "must be >= 20 (NVIDIA AMIs and worker images need room)" : undefined));

        const known = args.instanceTypes.map((t) => GPU_INSTANCE_TYPES[t]);
        let gpuProduct = args.gpuProduct;
        let gpusPerNode = args.gpusPerNode;
        if (gpuProduct === undefined) {
            if (known.some((k) => !k)) {
                const unknown = args.instanceTypes.filter((t) => !GPU_INSTANCE_TYPES[t]);
                v.fail("gpuProduct", `is required: instance types ${unknown.join(", ")} are not in GPU_INSTANCE_TYPES (give gpuProduct and gpusPerNode)`);
            }
            const products = [...new Set(known.map((k) => k.product))];
            if (products.length > 1) v.fail("instanceTypes", `(${JSON.stringify(args.instanceTypes)}) span several GPU products (${products.join(", ")}): use one GpuNodePool per GPU type so scale-from-zero labels are true`);
            gpuProduct = products[0];
        }
        check("gpuProduct", gpuProduct, labelValue);
        if (gpusPerNode === undefined) {
            if (known.some((k) => !k)) v.fail("gpusPerNode", "is required for instance types not in GPU_INSTANCE_TYPES");
            const counts = [...new Set(known.map((k) => k.gpus))];
            // cluster-autoscaler's template needs one number; the smallest is the safe promise.
            gpusPerNode = Math.min(...counts);
        }
        check("gpusPerNode", gpusPerNode, positiveInteger);
        for (const [k, val] of Object.entries(args.labels ?? {})) {
            check(`labels.${k}`, val, labelValue);
        }

        const labels: Record<string, string> = {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": gpuProduct as string,
            "nvidia.com/gpu.count": String(gpusPerNode),
            "longshore.dev/capacity-type": capacityType === "SPOT" ? "spot" : "on-demand",
            ...(args.labels ?? {}),
        };
        const child = { parent: this };

        // Least-privilege node role: the three AWS-managed policies a managed node needs, nothing else.
        let nodeRoleArn: pulumi.Input<string>;
        if (args.nodeRoleArn !== undefined) {
            nodeRoleArn = args.nodeRoleArn;
        } else {
            const role = setChild(this, "role", new aws.iam.Role(`${name}-node`, {
                assumeRolePolicy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
                }),
                description: `Longshore GPU node pool ${name}`,
                tags: args.tags,
            }, child)) as aws.iam.Role;
            const policies = [
                "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
                "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
                ...((args.attachCniPolicy ?? true) ? ["arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"] : []),
            ];
            policies.forEach((arn) => {
                new aws.iam.RolePolicyAttachment(`${name}-${arn.split("/").pop()}`, { role: role.name, policyArn: arn }, child);
            });
            nodeRoleArn = role.arn;
        }

        // Launch template: IMDSv2 only with hop limit 1 (pods cannot read the node's credentials), encrypted gp3.
        const lt = new aws.ec2.LaunchTemplate(`${name}`, {
            description: `Longshore GPU node pool ${name}`,
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
            blockDeviceMappings: [{
                deviceName: amiType.startsWith("BOTTLEROCKET") ? "/dev/xvdb" : "/dev/xvda",
                ebs: {
                    volumeSize: diskSize, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true",
                    ...(args.imageCacheSnapshotId !== undefined ? { snapshotId: args.imageCacheSnapshotId } : {}),
                },
            }],
            tagSpecifications: [{ resourceType: "instance", tags: { ...(args.tags ?? {}), "longshore.dev/node-pool": name } }],
            tags: args.tags,
        }, child);

        setChild(this, "nodeGroup", new aws.eks.NodeGroup(`${name}`, {
            clusterName: args.clusterName,
            nodeRoleArn,
            subnetIds: args.subnetIds,
            instanceTypes: args.instanceTypes,
            capacityType,
            amiType,
            version: args.kubernetesVersion,
            scalingConfig: { minSize, maxSize, desiredSize },
            labels,
            taints: [{ ...GPU_TAINT }],
            launchTemplate: { id: lt.id, version: pulumi.interpolate`${lt.latestVersion}` },
            updateConfig: { maxUnavailable: 1 },
            tags: args.tags,
        }, { parent: this, ignoreChanges: ["scalingConfig.desiredSize"] }));

        const asgName = this.nodeGroup.resources.apply((rs) => rs?.[0]?.autoscalingGroups?.[0]?.name ?? "");
        const caTags: Record<string, string> = {};
        for (const [k, val] of Object.entries(labels)) caTags[`${CA_TEMPLATE}/label/${k}`] = val;
        caTags[`${CA_TEMPLATE}/taint/${GPU_TAINT.key}`] = `${GPU_TAINT.value}:NoSchedule`;
        caTags[`${CA_TEMPLATE}/resources/nvidia.com/gpu`] = String(gpusPerNode);
        caTags[`${CA_TEMPLATE}/resources/ephemeral-storage`] = `${diskSize}G`;
        for (const [key, value] of Object.entries(caTags)) {
            const short = key.slice(CA_TEMPLATE.length + 1).replace(/[^A-Za-z0-9-]+/g, "-");
            new aws.autoscaling.Tag(`${name}-ca-${short}`, {
                autoscalingGroupName: asgName,
                tag: { key, value, propagateAtLaunch: false },
            }, child);
        }

        this.nodeGroupName = this.nodeGroup.nodeGroupName;
        this.nodeRoleArn = pulumi.output(nodeRoleArn);
        this.autoscalingGroupName = asgName;
        this.labels = pulumi.output(labels);
        this.autoscalerTags = pulumi.output(caTags);
        this.registerOutputs({
            nodeGroupName: this.nodeGroupName,
            nodeRoleArn: this.nodeRoleArn,
            autoscalingGroupName: this.autoscalingGroupName,
            labels: this.labels,
            autoscalerTags: this.autoscalerTags,
        });
    }
}
