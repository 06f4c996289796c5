// ServerlessEndpoint `worker`: command and HTTP workers (components/commandWorker.ts) under Pulumi mocks — the
// injected init container, the container command around the image's own entrypoint, the adapter spec, and the
// bad declarations that fail at preview with the argument named.
import * as assert from "assert";
import { mockPulumi, settle, valueOf, rejectionOf, envOf, DIGEST_REF, MOCK_IMAGE_CONFIG, Recorder } from "./harness";
import { ServerlessEndpoint, ServerlessEndpointArgs, EndpointWorker, ADAPTER_PATH, JOBS_DIR, templateError } from "../../components";

const platform = {
    namespace: "longshore",
    gatewayUrl: "http://longshore-gateway.longshore.svc.cluster.local:8080",
    scalerAddress: "longshore-gateway.longshore.svc.cluster.local:9090",
};
const ADAPTER = `localhost:5000/longshore/adapter@sha256:${"fe".repeat(32)}`;
const args = (worker: Partial<EndpointWorker>, extra: Partial<ServerlessEndpointArgs> = {}): ServerlessEndpointArgs =>
    ({ platform, image: DIGEST_REF, cpuOnly: true, worker: { adapterImage: ADAPTER, ...worker } as EndpointWorker, ...extra });

async function build(rec: Recorder, a: ServerlessEndpointArgs) {
    new ServerlessEndpoint("cli", a);
    await settle(rec);
    const pod = rec.one("kubernetes:apps/v1:Deployment").inputs.spec.template.spec;
    const c = pod.containers[0];
    const env = envOf(c);
    return { pod, c, env, spec: JSON.parse(env.LONGSHORE_WORKER_SPEC.value) };
}

/** The error a preview-time check throws, as a message. */
function failure(a: ServerlessEndpointArgs): string {
    try {
        new ServerlessEndpoint("bad", a);
    } catch (e) {
        return (e as Error).message;
    }
    throw new Error("expected the declaration to fail");
}

