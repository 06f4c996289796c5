// Resolves an already-pushed tag to its manifest digest, as a Pulumi dynamic resource.
//
// Why not `@pulumi/docker`'s `getRegistryImage`: that provider is Terraform-bridged and cannot be built from
// the package registries this project may use (see docs/components/worker-image.md), so a program using it
// could not pass a real `pulumi up` on the local proving ground. The Registry HTTP API v2 is small and
// standard (Docker Hub, ECR, GHCR, Harbor, distribution/registry all speak it): one HEAD of the manifest with
// the OCI + Docker media types in `Accept` returns `Docker-Content-Digest`; a 401 carries a `WWW-Authenticate`
// challenge (Bearer token service, or Basic) that we answer once. So the resolver is hand-written here, with
// node's own http/https client and no extra provider plugin.
//
// Why a dynamic resource and not an invoke: an invoke runs on every preview and would call the registry during
// preview. The dynamic resource resolves in `create` (during `up`), keeps the digest in state, and its `diff`
// only compares inputs, so `pulumi preview` makes no registry call. A tag that was moved in the registry is
// picked up explicitly with `pulumi refresh` / `pulumi up --refresh` (the `read` method resolves again), or by
// changing the tag — the deployed digest never changes behind the user's back.
//
// The functions below are serialized into the Pulumi state by the dynamic-provider machinery, so they only
// `require` node built-ins inside their bodies and capture nothing else.
import * as pulumi from "@pulumi/pulumi";

export interface ResolveOptions {
    username?: string;
    password?: string;
    /** Use plain HTTP. Default: true for localhost/127.x registries, false otherwise. */
    insecure?: boolean;
    /** Request timeout per HTTP call in ms. */
    timeoutMs?: number;
}

export interface ResolvedImage {
    /** The reference as given, e.g. "localhost:5000/longshore/echo:1.0.0". */
    image: string;
    /** "localhost:5000/longshore/echo" */
    repository: string;
    tag: string;
    /** "sha256:…" */
    digest: string;
    /** "localhost:5000/longshore/echo@sha256:…" */
    ref: string;
}

/** Resolves `image` (registry/repo:tag) to its manifest digest via the Registry HTTP API v2. */
export async function resolveImageDigest(image: string, opts: ResolveOptions = {}): Promise<ResolvedImage> {
    // Everything is inside this function so the dynamic-provider closure serializer captures nothing else.
    const http = require("node:http");
    const https = require("node:https");
    const crypto = require("node:crypto");

    const at = image.indexOf("@");
    if (at >= 0) throw new Error(`image "${image}" already has a digest; give a tag to resolve`);
    const lastSlash = image.lastIndexOf("/");
    const lastColon = image.lastIndexOf(":");
    if (lastColon <= lastSlash) throw new Error(`image "${image}" has no tag to resolve`);
    const tag = image.slice(lastColon + 1);
    const repoRef = image.slice(0, lastColon);
    const parts = repoRef.split("/");
    let host = "docker.io";
    if (parts.length > 1 && (parts[0].includes(".") || parts[0].includes(":") || parts[0] === "localhost")) {
        host = parts.shift() as string;
    }
    if (host === "docker.io" && parts.length === 1) parts.unshift("library");
    const name = parts.join("/");
    const apiHost = host === "docker.io" ? "registry-1.docker.io" : host;
    const hostname = apiHost.replace(/:\d+$/, "");
    const insecure = opts.insecure ?? (hostname === "localhost" || /^127\./.test(hostname) || hostname === "[::1]");
    const base = `${insecure ? "http" : "https"}://${apiHost}`;
    const timeoutMs = opts.timeoutMs ?? 30000;
    const accept = [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ].join(", ");

    type Res = { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer };
    const request = (method: string, url: string, headers: Record<string, string>): Promise<Res> =>
        new Promise((resolve, reject) => {
            const u = new URL(url);
            const mod = u.protocol === "http:" ? http : https;
            const req = mod.request(u, { method, headers, timeout: timeoutMs }, (res: any) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
                res.on("error", reject);
            });
            req.on("timeout", () => req.destroy(new Error(`timed out after ${timeoutMs} ms: ${method} ${url}`)));
            req.on("error", reject);
            req.end();
        });

    const basic =
        opts.username !== undefined && opts.password !== undefined
            ? "Basic " + Buffer.from(`${opts.username}:${opts.password}`).toString("base64")
            : undefined;

    // Parses `Bearer realm="…",service="…",scope="…"` (values may contain commas inside quotes).
    const parseChallenge = (h: string): { scheme: string; params: Record<string, string> } => {
        const m = /^\s*(\w+)\s*(.*)$/.exec(h) || [];
        const params: Record<string, string> = {};
        const re = /(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g;
        let p: RegExpExecArray | null;
        while ((p = re.exec(m[2] || "")) !== null) params[p[1].toLowerCase()] = p[2] ?? p[3] ?? "";
        return { scheme: (m[1] || "").toLowerCase(), params };
    };

    const manifestUrl = `${base}/v2/${name}/manifests/${encodeURIComponent(tag)}`;
    const fetchManifest = async (method: string, auth?: string) =>
        request(method, manifestUrl, auth ? { Accept: accept, Authorization: auth } : { Accept: accept });

    let auth: string | undefined = undefined;
    let res = await fetchManifest("HEAD");
    if (res.status === 401) {
        const challenge = String(res.headers["www-authenticate"] || "");
        const { scheme, params } = parseChallenge(challenge);
        if (scheme === "bearer" && params.realm) {
            const tu = new URL(params.realm);
            if (params.service) tu.searchParams.set("service", params.service);
            tu.searchParams.set("scope", params.scope || `repository:${name}:pull`);
            const tr = await request("GET", tu.toString(), basic ? { Authorization: basic } : {});
            if (tr.status !== 200) {
                throw new Error(`registry token service ${tu.origin} answered ${tr.status} for ${image}: ${tr.body.toString("utf8").slice(0, 200)}`);
            }
            const tok = JSON.parse(tr.body.toString("utf8"));
            const token = tok.token || tok.access_token;
            if (!token) throw new Error(`registry token service ${tu.origin} returned no token for ${image}`);
            auth = `Bearer ${token}`;
        } else if (scheme === "basic" && basic) {
            auth = basic;
        } else {
            throw new Error(`registry ${host} requires authentication for ${image} (${challenge || "no challenge"}); give username/password`);
        }
        res = await fetchManifest("HEAD", auth);
    }
    if (res.status === 404) throw new Error(`image ${image} not found in registry ${host} (manifest unknown)`);
    if (res.status < 200 || res.status >= 300) throw new Error(`registry ${host} answered ${res.status} to HEAD ${manifestUrl}`);
    let digest = res.headers["docker-content-digest"] as string | undefined;
    if (!digest) {
        // Some registries omit the header on HEAD: fetch the manifest and hash its exact bytes.
        const g = await fetchManifest("GET", auth);
        if (g.status < 200 || g.status >= 300) throw new Error(`registry ${host} answered ${g.status} to GET ${manifestUrl}`);
        digest = (g.headers["docker-content-digest"] as string | undefined) ||
            "sha256:" + crypto.createHash("sha256").update(g.body).digest("hex");
    }
    if (!/^sha256:[a-f0-9]{64}$/.test(digest as string)) throw new Error(`registry ${host} returned an unexpected digest "${digest}" for ${image}`);
    return { image, repository: repoRef, tag, digest: digest as string, ref: `${repoRef}@${digest}` };
}

