// Process entry: reads the env contract (docs/gateway.md), starts the gateway, shuts down gracefully
// on SIGTERM/SIGINT (stop accepting, answer long-polls, finish in-flight requests, close Redis).
import { createGateway, optionsFromEnv } from "./index";

async function main() {
  let opts;
  try {
    opts = optionsFromEnv(process.env);
  } catch (e) {
    process.stderr.write(`longshore-gateway: configuration error: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const gw = await createGateway(opts);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`longshore-gateway: ${sig}, shutting down\n`);
    const hard = setTimeout(() => process.exit(1), 30_000);
    hard.unref();
    gw.close().then(
      () => {
        process.stderr.write("longshore-gateway: closed cleanly\n");
        process.exit(0);
      },
      (e) => {
        process.stderr.write(`longshore-gateway: shutdown failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((e) => {
  process.stderr.write(`longshore-gateway: failed to start: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
