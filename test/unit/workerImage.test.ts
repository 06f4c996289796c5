import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { mockPulumi, settle, valueOf, thrown, rejectionOf, containsSecret, FAKE_DIGEST, Recorder } from "./harness";
import { WorkerImage, WorkerImageArgs, requireDigestRef, parseImageRef, digestRef, pinnedImage } from "../../components";

const build = (extra: Partial<WorkerImageArgs> = {}): WorkerImageArgs => ({
    context: "examples/echo",
    repository: "localhost:5000/longshore/echo",
    tags: ["1.0.0"],
    ...extra,
});

describe("WorkerImage: the build's digest", () => {
    // What `pulumi up` meets when an image's context changed (a code change under review): the preview step
    // builds nothing (buildOnPreview false) and the docker-build provider answers an empty digest.
    it("in preview, an image that is not built yet has an unknown digest and ref (computed), not an error", async () => {
        const rec = await mockPulumi({ preview: true, emptyImageDigests: true });
        const img = new WorkerImage("echo", build());
        await settle(rec);
        assert.strictEqual(await (img.digest as any).isKnown, false);
        assert.strictEqual(await (img.ref as any).isKnown, false);
    });

    it("during an update, a pushed build without a digest is still an error", async () => {
        const rec = await mockPulumi({ emptyImageDigests: true });
        const img = new WorkerImage("echo", build());
        await settle(rec);
        assert.match((await rejectionOf(img.digest)).message, /WorkerImage "echo": the build produced no digest/);
    });
});

