// The examples use their users' own Dockerfiles: examples/hello-world is RunPod's "Worker Image Creation"
// Dockerfile and handler byte for byte, and no example builds FROM a proving-ground-only base image (the
// proving ground's docker.io mirror serves the public names instead). The image builds and runs as an
// endpoint in the e2e suite (the local stack deploys it) and in examples/test-images.sh.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";

const REPO = path.resolve(__dirname, "../..");
const read = (p: string) => fs.readFileSync(path.join(REPO, p), "utf8");

// Seed 002 (shared/seeds/002_*.txt), its two code blocks as printed.
const SEED_DOCKERFILE = `from python:3.11.1-buster

WORKDIR /

RUN pip install runpod

ADD handler.py .

CMD [ "python", "-u", "/handler.py" ]
`;

/** The fenced blocks of a seed document, in order. */
function codeBlocks(text: string): string[] {
    const blocks: string[] = [];
    const re = /^```[a-z]*\n([\s\S]*?)^```$/gm;
    for (let m = re.exec(text); m; m = re.exec(text)) blocks.push(m[1]);
    return blocks;
}

describe("examples use the seeds' own Dockerfiles", () => {
    it("examples/hello-world/Dockerfile is seed 002's Dockerfile byte for byte", () => {
        assert.strictEqual(read("examples/hello-world/Dockerfile"), SEED_DOCKERFILE);
    });

    it("and its handler.py is the seed's handler (checked against the seed document where shared/ is beside the repo)", () => {
        const handler = read("examples/hello-world/handler.py");
        assert.match(handler, /^import runpod\n/);
        assert.match(handler, /return "Hello World"/);
        assert.match(handler, /runpod\.serverless\.start\(\{\n {4}"handler": handler\n\}\)\n$/);
        const seeds = path.join(REPO, "..", "shared", "seeds");
        const seed = fs.existsSync(seeds) ? fs.readdirSync(seeds).find((f) => f.startsWith("002_")) : undefined;
        if (seed) {
            const blocks = codeBlocks(fs.readFileSync(path.join(seeds, seed), "utf8"));
            assert.strictEqual(blocks[0], SEED_DOCKERFILE, "the seed's Dockerfile block");
            assert.strictEqual(blocks[1], handler, "the seed's handler block");
        }
    });

    it("no example Dockerfile names a proving-ground base image: FROM lines are the public names users write", () => {
        const dirs = fs.readdirSync(path.join(REPO, "examples")).filter((d) => fs.existsSync(path.join(REPO, "examples", d, "Dockerfile")));
        assert.ok(dirs.length >= 6, `examples with a Dockerfile: ${dirs.join(", ")}`);
        for (const d of dirs) {
            const df = read(`examples/${d}/Dockerfile`);
            assert.doesNotMatch(df, /localhost:5000|longshore\/(python|node)-base/, `examples/${d}/Dockerfile`);
            const from = df.split("\n").filter((l) => /^(FROM|from) /.test(l) || /^ARG BASE_IMAGE=/.test(l));
            assert.ok(from.every((l) => /(python:3\.11[\w.-]*|node:20[\w.-]*|\$\{BASE_IMAGE\})/.test(l)), `examples/${d}: ${from.join(" | ")}`);
        }
    });

    it("the local stack deploys the seed's image as its endpoint", () => {
        assert.match(read("stacks/local.defaults.yaml"), /^ {2}longshore:workerContext: examples\/hello-world$/m);
    });
});
