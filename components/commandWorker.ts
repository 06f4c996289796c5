// Command and HTTP workers: any image as a queue worker, unchanged. ServerlessEndpoint's `worker` argument
// lands here. The pod gets an init container (the adapter image, FROM scratch) that copies the static
// longshore-adapter binary into a shared emptyDir; the worker container's command becomes
// `longshore-adapter run -- <the image's own entrypoint>` — the way Tekton injects its entrypoint. The adapter
// (adapter/, Go) speaks the worker protocol to the gateway and runs one process per job (command) or forwards
// each job to a server in the pod (http). The spec below reaches it as JSON in LONGSHORE_WORKER_SPEC.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { Validator } from "./validate";
import { digestRef } from "./imageRef";
import { ImageConfig } from "./imageConfig";
import { ADAPTER_PATH, JOBS_DIR, WORKER_SPEC_ENV, templateError, workerProgram } from "../contract/adapter";

/** Where the job input goes on the program's stdin. */
export const WorkerStdin = {
    /** The job input as one line of JSON. */
    input: "input",
    /** Nothing (stdin is empty). */
    none: "none",
} as const;
export type WorkerStdin = (typeof WorkerStdin)[keyof typeof WorkerStdin];
export const WORKER_STDIN: readonly WorkerStdin[] = Object.values(WorkerStdin);

/** Where a command job's output comes from. */
export const WorkerOutputFrom = {
    /** stdout: JSON when it parses, else text. */
    stdout: "stdout",
    /** The files the program writes to the output dir. */
    files: "files",
} as const;
export type WorkerOutputFrom = (typeof WorkerOutputFrom)[keyof typeof WorkerOutputFrom];
export const WORKER_OUTPUT_FROM: readonly WorkerOutputFrom[] = Object.values(WorkerOutputFrom);

/** An input field that becomes a file in the job dir (its value: base64, a data: URL or an http(s) URL). */
export interface WorkerInputFile {
    /** Top-level input field. In templates and on stdin its value becomes the file's path. */
    field: string;
    /** File name in the job's input dir. Default: the field name. */
    name?: string;
}

/** How a command job's output comes back. */
export interface WorkerOutput {
    /** stdout (default) or files (what the program writes to `dir`; `{output.dir}` and $LONGSHORE_OUTPUT_DIR name it). */
    from?: WorkerOutputFrom;
    /** Output dir, relative to the job dir. Default "out". */
    dir?: string;
    /** Output files up to this total size come back inline (base64); larger ones need the job's s3Config. Default 1048576. */
    inlineLimitBytes?: number;
    /** stdout beyond this many bytes fails the job with OutputTooLarge. Default 16777216. */
    stdoutLimitBytes?: number;
}

/** A command worker: one process of the image's program per job. */
export interface CommandWorker {
    /** The program. Default: the image's ENTRYPOINT (or its CMD when it has no ENTRYPOINT), read from the registry. */
    entrypoint?: string[];
    /**
     * Argument templates appended per job, e.g. ["--prompt", "{input.prompt}", "--steps={input.steps=20}"].
     * Placeholders: {input.a.b} (required field), {input.a=default}, {input} (the input JSON), {job.id},
     * {job.dir}, {output.dir}; {{ and }} are literal braces. Default: the image's CMD when it has an
     * ENTRYPOINT (as `docker run` does), else none.
     */
    args?: string[];
    /** stdin: the input JSON (default) or nothing. */
    stdin?: WorkerStdin;
    /** Input fields written into the job dir as files. */
    inputFiles?: WorkerInputFile[];
    /** Output: stdout (default) or files. */
    output?: WorkerOutput;
    /** Stream each stdout line as a chunk (/stream); the final output is the list of chunks. Default false. */
    stream?: boolean;
    /** Seconds between SIGTERM and SIGKILL when a job is cancelled or times out. Default 10. */
    killGraceSeconds?: number;
}

/** An HTTP server in the pod on the queue: each job's input is POSTed to it, the answer is the output. */
export interface HttpQueueWorker {
    /** Port the server listens on (localhost). */
    port: number;
    /** Path jobs are POSTed to. Default "/". */
    path?: string;
    /** Health check path (GET, 2xx = ready), waited for before the first job. Default "/health". */
    healthPath?: string;
    /** Seconds to wait for the health check. Default 600. */
    healthTimeoutSeconds?: number;
    /** Start the image's entrypoint + CMD as the server (default true); false: it runs elsewhere in the pod. */
    start?: boolean;
    /** The server's program. Default: the image's ENTRYPOINT. */
    entrypoint?: string[];
    /** The server's arguments. Default: the image's CMD. */
    args?: string[];
}

