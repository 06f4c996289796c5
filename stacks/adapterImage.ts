// The longshore-adapter image of a stack: `adapterImage` (a digest ref, e.g. a published image on EKS) used as is,
// or the binary built here from adapter/ (Go, CGO_ENABLED=0, reproducible: -trimpath, no build id) and put in a
// FROM-scratch image (adapter/Dockerfile) pushed to <registry>/longshore/adapter and pinned by digest.
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { execFileSync } from "child_process";
import { WorkerImage } from "../components";

export const ADAPTER_DIR = path.join(__dirname, "..", "adapter");

/**
 * Builds the static adapter binary into adapter/dist/ and returns its path. The Go build cache makes an
 * unchanged source a no-op (about a second). Needs Go >= 1.22 on the machine running the program.
 */
export function buildAdapterBinary(out = path.join(ADAPTER_DIR, "dist", "longshore-adapter"), goarch = "amd64"): string {
    try {
        execFileSync("go", ["build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, "."], {
            cwd: ADAPTER_DIR,
            env: { ...process.env, CGO_ENABLED: "0", GOOS: "linux", GOARCH: goarch, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod" },
            stdio: ["ignore", "pipe", "pipe"],
            timeout: 600_000,
        });
    } catch (e: any) {
        throw new Error(`building the longshore-adapter binary (go build in ${ADAPTER_DIR}) failed: ${e.stderr?.toString() || e.message}. ` +
            "Install Go >= 1.22, or set longshore:adapterImage to a published adapter image by digest.");
    }
    return out;
}

/** `adapterImage` config (digest ref) or the image built from adapter/. */
export function adapterImageFrom(cfg: pulumi.Config, registry: string, opts?: pulumi.ComponentResourceOptions): pulumi.Input<string> {
    const given = cfg.get("adapterImage");
    if (given) return given;
    buildAdapterBinary();
    return new WorkerImage("adapter", {
        context: path.relative(process.cwd(), ADAPTER_DIR) || ".",
        repository: `${registry}/longshore/adapter`,
        tags: [cfg.get("adapterTag") ?? "0.1.0"],
        builderName: cfg.get("builderName") ?? process.env.LONGSHORE_BUILDER,
    }, opts).ref;
}
