// Public entry of the job gateway. createGateway(opts) starts HTTP + KEDA scaler servers.
import type { GatewayOptions } from "./config";
export * from "./config";

export interface Gateway {
  /** http://host:port */
  url: string;
  /** host:port of the KEDA external scaler gRPC server ("" when disabled) */
  scalerAddress: string;
  close(): Promise<void>;
}

export async function createGateway(_opts: GatewayOptions): Promise<Gateway> {
  throw new Error("createGateway: implementation landing shortly");
}
