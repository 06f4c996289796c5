// Reads an image's ENTRYPOINT / CMD / WorkingDir from its config blob in the registry, as a Pulumi dynamic
// resource, so a command endpoint (components/commandWorker.ts) needs only the image name: the adapter is
// started as the container's command and runs the image's own entrypoint after it.
//
// Why hand-written (like registryDigest.ts, which says more): the Registry HTTP API v2 is three GETs — the
// manifest (an index is narrowed to linux/amd64), then the config blob it names (following the redirect to
// blob storage that ECR, GHCR and Docker Hub answer with). The image is pinned by digest, so its config never
// changes: the dynamic resource reads it once in `create` (during `up`), keeps it in state, and a preview makes
// no registry call. The function is serialized into the state, so it requires node built-ins only, inside it.
import * as pulumi from "@pulumi/pulumi";

export interface ImageConfigOptions {
    username?: string;
    password?: string;
    /** Plain HTTP. Default: true for localhost/127.x registries. */
    insecure?: boolean;
    /** linux/<arch> of the manifest to read from an index. Default amd64 (GPU nodes are x86_64). */
    architecture?: string;
    timeoutMs?: number;
}

export interface ImageProcessConfig {
    entrypoint: string[];
    cmd: string[];
    workingDir: string;
    user: string;
}

/** Reads the process config (Entrypoint, Cmd, WorkingDir, User) of `ref` (repo@sha256:…) from its registry. */
export async function resolveImageConfig(ref: string, opts: ImageConfigOptions = {}): Promise<ImageProcessConfig> {
    const http = require("node:http");
    const https = require("node:https");

    const at = ref.indexOf("@");
    if (at < 0) throw new Error(`image "${ref}" is not pinned by digest (repo@sha256:…)`);
    const digest = ref.slice(at + 1);
    const parts = ref.slice(0, at).split("/");
    let host = "docker.io";
    if (parts.length > 1 && (parts[0].includes(".") || parts[0].includes(":") || parts[0] === "localhost")) host = parts.shift() as string;
    if (host === "docker.io" && parts.length === 1) parts.unshift("library");
    // a tag before the digest (repo:tag@sha256:…) is ignored by registries: drop it
    const last = parts.length - 1;
    parts[last] = parts[last].replace(/:[^/]*$/, "");
    const name = parts.join("/");
    const apiHost = host === "docker.io" ? "registry-1.docker.io" : host;
    const hostname = apiHost.replace(/:\d+$/, "");
    const insecure = opts.insecure ?? (hostname === "localhost" || /^127\./.test(hostname) || hostname === "[::1]");
    const base = `${insecure ? "http" : "https"}://${apiHost}`;
    const timeoutMs = opts.timeoutMs ?? 30000;
    const arch = opts.architecture ?? "amd64";
    const MANIFESTS = [
        "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
    ].join(", ");

    type Res = { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer };
    const request = (url: string, headers: Record<string, string>, redirects = 5): Promise<Res> =>
        new Promise((resolve, reject) => {
            const u = new URL(url);
            const mod = u.protocol === "http:" ? http : https;
            const req = mod.request(u, { method: "GET", headers, timeout: timeoutMs }, (res: any) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("error", reject);
                res.on("end", () => {
                    const loc = res.headers.location;
                    if (res.statusCode >= 300 && res.statusCode < 400 && loc && redirects > 0) {
                        const next = new URL(loc, url);
                        // blob storage gets no registry credentials
                        const h = next.host === u.host ? headers : Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
                        request(next.toString(), h, redirects - 1).then(resolve, reject);
                        return;
                    }
                    resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
                });
            });
            req.on("timeout", () => req.destroy(new Error(`timed out after ${timeoutMs} ms: GET ${url}`)));
            req.on("error", reject);
            req.end();
        });

    const basic = opts.username !== undefined && opts.password !== undefined
        ? "Basic " + Buffer.from(`${opts.username}:${opts.password}`).toString("base64") : undefined;
    let auth: string | undefined;
    const get = async (path: string, accept: string): Promise<Res> => {
        const url = `${base}/v2/${name}/${path}`;
        let res = await request(url, auth ? { Accept: accept, Authorization: auth } : { Accept: accept });
        if (res.status === 401 && !auth) {
            const challenge = String(res.headers["www-authenticate"] || "");
            const m = /^\s*(\w+)\s*(.*)$/.exec(challenge) || [];
            const params: Record<string, string> = {};
            const re = /(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g;
            let p: RegExpExecArray | null;
            while ((p = re.exec(m[2] || "")) !== null) params[p[1].toLowerCase()] = p[2] ?? p[3] ?? "";
            const scheme = (m[1] || "").toLowerCase();
            if (scheme === "bearer" && params.realm) {
                const tu = new URL(params.realm);
                if (params.service) tu.searchParams.set("service", params.service);
                tu.searchParams.set("scope", params.scope || `repository:${name}:pull`);
                const tr = await request(tu.toString(), basic ? { Authorization: basic } : {});
                if (tr.status !== 200) throw new Error(`registry token service ${tu.origin} answered ${tr.status} for ${ref}`);
                const tok = JSON.parse(tr.body.toString("utf8"));
                auth = `Bearer ${tok.token || tok.access_token}`;
            } else if (scheme === "basic" && basic) {
                auth = basic;
            } else {
                throw new Error(`registry ${host} requires authentication for ${ref} (${challenge || "no challenge"}); give username/password`);
            }
            res = await request(url, { Accept: accept, Authorization: auth });
        }
        if (res.status < 200 || res.status >= 300) throw new Error(`registry ${host} answered ${res.status} to GET ${url}`);
        return res;
    };

    let manifest = JSON.parse((await get(`manifests/${digest}`, MANIFESTS)).body.toString("utf8"));
    if (Array.isArray(manifest.manifests)) {
        const pick = manifest.manifests.find((m: any) => m.platform?.os === "linux" && m.platform?.architecture === arch);
        if (!pick) throw new Error(`image ${ref} has no linux/${arch} manifest`);
        manifest = JSON.parse((await get(`manifests/${pick.digest}`, MANIFESTS)).body.toString("utf8"));
    }
    const configDigest = manifest.config?.digest;
    if (!configDigest) throw new Error(`image ${ref}: the manifest names no config blob`);
    const cfg = JSON.parse((await get(`blobs/${configDigest}`, "application/json, */*")).body.toString("utf8"));
    const c = cfg.config ?? {};
    return { entrypoint: c.Entrypoint ?? [], cmd: c.Cmd ?? [], workingDir: c.WorkingDir ?? "", user: c.User ?? "" };
}

