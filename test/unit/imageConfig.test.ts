// resolveImageConfig (components/imageConfig.ts): an image's ENTRYPOINT/CMD read from a real registry
// (Debian's docker-registry on a loopback port, as in registryDigest.test.ts), through an image index.
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { execFileSync, spawn, ChildProcess } from "child_process";
import { resolveImageConfig } from "../../components";

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

function req(method: string, url: string, headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
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

describe("resolveImageConfig against a real registry (docker-registry on loopback)", function () {
    this.timeout(120000);
    let proc: ChildProcess;
    let dir: string;
    let base: string;
    let host: string;

    const pushBlob = async (name: string, data: Buffer) => {
        const start = await req("POST", `${base}/v2/${name}/blobs/uploads/`);
        assert.strictEqual(start.status, 202);
        const loc = new URL(String(start.headers.location), base);
        loc.searchParams.set("digest", sha(data));
        const put = await req("PUT", loc.toString(), { "Content-Type": "application/octet-stream", "Content-Length": String(data.length) }, data);
        assert.strictEqual(put.status, 201);
        return sha(data);
    };
    const pushManifest = async (name: string, ref: string, type: string, m: object) => {
        const body = Buffer.from(JSON.stringify({ mediaType: type, ...m }));
        const put = await req("PUT", `${base}/v2/${name}/manifests/${ref}`, { "Content-Type": type }, body);
        assert.strictEqual(put.status, 201, `manifest put: ${put.body}`);
        return sha(body);
    };
    const image = async (name: string, arch: string, config: object) => {
        const layer = Buffer.from(`layer of ${arch}`);
        const cfg = Buffer.from(JSON.stringify({ architecture: arch, os: "linux", config, rootfs: { type: "layers", diff_ids: [sha(layer)] } }));
        const layerDigest = await pushBlob(name, layer);
        const configDigest = await pushBlob(name, cfg);
        const m = {
            schemaVersion: 2,
            config: { mediaType: "application/vnd.oci.image.config.v1+json", size: cfg.length, digest: configDigest },
            layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", size: layer.length, digest: layerDigest }],
        };
        const body = Buffer.from(JSON.stringify({ mediaType: "application/vnd.oci.image.manifest.v1+json", ...m }));
        return { digest: await pushManifest(name, `${arch}-only`, "application/vnd.oci.image.manifest.v1+json", m), size: body.length };
    };

    before(async () => {
        const bin = "/usr/bin/docker-registry";
        if (!fs.existsSync(bin)) execFileSync("bash", ["-c", ". scripts/lib.sh && apt_install docker-registry"], { stdio: "inherit", timeout: 300000 });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-registry-"));
        host = `127.0.0.1:${await freePort()}`;
        base = `http://${host}`;
        const cfg = path.join(dir, "config.yml");
        fs.writeFileSync(cfg, ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:", `    rootdirectory: ${dir}/data`, "http:", `  addr: ${host}`].join("\n") + "\n");
        proc = spawn(bin, ["serve", cfg], { stdio: "ignore" });
        for (let i = 0; ; i++) {
            try {
                if ((await req("GET", `${base}/v2/`)).status === 200) break;
            } catch { /* not yet listening */ }
            if (i > 200) throw new Error("docker-registry did not start");
            await new Promise((r) => setTimeout(r, 50));
        }
    });

    after(() => {
        proc?.kill();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("reads Entrypoint, Cmd, WorkingDir and User of the linux/amd64 image of an index", async () => {
        const amd = await image("longshore/cli", "amd64", { Entrypoint: ["python", "/opt/model/predict.py"], Cmd: ["--help"], WorkingDir: "/opt/model", User: "1000" });
        const arm = await image("longshore/cli", "arm64", { Entrypoint: ["/arm/wrong"] });
        const index = await pushManifest("longshore/cli", "1.0.0", "application/vnd.oci.image.index.v1+json", {
            schemaVersion: 2,
            manifests: [
                { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: arm.digest, size: arm.size, platform: { os: "linux", architecture: "arm64" } },
                { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: amd.digest, size: amd.size, platform: { os: "linux", architecture: "amd64" } },
            ],
        });
        assert.deepStrictEqual(await resolveImageConfig(`${host}/longshore/cli@${index}`),
            { entrypoint: ["python", "/opt/model/predict.py"], cmd: ["--help"], workingDir: "/opt/model", user: "1000" });
        // a single-platform manifest, with a tag before the digest (ignored, as registries do)
        assert.deepStrictEqual((await resolveImageConfig(`${host}/longshore/cli:0.1.0@${arm.digest}`)).entrypoint, ["/arm/wrong"]);
    });

    it("an image without Entrypoint/Cmd gives empty lists; unknown digests and tags are clear errors", async () => {
        const bare = await image("longshore/bare", "amd64", {});
        assert.deepStrictEqual(await resolveImageConfig(`${host}/longshore/bare@${bare.digest}`), { entrypoint: [], cmd: [], workingDir: "", user: "" });
        await assert.rejects(resolveImageConfig(`${host}/longshore/bare@sha256:${"0".repeat(64)}`), /answered 404/);
        await assert.rejects(resolveImageConfig(`${host}/longshore/bare:1.0`), /not pinned by digest/);
    });
});
