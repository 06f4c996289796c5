// WorkerImage: a worker image pinned by digest, either built and pushed here (docker-build / BuildKit) or an
// already-pushed tag resolved to its digest without building (`pin`).
import * as pulumi from "@pulumi/pulumi";
import * as dockerBuild from "@pulumi/docker-build";
import * as aws from "@pulumi/aws";
import { Validator, nonEmptyString, each } from "./validate";
import { bareRepository, pinnedImage, versionTags } from "./imageRef";
import { RegistryDigest } from "./registryDigest";
import { getChild, setChild } from "./children";

/** Credentials for a generic registry (username/password or token). */
export interface RegistryCredentials {
    /** Registry host, e.g. "ghcr.io" or "localhost:5000". Default: the host of `repository`. */
    address?: pulumi.Input<string>;
    /** Registry user name (for a token, whatever user name the registry expects). */
    username: pulumi.Input<string>;
    /** Password or token (a Pulumi secret). */
    password: pulumi.Input<string>;
}

/** An ECR repository (an `aws.ecr.Repository` fits). Credentials come from `aws.ecr.getAuthorizationToken`. */
export interface EcrRepositoryRef {
    /** Repository URL, e.g. "123456789012.dkr.ecr.us-east-1.amazonaws.com/echo". */
    repositoryUrl: pulumi.Input<string>;
    /** Registry id (AWS account) for the authorization token. Default: the account of the credentials. */
    registryId?: pulumi.Input<string>;
}

/** Pin mode: an already-pushed tag resolved to its digest without building. */
export interface WorkerImagePin {
    /** An already-pushed tag, e.g. "localhost:5000/longshore/echo:1.0.0". `latest`/untagged is refused. */
    image: pulumi.Input<string>;
    /** Registry credentials for private registries (username/password or token). */
    username?: pulumi.Input<string>;
    /** Registry password or token (a Pulumi secret). */
    password?: pulumi.Input<string>;
    /** Plain HTTP. Default: true for localhost/127.x registries. */
    insecure?: pulumi.Input<boolean>;
}

export interface WorkerImageArgs {
    // ---- build mode ----
    /** Build context directory. Required unless `pin` is given. */
    context?: pulumi.Input<string>;
    /** Dockerfile path (default: `<context>/Dockerfile`). */
    dockerfile?: pulumi.Input<string>;
    /** Inline Dockerfile text instead of a file. */
    dockerfileInline?: pulumi.Input<string>;
    /** Build arguments (`--build-arg`), e.g. { BASE_IMAGE: "localhost:5000/longshore/python-base:3.11-bookworm" }. */
    buildArgs?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Multi-stage build target. */
    target?: pulumi.Input<string>;
    /** Target platforms. Default ["linux/amd64"] (GPU nodes are x86_64). */
    platforms?: pulumi.Input<pulumi.Input<string>[]>;
    /** Registry refs to import cache from (`type=registry`), e.g. "localhost:5000/echo:buildcache". */
    cacheFrom?: pulumi.Input<pulumi.Input<string>[]>;
    /** Registry ref to export cache to (`type=registry,mode=max`). */
    cacheTo?: pulumi.Input<string>;
    /** Repository to push to, without tag, e.g. "localhost:5000/longshore/echo". Or use `ecrRepository`. */
    repository?: pulumi.Input<string>;
    /** ECR repository to push to (credentials from aws.ecr.getAuthorizationToken). */
    ecrRepository?: EcrRepositoryRef;
    /** Tags (names only, e.g. ["1.4.2", "git-3f2a1c"]). A `latest`-only list is refused. */
    tags?: pulumi.Input<pulumi.Input<string>[]>;
    /** Push to the registry (default true; the digest only exists once pushed). */
    push?: pulumi.Input<boolean>;
    /** Generic registry credentials. */
    registry?: RegistryCredentials;
    /** Build during preview too (default false: previews make no build and no registry call). */
    buildOnPreview?: pulumi.Input<boolean>;
    /** BuildKit builder name (docker-build `builder.name`). */
    builderName?: pulumi.Input<string>;

    // ---- pin mode ----
    /** Pin an already-pushed tag to its digest without building. Exclusive with the build arguments. */
    pin?: WorkerImagePin;
}

const BUILD_KEYS: (keyof WorkerImageArgs)[] = [
    "context", "dockerfile", "dockerfileInline", "buildArgs", "target", "platforms", "cacheFrom", "cacheTo",
    "repository", "ecrRepository", "tags", "push", "registry", "buildOnPreview", "builderName",
];

function hostOf(repository: string): string {
    const first = repository.split("/")[0];
    return first.includes(".") || first.includes(":") || first === "localhost" ? first : "docker.io";
}

/**
 * A worker image pinned by digest: built and pushed with BuildKit (build mode), or an already-pushed tag
 * resolved to its digest without building (pin mode). Its `ref` is what ServerlessEndpoint's `image` takes.
 */
export class WorkerImage extends pulumi.ComponentResource {
    /** "sha256:…" manifest digest. */
    public readonly digest: pulumi.Output<string>;
    /** "repository@sha256:…" — what ServerlessEndpoint takes. */
    public readonly ref: pulumi.Output<string>;
    /** Full tag references, e.g. ["localhost:5000/longshore/echo:1.0.0"]. */
    public readonly tags: pulumi.Output<string[]>;
    /** Repository without tag. */
    public readonly repository: pulumi.Output<string>;
    /**
     * The docker-build Image (build mode) — undefined in pin mode. A getter, TypeScript only
     * (components/children.ts says why).
     */
    public get image(): dockerBuild.Image | undefined {
        return getChild(this, "image");
    }