describe("ServerlessEndpoint worker: command and HTTP workers (adapter injection)", () => {
    let rec: Recorder;
    const saved = { ...MOCK_IMAGE_CONFIG };
    beforeEach(async () => {
        rec = await mockPulumi();
        Object.assign(MOCK_IMAGE_CONFIG, saved);
    });
    after(() => Object.assign(MOCK_IMAGE_CONFIG, saved));

    it("an init container copies the adapter into a shared emptyDir; the worker runs it before the image's ENTRYPOINT", async () => {
        const { pod, c, env, spec } = await build(rec, args({ command: { args: ["--prompt", "{input.prompt}"] } }));
        assert.strictEqual(c.image, DIGEST_REF, "the user's image, unchanged");
        assert.deepStrictEqual(pod.initContainers.map((i: any) => [i.name, i.image, i.command]), [["longshore-adapter", ADAPTER, ["/longshore-adapter", "copy", ADAPTER_PATH]]]);
        assert.deepStrictEqual(c.command, [ADAPTER_PATH, "run", "--", "python", "/opt/model/cli.py"]);
        assert.strictEqual(c.args, undefined, "no args: Kubernetes then ignores the image's CMD, the adapter owns argv");
        assert.deepStrictEqual(spec, { kind: "command", command: { output: {}, args: ["--prompt", "{input.prompt}"] } });
        assert.strictEqual(env.LONGSHORE_JOBS_DIR.value, JOBS_DIR);
        assert.ok(env.RUNPOD_WEBHOOK_GET_JOB && env.RUNPOD_AI_API_KEY, "the worker env contract is still there (the adapter reads it)");
        const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.name, m]));
        assert.strictEqual(mounts["longshore-adapter"].mountPath, "/longshore/bin");
        assert.strictEqual(mounts["longshore-adapter"].readOnly, true);
        assert.strictEqual(mounts["longshore-jobs"].mountPath, JOBS_DIR);
        assert.deepStrictEqual(pod.volumes.map((v: any) => [v.name, v.emptyDir]), [["longshore-adapter", {}], ["longshore-jobs", {}]]);
        // the image config was read for exactly this image
        assert.strictEqual(rec.one("pulumi-nodejs:dynamic/longshore:ImageConfig").inputs.image, DIGEST_REF);
    });

    it("without args the image's CMD is passed as docker run would, its braces kept literal", async () => {
        MOCK_IMAGE_CONFIG.cmd = ["--config", "{\"k\":1}"];
        const { c, spec } = await build(rec, args({ command: {} }));
        assert.deepStrictEqual(c.command.slice(3), ["python", "/opt/model/cli.py"]);
        assert.deepStrictEqual(spec.command.args, ["--config", "{{\"k\":1}}"]);
        assert.strictEqual(templateError(spec.command.args[1]), undefined);
    });

    it("an image with only a CMD runs the CMD; templates are appended", async () => {
        MOCK_IMAGE_CONFIG.entrypoint = [];
        MOCK_IMAGE_CONFIG.cmd = ["python3", "-m", "model"];
        const { c, spec } = await build(rec, args({ command: { args: ["{input.text}"] } }));
        assert.deepStrictEqual(c.command.slice(3), ["python3", "-m", "model"]);
        assert.deepStrictEqual(spec.command.args, ["{input.text}"]);
    });

    it("a given entrypoint needs no registry read; every declared setting reaches the adapter", async () => {
        const { c, spec } = await build(rec, args({
            concurrency: 2,
            command: {
                entrypoint: ["/bin/predict"], args: ["{input.x}"], stdin: "none", stream: true, killGraceSeconds: 3,
                inputFiles: [{ field: "image", name: "in.png" }], output: { from: "files", dir: "results", inlineLimitBytes: 1000, stdoutLimitBytes: 2000 },
            },
        }));
        assert.strictEqual(rec.byType("pulumi-nodejs:dynamic/longshore:ImageConfig").length, 0);
        assert.deepStrictEqual(c.command, [ADAPTER_PATH, "run", "--", "/bin/predict"]);
        assert.deepStrictEqual(spec, {
            kind: "command", concurrency: 2,
            command: {
                stdin: "none", stream: true, killGraceSeconds: 3, inputFiles: [{ field: "image", name: "in.png" }],
                output: { from: "files", dir: "results", inlineLimitBytes: 1000, stdoutLimitBytes: 2000 }, args: ["{input.x}"],
            },
        });
    });

    it("http: the adapter starts the image's ENTRYPOINT + CMD as the server and forwards jobs to its port", async () => {
        MOCK_IMAGE_CONFIG.entrypoint = ["uvicorn"];
        MOCK_IMAGE_CONFIG.cmd = ["main:app", "--port", "8000"];
        const { c, spec } = await build(rec, args({ http: { port: 8000, path: "/predict", healthPath: "/healthz" } }));
        assert.deepStrictEqual(c.command, [ADAPTER_PATH, "run", "--", "uvicorn", "main:app", "--port", "8000"]);
        assert.deepStrictEqual(spec, { kind: "http", http: { port: 8000, path: "/predict", healthPath: "/healthz" } });
        rec = await mockPulumi();
        const { c: c2 } = await build(rec, args({ http: { port: 8000, start: false } }));
        assert.deepStrictEqual(c2.command, [ADAPTER_PATH, "run", "--"]);
    });

    it("a RunPod SDK endpoint (no worker) is unchanged: no init container, no command", async () => {
        new ServerlessEndpoint("sdk", { platform, image: DIGEST_REF, cpuOnly: true });
        await settle(rec);
        const pod = rec.one("kubernetes:apps/v1:Deployment").inputs.spec.template.spec;
        assert.strictEqual(pod.initContainers, undefined);
        assert.strictEqual(pod.containers[0].command, undefined);
        assert.strictEqual(envOf(pod.containers[0]).LONGSHORE_WORKER_SPEC, undefined);
    });

    it("bad declarations fail at preview, naming the argument", async () => {
        const cases: [Partial<EndpointWorker>, string][] = [
            [{}, "worker needs exactly one of command"],
            [{ command: {}, http: { port: 1 } }, "worker needs exactly one of command"],
            [{ command: { args: ["--p", "{inputs.prompt}"] } }, "worker.command.args[1] (\"{inputs.prompt}\") has an unknown placeholder"],
            [{ command: { args: ["{input.}"] } }, "worker.command.args[0]"],
            [{ command: { args: ["{input.a b}"] } }, "names no field an input can have"],
            [{ command: { args: ["{input.x"] } }, "has an unclosed {"],
            [{ command: { output: { dir: "../elsewhere" } } }, "worker.command.output.dir (\"../elsewhere\") must be a directory inside the job dir"],
            [{ command: { output: { dir: "/tmp/out" } } }, "worker.command.output.dir"],
            [{ command: { output: { dir: "a/../.." } } }, "worker.command.output.dir"],
            [{ command: { output: { from: "s3" as any } } }, "worker.command.output.from (\"s3\") must be one of stdout, files"],
            [{ command: { stdin: "file" as any } }, "worker.command.stdin"],
            [{ command: { entrypoint: [] } }, "worker.command.entrypoint"],
            [{ command: { inputFiles: [{ field: "a.b" }] } }, "worker.command.inputFiles[0].field"],
            [{ command: { inputFiles: [{ field: "a", name: "../x" }] } }, "worker.command.inputFiles[0].name"],
            [{ command: { inputFiles: [{ field: "a" }, { field: "b", name: "a" }] } }, "worker.command.inputFiles[1].name (\"a\") is given twice"],
            [{ command: { killGraceSeconds: 0 } }, "worker.command.killGraceSeconds"],
            [{ command: {}, concurrency: 0 }, "worker.concurrency"],
            [{ http: { port: 0 } }, "worker.http.port"],
            [{ http: { port: 80, path: "predict" } }, "worker.http.path"],
            [{ command: {}, adapterImage: "localhost:5000/longshore/adapter:0.1.0" }, "worker.adapterImage"],
            [{ command: {}, adapterImage: undefined as any }, "worker.adapterImage is required"],
        ];
        for (const [w, want] of cases) {
            const msg = failure(args(w));
            assert.ok(msg.startsWith('ServerlessEndpoint "bad": '), msg);
            assert.ok(msg.includes(want), `${JSON.stringify(w)}: ${msg}`);
        }
        assert.ok(failure(args({ command: {} }, { env: { LONGSHORE_WORKER_SPEC: "{}" } })).includes("env.LONGSHORE_WORKER_SPEC"));
    });

    it("an image with neither ENTRYPOINT nor CMD fails naming worker.command.entrypoint", async () => {
        MOCK_IMAGE_CONFIG.entrypoint = [];
        MOCK_IMAGE_CONFIG.cmd = [];
        const ep = new ServerlessEndpoint("empty", args({ command: {} }));
        await settle(rec);
        const err = await rejectionOf(ep.deploymentName);
        assert.match(err.message, /worker\.command\.entrypoint is required: the image has no ENTRYPOINT or CMD/);
    });

    it("templateError accepts the adapter's grammar", () => {
        for (const ok of ["{input.prompt}", "--n={input.n=3}", "{input}", "{job.id}-{job.dir}/{output.dir}", "{{x}}", "a}}b", "{input.list.0.name}"]) {
            assert.strictEqual(templateError(ok), undefined, ok);
        }
        for (const bad of ["{x}", "}", "{input.a..b}", "{job}"]) assert.ok(templateError(bad), bad);
        void valueOf;
    });
});
