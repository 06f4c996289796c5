// The `eks` target: a production-shaped Longshore platform on AWS, composed from the component library.
//
//   VPC (2 AZs, private node subnets, one NAT) or an existing VPC
//   EKS (@pulumi/eks): API access entries, KMS envelope encryption of Secrets, control-plane logs
//   a CPU system node group (gateway, Redis, KEDA, cluster-autoscaler) — IMDSv2 only, encrypted disks
//   GpuNodePool (managed, NVIDIA AMI, on-demand or spot, min 0) + cluster-autoscaler (IRSA, least privilege)
//   NvidiaDevicePlugin (AL2023 only: the Bottlerocket NVIDIA AMI runs its own plugin), Keda
//   queue: in-cluster Redis, or ElastiCache (TLS + AUTH, encrypted at rest)
//   ECR repositories (immutable tags, scan on push) + WorkerImage builds, ServerlessPlatform, one ServerlessEndpoint
//
// Used by the root program (index.ts, stack `eks`) and by examples/eks-gpu/index.ts. Config keys:
// docs/components/root-program.md.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as eks from "@pulumi/eks";
import * as k8s from "@pulumi/kubernetes";
import {
    GpuNodePool, NvidiaDevicePlugin, Keda, ServerlessPlatform, ServerlessEndpoint, WorkerImage, RandomToken,
    GPU_INSTANCE_TYPES, GpuAmiType, KedaImages,
} from "../components";
import { apiKeysFrom, endpointArgsFrom, endpointConfig } from "./common";
import { ClusterAutoscaler } from "./clusterAutoscaler";

/** A path inside the repository, relative to the program's working directory (root program or examples/eks-gpu). */
function repoPath(p: string): string {
    return path.relative(process.cwd(), path.resolve(__dirname, "..", p)) || ".";
}

interface Network {
    vpcId: pulumi.Input<string>;
    vpcCidr: pulumi.Input<string>;
    publicSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
    privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
}

/** A VPC with public (load balancers, NAT) and private (nodes) subnets in each zone. No AWS lookups. */
export function vpc(name: string, cidr: string, zones: string[], clusterName: string): Network {
    const v = new aws.ec2.Vpc(name, {
        cidrBlock: cidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: { Name: name },
    });
    const igw = new aws.ec2.InternetGateway(name, { vpcId: v.id, tags: { Name: name } });
    const publicRt = new aws.ec2.RouteTable(`${name}-public`, {
        vpcId: v.id,
        routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
        tags: { Name: `${name}-public` },
    });
    const [a, b] = cidr.split(".").map(Number);
    const publicSubnets = zones.map((az, i) => new aws.ec2.Subnet(`${name}-public-${i}`, {
        vpcId: v.id,
        availabilityZone: az,
        cidrBlock: `${a}.${b}.${i}.0/24`,
        mapPublicIpOnLaunch: false,
        tags: { Name: `${name}-public-${az}`, "kubernetes.io/role/elb": "1", [`kubernetes.io/cluster/${clusterName}`]: "shared" },
    }));
    publicSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: s.id, routeTableId: publicRt.id }));
    const eip = new aws.ec2.Eip(`${name}-nat`, { domain: "vpc", tags: { Name: `${name}-nat` } });
    const nat = new aws.ec2.NatGateway(`${name}-nat`, { subnetId: publicSubnets[0].id, allocationId: eip.id, tags: { Name: name } }, { dependsOn: [igw] });
    const privateRt = new aws.ec2.RouteTable(`${name}-private`, {
        vpcId: v.id,
        routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }],
        tags: { Name: `${name}-private` },
    });
    const privateSubnets = zones.map((az, i) => new aws.ec2.Subnet(`${name}-private-${i}`, {
        vpcId: v.id,
        availabilityZone: az,
        cidrBlock: `${a}.${b}.${64 * (i + 1)}.0/18`,
        tags: { Name: `${name}-private-${az}`, "kubernetes.io/role/internal-elb": "1", [`kubernetes.io/cluster/${clusterName}`]: "shared" },
    }));
    privateSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: s.id, routeTableId: privateRt.id }));
    return { vpcId: v.id, vpcCidr: v.cidrBlock, publicSubnetIds: publicSubnets.map((s) => s.id), privateSubnetIds: privateSubnets.map((s) => s.id) };
}

