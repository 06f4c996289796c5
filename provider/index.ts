// The components other Pulumi languages get (provider name "longshore", types longshore:index:<Class>).
// Pulumi's TypeScript component analysis infers the schema from these classes' constructor args and public
// Output properties; keep every arg type inside what it supports (no unions other than string-literal enums
// declared `as const`, no functions). test/unit/providerSchema.test.ts runs that analysis.
export { WorkerImage, ServerlessPlatform, ServerlessEndpoint, HttpEndpoint, GpuNodePool, NvidiaDevicePlugin, Keda, ImagePrePull, ModelCache } from "../components";
