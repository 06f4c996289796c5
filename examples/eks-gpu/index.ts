// examples/eks-gpu: the EKS platform as its own Pulumi project (the root program's `eks` stack; the code is stacks/eks.ts).
//
//   cd examples/eks-gpu
//   pulumi stack init dev
//   pulumi config set aws:region us-east-1
//   pulumi config set --secret longshore:apiKeys "$(openssl rand -hex 24)"
//   pulumi config set longshore:gpuInstanceTypes '["g5.xlarge","g5.2xlarge"]'
//   pulumi config set longshore:gpuCapacityType SPOT
//   pulumi up
import * as pulumi from "@pulumi/pulumi";
import { eksStack } from "../../stacks/eks";

export = () => eksStack(new pulumi.Config("longshore"));
