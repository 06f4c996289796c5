// The longshore-adapter contract (adapter/, Go): shared by ServerlessEndpoint's injection
// (components/commandWorker.ts), `longshore test --local --image … --worker` (cli/) and the adapter itself
// (adapter/spec.go, adapter/template.go hold the Go side of the same rules).

/** The env var the adapter reads its spec from (JSON: {kind?, command?|http?, concurrency?}). */
export const WORKER_SPEC_ENV = "LONGSHORE_WORKER_SPEC";
/** Where the adapter binary lands in a worker container (an emptyDir filled by the init container). */
export const ADAPTER_PATH = "/longshore/bin/longshore-adapter";
/** Job dirs (an emptyDir). */
export const JOBS_DIR = "/longshore/jobs";

const ROOTS = ["input", "job.id", "job.dir", "output.dir"];
/** Why an argument template is refused (adapter/template.go's grammar), or undefined. */
export function templateError(s: string): string | undefined {
    for (let i = 0; i < s.length; i++) {
        const c = s[i];
        if ((c === "{" || c === "}") && s[i + 1] === c) {
            i++;
            continue;
        }
        if (c === "}") return `has an unmatched } (write }} for a literal brace)`;
        if (c !== "{") continue;
        const end = s.indexOf("}", i);
        if (end < 0) return `has an unclosed { (write {{ for a literal brace)`;
        const body = s.slice(i + 1, end);
        i = end;
        if (ROOTS.includes(body)) continue;
        const expr = body.includes("=") ? body.slice(0, body.indexOf("=")) : body;
        if (!expr.startsWith("input.")) return `has an unknown placeholder {${body}}: use {input.<field>}, {input}, {job.id}, {job.dir} or {output.dir}`;
        if (!expr.slice(6).split(".").every((seg) => /^[A-Za-z0-9_-]+$/.test(seg))) {
            return `has a placeholder {${body}} that names no field an input can have (fields are letters, digits, _ and -, separated by dots)`;
        }
    }
    return undefined;
}

const escapeBraces = (s: string) => s.replace(/[{}]/g, (b) => b + b);

/** The parts of a worker declaration that decide what runs (the rest passes to the adapter as is). */
export interface WorkerProgramDecl {
    command?: { entrypoint?: string[]; args?: string[] };
    http?: { entrypoint?: string[]; args?: string[]; start?: boolean };
}

/**
 * What the adapter runs, from the declaration and the image's ENTRYPOINT/CMD, as `docker run` would:
 * command — the program is `entrypoint` ?? ENTRYPOINT (CMD when there is none), its per-job templates `args` ??
 * CMD (braces escaped, so it stays literal) when the image has an ENTRYPOINT; http — the server is
 * (`entrypoint` ?? ENTRYPOINT) + (`args` ?? CMD), or nothing with `start: false`.
 * `error` names the argument when there is nothing to run.
 */
export function workerProgram(decl: WorkerProgramDecl, image: { entrypoint?: string[] | null; cmd?: string[] | null }):
    { program: string[]; templates?: string[]; error?: [string, string] } {
    const entrypoint = image.entrypoint ?? [];
    const cmd = image.cmd ?? [];
    if (decl.command) {
        const c = decl.command;
        const program = c.entrypoint ?? (entrypoint.length ? entrypoint : cmd);
        const templates = c.args ?? (c.entrypoint === undefined && entrypoint.length ? cmd.map(escapeBraces) : []);
        if (program.length === 0) return { program, templates, error: ["worker.command.entrypoint", "is required: the image has no ENTRYPOINT or CMD to run"] };
        return { program, templates };
    }
    const h = decl.http ?? {};
    if (h.start === false) return { program: [] };
    const program = [...(h.entrypoint ?? entrypoint), ...(h.args ?? cmd)];
    if (program.length === 0) return { program, error: ["worker.http.entrypoint", "is required: the image has no ENTRYPOINT or CMD to start the server with (or set start: false)"] };
    return { program };
}