/** The dynamic provider (exported for tests). */
export const imageConfigProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: any, news: any) {
        return { inputs: news };
    },
    async diff(_id: string, olds: any, news: any) {
        const changed = ["image", "username", "password", "insecure"].filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes: changed.length > 0, replaces: changed.includes("image") ? ["image"] : [], deleteBeforeReplace: false };
    },
    async create(inputs: any) {
        const r = await resolveImageConfig(inputs.image, { username: inputs.username, password: inputs.password, insecure: inputs.insecure });
        return { id: inputs.image, outs: { ...inputs, ...r } };
    },
    async update(_id: string, _olds: any, news: any) {
        const r = await resolveImageConfig(news.image, { username: news.username, password: news.password, insecure: news.insecure });
        return { outs: { ...news, ...r } };
    },
    async delete() {
        /* read-only */
    },
};

export interface ImageConfigArgs {
    /** repo@sha256:… */
    image: pulumi.Input<string>;
    username?: pulumi.Input<string>;
    password?: pulumi.Input<string>;
    insecure?: pulumi.Input<boolean>;
}

/** An image's ENTRYPOINT/CMD/WorkingDir/User, read from the registry once (during `up`) and kept in state. */
export class ImageConfig extends pulumi.dynamic.Resource {
    declare public readonly entrypoint: pulumi.Output<string[]>;
    declare public readonly cmd: pulumi.Output<string[]>;
    declare public readonly workingDir: pulumi.Output<string>;
    declare public readonly user: pulumi.Output<string>;

    constructor(name: string, args: ImageConfigArgs, opts?: pulumi.CustomResourceOptions) {
        const inputs: Record<string, unknown> = {
            image: args.image,
            username: args.username,
            password: args.password === undefined ? undefined : pulumi.secret(args.password),
            insecure: args.insecure,
            entrypoint: undefined, cmd: undefined, workingDir: undefined, user: undefined,
        };
        super(imageConfigProvider, name, inputs, opts, "longshore", "ImageConfig");
    }
}
