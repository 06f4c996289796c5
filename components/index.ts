// Longshore component library: serverless GPU workers on your own Kubernetes.
export * from "./validate";
export * from "./imageRef";
export { RegistryDigest, RegistryDigestArgs, resolveImageDigest, ResolveOptions, ResolvedImage } from "./registryDigest";
export { RandomToken, RandomTokenArgs } from "./randomToken";
export * from "./workerImage";
export * from "./serverlessPlatform";
export * from "./serverlessEndpoint";
export * from "./gpuNodePool";
export * from "./nvidiaDevicePlugin";
export * from "./keda";