    /** Shorthand for the pin mode: `WorkerImage.pin("echo", "localhost:5000/echo:1.0.0")`. */
    static pin(name: string, image: pulumi.Input<string>, extra: Omit<WorkerImagePin, "image"> = {}, opts?: pulumi.ComponentResourceOptions): WorkerImage {
        return new WorkerImage(name, { pin: { image, ...extra } }, opts);
    }

    constructor(name: string, args: WorkerImageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("longshore:index:WorkerImage", name, {}, opts);
        const v = new Validator("WorkerImage", name);

        if (args.pin) {
            const extra = BUILD_KEYS.filter((k) => args[k] !== undefined);
            if (extra.length > 0) v.fail("pin", `cannot be combined with build arguments (${extra.join(", ")}): pin resolves an existing tag without building`);
            const image = v.check("pin.image", args.pin.image, [nonEmptyString, pinnedTagOnly]);
            const resolved = new RegistryDigest(`${name}-digest`, {
                image,
                username: args.pin.username,
                password: args.pin.password,
                insecure: args.pin.insecure,
            }, { parent: this });
            this.digest = resolved.digest;
            this.ref = resolved.ref;
            this.repository = resolved.repository;
            this.tags = pulumi.output(image).apply((i) => [i]);
        } else {
            if (args.context === undefined) v.fail("context", "is required (or give `pin` to resolve an existing tag without building)");
            const context = v.check("context", args.context, [nonEmptyString]);
            if (args.repository !== undefined && args.ecrRepository !== undefined) v.fail("repository", "cannot be combined with ecrRepository: give one");
            if (args.repository === undefined && args.ecrRepository === undefined) v.fail("repository", "is required (or give ecrRepository)");
            if (args.dockerfile !== undefined && args.dockerfileInline !== undefined) v.fail("dockerfile", "cannot be combined with dockerfileInline: give one");
            const repository = args.ecrRepository
                ? v.check("ecrRepository.repositoryUrl", args.ecrRepository.repositoryUrl, [nonEmptyString, bareRepository])
                : v.check("repository", args.repository as pulumi.Input<string>, [nonEmptyString, bareRepository]);
            const tags = v.check<string[]>("tags", args.tags as any, [versionTags]);
            const platforms = v.check<string[]>("platforms", args.platforms as any, [
                each((p) => (typeof p === "string" && /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(p) ? undefined : "must be an os/arch platform such as linux/amd64")),
            ], ["linux/amd64"]);
            const push = pulumi.output(args.push ?? true);

            let registries: pulumi.Input<dockerBuild.types.input.RegistryArgs[]> | undefined;
            if (args.ecrRepository) {
                const token = aws.ecr.getAuthorizationTokenOutput(
                    args.ecrRepository.registryId !== undefined ? { registryId: args.ecrRepository.registryId } : {},
                    { parent: this },
                );
                registries = [{
                    address: pulumi.output(repository).apply(hostOf),
                    username: token.userName,
                    password: pulumi.secret(token.password),
                }];
            } else if (args.registry) {
                const r = args.registry;
                registries = [{
                    address: r.address ?? pulumi.output(repository).apply(hostOf),
                    username: r.username,
                    password: pulumi.secret(r.password),
                }];
            }

            const fullTags = pulumi.all([repository, tags]).apply(([repo, ts]) => ts.map((t) => `${repo}:${t}`));
            const image = new dockerBuild.Image(`${name}`, {
                context: { location: context },
                dockerfile: args.dockerfileInline !== undefined
                    ? { inline: args.dockerfileInline }
                    : args.dockerfile !== undefined ? { location: args.dockerfile } : undefined,
                buildArgs: args.buildArgs,
                target: args.target,
                platforms: platforms as pulumi.Output<dockerBuild.Platform[]>,
                tags: fullTags,
                push,
                registries,
                buildOnPreview: args.buildOnPreview ?? false,
                builder: args.builderName !== undefined ? { name: args.builderName } : undefined,
                cacheFrom: args.cacheFrom !== undefined
                    ? pulumi.output(args.cacheFrom).apply((refs) => refs.map((ref) => ({ registry: { ref } })))
                    : undefined,
                cacheTo: args.cacheTo !== undefined
                    ? [{ registry: { ref: args.cacheTo, mode: dockerBuild.CacheMode.Max } }]
                    : undefined,
            }, { parent: this });
            setChild(this, "image", image);
            this.repository = repository;
            this.tags = fullTags;
            this.digest = pulumi.all([image.digest, push]).apply(([d, p]) => {
                if (p && !d) {
                    // The preview of a changed image (buildOnPreview false): the provider builds nothing and answers an
                    // empty digest. It is known after the build, so the preview shows the ref as computed, not an error.
                    if (pulumi.runtime.isDryRun() && !(args.buildOnPreview ?? false)) return pulumi.unknown as unknown as string;
                    throw new Error(`WorkerImage "${name}": the build produced no digest (was it pushed?)`);
                }
                return d;
            });
            this.ref = pulumi.all([repository, this.digest]).apply(([repo, d]) => `${repo}@${d}`);
        }

        this.registerOutputs({ digest: this.digest, ref: this.ref, tags: this.tags, repository: this.repository });
    }
}

/** pin.image: a version tag, no digest, not latest. */
function pinnedTagOnly(v: unknown): string | undefined {
    if (typeof v === "string" && v.includes("@")) return "already has a digest: pass it directly as the endpoint's image, there is nothing to resolve";
    return pinnedImage(v);
}
