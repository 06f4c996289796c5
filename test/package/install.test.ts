// The npm package as a user gets it: the tarball `npm pack` produces, installed into a fresh Pulumi TypeScript
// project in a temp directory outside the repository (nothing from our checkout on its module path), then
//   - tsc type-checks and compiles the user's program against the package's types (longshore, longshore/worker,
//     longshore/policy);
//   - the program runs under Pulumi's mocks as a preview would (KEDA from the manifests the package ships, the
//     gateway image from the package's own build context), and a bad argument fails naming it;
//   - `npx longshore --help` runs the CLI from the package's bin;
//   - the gateway image builds from the package's build context (the proving ground's Docker engine);
//   - the component provider: `pulumi package get-schema` from the installed package's provider/ (the engine
//     starts it as a plugin, prebuilt) and from the package unpacked into a folder with no node_modules, where
//     the engine's `npm install` in provider/ installs the package's own dependencies.
// Run by `npm run test:package` (with `. proving-ground/env.sh`: the pulumi CLI, Docker) and by `npm run release`.
// LONGSHORE_PACKAGE_TARBALL names a tarball already packed (the release script's); otherwise this packs one.
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "../..");
const FIXTURE = path.join(__dirname, "project");
const version = (p: string): string => JSON.parse(fs.readFileSync(path.join(REPO, "node_modules", p, "package.json"), "utf8")).version;

interface Ran { code: number; out: string; err: string; seconds: number }

function run(cmd: string, args: string[], cwd: string, timeoutMs = 600_000, env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
    const t0 = Date.now();
    return new Promise((resolve) => execFile(cmd, args, { cwd, env, encoding: "utf8", timeout: timeoutMs, maxBuffer: 256 << 20 }, (e, out, err) =>
        resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, out, err, seconds: (Date.now() - t0) / 1000 })));
}

async function ok(cmd: string, args: string[], cwd: string, timeoutMs?: number, env?: NodeJS.ProcessEnv): Promise<Ran> {
    const r = await run(cmd, args, cwd, timeoutMs, env);
    assert.equal(r.code, 0, `${cmd} ${args.join(" ")} (in ${cwd}) failed with ${r.code}:\n${r.out}\n${r.err}`);
    return r;
}

const log = (s: string): void => void process.stdout.write(`      [package] ${s}\n`);