/**
 * How the image takes jobs. Omit for a RunPod SDK worker (its own process takes jobs). Give exactly one of
 * `command` (a CLI image: one process per job) or `http` (an HTTP server image), plus the adapter image.
 */
export interface EndpointWorker {
    /** A CLI image: one process per job. */
    command?: CommandWorker;
    /** An HTTP server image on the queue. */
    http?: HttpQueueWorker;
    /** The longshore-adapter image, by digest (the `local` stack builds it from adapter/; docs/bring-any-image.md). */
    adapterImage: pulumi.Input<string>;
    /** Jobs one worker runs at once (1..64). Default 1. */
    concurrency?: number;
    /** Registry user for reading the image's ENTRYPOINT/CMD (when not given). */
    registryUsername?: pulumi.Input<string>;
    /** Registry password or token (a Pulumi secret). */
    registryPassword?: pulumi.Input<string>;
}

export { ADAPTER_PATH, JOBS_DIR, WORKER_SPEC_ENV, templateError, workerProgram } from "../contract/adapter";

/** True unless `dir` is a relative path that stays inside the job dir (adapter/spec.go InsideJobDir). */
function outsideJobDir(dir: unknown): boolean {
    if (typeof dir !== "string" || dir.startsWith("/")) return true;
    let depth = 0;
    for (const p of dir.split("/")) {
        if (p === "" || p === ".") continue;
        depth += p === ".." ? -1 : 1;
        if (depth < 0) return true;
    }
    return depth === 0;
}

function checkStrings(v: Validator, arg: string, xs: unknown) {
    if (xs === undefined) return;
    if (!Array.isArray(xs) || xs.some((x) => typeof x !== "string")) v.fail(arg, "must be a list of strings");
}

function intIn(v: Validator, arg: string, x: unknown, min: number, max = Number.MAX_SAFE_INTEGER) {
    if (x === undefined) return;
    if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) v.fail(arg, `(${JSON.stringify(x)}) must be an integer in ${min}..${max}`);
}

/** Validates `worker` (plain values: at preview) and returns the adapter spec. */
export function commandWorkerSpec(v: Validator, w: EndpointWorker): Record<string, unknown> {
    if ((w.command === undefined) === (w.http === undefined)) v.fail("worker", "needs exactly one of command (a CLI image) or http (an HTTP server image)");
    if (w.adapterImage === undefined) v.fail("worker.adapterImage", "is required: the longshore-adapter image by digest (docs/bring-any-image.md)");
    intIn(v, "worker.concurrency", w.concurrency, 1, 64);
    if (w.command) {
        const c = w.command;
        checkStrings(v, "worker.command.entrypoint", c.entrypoint);
        if (c.entrypoint !== undefined && c.entrypoint.length === 0) v.fail("worker.command.entrypoint", "must name a program (or leave it out to use the image's ENTRYPOINT)");
        checkStrings(v, "worker.command.args", c.args);
        (c.args ?? []).forEach((a, i) => {
            const broken = templateError(a);
            if (broken) v.fail(`worker.command.args[${i}]`, `(${JSON.stringify(a)}) ${broken}`);
        });
        if (c.stdin !== undefined && !WORKER_STDIN.includes(c.stdin)) v.fail("worker.command.stdin", `(${JSON.stringify(c.stdin)}) must be one of ${WORKER_STDIN.join(", ")}`);
        const names = new Set<string>();
        (c.inputFiles ?? []).forEach((f, i) => {
            if (typeof f?.field !== "string" || !/^[A-Za-z_][A-Za-z0-9_-]*$/.test(f.field)) v.fail(`worker.command.inputFiles[${i}].field`, `(${JSON.stringify(f?.field)}) must be a top-level input field name`);
            const n = f.name ?? f.field;
            if (typeof n !== "string" || n === "" || n === "." || n === ".." || /[/\\\0]/.test(n)) v.fail(`worker.command.inputFiles[${i}].name`, `(${JSON.stringify(n)}) must be a plain file name (no /)`);
            if (names.has(n)) v.fail(`worker.command.inputFiles[${i}].name`, `(${JSON.stringify(n)}) is given twice`);
            names.add(n);
        });
        const o = c.output ?? {};
        if (o.from !== undefined && !WORKER_OUTPUT_FROM.includes(o.from)) v.fail("worker.command.output.from", `(${JSON.stringify(o.from)}) must be one of ${WORKER_OUTPUT_FROM.join(", ")}`);
        if (o.dir !== undefined && outsideJobDir(o.dir)) {
            v.fail("worker.command.output.dir", `(${JSON.stringify(o.dir)}) must be a directory inside the job dir (relative, no ..)`);
        }
        intIn(v, "worker.command.output.inlineLimitBytes", o.inlineLimitBytes, 1);
        intIn(v, "worker.command.output.stdoutLimitBytes", o.stdoutLimitBytes, 1);
        intIn(v, "worker.command.killGraceSeconds", c.killGraceSeconds, 1, 3600);
        if (c.stream !== undefined && typeof c.stream !== "boolean") v.fail("worker.command.stream", "must be true or false");
        return {
            kind: "command",
            concurrency: w.concurrency,
            command: {
                stdin: c.stdin, inputFiles: c.inputFiles, stream: c.stream, killGraceSeconds: c.killGraceSeconds,
                output: { from: o.from, dir: o.dir, inlineLimitBytes: o.inlineLimitBytes, stdoutLimitBytes: o.stdoutLimitBytes },
            },
        };
    }
    const h = w.http as HttpQueueWorker;
    intIn(v, "worker.http.port", h.port, 1, 65535);
    if (h.port === undefined) v.fail("worker.http.port", "is required: the port the server listens on");
    for (const k of ["path", "healthPath"] as const) {
        if (h[k] !== undefined && (typeof h[k] !== "string" || !h[k]!.startsWith("/"))) v.fail(`worker.http.${k}`, `(${JSON.stringify(h[k])}) must start with /`);
    }
    intIn(v, "worker.http.healthTimeoutSeconds", h.healthTimeoutSeconds, 1);
    checkStrings(v, "worker.http.entrypoint", h.entrypoint);
    checkStrings(v, "worker.http.args", h.args);
    return {
        kind: "http",
        concurrency: w.concurrency,
        http: { port: h.port, path: h.path, healthPath: h.healthPath, healthTimeoutSeconds: h.healthTimeoutSeconds, start: h.start },
    };
}

