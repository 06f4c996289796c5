// examples/ai-api-server (the seed-004 FastAPI server with its iris model and SQLite log), run from the test
// venv exactly as its Dockerfile runs it (`python server.py`, $PORT), behind the gateway's HTTP-endpoint proxy.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Gateway } from "../../gateway/src/index";
import { startRedis, TestRedis } from "../helpers/redis";
import { http } from "./util";
import { API_KEY, HttpWorkerProc, addWorker, rawRequest, startHttpGateway, startHttpWorker } from "./httpWorkers";

const AUTH = { authorization: `Bearer ${API_KEY}` };

describe("examples/ai-api-server behind the gateway", function () {
  this.timeout(90_000);
  let redis: TestRedis;
  let gw: Gateway;
  let w: HttpWorkerProc;
  let dir: string;
  const u = (p: string) => `${gw.url}/http/ai-api${p}`;

  before(async function () {
    this.timeout(120_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ai-api-"));
    redis = await startRedis();
    gw = await startHttpGateway(redis.url, [{ id: "ai-api", workerToken: "worker-token-0-ai-api", http: { port: 1, targetConcurrency: 4, queueTimeoutMs: 60_000 } }]);
    w = await startHttpWorker("ai-api-0", {
      script: path.resolve(__dirname, "../../examples/ai-api-server/server.py"),
      env: { DB_PATH: path.join(dir, "ai_api.db"), RUNPOD_POD_ID: "ai-api-0" },
    });
    addWorker(gw, "ai-api", w);
  });
  after(async () => {
    await gw?.close();
    await w?.kill();
    await redis?.stop({ removeData: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("answers the model's prediction once /ping is 200, and logs each request in its SQLite file", async () => {
    const r = await http("POST", u("/predict"), { headers: AUTH, body: { features: [5.1, 3.5, 1.4, 0.2] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.prediction, "setosa");
    assert.ok(r.body.probabilities.setosa > 0.9, JSON.stringify(r.body));
    assert.equal(r.body.worker, "ai-api-0");
    const v = await http("POST", u("/predict"), { headers: AUTH, body: { features: [6.7, 3.0, 5.2, 2.3] } });
    assert.equal(v.body.prediction, "virginica");
    const h = await http("GET", u("/history?limit=5"), { headers: AUTH });
    assert.equal(h.body.total, 2);
    assert.deepEqual(h.body.requests.map((x: any) => x.prediction), ["virginica", "setosa"]);
    assert.ok(fs.statSync(path.join(dir, "ai_api.db")).size > 0);
  });

  it("a bad request is the server's own 422, passed through", async () => {
    const r = await http("POST", u("/predict"), { headers: AUTH, body: { features: [1, 2] } });
    assert.equal(r.status, 422);
    assert.ok(Array.isArray(r.body.detail));
  });

  it("streams its SSE answer through the proxy event by event", async () => {
    const r = await rawRequest(u("/predict/stream"), { method: "POST", headers: { ...AUTH, "content-type": "application/json" }, body: JSON.stringify({ features: [5.9, 3.0, 4.2, 1.5] }) });
    assert.equal(r.status, 200);
    const events = r.body.toString().trim().split("\n\n").map((e) => JSON.parse(e.replace(/^data: /, "")));
    assert.equal(events.length, 4);
    assert.equal(events[3].prediction, "versicolor");
    assert.ok(r.chunkTimes.length >= 3, `arrived in ${r.chunkTimes.length} chunks`);
  });
});
