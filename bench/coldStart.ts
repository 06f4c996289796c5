// Cold-start benchmark (prints figures; not a test). `npm run bench:coldstart` — needs the proving ground and the
// deployed `local` stack (npm run up); run it inside the cluster lock. docs/cold-start.md has the figures.
//
// It deploys its own endpoint `coldbench` (a small Pulumi stack `coldstart-bench` on the local stack's platform,
// destroyed at the end) with the probe worker of examples/cold-start, and for each case does N runs of one job
// on the idle endpoint (at zero), timing every step from real timestamps, as ms after the client sent /run:
//   accept      /run answered by the gateway (client clock)
//   activate    the gateway's push scaler sent "active" to KEDA (gateway log "scaler: activity pushed", its `at`)
//   replicas    the worker Deployment's spec.replicas went 0 -> 1 (KEDA; watch event received)
//   scheduled   the pod's PodScheduled condition (watch)
//   pulled      the kubelet's Pulled event for the worker container (watch; its message has the pull time)
//   started     the worker container running (watch)
//   process     the worker's Python process reached its handler module (the probe's processStartMs)
//   take        the job was taken by the worker (gateway: accept + status delayTime)
//   handler     the handler started (the probe's handlerStartMs)
//   result      the result stored (accept + delayTime + executionTime)
// Cases:
//   a   image already on the node
//   b   image NOT on the node (removed from containerd before each run), a multi-GB image pulled from the local
//       registry (examples/cold-start/Dockerfile.ballast: the probe + COLDSTART_BALLAST_MB of random bytes)
//   b+  the same image with image pre-pull on (ServerlessEndpoint prePull): the DaemonSet pulled it at `up`
//   c   a second worker added while the first is busy (job 1 runs 30 s; job 2 comes when worker 1 is busy)
//   w   warm: a worker is already up and idle (kept by the idle timeout while jobs keep coming) — the floor
// Env: COLDSTART_RUNS (default 3), COLDSTART_CASES (default a,b,b+,c,w), COLDSTART_BALLAST_MB (default 2048).
// Everything runs on one machine, so the gateway's, the kubelet's and the worker's clocks are the same clock.
import { execFile, execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import * as yaml from "js-yaml";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { ServerlessEndpoint } from "../components";

const REPO = path.resolve(__dirname, "..");
const RUNS = Number(process.env.COLDSTART_RUNS ?? 3);
const CASES = (process.env.COLDSTART_CASES ?? "a,b,b+,c,w").split(",").map((s) => s.trim()).filter(Boolean);
const BALLAST_MB = Number(process.env.COLDSTART_BALLAST_MB ?? 2048);
const EP = "coldbench";
const TARGET_HANDLER_MS = 1500;
const STEPS = ["accept", "activate", "replicas", "scheduled", "pulled", "started", "process", "take", "handler", "result"] as const;
type Step = (typeof STEPS)[number];

function sh(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
        const p = execFile(cmd, args, { encoding: "utf8", timeout: opts.timeoutMs ?? 600_000, maxBuffer: 64 << 20, env: process.env },
            (e, so, se) => (e ? reject(new Error(`${cmd} ${args.join(" ")}: ${se || e.message}`)) : resolve(so)));
        if (opts.input !== undefined) p.stdin?.end(opts.input);
    });
}
const log = (m: string) => process.stderr.write(`[coldstart ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function loadEnv(): void {
    const out = execFileSync("bash", ["-c", `set -a; . "${REPO}/proving-ground/env.sh" >/dev/null; env -0`], { encoding: "utf8" });
    for (const e of out.split("\0")) {
        const i = e.indexOf("=");
        if (i > 0) process.env[e.slice(0, i)] = e.slice(i + 1);
    }
}

// ---- a minimal watch client for the kubeconfig's client-certificate user (the proving ground's admin) ----
interface Kube { agent: https.Agent; server: URL }
function kube(): Kube {
    const kc: any = yaml.load(fs.readFileSync(process.env.KUBECONFIG!, "utf8"));
    const ctx = kc.contexts.find((c: any) => c.name === kc["current-context"]).context;
    const cluster = kc.clusters.find((c: any) => c.name === ctx.cluster).cluster;
    const user = kc.users.find((u: any) => u.name === ctx.user).user;
    const b64 = (s: string) => Buffer.from(s, "base64");
    const agent = new https.Agent({
        keepAlive: true,
        ca: cluster["certificate-authority-data"] ? b64(cluster["certificate-authority-data"]) : fs.readFileSync(cluster["certificate-authority"]),
        cert: user["client-certificate-data"] ? b64(user["client-certificate-data"]) : fs.readFileSync(user["client-certificate"]),
        key: user["client-key-data"] ? b64(user["client-key-data"]) : fs.readFileSync(user["client-key"]),
    });
    return { agent, server: new URL(cluster.server) };
}
/** Watches `apiPath` (e.g. /api/v1/namespaces/x/pods?labelSelector=…) from now; calls back with each object and its receipt time. */
function watch(k: Kube, apiPath: string, on: (type: string, obj: any, at: number) => void): () => void {
    let req: ReturnType<typeof https.get> | undefined;
    const sep = apiPath.includes("?") ? "&" : "?";
    req = https.get({ host: k.server.hostname, port: k.server.port, path: `${apiPath}${sep}watch=true&allowWatchBookmarks=false`, agent: k.agent }, (res) => {
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
            const at = Date.now();
            buf += d;
            let i: number;
            while ((i = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, i);
                buf = buf.slice(i + 1);
                if (line.trim()) {
                    const ev = JSON.parse(line);
                    on(ev.type, ev.object, at);
                }
            }
        });
    });
    req.on("error", () => undefined);
    return () => req?.destroy();
}
async function getJson(k: Kube, apiPath: string): Promise<any> {
    return new Promise((resolve, reject) => {
        https.get({ host: k.server.hostname, port: k.server.port, path: apiPath, agent: k.agent }, (res) => {
            let b = "";
            res.setEncoding("utf8");
            res.on("data", (d) => (b += d));
            res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(b)) : reject(new Error(`${apiPath}: ${res.statusCode} ${b}`))));
        }).on("error", reject);
    });
}

// ---- the gateway ----
interface Gw { base: string; key: string; ns: string }
async function call(gw: Gw, method: string, p: string, body?: unknown): Promise<any> {
    const r = await fetch(`${gw.base}${p}`, { method, headers: { Authorization: `Bearer ${gw.key}`, "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return JSON.parse(text);
}
async function waitDone(gw: Gw, id: string, timeoutMs: number): Promise<any> {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const s = await call(gw, "GET", `/v2/${EP}/status/${id}`);
        if (["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].includes(s.status)) return s;
        if (Date.now() > end) throw new Error(`job ${id}: still ${s.status} after ${timeoutMs} ms`);
        await sleep(100);
    }
}
async function activationTimes(gw: Gw, since: number): Promise<number[]> {
    const out = await sh("kubectl", ["-n", gw.ns, "logs", "deploy/longshore-gateway", "--since=15m"]);
    const ats: number[] = [];
    for (const line of out.split("\n")) {
        if (!line.includes("activity pushed")) continue;
        try {
            const j = JSON.parse(line);
            if (j.endpointId === EP && j.active === true && j.at >= since) ats.push(j.at);
        } catch { /* not JSON */ }
    }
    return ats;
}

// ---- the bench endpoint's own stack ----
interface Local { ns: string; gatewayUrl: string; scalerAddress: string; probe: string; pause: string }
async function benchStack(local: Local): Promise<Stack> {
    return LocalWorkspace.createOrSelectStack({
        stackName: "coldstart-bench",
        projectName: "longshore-coldstart-bench",
        program: async () => {
            const cfg = new pulumi.Config();
            new ServerlessEndpoint(EP, {
                platform: { namespace: local.ns, gatewayUrl: local.gatewayUrl, scalerAddress: local.scalerAddress },
                endpointId: EP,
                image: cfg.require("image"),
                minWorkers: 0, maxWorkers: 2, idleTimeoutSeconds: 10, executionTimeoutSeconds: 40, terminationGracePeriodSeconds: 40,
                scalerType: "QUEUE_DELAY", scalerValue: 1, gpuCount: 1,
                prePull: { enabled: cfg.requireBoolean("prePull"), pauseImage: local.pause },
                // given, not generated: RandomToken is a dynamic provider, and the proving ground's Pulumi build has
                // no pulumi-resource-pulumi-nodejs shim for an inline program to serve it
                workerToken: pulumi.secret("coldbench-worker-token-0123456789abcdef"),
                webhookSecret: pulumi.secret("coldbench-webhook-secret-0123456789abcdef"),
            });
        },
    });
}
async function deploy(stack: Stack, image: string, prePull: boolean): Promise<number> {
    await stack.setAllConfig({ image: { value: image }, prePull: { value: String(prePull) } });
    const t0 = Date.now();
    await stack.up({ color: "never" });
    return Date.now() - t0;
}

/** The registry's digest of localhost:5000/<repo>:<tag>, or undefined (the registry's HTTP API, as pg's registry_digest). */
async function registryDigest(repo: string, tag: string): Promise<string | undefined> {
    const r = await fetch(`http://localhost:5000/v2/${repo}/manifests/${tag}`, {
        method: "HEAD",
        headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json" },
    });
    return r.status === 200 ? r.headers.get("docker-content-digest") ?? undefined : undefined;
}
/** The chain id of an image's top layer (what containerd's snapshotter keys the unpacked layer by), from the registry. */
async function topChainId(image: string): Promise<string> {
    const m = /^localhost:5000\/(.+)@(sha256:[0-9a-f]{64})$/.exec(image);
    if (!m) throw new Error(`not a local-registry digest ref: ${image}`);
    const accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
    const get = async (u: string) => (await fetch(`http://localhost:5000/v2/${m[1]}/${u}`, { headers: { Accept: accept } })).json() as Promise<any>;
    let man = await get(`manifests/${m[2]}`);
    if (man.manifests) man = await get(`manifests/${man.manifests.find((x: any) => x.platform?.architecture === "amd64").digest}`);
    const ids: string[] = (await get(`blobs/${man.config.digest}`)).rootfs.diff_ids;
    return ids.slice(1).reduce((chain, d) => `sha256:${crypto.createHash("sha256").update(`${chain} ${d}`).digest("hex")}`, ids[0]);
}
async function ballastImage(probe: string): Promise<string> {
    const repo = "longshore/coldstart-ballast";
    const tag = `${BALLAST_MB}mb`;
    let digest = await registryDigest(repo, tag);
    if (!digest) {
        const ref = `localhost:5000/${repo}:${tag}`;
        log(`building ${ref} (probe + ${BALLAST_MB} MB of random bytes; once, then cached in the registry)`);
        await sh("docker", ["build", "-q", "-f", "examples/cold-start/Dockerfile.ballast", "--build-arg", `BASE=${probe}`, "--build-arg", `BALLAST_MB=${BALLAST_MB}`, "-t", ref, "examples/cold-start"], { timeoutMs: 1_800_000 });
        await sh("docker", ["push", "-q", ref], { timeoutMs: 1_800_000 });
        digest = await registryDigest(repo, tag);
        if (!digest) throw new Error(`${ref} is not in the registry after the push`);
    }
    log(`ballast image localhost:5000/${repo}@${digest}`);
    return `localhost:5000/${repo}@${digest}`;
}
async function removeFromNode(image: string): Promise<void> {
    const digest = image.slice(image.indexOf("@") + 1);
    const names = (await sh("ctr", ["-n", "k8s.io", "images", "ls", "-q"])).split("\n").filter((n) => n.includes(digest) || n.startsWith(image.slice(0, image.indexOf("@")) + ":"));
    // the exited containers of earlier workers keep the image's unpacked snapshots, and containerd's pull skips
    // fetching a layer whose snapshot exists (a "pull" of 26 ms): remove them first, so the layers really go
    const repo = image.slice(0, image.indexOf("@"));
    const tasks = new Map((await sh("ctr", ["-n", "k8s.io", "tasks", "ls"])).split("\n").slice(1)
        .map((l) => l.trim().split(/\s+/)).filter((r) => r.length >= 3).map((r) => [r[0], r[2]] as [string, string]));
    const mine = (await sh("ctr", ["-n", "k8s.io", "containers", "ls"])).split("\n").slice(1)
        .map((l) => l.trim().split(/\s+/)).filter((r) => r.length >= 2 && (r[1].includes(digest) || r[1].startsWith(`${repo}:`))).map((r) => r[0]);
    for (const id of mine) {
        const st = tasks.get(id);
        if (st === "RUNNING" || st === "PAUSED") throw new Error(`a container of ${image} is still running (${id}): not at zero`);
        if (st) await sh("ctr", ["-n", "k8s.io", "tasks", "rm", id]).catch(() => undefined);
        await sh("ctr", ["-n", "k8s.io", "containers", "rm", id]).catch((e) => log(`containers rm ${id}: ${e.message}`));
    }
    if (names.length) await sh("ctr", ["-n", "k8s.io", "images", "rm", "--sync", ...names]);
    // ... and the image's removal leaves its unpacked top layer (a committed snapshot keyed by its chain id),
    // which the next pull reuses without fetching the layer: remove it (the layers below are the probe's own)
    const top = await topChainId(image);
    const snaps = await sh("ctr", ["-n", "k8s.io", "snapshots", "ls"]);
    if (snaps.includes(top)) await sh("ctr", ["-n", "k8s.io", "snapshots", "rm", top]);
    const left = (await sh("ctr", ["-n", "k8s.io", "images", "ls", "-q"])).includes(digest);
    if (left) throw new Error(`${image} is still in containerd`);
}