/** What the endpoint's pod spec gets: the init container, the container command/env, the two emptyDirs. */
export interface AdapterInjection {
    initContainers: pulumi.Input<k8s.types.input.core.v1.Container>[];
    command: pulumi.Output<string[]>;
    env: pulumi.Input<k8s.types.input.core.v1.EnvVar>[];
    volumes: pulumi.Input<k8s.types.input.core.v1.Volume>[];
    volumeMounts: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[];
}

/**
 * Validates `worker` and builds the injection. The image's ENTRYPOINT/CMD are read from the registry
 * (ImageConfig) only when the declaration does not give the program.
 */
export function adapterInjection(
    name: string, v: Validator, w: EndpointWorker, image: pulumi.Output<string>, parent: pulumi.Resource, userEnv: string[] = [],
): AdapterInjection {
    const spec = commandWorkerSpec(v, w);
    for (const k of userEnv) if (k === WORKER_SPEC_ENV || k === "LONGSHORE_JOBS_DIR") v.fail(`env.${k}`, "is set by ServerlessEndpoint for command/http workers and cannot be overridden");
    const adapterImage = v.check("worker.adapterImage", w.adapterImage, [digestRef]);
    const given = w.command ? w.command.entrypoint : w.http!.entrypoint;
    const needsArgs = w.command ? w.command.args === undefined && given === undefined : w.http!.args === undefined;
    const cfg = given === undefined || needsArgs
        ? new ImageConfig(`${name}-image-config`, { image, username: w.registryUsername, password: w.registryPassword }, { parent })
        : undefined;
    const img = cfg
        ? pulumi.all([cfg.entrypoint, cfg.cmd]).apply(([e, c]) => ({ entrypoint: e ?? [], cmd: c ?? [] }))
        : pulumi.output({ entrypoint: [] as string[], cmd: [] as string[] });

    const plan = img.apply((i) => {
        const p = workerProgram(w, i);
        if (p.error) v.fail(p.error[0], p.error[1]);
        return p;
    });
    const program = plan.apply((p) => p.program);
    const fullSpec = w.command
        ? plan.apply((p) => JSON.stringify({ ...spec, command: { ...(spec.command as object), args: p.templates } }))
        : plan.apply(() => JSON.stringify(spec));
    return {
        initContainers: [{
            name: "longshore-adapter",
            image: adapterImage,
            command: ["/longshore-adapter", "copy", ADAPTER_PATH],
            volumeMounts: [{ name: "longshore-adapter", mountPath: "/longshore/bin" }],
            resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
            securityContext: { allowPrivilegeEscalation: false },
        }],
        command: program.apply((p) => [ADAPTER_PATH, "run", "--", ...p]),
        env: [
            { name: WORKER_SPEC_ENV, value: fullSpec },
            { name: "LONGSHORE_JOBS_DIR", value: JOBS_DIR },
        ],
        volumes: [{ name: "longshore-adapter", emptyDir: {} }, { name: "longshore-jobs", emptyDir: {} }],
        volumeMounts: [
            { name: "longshore-adapter", mountPath: "/longshore/bin", readOnly: true },
            { name: "longshore-jobs", mountPath: JOBS_DIR },
        ],
    };
}