describe("WorkerImage (build)", () => {
    let rec: Recorder;
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    it("builds with docker-build for linux/amd64, pushes, and exposes digest, repo@digest ref and tags", async () => {
        const img = new WorkerImage("echo", build({ tags: ["1.0.0", "git-3f2a1c"], buildArgs: { BASE_IMAGE: "localhost:5000/longshore/python-base:3.11-bookworm" }, target: "runtime" }));
        await settle(rec);
        const i = rec.one("docker-build:index:Image").inputs;
        assert.deepStrictEqual(i.context, { location: "examples/echo" });
        assert.deepStrictEqual(i.platforms, ["linux/amd64"]);
        assert.strictEqual(i.push, true);
        assert.strictEqual(i.buildOnPreview, false, "previews make no build and no registry call");
        assert.strictEqual(i.target, "runtime");
        assert.deepStrictEqual(i.buildArgs, { BASE_IMAGE: "localhost:5000/longshore/python-base:3.11-bookworm" });
        assert.deepStrictEqual(i.tags, ["localhost:5000/longshore/echo:1.0.0", "localhost:5000/longshore/echo:git-3f2a1c"]);
        assert.strictEqual(await valueOf(img.digest), FAKE_DIGEST);
        assert.strictEqual(await valueOf(img.ref), `localhost:5000/longshore/echo@${FAKE_DIGEST}`);
        assert.deepStrictEqual(await valueOf(img.tags), ["localhost:5000/longshore/echo:1.0.0", "localhost:5000/longshore/echo:git-3f2a1c"]);
        assert.strictEqual(digestRef(await valueOf(img.ref)), undefined, "the ref is what ServerlessEndpoint accepts");
    });

    it("cache from/to registry refs, dockerfile path, platforms and generic registry credentials (password secret)", async () => {
        new WorkerImage("echo", build({
            dockerfile: "examples/echo/Dockerfile.gpu",
            platforms: ["linux/amd64", "linux/arm64"],
            cacheFrom: ["localhost:5000/longshore/echo:cache"],
            cacheTo: "localhost:5000/longshore/echo:cache",
            registry: { username: "ci", password: "hunter2" },
        }));
        await settle(rec);
        const raw = rec.one("docker-build:index:Image").raw;
        const i = rec.one("docker-build:index:Image").inputs;
        assert.deepStrictEqual(i.dockerfile, { location: "examples/echo/Dockerfile.gpu" });
        assert.deepStrictEqual(i.platforms, ["linux/amd64", "linux/arm64"]);
        assert.deepStrictEqual(i.cacheFrom, [{ registry: { ref: "localhost:5000/longshore/echo:cache" } }]);
        assert.deepStrictEqual(i.cacheTo, [{ registry: { ref: "localhost:5000/longshore/echo:cache", mode: "max" } }]);
        assert.strictEqual(i.registries[0].address, "localhost:5000");
        assert.strictEqual(i.registries[0].username, "ci");
        assert.strictEqual(i.registries[0].password, "hunter2");
        assert.ok(containsSecret(raw.registries), "the registry password is a secret");
    });

    it("ECR: tags under the repository URL, credentials from aws.ecr.getAuthorizationToken", async () => {
        const img = new WorkerImage("echo", {
            context: "examples/echo",
            ecrRepository: { repositoryUrl: "123456789012.dkr.ecr.us-east-1.amazonaws.com/longshore/echo", registryId: "123456789012" },
            tags: ["1.2.0"],
        });
        await settle(rec);
        const i = rec.one("docker-build:index:Image").inputs;
        assert.deepStrictEqual(i.tags, ["123456789012.dkr.ecr.us-east-1.amazonaws.com/longshore/echo:1.2.0"]);
        assert.deepStrictEqual(rec.invokes.map((x) => x.token), ["aws:ecr/getAuthorizationToken:getAuthorizationToken"]);
        assert.strictEqual(rec.invokes[0].args.registryId, "123456789012");
        assert.strictEqual(i.registries[0].address, "123456789012.dkr.ecr.us-east-1.amazonaws.com");
        assert.strictEqual(i.registries[0].username, "AWS");
        assert.strictEqual(i.registries[0].password, "ecr-password");
        assert.strictEqual(await valueOf(img.ref), `123456789012.dkr.ecr.us-east-1.amazonaws.com/longshore/echo@${FAKE_DIGEST}`);
    });

    describe("validation", () => {
        const cases: [string, Partial<WorkerImageArgs>, RegExp][] = [
            ["latest only", { tags: ["latest"] }, /tags \(\["latest"\]\) must not be `latest` only/],
            ["no tags", { tags: [] }, /tags \(\[\]\) must contain at least one version tag/],
            ["tags missing", { tags: undefined }, /tags .*must contain at least one version tag/],
            ["bad tag", { tags: ["v1/2"] }, /tags .* entry \[0\] \("v1\/2"\) must be a Docker tag/],
            ["repository with tag", { repository: "localhost:5000/echo:1.0" }, /repository \("localhost:5000\/echo:1.0"\) must be a repository without tag or digest/],
            ["uppercase repository", { repository: "localhost:5000/Echo" }, /repository .* has a malformed repository/],
            ["no context", { context: undefined }, /context is required \(or give `pin`/],
            ["no repository", { repository: undefined }, /repository is required \(or give ecrRepository\)/],
            ["both repositories", { ecrRepository: { repositoryUrl: "1.dkr.ecr.us-east-1.amazonaws.com/x" } }, /repository cannot be combined with ecrRepository/],
            ["two dockerfiles", { dockerfile: "a", dockerfileInline: "FROM x" }, /dockerfile cannot be combined with dockerfileInline/],
            ["bad platform", { platforms: ["amd64"] }, /platforms .* must be an os\/arch platform/],
            ["pin with build args", { pin: { image: "localhost:5000/echo:1.0" } }, /pin cannot be combined with build arguments \(context, repository, tags\)/],
        ];
        for (const [what, extra, re] of cases) {
            it(what, () => {
                const msg = thrown(() => new WorkerImage("bad", build(extra)));
                assert.match(msg, /^WorkerImage "bad": /);
                assert.match(msg, re);
            });
        }
        it("a latest-only tag list given as an Output fails when known", async () => {
            const img = new WorkerImage("late", build({ tags: pulumi.output(["latest"]) }));
            assert.match((await rejectionOf(img.ref)).message, /WorkerImage "late": tags \(\["latest"\]\) must not be `latest` only/);
        });
    });
});

describe("WorkerImage (pin an existing tag)", () => {
    let rec: Recorder;
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    it("resolves the tag with the RegistryDigest dynamic resource, builds nothing", async () => {
        const img = WorkerImage.pin("base", "localhost:5000/longshore/python-base:3.11-bookworm", { username: "u", password: "p" });
        await settle(rec);
        assert.strictEqual(rec.byType("docker-build:index:Image").length, 0);
        const d = rec.one("pulumi-nodejs:dynamic/longshore:RegistryDigest");
        assert.strictEqual(d.inputs.image, "localhost:5000/longshore/python-base:3.11-bookworm");
        assert.ok(containsSecret(d.raw.password), "registry password is a secret in state");
        assert.strictEqual(await valueOf(img.ref), `localhost:5000/longshore/python-base@${FAKE_DIGEST}`);
        assert.strictEqual(await valueOf(img.digest), FAKE_DIGEST);
        assert.deepStrictEqual(await valueOf(img.tags), ["localhost:5000/longshore/python-base:3.11-bookworm"]);
    });

    for (const [what, image, re] of [
        ["latest", "localhost:5000/echo:latest", /pin\.image \("localhost:5000\/echo:latest"\) must not use the mutable `latest` tag/],
        ["untagged", "localhost:5000/echo", /pin\.image \("localhost:5000\/echo"\) must name a version tag or a digest/],
        ["already a digest", `localhost:5000/echo@${FAKE_DIGEST}`, /pin\.image .* already has a digest/],
    ] as [string, string, RegExp][]) {
        it(`refuses ${what}`, () => {
            assert.match(thrown(() => WorkerImage.pin("bad", image)), re);
        });
    }

    it("in preview: registers the resolver (resolved during up), no registry call from the program", async () => {
        rec = await mockPulumi({ preview: true });
        WorkerImage.pin("base", "localhost:5000/longshore/python-base:3.11-bookworm");
        await settle(rec);
        assert.strictEqual(rec.byType("pulumi-nodejs:dynamic/longshore:RegistryDigest").length, 1);
        assert.strictEqual(rec.invokes.length, 0);
    });
});

describe("image references", () => {
    it("parseImageRef", () => {
        assert.deepStrictEqual(parseImageRef("redis:7.2"), { registry: "docker.io", repository: "library/redis", tag: "7.2", digest: undefined });
        assert.deepStrictEqual(parseImageRef(`localhost:5000/a/b:1@${FAKE_DIGEST}`), { registry: "localhost:5000", repository: "a/b", tag: "1", digest: FAKE_DIGEST });
        assert.deepStrictEqual(parseImageRef("ghcr.io/kedacore/keda"), { registry: "ghcr.io", repository: "kedacore/keda", tag: undefined, digest: undefined });
        assert.throws(() => parseImageRef("a b"), /whitespace/);
        assert.throws(() => parseImageRef("x@sha256:zz"), /malformed digest/);
    });

    it("digestRef / pinnedImage rules", () => {
        assert.strictEqual(digestRef(`echo@${FAKE_DIGEST}`), undefined);
        assert.strictEqual(digestRef(`echo:1.0@${FAKE_DIGEST}`), undefined);
        assert.match(digestRef("echo:1.0")!, /must be pinned by digest/);
        assert.strictEqual(pinnedImage("redis:7.2.5"), undefined);
        assert.strictEqual(pinnedImage(`redis@${FAKE_DIGEST}`), undefined);
        assert.match(pinnedImage("redis")!, /version tag or a digest/);
        assert.match(pinnedImage("redis:latest")!, /latest/);
    });

    it("requireDigestRef: plain tag throws now, Output tag fails when known, digest passes", async () => {
        await mockPulumi();
        assert.strictEqual(await valueOf(requireDigestRef(`localhost:5000/e@${FAKE_DIGEST}`)), `localhost:5000/e@${FAKE_DIGEST}`);
        assert.match(thrown(() => requireDigestRef("localhost:5000/e:1.0", { component: "MyThing", name: "t", argument: "image" })),
            /^MyThing "t": image \("localhost:5000\/e:1.0"\) must be pinned by digest/);
        const err = await rejectionOf(requireDigestRef(pulumi.output("e:2.0")));
        assert.match(err.message, /image \("e:2.0"\) must be pinned by digest/);
    });
});
