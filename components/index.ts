// Longshore component library: serverless GPU workers on your own Kubernetes.
export * from "./validate";
export * from "./imageRef";
export { RegistryDigest, RegistryDigestArgs, resolveImageDigest, ResolveOptions, ResolvedImage, registryDigestProvider } from "./registryDigest";
export { RandomToken, RandomTokenArgs, randomTokenProvider } from "./randomToken";
export * from "./workerImage";
export * from "./serverlessPlatform";
export * from "./serverlessEndpoint";
export * from "./httpEndpoint";
export * from "./gpuNodePool";
export * from "./nvidiaDevicePlugin";
export * from "./keda";
export * from "./imagePrePull";
export * from "./modelCache";
export * from "./commandWorker";
export { ImageConfig, ImageConfigArgs, ImageConfigOptions, ImageProcessConfig, resolveImageConfig, imageConfigProvider } from "./imageConfig";
