// The digest resolver behind `WorkerImage` pin mode, against a real registry (Debian's docker-registry, the
// CNCF distribution registry, started here on a loopback port) and, for the auth challenges a local
// registry cannot produce (Bearer token service, Basic), a loopback server speaking the token spec.
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { execFileSync, spawn, ChildProcess } from "child_process";
import { resolveImageDigest } from "../../components";

const sha = (b: Buffer | string) => "sha256:" + crypto.createHash("sha256").update(b).digest("hex");

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
        s.on("error", reject);
    });
}

function registryBinary(): string {
    const bin = "/usr/bin/docker-registry";
    if (!fs.existsSync(bin)) {
        // Same idempotent installer the project's scripts use (Debian package `docker-registry`).
        execFileSync("bash", ["-c", ". scripts/lib.sh && apt_install docker-registry"], { stdio: "inherit", timeout: 300000 });
    }
    return bin;
}

async function req(method: string, url: string, headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
        const r = http.request(url, { method, headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        r.on("error", reject);
        if (body) r.write(body);
        r.end();
    });
}

async function pushBlob(base: string, name: string, data: Buffer): Promise<string> {
    const digest = sha(data);
    const start = await req("POST", `${base}/v2/${name}/blobs/uploads/`);
    assert.strictEqual(start.status, 202, `upload start: ${start.status} ${start.body}`);
    const loc = new URL(String(start.headers.location), base);
    loc.searchParams.set("digest", digest);
    const put = await req("PUT", loc.toString(), { "Content-Type": "application/octet-stream", "Content-Length": String(data.length) }, data);
    assert.strictEqual(put.status, 201, `blob put: ${put.status} ${put.body}`);
    return digest;
}

describe("resolveImageDigest against a real registry (docker-registry on loopback)", function () {
    this.timeout(120000);
    let proc: ChildProcess;
    let dir: string;
    let host: string;
    let manifestDigest: string;

    before(async () => {
        const bin = registryBinary();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-registry-"));
        const port = await freePort();
        host = `127.0.0.1:${port}`;
        const cfg = path.join(dir, "config.yml");
        fs.writeFileSync(cfg, [
            "version: 0.1",
            "log:", "  level: error",
            "storage:", `  filesystem:`, `    rootdirectory: ${dir}/data`,
            "http:", `  addr: ${host}`,
        ].join("\n") + "\n");
        proc = spawn(bin, ["serve", cfg], { stdio: "ignore" });
        for (let i = 0; ; i++) {
            try {
                if ((await req("GET", `http://${host}/v2/`)).status === 200) break;
            } catch { /* not yet listening */ }
            if (i > 200) throw new Error("docker-registry did not start");
            await new Promise((r) => setTimeout(r, 50));
        }
        // Push a small image: one layer, a config, a schema-2 manifest, tagged 1.0.0.
        const base = `http://${host}`;
        const layer = Buffer.from("not really a tarball, the registry does not care");
        const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha(layer)] } }));
        const layerDigest = await pushBlob(base, "longshore/echo", layer);
        const configDigest = await pushBlob(base, "longshore/echo", config);
        const manifest = Buffer.from(JSON.stringify({
            schemaVersion: 2,
            mediaType: "application/vnd.docker.distribution.manifest.v2+json",
            config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.length, digest: configDigest },
            layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: layer.length, digest: layerDigest }],
        }));
        const put = await req("PUT", `${base}/v2/longshore/echo/manifests/1.0.0`, { "Content-Type": "application/vnd.docker.distribution.manifest.v2+json" }, manifest);
        assert.strictEqual(put.status, 201, `manifest put: ${put.status} ${put.body}`);
        manifestDigest = sha(manifest);
    });

    after(() => {
        proc?.kill();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("returns the digest of the manifest bytes that were pushed (plain HTTP is the default for 127.x)", async () => {
        const r = await resolveImageDigest(`${host}/longshore/echo:1.0.0`);
        assert.strictEqual(r.digest, manifestDigest);
        assert.strictEqual(r.ref, `${host}/longshore/echo@${manifestDigest}`);
        assert.strictEqual(r.repository, `${host}/longshore/echo`);
        assert.strictEqual(r.tag, "1.0.0");
    });

    it("a missing tag is a clear error", async () => {
        await assert.rejects(resolveImageDigest(`${host}/longshore/echo:9.9.9`), /not found in registry .* \(manifest unknown\)/);
    });

    it("refuses a reference without a tag or with a digest already", async () => {
        await assert.rejects(resolveImageDigest(`${host}/longshore/echo`), /has no tag to resolve/);
        await assert.rejects(resolveImageDigest(`${host}/longshore/echo@${manifestDigest}`), /already has a digest/);
    });
});

