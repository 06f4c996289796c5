// Start-up of the component provider as the engine sees it: `pulumi package get-schema ./provider` starts the
// plugin through the Node.js language host and asks for its schema (what `pulumi package add` and every
// preview/up of a Python program pay before the first component is constructed). Prebuilt (dist/: compiled JS +
// the schema generated at build time) against from source (LONGSHORE_PROVIDER_FROM_SOURCE=1: @pulumi/pulumi's
// component host, ts-node type check + schema analysis), alternated in the same run; prints each and the ratio.
//   . proving-ground/env.sh && npm run build && npm run bench:provider [-- rounds]   (default 2 rounds)
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "..");
const rounds = Number(process.argv[2] ?? 2);

function timeSchema(fromSource: boolean): { seconds: number; cpuSeconds: number; bytes: number } {
    const env = { ...process.env, LONGSHORE_PROVIDER_FROM_SOURCE: fromSource ? "1" : "0" };
    const t0 = process.hrtime.bigint();
    const out = execFileSync("bash", ["-c", "TIMEFORMAT=%U+%S; { time pulumi package get-schema ./provider 2>/dev/null; } 2>&1"], { cwd: REPO, env, encoding: "utf8", maxBuffer: 64 << 20 });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const lines = out.trimEnd().split("\n");
    const [u, s] = lines.pop()!.split("+").map(Number);
    const schema = JSON.parse(lines.join("\n"));
    if (!schema.resources?.["longshore:index:ServerlessEndpoint"]) throw new Error("no ServerlessEndpoint in the schema");
    return { seconds, cpuSeconds: u + s, bytes: JSON.stringify(schema).length };
}

if (!fs.existsSync(path.join(REPO, "dist/provider/schema.json"))) throw new Error("dist/provider/schema.json is missing: npm run build first");
const rows: { mode: string; seconds: number; cpuSeconds: number }[] = [];
for (let i = 0; i < rounds; i++) {
    for (const fromSource of [false, true]) {
        const r = timeSchema(fromSource);
        rows.push({ mode: fromSource ? "source" : "prebuilt", ...r });
        process.stdout.write(`round ${i + 1} ${fromSource ? "from source" : "prebuilt   "}: ${r.seconds.toFixed(1)} s wall, ${r.cpuSeconds.toFixed(1)} s CPU (schema ${r.bytes} bytes)\n`);
    }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pick = (mode: string, k: "seconds" | "cpuSeconds") => median(rows.filter((r) => r.mode === mode).map((r) => r[k]));
process.stdout.write(`\nprovider start-up + schema (median of ${rounds}, load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs):\n` +
    `  from source ${pick("source", "seconds").toFixed(1)} s wall / ${pick("source", "cpuSeconds").toFixed(1)} s CPU\n` +
    `  prebuilt    ${pick("prebuilt", "seconds").toFixed(1)} s wall / ${pick("prebuilt", "cpuSeconds").toFixed(1)} s CPU\n` +
    `  ratio       ${(pick("prebuilt", "seconds") / pick("source", "seconds")).toFixed(2)} wall, ${(pick("prebuilt", "cpuSeconds") / pick("source", "cpuSeconds")).toFixed(2)} CPU (prebuilt / source)\n`);