async function atZero(k: Kube, gw: Gw): Promise<void> {
    const end = Date.now() + 300_000;
    for (;;) {
        const pods = await getJson(k, `/api/v1/namespaces/${gw.ns}/pods?labelSelector=longshore.dev%2Fendpoint%3D${EP}`);
        const dep = await getJson(k, `/apis/apps/v1/namespaces/${gw.ns}/deployments/${EP}-worker`);
        if (pods.items.length === 0 && (dep.spec.replicas ?? 0) === 0) return;
        if (Date.now() > end) throw new Error("the bench endpoint did not go back to zero in 5 minutes");
        await sleep(1000);
    }
}

type Run = Partial<Record<Step, number>> & { pullMs?: number; pod?: string };

/** One job on the endpoint; `existingPods` are pods to ignore (case c: the busy worker). */
async function oneRun(k: Kube, gw: Gw, input: unknown, existingPods: Set<string>, expectScaleFrom: number): Promise<Run> {
    const r: Run = {};
    let t0 = 0;
    const seen = (step: Step, at: number) => { if (t0 && r[step] === undefined && at >= t0) r[step] = at - t0; };
    let pod: string | undefined;
    const stops = [
        watch(k, `/apis/apps/v1/namespaces/${gw.ns}/deployments?fieldSelector=metadata.name%3D${EP}-worker`, (_t, d, at) => {
            if ((d.spec?.replicas ?? 0) > expectScaleFrom) seen("replicas", at);
        }),
        watch(k, `/api/v1/namespaces/${gw.ns}/pods?labelSelector=longshore.dev%2Fendpoint%3D${EP}`, (_t, p, at) => {
            if (existingPods.has(p.metadata.name)) return;
            pod ??= p.metadata.name;
            if (p.metadata.name !== pod) return;
            if ((p.status?.conditions ?? []).some((c: any) => c.type === "PodScheduled" && c.status === "True")) seen("scheduled", at);
            if (p.status?.containerStatuses?.[0]?.state?.running) seen("started", at);
        }),
        watch(k, `/api/v1/namespaces/${gw.ns}/events?fieldSelector=involvedObject.kind%3DPod`, (_t, e, at) => {
            if (!pod || e.involvedObject?.name !== pod || e.reason !== "Pulled" || !String(e.involvedObject?.fieldPath ?? "").includes("worker")) return;
            seen("pulled", at);
            const m = /Successfully pulled image .* in ([0-9.]+)(ms|s)/.exec(e.message ?? "");
            r.pullMs = m ? Number(m[1]) * (m[2] === "s" ? 1000 : 1) : 0; // "already present on machine": 0
        }),
    ];
    await sleep(500); // the watches are open
    t0 = Date.now();
    const { id } = await call(gw, "POST", `/v2/${EP}/run`, { input });
    const accept = Date.now();
    r.accept = accept - t0;
    const s = await waitDone(gw, id, 600_000);
    stops.forEach((f) => f());
    if (s.status !== "COMPLETED") throw new Error(`job ${id}: ${JSON.stringify(s)}`);
    r.take = r.accept + s.delayTime;
    r.result = r.take + s.executionTime;
    r.handler = s.output.handlerStartMs - t0;
    r.process = s.output.processStartMs - t0;
    r.pod = s.output.pod;
    const act = (await activationTimes(gw, t0)).sort((a, b) => a - b);
    if (act.length) r.activate = act[0] - t0;
    return r;
}

