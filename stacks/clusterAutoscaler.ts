// cluster-autoscaler for EKS with IRSA: finds the node groups by their ASG auto-discovery tags (EKS managed node
// groups carry `k8s.io/cluster-autoscaler/enabled` and `k8s.io/cluster-autoscaler/<cluster>`) and, for groups at
// zero nodes, reads the node-template tags GpuNodePool adds. Plain Kubernetes objects, no chart: nothing is
// fetched at preview and every field is visible in the diff.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";

export interface ClusterAutoscalerArgs {
    clusterName: pulumi.Input<string>;
    region: pulumi.Input<string>;
    /** OIDC provider of the cluster (IRSA). */
    oidcProviderArn: pulumi.Input<string>;
    /** Issuer URL without https:// (e.g. oidc.eks.us-east-1.amazonaws.com/id/ABC). */
    oidcProviderUrl: pulumi.Input<string>;
    /** Image; match the cluster's minor version. Default registry.k8s.io/autoscaling/cluster-autoscaler:v1.31.0. */
    image?: pulumi.Input<string>;
    /** How long a node must be unneeded before removal. Default 5m. */
    scaleDownUnneededTime?: string;
}

export const CLUSTER_AUTOSCALER_IMAGE = "registry.k8s.io/autoscaling/cluster-autoscaler:v1.31.0";
const NAME = "cluster-autoscaler";
const NS = "kube-system";

export class ClusterAutoscaler extends pulumi.ComponentResource {
    public readonly roleArn: pulumi.Output<string>;

    constructor(name: string, args: ClusterAutoscalerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("longshore:examples:ClusterAutoscaler", name, {}, opts);
        const child = { parent: this };

        // IRSA role: only this ServiceAccount may assume it.
        const role = new aws.iam.Role(`${name}-irsa`, {
            assumeRolePolicy: pulumi.all([args.oidcProviderArn, args.oidcProviderUrl]).apply(([arn, url]) => JSON.stringify({
                Version: "2012-10-17",
                Statement: [{
                    Effect: "Allow",
                    Principal: { Federated: arn },
                    Action: "sts:AssumeRoleWithWebIdentity",
                    Condition: {
                        StringEquals: {
                            [`${url}:sub`]: `system:serviceaccount:${NS}:${NAME}`,
                            [`${url}:aud`]: "sts.amazonaws.com",
                        },
                    },
                }],
            })),
        }, child);
        // Least privilege: describe calls need "*"; the two mutating calls only on this cluster's groups.
        new aws.iam.RolePolicy(`${name}-policy`, {
            role: role.id,
            policy: pulumi.output(args.clusterName).apply((cluster) => JSON.stringify({
                Version: "2012-10-17",
                Statement: [
                    {
                        Effect: "Allow",
                        Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                        Resource: "*",
                        Condition: { StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${cluster}`]: "owned" } },
                    },
                    {
                        Effect: "Allow",
                        Action: [
                            "autoscaling:DescribeAutoScalingGroups",
                            "autoscaling:DescribeAutoScalingInstances",
                            "autoscaling:DescribeLaunchConfigurations",
                            "autoscaling:DescribeScalingActivities",
                            "autoscaling:DescribeTags",
                            "ec2:DescribeImages",
                            "ec2:DescribeInstanceTypes",
                            "ec2:DescribeLaunchTemplateVersions",
                            "ec2:GetInstanceTypesFromInstanceRequirements",
                            "eks:DescribeNodegroup",
                        ],
                        Resource: "*",
                    },
                ],
            })),
        }, child);

        const labels = { "app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "longshore" };
        const sa = new k8s.core.v1.ServiceAccount(`${name}`, {
            metadata: { name: NAME, namespace: NS, labels, annotations: { "eks.amazonaws.com/role-arn": role.arn } },
        }, child);
        const cr = new k8s.rbac.v1.ClusterRole(`${name}`, {
            metadata: { name: NAME, labels },
            rules: [
                { apiGroups: [""], resources: ["events", "endpoints"], verbs: ["create", "patch"] },
                { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
                { apiGroups: [""], resources: ["pods/status"], verbs: ["update"] },
                { apiGroups: [""], resources: ["endpoints"], resourceNames: [NAME], verbs: ["get", "update"] },
                { apiGroups: [""], resources: ["nodes"], verbs: ["watch", "list", "get", "update"] },
                { apiGroups: [""], resources: ["namespaces", "pods", "services", "replicationcontrollers", "persistentvolumeclaims", "persistentvolumes"], verbs: ["watch", "list", "get"] },
                { apiGroups: ["apps"], resources: ["statefulsets", "replicasets", "daemonsets"], verbs: ["watch", "list", "get"] },
                { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["watch", "list"] },
                { apiGroups: ["storage.k8s.io"], resources: ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"], verbs: ["watch", "list", "get"] },
                { apiGroups: ["batch"], resources: ["jobs", "cronjobs"], verbs: ["watch", "list", "get"] },
                { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
                { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: [NAME], verbs: ["get", "update"] },
            ],
        }, child);
        new k8s.rbac.v1.ClusterRoleBinding(`${name}`, {
            metadata: { name: NAME, labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: cr.metadata.name },
            subjects: [{ kind: "ServiceAccount", name: sa.metadata.name, namespace: NS }],
        }, child);
        const role2 = new k8s.rbac.v1.Role(`${name}`, {
            metadata: { name: NAME, namespace: NS, labels },
            rules: [
                { apiGroups: [""], resources: ["configmaps"], verbs: ["create", "list", "watch"] },
                { apiGroups: [""], resources: ["configmaps"], resourceNames: ["cluster-autoscaler-status", "cluster-autoscaler-priority-expander"], verbs: ["delete", "get", "update", "watch"] },
            ],
        }, child);
        new k8s.rbac.v1.RoleBinding(`${name}`, {
            metadata: { name: NAME, namespace: NS, labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role2.metadata.name },
            subjects: [{ kind: "ServiceAccount", name: sa.metadata.name, namespace: NS }],
        }, child);

        new k8s.apps.v1.Deployment(`${name}`, {
            metadata: { name: NAME, namespace: NS, labels },
            spec: {
                replicas: 1,
                selector: { matchLabels: { "app.kubernetes.io/name": NAME } },
                template: {
                    metadata: { labels, annotations: { "cluster-autoscaler.kubernetes.io/safe-to-evict": "false" } },
                    spec: {
                        serviceAccountName: sa.metadata.name,
                        priorityClassName: "system-cluster-critical",
                        securityContext: { runAsNonRoot: true, runAsUser: 65534, fsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
                        containers: [{
                            name: NAME,
                            image: args.image ?? CLUSTER_AUTOSCALER_IMAGE,
                            command: ["./cluster-autoscaler"],
                            args: pulumi.output(args.clusterName).apply((cluster) => [
                                "--cloud-provider=aws",
                                `--namespace=${NS}`,
                                `--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/${cluster}`,
                                "--balance-similar-node-groups",
                                "--skip-nodes-with-system-pods=false",
                                "--expander=least-waste",
                                `--scale-down-unneeded-time=${args.scaleDownUnneededTime ?? "5m"}`,
                                "--v=2",
                            ]),
                            env: [{ name: "AWS_REGION", value: args.region }],
                            resources: { requests: { cpu: "100m", memory: "300Mi" }, limits: { memory: "600Mi" } },
                            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                        }],
                    },
                },
            },
        }, child);

        this.roleArn = role.arn;
        this.registerOutputs({ roleArn: this.roleArn });
    }
}
