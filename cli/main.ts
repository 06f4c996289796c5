#!/usr/bin/env node
/**
 * `longshore` command line:
 *
 *   longshore test [--file F] --endpoint-url B/v2/ep --api-key K [--timeout S]
 *   longshore test [--file F] --local (--command "<cmd>" | --image <ref>) [--timeout S]
 *   longshore status --gateway-url U --admin-key K [--endpoint E] [--watch [--interval S]] [--json]
 *   longshore logs <job-id> --endpoint E [--namespace N] [--since 1h]
 *
 * Exit codes (test): 0 every test passed; 1 a test failed (mismatch, FAILED, timeout…); 2 bad usage or tests file.
 */
import { parseArgs } from "util";
import * as path from "path";
import { findTestsFile, loadTests, TestsFileError } from "./testsFile";
import { formatTable, runTests } from "./runner";

const USAGE = `Usage:
  longshore test [options]
  longshore status --gateway-url <url> --admin-key <key> [--endpoint <id>] [--watch [--interval <s>]] [--json]
  longshore logs <job-id> --endpoint <id> [--namespace <ns>] [--since <duration>] [--context <kube context>]

status: every endpoint's worker states, queue depth, oldest waiting job, p50/p90 delay and execution
time, and recent failures with their reasons, from the gateway's admin API (an admin key, not a client
API key; env LONGSHORE_GATEWAY_URL, LONGSHORE_ADMIN_KEY). Exit 1 when an endpoint is unhealthy.
logs: the log lines of one job from the gateway and the endpoint's worker pods (kubectl, namespace
default longshore). Exit 1 when no line mentions the job.

Runs a RunPod-style tests file (.github/tests.json or .runpod/tests.json) against an endpoint:
each input is submitted with /run, /status is polled to a terminal status and the output is
compared with the expected one ("output" / "expectedOutput"), then a table is printed.

Options:
  --file <path>          tests file (default: .github/tests.json, else .runpod/tests.json)
  --endpoint-url <url>   endpoint base, e.g. http://gateway:8080/v2/my-endpoint  (env LONGSHORE_ENDPOINT_URL)
  --api-key <key>        API key for the endpoint                           (env LONGSHORE_API_KEY, RUNPOD_API_KEY)
  --timeout <seconds>    per-test timeout (default 300; a hub test's own "timeout" in ms wins)
  --local                run the worker here against a private gateway + Redis (no cluster)
  --command "<cmd>"      with --local: the worker command, e.g. "python -u src/handler.py"
  --image <ref>          with --local: a worker image, run with 'docker run' (needs a Docker engine)
  --cwd <dir>            with --local --command: the worker's working directory (default: current)
  --env KEY=VALUE        with --local: extra worker environment (repeatable)
  --worker <json|file>   with --local --image: run a CLI or HTTP image behind longshore-adapter, as a command
                         endpoint does: {"command":{"args":[...]}} or {"http":{"port":N}} (docs/bring-any-image.md)
  --adapter <path>       with --worker: the longshore-adapter binary (default $LONGSHORE_ADAPTER, or built here)
  -h, --help             this help

Exit status: 0 all tests passed, 1 some test failed, 2 usage or tests-file error.`;