interface RegistryDigestInputs {
    kind: "longshore:RegistryDigest";
    image: string;
    username?: string;
    password?: string;
    insecure?: boolean;
}

/** The dynamic provider (exported for tests). */
export const registryDigestProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: any, news: any) {
        return { inputs: news };
    },
    async diff(_id: string, olds: any, news: any) {
        // Inputs only: no registry call during preview. `pulumi refresh` re-resolves via `read`.
        const keys = ["image", "username", "password", "insecure"];
        const changed = keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes: changed.length > 0, replaces: changed.includes("image") ? ["image"] : [], deleteBeforeReplace: false };
    },
    async create(inputs: any) {
        const r = await resolveImageDigest(inputs.image, { username: inputs.username, password: inputs.password, insecure: inputs.insecure });
        return { id: r.ref, outs: { ...r } };
    },
    async read(id: string, props: any) {
        const r = await resolveImageDigest(props.image, { username: props.username, password: props.password, insecure: props.insecure });
        return { id, props: { ...props, ...r } };
    },
    async update(_id: string, _olds: any, news: any) {
        const r = await resolveImageDigest(news.image, { username: news.username, password: news.password, insecure: news.insecure });
        return { outs: { ...r } };
    },
    async delete() {
        /* nothing to delete: resolving is read-only */
    },
};

export interface RegistryDigestArgs {
    /** Tag reference to resolve, e.g. "localhost:5000/longshore/echo:1.0.0". */
    image: pulumi.Input<string>;
    username?: pulumi.Input<string>;
    password?: pulumi.Input<string>;
    insecure?: pulumi.Input<boolean>;
}

/** A tag resolved to its digest once (during `up`) and kept in state. Used by `WorkerImage` with `pin`. */
export class RegistryDigest extends pulumi.dynamic.Resource {
    declare public readonly image: pulumi.Output<string>;
    declare public readonly repository: pulumi.Output<string>;
    declare public readonly tag: pulumi.Output<string>;
    declare public readonly digest: pulumi.Output<string>;
    declare public readonly ref: pulumi.Output<string>;

    constructor(name: string, args: RegistryDigestArgs, opts?: pulumi.CustomResourceOptions) {
        const inputs: Record<string, unknown> = {
            kind: "longshore:RegistryDigest",
            image: args.image,
            username: args.username,
            password: args.password === undefined ? undefined : pulumi.secret(args.password),
            insecure: args.insecure,
            repository: undefined,
            tag: undefined,
            digest: undefined,
            ref: undefined,
        };
        super(registryDigestProvider, name, inputs as unknown as RegistryDigestInputs, opts, "longshore", "RegistryDigest");
    }
}
