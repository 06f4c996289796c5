/**
 * `longshore test --local --image <ref> --worker <declaration>`: runs a CLI or HTTP image (docs/bring-any-image.md)
 * the way a command endpoint does — the longshore-adapter binary bind-mounted into the container as its
 * entrypoint, the image's own ENTRYPOINT/CMD (from `docker image inspect`) after it — so its tests.json can be
 * run without a cluster. The declaration is the endpoint's `worker` object without `adapterImage`:
 * {"command": {"args": [...], ...}} or {"http": {"port": 8000, ...}}, as JSON text or a file.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ADAPTER_PATH, WORKER_SPEC_ENV, workerProgram } from "../contract/adapter";

/** Reads a declaration from JSON text or a file; refuses what is not one of the two shapes. */
export function readWorkerDecl(value: string, base: string): Record<string, any> {
    const text = value.trim().startsWith("{") ? value : fs.readFileSync(path.resolve(base, value), "utf8");
    let decl: any;
    try {
        decl = JSON.parse(text);
    } catch (e: any) {
        throw new Error(`--worker is not JSON: ${e.message}`);
    }
    if (!decl || typeof decl !== "object" || (decl.command === undefined) === (decl.http === undefined)) {
        throw new Error(`--worker needs exactly one of "command" or "http" (the endpoint's worker declaration), got ${text.slice(0, 200)}`);
    }
    return decl;
}

/** The adapter binary: --adapter, $LONGSHORE_ADAPTER, or built from this checkout's adapter/ (needs Go). */
export function adapterBinaryFor(given?: string): string {
    const p = given ?? process.env.LONGSHORE_ADAPTER;
    if (p) {
        if (!fs.existsSync(p)) throw new Error(`the adapter binary ${p} does not exist`);
        return path.resolve(p);
    }
    const src = path.join(__dirname, "..", "adapter", "go.mod");
    if (!fs.existsSync(src)) throw new Error("--worker needs the longshore-adapter binary: give --adapter <path> (linux/amd64) or set LONGSHORE_ADAPTER");
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { buildAdapterBinary } = require("../stacks/adapterImage") as typeof import("../stacks/adapterImage");
    return buildAdapterBinary();
}

/** docker run arguments before and after the image ref. */
export function adapterDockerArgs(image: string, decl: Record<string, any>, adapterBin: string): { before: string[]; after: string[] } {
    let cfg: { Entrypoint?: string[] | null; Cmd?: string[] | null };
    try {
        cfg = JSON.parse(execFileSync("docker", ["image", "inspect", "--format", "{{json .Config}}", image], { encoding: "utf8", timeout: 60_000 }));
    } catch (e: any) {
        throw new Error(`docker image inspect ${image} failed (is the image on this Docker engine?): ${e.stderr?.toString().trim() || e.message}`);
    }
    const plan = workerProgram(decl, { entrypoint: cfg.Entrypoint, cmd: cfg.Cmd });
    if (plan.error) throw new Error(`${plan.error[0]} ${plan.error[1]}`);
    const spec: Record<string, any> = { ...decl };
    if (spec.command) {
        const { entrypoint: _e, ...rest } = spec.command;
        spec.command = { ...rest, args: plan.templates };
    }
    if (spec.http) {
        const { entrypoint: _e, args: _a, ...rest } = spec.http;
        spec.http = rest;
    }
    return {
        before: ["-v", `${adapterBin}:${ADAPTER_PATH}:ro`, "--entrypoint", ADAPTER_PATH, "-e", `${WORKER_SPEC_ENV}=${JSON.stringify(spec)}`],
        after: ["run", "--", ...plan.program],
    };
}