function stats(xs: number[]): string {
    if (!xs.length) return "        -";
    const s = [...xs].sort((a, b) => a - b);
    const med = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    const f = (v: number) => (v / 1000).toFixed(2);
    return `${f(s[0])}/${f(med)}/${f(s[s.length - 1])}`;
}
function table(name: string, runs: Run[]): string {
    const lines = [`case ${name} (${runs.length} runs): seconds after /run, min/median/max`];
    for (const step of STEPS) lines.push(`  ${step.padEnd(10)} ${stats(runs.map((r) => r[step]).filter((v): v is number => v !== undefined))}`);
    lines.push(`  ${"pull time".padEnd(10)} ${stats(runs.map((r) => r.pullMs).filter((v): v is number => v !== undefined))}  (kubelet's own figure)`);
    return lines.join("\n");
}
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN; };

async function main(): Promise<void> {
    loadEnv();
    process.chdir(REPO);
    const outs = JSON.parse(await sh("pulumi", ["stack", "output", "--json", "--stack", "local"]));
    for (const k of ["namespace", "gatewayUrl", "scalerAddress", "coldStartImage", "prePullPauseImage"]) {
        if (!outs[k]) throw new Error(`the local stack has no output ${k}: npm run up first (from a tree with the cold-start block)`);
    }
    const local: Local = { ns: outs.namespace, gatewayUrl: outs.gatewayUrl, scalerAddress: outs.scalerAddress, probe: outs.coldStartImage, pause: outs.prePullPauseImage };
    const ip = (await sh("kubectl", ["-n", local.ns, "get", "service", "longshore-gateway", "-o", "jsonpath={.spec.clusterIP}"])).trim();
    const gw: Gw = { base: `http://${ip}:8080`, key: (await sh("bash", ["scripts/api-key.sh"])).trim(), ns: local.ns };
    const k = kube();
    const stack = await benchStack(local);
    const results = new Map<string, Run[]>();
    const notes: string[] = [];
    try {
        const plan: { name: string; image: () => Promise<string>; prePull: boolean }[] = [];
        let ballast: string | undefined;
        const ballastRef = async () => (ballast ??= await ballastImage(local.probe));
        for (const c of CASES) {
            if (c === "a" || c === "c" || c === "w") plan.push({ name: c, image: async () => local.probe, prePull: false });
            else if (c === "b") plan.push({ name: c, image: ballastRef, prePull: false });
            else if (c === "b+") plan.push({ name: c, image: ballastRef, prePull: true });
            else throw new Error(`unknown case ${c} (a, b, b+, c, w)`);
        }
        let deployed = "";
        for (const p of plan) {
            const image = await p.image();
            const key = `${image}|${p.prePull}`;
            if (p.name === "b+") {
                await atZero(k, gw); // the last case's idle worker still holds the image
                await removeFromNode(image); // the pre-pull DaemonSet must pull it itself
            }
            if (key !== deployed) {
                const ms = await deploy(stack, image, p.prePull);
                notes.push(`pulumi up for case ${p.name}: ${(ms / 1000).toFixed(1)} s${p.prePull ? " (includes the pre-pull DaemonSet pulling the image)" : ""}`);
                deployed = key;
            }
            const runs: Run[] = [];
            if (p.name === "w") {
                // warm: a worker is up and idle (the endpoint's idle timeout keeps it while jobs keep coming)
                await atZero(k, gw);
                await waitDone(gw, (await call(gw, "POST", `/v2/${EP}/run`, { input: {} })).id, 600_000);
            }
            for (let i = 0; i < RUNS; i++) {
                if (p.name === "w") {
                    const pods = await getJson(k, `/api/v1/namespaces/${gw.ns}/pods?labelSelector=longshore.dev%2Fendpoint%3D${EP}`);
                    const r = await oneRun(k, gw, { sleep: 0 }, new Set(pods.items.map((x: any) => x.metadata.name)), 99);
                    delete r.activate;
                    runs.push(r);
                    log(`case w run ${i + 1}: handler at ${((r.handler ?? NaN) / 1000).toFixed(2)} s (${r.pod})`);
                    continue;
                }
                await atZero(k, gw);
                if (p.name === "b") await removeFromNode(image);
                if (p.name === "c") {
                    // job 1 occupies the first worker; job 2 then needs a second one
                    const { id: first } = await call(gw, "POST", `/v2/${EP}/run`, { input: { sleep: 30 } });
                    let busy: string | undefined;
                    for (let w = 0; w < 600 && !busy; w++) {
                        const s = await call(gw, "GET", `/v2/${EP}/status/${first}`);
                        if (s.status === "IN_PROGRESS") busy = s.workerId;
                        else await sleep(100);
                    }
                    const pods = await getJson(k, `/api/v1/namespaces/${gw.ns}/pods?labelSelector=longshore.dev%2Fendpoint%3D${EP}`);
                    const r = await oneRun(k, gw, { sleep: 0 }, new Set(pods.items.map((x: any) => x.metadata.name)), 1);
                    delete r.activate; // the endpoint is already active: no activation for the second worker
                    runs.push(r);
                    await waitDone(gw, first, 120_000);
                } else {
                    runs.push(await oneRun(k, gw, { sleep: 0 }, new Set(), 0));
                }
                const last = runs[runs.length - 1];
                log(`case ${p.name} run ${i + 1}: handler at ${((last.handler ?? NaN) / 1000).toFixed(2)} s, result at ${((last.result ?? NaN) / 1000).toFixed(2)} s, pull ${last.pullMs ?? "-"} ms (${last.pod})`);
            }
            results.set(p.name, runs);
        }
    } finally {
        log("destroying the bench stack");
        await stack.destroy({ color: "never" }).catch((e) => log(`destroy failed: ${e.message}`));
        await stack.workspace.removeStack("coldstart-bench").catch(() => undefined);
    }
    const out: string[] = [`cold-start bench ${new Date().toISOString()} (endpoint ${EP}, ${RUNS} runs per case, ballast ${BALLAST_MB} MB)`];
    for (const [name, runs] of results) out.push(table(name, runs));
    out.push(...notes);
    const a = results.get("a");
    if (a) {
        const m = median(a.map((r) => r.handler!).filter((x) => x !== undefined));
        out.push(`target: handler starts <= ${(TARGET_HANDLER_MS / 1000).toFixed(1)} s after /run on an idle endpoint with the image on the node; today (case a median): ${(m / 1000).toFixed(2)} s — ${m <= TARGET_HANDLER_MS ? "MET" : "not met"}`);
    }
    const b = results.get("b"); const bp = results.get("b+");
    if (a && b && bp) {
        const ma = median(a.map((r) => r.handler!)), mb = median(b.map((r) => r.handler!)), mbp = median(bp.map((r) => r.handler!));
        out.push(`pre-pull: case b median ${(mb / 1000).toFixed(2)} s -> b+ ${(mbp / 1000).toFixed(2)} s (case a ${(ma / 1000).toFixed(2)} s); b+/a = ${(mbp / ma).toFixed(2)}`);
    }
    process.stdout.write(out.join("\n") + "\n");
}

main().catch((e) => {
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exit(1);
});