class UsageError extends Error {}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        file: { type: "string", short: "f" },
        "endpoint-url": { type: "string" },
        "api-key": { type: "string" },
        timeout: { type: "string" },
        local: { type: "boolean" },
        command: { type: "string" },
        image: { type: "string" },
        cwd: { type: "string" },
        env: { type: "string", multiple: true },
        "gateway-url": { type: "string" },
        "admin-key": { type: "string" },
        endpoint: { type: "string" },
        watch: { type: "boolean", short: "w" },
        interval: { type: "string" },
        json: { type: "boolean" },
        namespace: { type: "string", short: "n" },
        since: { type: "string" },
        context: { type: "string" },
        worker: { type: "string" },
        adapter: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e: any) {
    err.write(`longshore: ${e.message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    (values.help ? out : err).write(USAGE + "\n");
    return values.help ? 0 : 2;
  }
  if (positionals[0] === "status" || positionals[0] === "logs") {
    try {
      return await (positionals[0] === "status" ? statusCommand(values, positionals, out) : logsCommand(values, positionals, out, err));
    } catch (e: any) {
      if (e instanceof UsageError) {
        err.write(`longshore: ${e.message}\n`);
        return 2;
      }
      err.write(`longshore: ${e?.message ?? e}\n`);
      return 1;
    }
  }
  if (positionals[0] !== "test" || positionals.length > 1) {
    err.write(`longshore: unknown command '${positionals.join(" ")}'\n\n${USAGE}\n`);
    return 2;
  }

  try {
    const timeoutS = values.timeout === undefined ? 300 : Number(values.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got '${values.timeout}'`);
    // `npm run longshore -- test …` runs in the package root; resolve paths where the user typed the command.
    const base = process.env.npm_lifecycle_event === "longshore" && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd();
    const file = findTestsFile(base, values.file);
    const suite = loadTests(file);
    out.write(`longshore test: ${suite.tests.length} test(s) from ${path.relative(base, file) || file} (${suite.format} format)\n`);

    if (values.local) {
      if (!!values.command === !!values.image) throw new UsageError("--local needs exactly one of --command \"<cmd>\" or --image <ref>");
      const extraEnv: Record<string, string> = {};
      for (const kv of values.env ?? []) {
        const i = kv.indexOf("=");
        if (i <= 0) throw new UsageError(`--env expects KEY=VALUE, got '${kv}'`);
        extraEnv[kv.slice(0, i)] = kv.slice(i + 1);
      }
      if (values.worker !== undefined && !values.image) throw new UsageError("--worker goes with --local --image <ref>");
      let worker: Record<string, any> | undefined;
      if (values.worker !== undefined) {
        try {
          worker = (await import("./adapterWorker")).readWorkerDecl(values.worker, base);
        } catch (e: any) {
          throw new UsageError(e.message);
        }
      }
      const { runLocal } = await import("./local");
      const cwd = path.resolve(base, values.cwd ?? ".");
      const results = await runLocal({
        tests: suite.tests, timeoutS, command: values.command, image: values.image, cwd, env: extraEnv, out, err,
        worker, adapter: values.adapter ? path.resolve(base, values.adapter) : undefined,
      });
      out.write("\n" + formatTable(results));
      return results.every((r) => r.verdict === "PASS") ? 0 : 1;
    }

    const endpointUrl = values["endpoint-url"] ?? process.env.LONGSHORE_ENDPOINT_URL;
    const apiKey = values["api-key"] ?? process.env.LONGSHORE_API_KEY ?? process.env.RUNPOD_API_KEY;
    if (!endpointUrl) throw new UsageError("--endpoint-url is required (e.g. http://gateway:8080/v2/my-endpoint), or use --local");
    if (!/^https?:\/\/[^/]+\/.+/.test(endpointUrl)) throw new UsageError(`--endpoint-url must be an http(s) URL ending in /v2/<endpoint-id>, got '${endpointUrl}'`);
    if (!apiKey) throw new UsageError("--api-key is required (or set LONGSHORE_API_KEY)");

    const results = await runTests({ endpointUrl, apiKey, tests: suite.tests, timeoutS, out });
    out.write("\n" + formatTable(results));
    return results.every((r) => r.verdict === "PASS") ? 0 : 1;
  } catch (e: any) {
    if (e instanceof UsageError || e instanceof TestsFileError) {
      err.write(`longshore: ${e.message}\n`);
      return 2;
    }
    err.write(`longshore: ${e?.stack ?? e}\n`);
    return 1;
  }
}

async function statusCommand(values: Record<string, any>, positionals: string[], out: NodeJS.WritableStream): Promise<number> {
  if (positionals.length > 1) throw new UsageError(`status takes no arguments, got '${positionals.slice(1).join(" ")}'`);
  const gatewayUrl = values["gateway-url"] ?? process.env.LONGSHORE_GATEWAY_URL;
  const adminKey = values["admin-key"] ?? process.env.LONGSHORE_ADMIN_KEY;
  if (!gatewayUrl) throw new UsageError("--gateway-url is required (e.g. http://localhost:8080 after kubectl port-forward svc/longshore-gateway 8080), or set LONGSHORE_GATEWAY_URL");
  if (!/^https?:\/\/[^/]+/.test(gatewayUrl)) throw new UsageError(`--gateway-url must be an http(s) URL, got '${gatewayUrl}'`);
  if (!adminKey) throw new UsageError("--admin-key is required (the platform's adminKey output), or set LONGSHORE_ADMIN_KEY");
  const intervalS = values.interval === undefined ? 2 : Number(values.interval);
  if (!Number.isFinite(intervalS) || intervalS <= 0) throw new UsageError(`--interval must be a positive number of seconds, got '${values.interval}'`);
  const { runStatus } = await import("./status");
  const watch = !!values.watch;
  let stop: () => void = () => undefined;
  const until = new Promise<void>((r) => (stop = r));
  if (watch) process.once("SIGINT", () => stop());
  return runStatus({ gatewayUrl, adminKey, endpoint: values.endpoint, json: !!values.json, watch, intervalS, namespace: values.namespace, out, until });
}

async function logsCommand(values: Record<string, any>, positionals: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  if (positionals.length !== 2) throw new UsageError("logs takes one job id: longshore logs <job-id> --endpoint <id>");
  if (!values.endpoint) throw new UsageError("--endpoint is required (the job's endpoint id)");
  const { runLogs } = await import("./logs");
  return runLogs({ jobId: positionals[1], endpoint: values.endpoint, namespace: values.namespace ?? "longshore", since: values.since, context: values.context, out, err });
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`longshore: ${e?.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