describe("resolveImageDigest auth challenges (loopback token-spec server)", () => {
    let server: http.Server;
    let base: string;
    const manifest = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
    const seen: { accept?: string; auth?: string; tokenQuery?: string; tokenAuth?: string }[] = [];
    let mode: "bearer" | "basic" | "noheader" = "bearer";

    before(async () => {
        server = http.createServer((q, s) => {
            const u = new URL(q.url ?? "/", "http://x");
            if (u.pathname === "/token") {
                seen.push({ tokenQuery: u.search, tokenAuth: q.headers.authorization });
                if (q.headers.authorization !== "Basic " + Buffer.from("ci:pw").toString("base64")) {
                    s.writeHead(401).end("bad credentials");
                    return;
                }
                s.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token: "tok123" }));
                return;
            }
            const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(u.pathname);
            if (!m) {
                s.writeHead(404).end();
                return;
            }
            seen.push({ accept: q.headers.accept, auth: q.headers.authorization });
            const ok = mode === "bearer" ? q.headers.authorization === "Bearer tok123"
                : q.headers.authorization === "Basic " + Buffer.from("ci:pw").toString("base64");
            if (!ok) {
                const challenge = mode === "bearer"
                    ? `Bearer realm="${base}/token",service="registry.test",scope="repository:${m[1]}:pull"`
                    : 'Basic realm="registry"';
                s.writeHead(401, { "WWW-Authenticate": challenge }).end();
                return;
            }
            const headers: Record<string, string> = { "Content-Type": "application/vnd.oci.image.index.v1+json" };
            if (mode !== "noheader") headers["Docker-Content-Digest"] = sha(manifest);
            s.writeHead(200, headers).end(q.method === "HEAD" ? undefined : manifest);
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
        base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    });
    after(() => server.close());
    beforeEach(() => { seen.length = 0; });

    it("Bearer: fetches a token with the challenge's service and scope using the credentials, then HEADs again", async () => {
        mode = "bearer";
        const r = await resolveImageDigest(`${base.slice(7)}/team/worker:2.0`, { username: "ci", password: "pw" });
        assert.strictEqual(r.digest, sha(manifest));
        const tokenCall = seen.find((x) => x.tokenQuery)!;
        assert.match(tokenCall.tokenQuery!, /service=registry.test/);
        assert.match(decodeURIComponent(tokenCall.tokenQuery!), /scope=repository:team\/worker:pull/);
        const manifestCalls = seen.filter((x) => x.accept);
        assert.match(manifestCalls[0].accept!, /application\/vnd\.oci\.image\.index\.v1\+json/);
        assert.match(manifestCalls[0].accept!, /application\/vnd\.docker\.distribution\.manifest\.v2\+json/);
        assert.strictEqual(manifestCalls[manifestCalls.length - 1].auth, "Bearer tok123");
    });

    it("Bearer with wrong credentials: the token service's refusal is reported", async () => {
        mode = "bearer";
        await assert.rejects(resolveImageDigest(`${base.slice(7)}/team/worker:2.0`, { username: "ci", password: "nope" }), /token service .* answered 401/);
    });

    it("Basic challenge: answered with the credentials; without credentials it is a clear error", async () => {
        mode = "basic";
        assert.strictEqual((await resolveImageDigest(`${base.slice(7)}/team/worker:2.0`, { username: "ci", password: "pw" })).digest, sha(manifest));
        await assert.rejects(resolveImageDigest(`${base.slice(7)}/team/worker:2.0`), /requires authentication .* give username\/password/);
    });

    it("no Docker-Content-Digest on HEAD: GETs the manifest and hashes its exact bytes", async () => {
        mode = "noheader"; // (answers a Basic challenge, then omits the digest header)
        const r = await resolveImageDigest(`${base.slice(7)}/team/worker:2.0`, { username: "ci", password: "pw" });
        assert.strictEqual(r.digest, sha(manifest));
        assert.ok(seen.length >= 3, "HEAD, HEAD with credentials, then GET");
    });
});
