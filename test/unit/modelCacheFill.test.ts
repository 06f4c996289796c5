// The model-cache fill program itself (components/model-cache-fill/fill.py, what the fill Job runs), as a process
// against a real HTTP server on loopback: publishes once and atomically, is idempotent, exits 2 / 3 at once on a
// missing source / a wrong checksum with the reason in the termination message (what Pulumi's Job error and
// `kubectl describe` show), and retries a transient failure in-process before giving up with exit 1 — the Job
// runs with backoffLimit 0, so these retries are the only ones. The S3 path runs in the e2e suite against the
// proving ground's SeaweedFS (test/e2e/coldStart-modelCache.test.ts).
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { venvPython } from "../gateway/util";

const FILL = path.resolve(__dirname, "../../components/model-cache-fill/fill.py");
const BODY = crypto.randomBytes(300_000);
const SHA = crypto.createHash("sha256").update(BODY).digest("hex");

describe("model-cache fill program (fill.py)", function () {
  this.timeout(60_000);
  let server: http.Server;
  let base = "";
  let dir = "";
  let hits = 0;

  before(async () => {
    venvPython();
    server = http.createServer((req, res) => {
      hits++;
      if (req.url === "/m/model.bin") res.end(BODY);
      else res.writeHead(404).end("no");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server?.close());
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "fill-"));
    fs.mkdirSync(path.join(dir, "cache"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  // async: the HTTP server answering it runs in this process
  const fill = (env: Record<string, string>) => new Promise<{ code: number | null; out: string; term: string }>((resolve) => {
    execFile(venvPython(), [FILL], {
      encoding: "utf8", timeout: 50_000,
      env: { PATH: process.env.PATH, MC_DEST: path.join(dir, "cache"), MC_VERSION: "v1", MC_SHA256: SHA, MC_TERMINATION_LOG: path.join(dir, "termination-log"), ...env },
    }, (err, stdout, stderr) => {
      const t = path.join(dir, "termination-log");
      resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, out: `${stdout}${stderr}`, term: fs.existsSync(t) ? fs.readFileSync(t, "utf8") : "" });
    });
  });
  const published = () => fs.readdirSync(path.join(dir, "cache"));

  it("fills <dest>/<version>/ with the checked file once; a second run changes nothing and downloads nothing", async () => {
    const a = await fill({ MC_SOURCE_URL: `${base}/m/model.bin` });
    assert.equal(a.code, 0, a.out);
    assert.deepEqual(published(), ["v1"], "only the version directory, no temp directory left");
    assert.ok(fs.readFileSync(path.join(dir, "cache/v1/model.bin")).equals(BODY));
    assert.equal(fs.readFileSync(path.join(dir, "cache/v1/.longshore-model-cache"), "utf8").trim(), SHA);
    const before = hits;
    const b = await fill({ MC_SOURCE_URL: `${base}/m/model.bin` });
    assert.equal(b.code, 0, b.out);
    assert.match(b.out, /v1 already filled/);
    assert.equal(hits, before, "no second download");
  });

  it("a wrong checksum exits 3 at once, publishes nothing, and says expected/got in the termination message", async () => {
    const wrong = "0".repeat(64);
    const r = await fill({ MC_SOURCE_URL: `${base}/m/model.bin`, MC_SHA256: wrong });
    assert.equal(r.code, 3, r.out);
    assert.match(r.term, new RegExp(`checksum mismatch for .*model.bin: expected sha256 ${wrong}, got ${SHA} \\(300000 bytes\\); nothing was published`));
    assert.deepEqual(published(), []);
    assert.doesNotMatch(r.out, /attempt 1 of/, "not retried");
  });

  it("a missing source exits 2 at once with 'not found'", async () => {
    const r = await fill({ MC_SOURCE_URL: `${base}/no/such.bin` });
    assert.equal(r.code, 2, r.out);
    assert.match(r.term, /source http:\/\/127\.0\.0\.1:\d+\/no\/such\.bin not found \(HTTP 404\)/);
    assert.deepEqual(published(), []);
  });

  it("a transient failure (connection refused) is retried in-process, then exit 1 naming the attempts", async () => {
    // a port nothing listens on: bind, read, close
    const s = http.createServer();
    const port = await new Promise<number>((r) => s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => r(p));
    }));
    const r = await fill({ MC_SOURCE_URL: `http://127.0.0.1:${port}/m/model.bin`, MC_ATTEMPTS: "2" });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /attempt 1 of 2 failed \(URLError: .*refused.*\); again in 5 s/);
    assert.match(r.term, /gave up after 2 attempts/);
    assert.deepEqual(published(), []);
  });
});
