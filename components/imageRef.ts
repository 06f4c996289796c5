// Image references: parsing and the pinning rules every Longshore component applies.
//
// - Worker images (anything a ServerlessEndpoint runs, and the gateway image) must be pinned by digest:
//   `repo@sha256:<64 hex>` (optionally `repo:tag@sha256:…`). A tag alone is mutable and is refused.
// - Infrastructure images (Redis, KEDA, the device plugin) may use a version tag or a digest, never `latest`
//   or an implicit latest (no tag at all).
import * as pulumi from "@pulumi/pulumi";
import { Rule, Validator } from "./validate";

export interface ImageRef {
    /** Registry host (with port), e.g. "localhost:5000", "123.dkr.ecr.us-east-1.amazonaws.com", "docker.io". */
    registry: string;
    /** Repository path inside the registry, e.g. "longshore/echo" or "library/redis". */
    repository: string;
    /** Tag, if one was given. */
    tag?: string;
    /** "sha256:<hex>", if one was given. */
    digest?: string;
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const REPO_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;

/** Parses `[host[:port]/]path[:tag][@sha256:hex]`. Throws an Error describing what is malformed. */
export function parseImageRef(ref: string): ImageRef {
    if (typeof ref !== "string" || ref.trim() === "") throw new Error("must be a non-empty image reference");
    if (/\s/.test(ref)) throw new Error("must not contain whitespace");
    let rest = ref;
    let digest: string | undefined;
    const at = rest.indexOf("@");
    if (at >= 0) {
        digest = rest.slice(at + 1);
        rest = rest.slice(0, at);
        if (!DIGEST_RE.test(digest)) throw new Error(`has a malformed digest "${digest}" (expected sha256:<64 lowercase hex>)`);
    }
    let tag: string | undefined;
    const lastSlash = rest.lastIndexOf("/");
    const lastColon = rest.lastIndexOf(":");
    if (lastColon > lastSlash) {
        tag = rest.slice(lastColon + 1);
        rest = rest.slice(0, lastColon);
        if (!TAG_RE.test(tag)) throw new Error(`has a malformed tag "${tag}"`);
    }
    const parts = rest.split("/");
    let registry = "docker.io";
    if (parts.length > 1 && (parts[0].includes(".") || parts[0].includes(":") || parts[0] === "localhost")) {
        registry = parts.shift() as string;
    }
    if (parts.length === 0 || parts.some((p) => !REPO_COMPONENT_RE.test(p))) {
        throw new Error(`has a malformed repository "${parts.join("/")}" (lowercase letters, digits and separators)`);
    }
    if (registry === "docker.io" && parts.length === 1) parts.unshift("library");
    return { registry, repository: parts.join("/"), tag, digest };
}

/** `registry/repository` as written in a reference (Docker Hub short names are kept as the user wrote them). */
export function repositoryOf(ref: string): string {
    const at = ref.indexOf("@");
    let rest = at >= 0 ? ref.slice(0, at) : ref;
    const lastSlash = rest.lastIndexOf("/");
    const lastColon = rest.lastIndexOf(":");
    if (lastColon > lastSlash) rest = rest.slice(0, lastColon);
    return rest;
}

/** Rule: a reference pinned by digest. */
export const digestRef: Rule<unknown> = (v) => {
    if (typeof v !== "string") return "must be an image reference pinned by digest (repo@sha256:…)";
    let parsed: ImageRef;
    try {
        parsed = parseImageRef(v);
    } catch (e) {
        return (e as Error).message;
    }
    if (!parsed.digest) {
        return "must be pinned by digest (repo@sha256:<64 hex>), not a tag: use a WorkerImage's `ref` output, or WorkerImage with `pin` to resolve an existing tag to its digest";
    }
    return undefined;
};

/** Rule: a reference pinned by digest or by an explicit version tag other than `latest`. */
export const pinnedImage: Rule<unknown> = (v) => {
    if (typeof v !== "string") return "must be an image reference";
    let parsed: ImageRef;
    try {
        parsed = parseImageRef(v);
    } catch (e) {
        return (e as Error).message;
    }
    if (parsed.digest) return undefined;
    if (!parsed.tag) return "must name a version tag or a digest (an untagged reference means the mutable `latest`)";
    if (parsed.tag === "latest") return "must not use the mutable `latest` tag: pin a version tag or a digest";
    return undefined;
};

/** Rule for a repository name without tag or digest. */
export const bareRepository: Rule<unknown> = (v) => {
    if (typeof v !== "string") return "must be a repository such as registry.example.com/team/worker";
    let parsed: ImageRef;
    try {
        parsed = parseImageRef(v);
    } catch (e) {
        return (e as Error).message;
    }
    if (parsed.tag || parsed.digest) return "must be a repository without tag or digest (give tags in `tags`)";
    return undefined;
};

/** Rule for a tag (name only, no repository). */
export const tagName: Rule<unknown> = (v) =>
    typeof v !== "string" || !TAG_RE.test(v) ? "must be a Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})" : undefined;

/** Rule for the tag list of a pushed image: at least one tag, each valid, and not only `latest`. */
export const versionTags: Rule<unknown> = (v) => {
    if (!Array.isArray(v) || v.length === 0) return "must contain at least one version tag (e.g. a semver such as \"1.4.2\"); untagged images are refused";
    for (let i = 0; i < v.length; i++) {
        const broken = tagName(v[i]);
        if (broken) return `entry [${i}] (${JSON.stringify(v[i])}) ${broken}`;
    }
    if (v.every((t) => t === "latest")) return "must not be `latest` only: add a version tag (e.g. semver) — the image is then referenced by digest";
    return undefined;
};

/**
 * Requires an image reference pinned by digest. Plain strings are checked now (throws a
 * LongshoreValidationError); Outputs are checked when known. Returns the reference as an Output.
 *
 *     requireDigestRef(img.ref)                       // ok
 *     requireDigestRef("localhost:5000/echo:1.0")     // throws: must be pinned by digest
 */
export function requireDigestRef(
    ref: pulumi.Input<string>,
    context: { component?: string; name?: string; argument?: string } = {},
): pulumi.Output<string> {
    const v = new Validator(context.component ?? "image", context.name ?? "reference");
    return v.check(context.argument ?? "image", ref, [digestRef]);
}