/** A node role with exactly the managed policies an EKS node needs. */
function nodeRole(name: string): aws.iam.Role {
    const role = new aws.iam.Role(name, {
        assumeRolePolicy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
    });
    for (const p of ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy"]) {
        new aws.iam.RolePolicyAttachment(`${name}-${p}`, { role: role.name, policyArn: `arn:aws:iam::aws:policy/${p}` });
    }
    return role;
}

function ecrRepository(name: string, repoName: string, kmsKeyArn: pulumi.Input<string>, forceDelete: boolean): aws.ecr.Repository {
    return new aws.ecr.Repository(name, {
        name: repoName,
        imageTagMutability: "IMMUTABLE",
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: kmsKeyArn }],
        forceDelete,
    });
}

export function eksStack(cfg: pulumi.Config): Record<string, pulumi.Input<unknown>> {
    const region = new pulumi.Config("aws").require("region");
    const clusterName = cfg.get("clusterName") ?? "longshore";
    const zones = cfg.getObject<string[]>("availabilityZones") ?? [`${region}a`, `${region}b`];
    const ep = endpointConfig(cfg);
    const endpointId = ep.id ?? "hello";

    // ---- network ----
    let net: Network;
    const existingVpc = cfg.get("vpcId");
    if (existingVpc) {
        net = {
            vpcId: existingVpc,
            vpcCidr: cfg.require("vpcCidr"),
            publicSubnetIds: cfg.requireObject<string[]>("publicSubnetIds"),
            privateSubnetIds: cfg.requireObject<string[]>("privateSubnetIds"),
        };
    } else {
        net = vpc(`${clusterName}-vpc`, cfg.get("vpcCidr") ?? "10.42.0.0/16", zones, clusterName);
    }

    // ---- cluster ----
    const kms = new aws.kms.Key(`${clusterName}-secrets`, {
        description: `Longshore ${clusterName}: EKS Secrets envelope encryption and ECR`,
        enableKeyRotation: true,
        deletionWindowInDays: 7,
    });
    const cluster = new eks.Cluster(clusterName, {
        name: clusterName,
        version: cfg.get("kubernetesVersion") ?? "1.31",
        vpcId: net.vpcId,
        publicSubnetIds: net.publicSubnetIds,
        privateSubnetIds: net.privateSubnetIds,
        nodeAssociatePublicIpAddress: false,
        skipDefaultNodeGroup: true,
        createOidcProvider: true,
        authenticationMode: eks.AuthenticationMode.Api,
        encryptionConfigKeyArn: kms.arn,
        endpointPrivateAccess: true,
        endpointPublicAccess: cfg.getBoolean("endpointPublicAccess") ?? true,
        publicAccessCidrs: cfg.getObject<string[]>("publicAccessCidrs"),
        enabledClusterLogTypes: ["api", "audit", "authenticator"],
    });
    const provider = new k8s.Provider(`${clusterName}-k8s`, { kubeconfig: cluster.kubeconfigJson, enableServerSideApply: true });
    const k8sOpts = { providers: { kubernetes: provider } };

    // System nodes for the control plane (CPU): IMDSv2 only, encrypted root disk.
    const sysRole = nodeRole(`${clusterName}-system-node`);
    const sysLt = new aws.ec2.LaunchTemplate(`${clusterName}-system`, {
        metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
        blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { volumeSize: 50, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" } }],
    });
    const systemNodes = cfg.getNumber("systemNodes") ?? 2;
    const systemGroup = new aws.eks.NodeGroup(`${clusterName}-system`, {
        clusterName,
        nodeRoleArn: sysRole.arn,
        subnetIds: net.privateSubnetIds,
        instanceTypes: [cfg.get("systemInstanceType") ?? "t3.large"],
        amiType: "AL2023_x86_64_STANDARD",
        scalingConfig: { minSize: systemNodes, maxSize: systemNodes + 2, desiredSize: systemNodes },
        launchTemplate: { id: sysLt.id, version: pulumi.interpolate`${sysLt.latestVersion}` },
        labels: { "longshore.dev/pool": "system" },
    }, { dependsOn: [cluster] });

    // GPU nodes, scale from zero.
    const gpuAmiType = (cfg.get("gpuAmiType") as GpuAmiType | undefined) ?? "AL2023_x86_64_NVIDIA";
    const gpuInstanceTypes = cfg.getObject<string[]>("gpuInstanceTypes") ?? ["g5.xlarge"];
    const gpuPool = new GpuNodePool("gpu", {
        clusterName,
        subnetIds: net.privateSubnetIds,
        instanceTypes: gpuInstanceTypes,
        capacityType: (cfg.get("gpuCapacityType") as "ON_DEMAND" | "SPOT" | undefined) ?? "ON_DEMAND",
        amiType: gpuAmiType,
        minSize: cfg.getNumber("gpuMinNodes") ?? 0,
        maxSize: cfg.getNumber("gpuMaxNodes") ?? 2,
        diskSizeGiB: cfg.getNumber("gpuDiskGiB"),
        gpuProduct: cfg.get("gpuProduct"),
        gpusPerNode: cfg.getNumber("gpusPerNode"),
    }, { dependsOn: [cluster] });
    const autoscaler = new ClusterAutoscaler("cluster-autoscaler", {
        clusterName,
        region,
        oidcProviderArn: cluster.oidcProviderArn,
        oidcProviderUrl: cluster.oidcProviderUrl,
        image: cfg.get("clusterAutoscalerImage"),
    }, { ...k8sOpts, dependsOn: [systemGroup] });

    // The Bottlerocket NVIDIA AMI ships its own device plugin; AL2023 needs the DaemonSet.
    if (gpuAmiType === "AL2023_x86_64_NVIDIA") {
        new NvidiaDevicePlugin("nvidia-device-plugin", {
            image: cfg.get("devicePluginImage"),
            version: cfg.get("devicePluginVersion"),
            timeSlicing: cfg.getNumber("gpuTimeSlicing") ? { replicas: cfg.requireNumber("gpuTimeSlicing") } : undefined,
        }, k8sOpts);
    }
    const kedaRepo = cfg.get("kedaChartRepo");
    const keda = new Keda("keda", {
        version: cfg.get("kedaVersion"),
        source: kedaRepo ? { chart: { repo: kedaRepo, name: "keda" } } : cfg.get("kedaManifests") ? { manifests: cfg.require("kedaManifests") } : undefined,
        images: cfg.getObject<KedaImages>("kedaImages"),
    }, { ...k8sOpts, dependsOn: [systemGroup] });

    // ---- images in ECR ----
    const forceDelete = cfg.getBoolean("ecrForceDelete") ?? false;
    let gatewayImage: pulumi.Output<string>;
    if (cfg.get("gatewayImage")) {
        gatewayImage = pulumi.output(cfg.require("gatewayImage"));
    } else {
        const repo = ecrRepository("gateway", `${clusterName}/gateway`, kms.arn, forceDelete);
        gatewayImage = new WorkerImage("gateway", {
            context: cfg.get("gatewayContext") ?? repoPath("."),
            dockerfile: cfg.get("gatewayDockerfile") ?? repoPath("gateway/Dockerfile"),
            ecrRepository: repo,
            tags: [cfg.get("gatewayTag") ?? "0.1.0"],
            buildArgs: cfg.getObject<Record<string, string>>("gatewayBuildArgs"),
        }).ref;
    }
    let workerImage: pulumi.Output<string>;
    if (cfg.get("workerImage")) {
        workerImage = pulumi.output(cfg.require("workerImage"));
    } else if (cfg.get("workerPin")) {
        workerImage = WorkerImage.pin("worker", cfg.require("workerPin")).ref;
    } else {
        const repo = ecrRepository("worker", `${clusterName}/${endpointId}`, kms.arn, forceDelete);
        workerImage = new WorkerImage("worker", {
            context: cfg.get("workerContext") ?? repoPath("examples/hello-python"),
            dockerfile: cfg.get("workerDockerfile"),
            ecrRepository: repo,
            tags: [cfg.get("workerTag") ?? "0.1.0"],
            buildArgs: cfg.getObject<Record<string, string>>("workerBuildArgs"),
        }).ref;
    }

    // ---- queue ----
    let redis: ConstructorParameters<typeof ServerlessPlatform>[1]["redis"];
    if ((cfg.get("redis") ?? "in-cluster") === "elasticache") {
        const sg = new aws.ec2.SecurityGroup(`${clusterName}-redis`, {
            vpcId: net.vpcId,
            description: "Longshore queue: Redis from inside the VPC only",
            ingress: [{ protocol: "tcp", fromPort: 6379, toPort: 6379, cidrBlocks: [net.vpcCidr] }],
        });
        const subnets = new aws.elasticache.SubnetGroup(`${clusterName}-redis`, { subnetIds: net.privateSubnetIds });
        const authToken = cfg.getSecret("redisAuthToken") ?? new RandomToken(`${clusterName}-redis-auth`, { length: 32 }).result;
        const rg = new aws.elasticache.ReplicationGroup(`${clusterName}-redis`, {
            description: "Longshore job queue",
            engine: "redis",
            engineVersion: "7.1",
            nodeType: cfg.get("elasticacheNodeType") ?? "cache.t4g.small",
            numCacheClusters: 2,
            automaticFailoverEnabled: true,
            multiAzEnabled: true,
            transitEncryptionEnabled: true,
            atRestEncryptionEnabled: true,
            kmsKeyId: kms.arn,
            authToken,
            subnetGroupName: subnets.name,
            securityGroupIds: [sg.id],
            parameterGroupName: new aws.elasticache.ParameterGroup(`${clusterName}-redis`, {
                family: "redis7",
                // BullMQ requires noeviction: an evicted key would lose an accepted job.
                parameters: [{ name: "maxmemory-policy", value: "noeviction" }],
            }).name,
        });
        redis = { url: pulumi.secret(pulumi.interpolate`rediss://:${authToken}@${rg.primaryEndpointAddress}:6379`) };
    } else {
        redis = { storage: "persistent", storageSize: cfg.get("redisStorageSize") ?? "8Gi", storageClassName: cfg.get("redisStorageClass") };
    }

    const platform = new ServerlessPlatform("platform", {
        namespace: cfg.get("namespace") ?? "longshore",
        gatewayImage,
        apiKeys: apiKeysFrom(cfg),
        redis,
        gatewayReplicas: cfg.getNumber("gatewayReplicas") ?? 2,
        // the control plane runs on the CPU system nodes, never on (expensive, scale-to-zero) GPU nodes
        nodeSelector: { "longshore.dev/pool": "system" },
    }, { ...k8sOpts, dependsOn: [systemGroup] });

    const product = cfg.get("gpuProduct") ?? GPU_INSTANCE_TYPES[gpuInstanceTypes[0]]?.product;
    const endpoint = new ServerlessEndpoint(endpointId, endpointArgsFrom(ep, endpointId, platform, workerImage, {
        gpuTypes: product ? [product] : undefined,
        containerDisk: "20Gi",
    }), { ...k8sOpts, dependsOn: [keda, gpuPool] });

    return {
        target: "eks",
        clusterName,
        kubeconfig: pulumi.secret(cluster.kubeconfigJson),
        gpuNodeGroup: gpuPool.nodeGroupName,
        gpuAutoscalingGroup: gpuPool.autoscalingGroupName,
        clusterAutoscalerRoleArn: autoscaler.roleArn,
        namespace: platform.namespace,
        gatewayUrl: platform.gatewayUrl,
        scalerAddress: platform.scalerAddress,
        gatewayImage,
        workerImage,
        endpointId: endpoint.endpointId,
        jobUrl: endpoint.jobUrl,
    };
}