describe("npm package: the packed tarball in a fresh Pulumi TypeScript project outside the repository", function () {
    let tmp: string;
    let tarball: string;
    let project: string;
    let files: string[];

    before(async function () {
        this.timeout(1_200_000);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-package-"));
        assert.ok(!path.relative(REPO, tmp).match(/^[^.]/), `the temp dir ${tmp} must be outside the repository`);
        tarball = process.env.LONGSHORE_PACKAGE_TARBALL ?? "";
        if (!tarball) {
            const packed = await ok("npm", ["pack", "--json", "--pack-destination", tmp], REPO, 900_000);
            tarball = path.join(tmp, JSON.parse(packed.out.slice(packed.out.indexOf("[")))[0].filename);
            log(`npm pack (build included): ${packed.seconds.toFixed(0)} s`);
        }
        files = (await ok("tar", ["-tzf", tarball], tmp)).out.split("\n").filter(Boolean).map((f) => f.replace(/^package\//, ""));
        project = path.join(tmp, "project");
        fs.cpSync(FIXTURE, project, { recursive: true });
        fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "fresh-project", private: true, main: "bin/index.js" }, null, 2));
        const installed = await ok("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball,
            `typescript@${version("typescript")}`, `@types/node@${version("@types/node")}`], project, 900_000);
        log(`npm install of the tarball into ${project}: ${installed.seconds.toFixed(0)} s`);
    });

    after(() => {
        if (tmp && !process.env.LONGSHORE_KEEP_PACKAGE_TEST) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("the tarball holds compiled JS + types of every entry point, the CLI, provider, policy pack, gateway context and KEDA manifests, and no sources or tests", () => {
        for (const f of [
            "package.json", "README.md", "CHANGELOG.md",
            "dist/components/index.js", "dist/components/index.d.ts", "dist/worker/index.js", "dist/worker/index.d.ts",
            "dist/policy/index.js", "dist/policy/index.d.ts", "dist/cli/main.js",
            "dist/gateway/src/main.js", "dist/gateway/src/queue/lua/create-4.lua", "dist/gateway/proto/externalscaler.proto",
            "dist/provider/host.js", "dist/provider/schema.json", "provider/PulumiPlugin.yaml", "provider/package.json", "provider/main.js",
            "policy/pack/PulumiPolicy.yaml", "policy/pack/main.js", "dist/policy/pack/index.js",
            "gateway/package-image/Dockerfile", "gateway/package-image/Dockerfile.dockerignore", "gateway/image/collect-deps.js",
            "dist/manifests/keda-v2.17.2.yaml",
        ]) assert.ok(files.includes(f), `${f} is not in the tarball`);
        const stray = files.filter((f) => /^(test|bench|stacks|examples|proving-ground|scripts|components|contract|worker|cli)\//.test(f) ||
            (f.endsWith(".ts") && !f.endsWith(".d.ts")) || /Pulumi\.[^/]*\.yaml$/.test(f) || f.includes("node_modules"));
        assert.deepEqual(stray, []);
    });

    it("tsc type-checks and compiles the user's program against the installed package's types", async () => {
        const r = await ok(process.execPath, [path.join(project, "node_modules/typescript/bin/tsc"), "-p", "."], project, 300_000);
        log(`tsc: ${r.seconds.toFixed(0)} s`);
        assert.ok(fs.existsSync(path.join(project, "bin/preview.js")));
    });

    /** A user's machine: an empty Longshore cache (no KEDA rendered by our proving ground) and no overrides. */
    const userEnv = (): NodeJS.ProcessEnv => {
        const env: NodeJS.ProcessEnv = { ...process.env, LONGSHORE_CACHE: path.join(tmp, "empty-cache") };
        delete env.LONGSHORE_KEDA_MANIFESTS;
        return env;
    };

    it("the program previews under Pulumi's mocks: KEDA from the bundled manifests, gateway built from the package's context, the endpoint", async () => {
        const r = await ok(process.execPath, ["bin/preview.js"], project, 120_000, userEnv());
        const res = JSON.parse(r.out.trim().split("\n").pop()!);
        assert.equal(res.error, undefined);
        const types = new Set<string>(res.resources.map((x: { type: string }) => x.type));
        for (const t of ["longshore:index:Keda", "longshore:index:NvidiaDevicePlugin", "longshore:index:ServerlessPlatform", "longshore:index:ServerlessEndpoint",
            "longshore:index:WorkerImage", "docker-build:index:Image", "kubernetes:apps/v1:Deployment", "kubernetes:keda.sh/v1alpha1:ScaledObject"]) {
            assert.ok(types.has(t), `no ${t} registered (got ${[...types].join(", ")})`);
        }
        const crds = res.resources.filter((x: any) => x.type === "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition").map((x: any) => x.inputs.metadata?.name);
        assert.ok(crds.includes("scaledobjects.keda.sh"), `the bundled KEDA manifests gave the CRDs: ${crds.join(", ")}`);
        const image = res.resources.find((x: any) => x.type === "docker-build:index:Image");
        assert.equal(image.inputs.dockerfile.location, "node_modules/longshore/gateway/package-image/Dockerfile");
        const keda = res.resources.filter((x: any) => x.type === "kubernetes:apps/v1:Deployment" && x.inputs.metadata?.namespace === "keda");
        assert.ok(keda.length >= 2, "KEDA's operator and metrics server");
        for (const d of keda) {
            for (const c of d.inputs.spec.template.spec.containers) assert.match(c.image, /^ghcr\.io\/kedacore\/keda[a-z-]*:2\.17\.2$/, "KEDA images pinned to the version");
        }
        assert.deepEqual(res.worker, { start: "function", progressUpdate: "function" });
        assert.ok(res.policies.length >= 5, `policies: ${res.policies}`);
        assert.equal(res.pinned, true);
    });

    it("a bad argument stops the preview naming it", async () => {
        const r = await ok(process.execPath, ["bin/preview.js", "bad"], project, 120_000, userEnv());
        const res = JSON.parse(r.out.trim().split("\n").pop()!);
        assert.match(res.error ?? "", /ServerlessEndpoint "hello": maxWorkers/);
    });

    it("npx longshore --help runs the CLI from the package's bin", async () => {
        const r = await ok("npx", ["--no-install", "longshore", "--help"], project, 120_000);
        assert.match(r.out, /longshore test/);
        const bad = await run("npx", ["--no-install", "longshore", "nonsense"], project, 120_000);
        assert.equal(bad.code, 2, "an unknown command is a usage error");
    });

    it("the gateway image builds from the package's context in the project, and the gateway's modules and Lua scripts load in it", async function () {
        this.timeout(900_000);
        // the proving ground's Docker engine and node-base image (the default base, node:22-bookworm-slim, is not
        // in its mirror); the legacy builder ignores Dockerfile.dockerignore, so the context is the whole project
        const tag = `localhost:5000/longshore-test/gateway-from-package:${process.pid}`;
        const built = await ok("docker", ["build", "-q", "-f", "node_modules/longshore/gateway/package-image/Dockerfile",
            "--build-arg", "BASE_IMAGE=localhost:5000/longshore/node-base:20-bookworm", "-t", tag, "."], project, 900_000, { ...process.env, DOCKER_BUILDKIT: "0" });
        log(`docker build of gateway/package-image: ${built.seconds.toFixed(0)} s`);
        try {
            const r = await ok("docker", ["run", "--rm", "--entrypoint", "node", tag, "-e",
                "require('/app/dist/gateway/src/index.js'); const n = require('/app/dist/gateway/src/queue/scripts.js').loadScripts().size; console.log('scripts', n)"], project, 300_000);
            assert.match(r.out, /^scripts \d+$/m);
            const ls = await ok("docker", ["run", "--rm", "--entrypoint", "ls", tag, "/app/node_modules"], project, 120_000);
            assert.ok(ls.out.includes("fastify") && !ls.out.includes("@pulumi"), `runtime closure only:\n${ls.out}`);
        } finally {
            await run("docker", ["rmi", "-f", tag], project, 120_000);
        }
    });

    describe("the component provider from the package (pulumi package get-schema: the engine starts it as a plugin)", function () {
        let expected: any;
        before(async () => {
            assert.ok((await run("pulumi", ["version"], tmp)).code === 0, "the pulumi CLI is on PATH (. proving-ground/env.sh)");
            expected = JSON.parse(fs.readFileSync(path.join(project, "node_modules/longshore/dist/provider/schema.json"), "utf8")).schema;
            // every component provider/index.ts exports (the one list of what other languages get), no more, no less
            const exported = /export \{([^}]*)\} from "\.\.\/components"/.exec(fs.readFileSync(path.join(REPO, "provider/index.ts"), "utf8"));
            assert.ok(exported, "provider/index.ts exports its components from ../components");
            const names = exported[1].split(",").map((n) => n.trim()).filter(Boolean).sort();
            assert.deepEqual(Object.keys(expected.resources).sort(), names.map((c) => `longshore:index:${c}`));
        });

        const schemaFrom = async (dir: string): Promise<any> => {
            const r = await ok("pulumi", ["package", "get-schema", dir], tmp, 900_000);
            log(`pulumi package get-schema ${path.relative(tmp, dir)}: ${r.seconds.toFixed(1)} s`);
            return JSON.parse(r.out);
        };
        // The engine re-encodes the schema it gets (drops the analysis' `optional` markers and empty lists), so the
        // file is compared by structure; the two engine answers below are compared whole.
        let served: any;
        const sameSchema = (got: any): void => {
            assert.equal(got.name, "longshore");
            assert.equal(got.version, expected.version);
            assert.deepEqual(Object.keys(got.resources).sort(), Object.keys(expected.resources).sort());
            for (const [token, r] of Object.entries<any>(expected.resources)) {
                assert.deepEqual(Object.keys(got.resources[token].inputProperties).sort(), Object.keys(r.inputProperties).sort(), token);
                assert.deepEqual([...got.resources[token].requiredInputs ?? []].sort(), [...r.requiredInputs ?? []].sort(), token);
                assert.deepEqual(Object.keys(got.resources[token].properties).sort(), Object.keys(r.properties).sort(), token);
            }
            assert.deepEqual(Object.keys(got.types).sort(), Object.keys(expected.types).sort());
        };

        it("from node_modules/longshore/provider of the project (its dependencies resolve from the project)", async function () {
            this.timeout(900_000);
            served = await schemaFrom(path.join(project, "node_modules/longshore/provider"));
            sameSchema(served);
        });

        it("from the package unpacked into a folder: the engine's npm install in provider/ installs the package's own dependencies", async function () {
            this.timeout(1_200_000);
            const folder = path.join(tmp, "unpacked");
            fs.mkdirSync(folder);
            await ok("tar", ["-xzf", tarball, "-C", folder], tmp);
            assert.ok(!fs.existsSync(path.join(folder, "package/node_modules")));
            const got = await schemaFrom(path.join(folder, "package/provider"));
            sameSchema(got);
            assert.deepEqual(got, served, "the same schema as from the installed package");
            assert.ok(fs.existsSync(path.join(folder, "package/node_modules/@pulumi/pulumi/package.json")), "the package's dependencies were installed in its folder");
        });
    });
});
