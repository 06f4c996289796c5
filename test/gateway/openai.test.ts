// The OpenAI-compatible route (/v2/<ep>/openai/v1/...) with the official clients — the `openai` npm package and the
// `openai` PyPI package — against a real gateway + Redis and an unmodified runpod.serverless.start worker running
// examples/openai-worker (worker-vllm's handler contract). Raw-worker cases pin the SSE relay and error shapes.
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as path from "path";
import OpenAI from "openai";
import { startRedis, TestRedis } from "../helpers/redis";
import { startGateway, TestGateway } from "../helpers/gateway";
import { client, http, PyWorker, startPyWorker, until, venvPython, worker } from "./util";

const EPS = ["oai", "oai-abort", "raw"].map((id) => ({ id, workerToken: `token-${id}-123456` }));
const HANDLER = path.join("..", "..", "..", "examples", "openai-worker", "src", "handler.py");
const CHAT = { model: "zen-bigram", messages: [{ role: "user" as const, content: "Beautiful is better than" }] };

describe("gateway: OpenAI-compatible route with the official OpenAI clients", function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let gw: TestGateway;
  const workers: PyWorker[] = [];
  const ep = (id: string) => EPS.find((e) => e.id === id)!;
  const oai = (id = "oai", apiKey = gw.apiKey) => new OpenAI({ apiKey, baseURL: `${gw.baseUrl}/${id}/openai/v1`, maxRetries: 0 });
  const auth = () => ({ authorization: `Bearer ${gw.apiKey}` });

  before(async function () {
    this.timeout(240_000);
    venvPython();
    redis = await startRedis();
    gw = await startGateway({ redisUrl: redis.url, endpoints: EPS });
    workers.push(startPyWorker(gw, HANDLER, "py-oai-1", { ep: ep("oai"), env: { TOKEN_DELAY_S: "0.05" } }));
    workers.push(startPyWorker(gw, HANDLER, "py-oai-abort-1", { ep: ep("oai-abort"), env: { TOKEN_DELAY_S: "0.1" } }));
  });
  after(async function () {
    this.timeout(30_000);
    if (this.currentTest?.state === "failed") for (const w of workers) console.log(`--- ${w.id}\n${w.output().slice(-3000)}`);
    await Promise.all(workers.map((w) => w.kill()));
    await gw?.close();
    await redis?.stop({ removeData: true });
  });

  describe("openai (npm) client", () => {
    it("chat completion: the handler's chat.completion JSON, deterministic for a seed", async () => {
      const a = await oai().chat.completions.create({ ...CHAT, max_tokens: 10, seed: 42 });
      assert.equal(a.object, "chat.completion");
      assert.equal(a.model, "zen-bigram");
      assert.equal(a.choices[0].message.role, "assistant");
      assert.ok(a.choices[0].message.content && a.choices[0].message.content.length > 0);
      assert.ok(["stop", "length"].includes(a.choices[0].finish_reason));
      assert.ok(a.usage!.completion_tokens >= 1);
      const b = await oai().chat.completions.create({ ...CHAT, max_tokens: 10, seed: 42 });
      assert.equal(b.choices[0].message.content, a.choices[0].message.content);
    });

    it("streamed chat completion: chunks arrive while the job runs, then [DONE]; same text as unstreamed", async () => {
      const whole = await oai().chat.completions.create({ ...CHAT, max_tokens: 24, seed: 9 });
      const t0 = Date.now();
      const { data: stream, response } = await oai().chat.completions.create({ ...CHAT, max_tokens: 24, seed: 9, stream: true }).withResponse();
      assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
      const id = response.headers.get("x-longshore-job-id")!;
      assert.ok(id, "job id header");
      let firstAt = 0;
      let statusAtFirst = "";
      const parts: string[] = [];
      let chunks = 0;
      for await (const c of stream) {
        chunks++;
        assert.equal(c.object, "chat.completion.chunk");
        const d = c.choices[0]?.delta?.content;
        if (d && !firstAt) {
          firstAt = Date.now() - t0;
          statusAtFirst = (await client(gw, "oai").status(id)).body.status;
        }
        if (d) parts.push(d);
      }
      const doneAt = Date.now() - t0;
      assert.equal(statusAtFirst, "IN_PROGRESS", "the first token reached the client before the job completed");
      assert.ok(chunks >= 3, `${chunks} chunks`);
      assert.ok(firstAt < doneAt, `first chunk at ${firstAt} ms, stream end at ${doneAt} ms`);
      assert.equal(parts.join(""), whole.choices[0].message.content);
      const s = await client(gw, "oai").waitTerminal(id);
      assert.equal(s.status, "COMPLETED");
    });

    it("legacy completions, streamed and not", async () => {
      const r = await oai().completions.create({ model: "zen-bigram", prompt: "Errors should never", max_tokens: 6, seed: 1 });
      assert.equal(r.object, "text_completion");
      const parts: string[] = [];
      for await (const c of await oai().completions.create({ model: "zen-bigram", prompt: "Errors should never", max_tokens: 6, seed: 1, stream: true })) {
        parts.push(c.choices[0].text);
      }
      assert.equal(parts.join(""), r.choices[0].text);
    });

    it("models list", async () => {
      const ids: string[] = [];
      for await (const m of oai().models.list()) ids.push(m.id);
      assert.deepEqual(ids, ["zen-bigram"]);
    });

    it("embeddings (the client's default base64 encoding, decoded by it)", async () => {
      const r = await oai().embeddings.create({ model: "zen-bigram", input: ["flat is better than nested", "sparse is better than dense"] });
      assert.equal(r.data.length, 2);
      assert.equal(r.data[0].embedding.length, 64);
      const norm = Math.sqrt(r.data[0].embedding.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
    });

    it("a handler error is the client's typed error: 404 NotFoundError, 400 BadRequestError (streamed or not)", async () => {
      await assert.rejects(oai().chat.completions.create({ ...CHAT, model: "nope" }), (e: unknown) => {
        assert.ok(e instanceof OpenAI.NotFoundError, String(e));
        assert.equal(e.status, 404);
        assert.match(e.message, /The model `nope` does not exist/);
        return true;
      });
      await assert.rejects(oai().chat.completions.create({ ...CHAT, model: "nope", stream: true }), (e: unknown) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(oai().chat.completions.create({ model: "zen-bigram", messages: [] }), (e: unknown) => {
        assert.ok(e instanceof OpenAI.BadRequestError, String(e));
        assert.match(e.message, /messages/);
        return true;
      });
    });

    it("auth: a wrong key is AuthenticationError; an unknown endpoint NotFoundError", async () => {
      await assert.rejects(oai("oai", "wrong-key").models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
      await assert.rejects(oai("no-such-ep").models.list(), (e: unknown) => e instanceof OpenAI.NotFoundError);
    });

    it("client abort mid-stream cancels the job and the worker is told to stop", async () => {
      const ac = new AbortController();
      const { data: stream, response } = await oai("oai-abort")
        .chat.completions.create({ ...CHAT, max_tokens: 300, stream: true, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsStreaming, { signal: ac.signal })
        .withResponse();
      const id = response.headers.get("x-longshore-job-id")!;
      let n = 0;
      // the npm client ends the iteration quietly on its own abort
      for await (const _c of stream) {
        if (++n === 3) ac.abort();
      }
      assert.equal(n, 3, "no chunk after the abort");
      const s = await client(gw, "oai-abort").waitTerminal(id, 10_000);
      assert.equal(s.status, "CANCELLED");
      const w = workers.find((x) => x.id === "py-oai-abort-1")!;
      await until(async () => w.output().includes(`"requestId": "${id}", "message": "Stopping job."`), 10_000, "the worker's 'Stopping job' (job-stop)");
      // the worker's one slot is free again: a new request is answered at once, not after the 30 s generation
      const t0 = Date.now();
      await oai("oai-abort").chat.completions.create({ ...CHAT, max_tokens: 2 });
      assert.ok(Date.now() - t0 < 10_000);
    });
  });

  it("openai (PyPI) client: chat, stream, models, embeddings, typed error", async function () {
    this.timeout(120_000);
    const script = path.join(__dirname, "fixtures", "openai_client.py");
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(venvPython(), [script, `${gw.baseUrl}/oai/openai/v1`, gw.apiKey], { timeout: 100_000 }, (err, so, se) => (err ? reject(new Error(`${err.message}\n${se}`)) : resolve(so))),
    );
    const r = JSON.parse(stdout.trim().split("\n").pop()!);
    assert.equal(r.chat.object, "chat.completion");
    assert.ok(r.chat.content.length > 0);
    assert.equal(r.stream.join(""), r.chat.content, "the streamed text is the unstreamed text (same seed)");
    assert.deepEqual(r.models, ["zen-bigram"]);
    assert.equal(r.embedding_len, 64);
    assert.deepEqual({ class: r.error.class, status: r.error.status }, { class: "NotFoundError", status: 404 });
    assert.match(r.error.message, /does not exist/);
  });

  describe("relay details (a raw worker speaking the job-take/job-stream protocol)", () => {
    const w = () => worker(gw, "raw-1", ep("raw"));
    const url = (p: string) => `${gw.baseUrl}/raw/openai/v1${p}`;
    const takeJob = async () => {
      const t = await until(async () => {
        const r = await w().take();
        return r.status === 200 ? r : undefined;
      }, 10_000, "a job on raw");
      return t.body as { id: string; input: any };
    };

    it("job input is worker-vllm's: openai_route + openai_input (POST), openai_route alone (GET)", async () => {
      const res = fetch(url("/chat/completions"), { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ model: "m", messages: [] }) });
      const job = await takeJob();
      assert.deepEqual(job.input, { openai_route: "/v1/chat/completions", openai_input: { model: "m", messages: [] } });
      await w().stream(job.id, { id: "x", object: "chat.completion", choices: [] });
      await w().done(job.id, { output: [{ id: "x", object: "chat.completion", choices: [] }] }, true);
      const r = await res;
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { id: "x", object: "chat.completion", choices: [] });

      const g = http("GET", url("/models/zen"), { headers: auth() });
      const job2 = await takeJob();
      assert.deepEqual(job2.input, { openai_route: "/v1/models/zen" });
      await w().done(job2.id, { output: { id: "zen", object: "model" } });
      assert.deepEqual((await g).body, { id: "zen", object: "model" });
    });

    it("SSE text split mid-event is relayed event by event, the handler's [DONE] once at the end; objects framed", async () => {
      const res = await (async () => {
        const p = fetch(url("/completions"), { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ prompt: "p", stream: true }) });
        const job = await takeJob();
        await w().stream(job.id, 'data: {"a":1}\n\ndata: {"b"');
        const r = await p; // headers came with the first chunk
        const reader = r.body!.getReader();
        const dec = new TextDecoder();
        let got = "";
        const readUntil = async (re: RegExp) => {
          while (!re.test(got)) {
            const { value, done } = await reader.read();
            if (done) break;
            got += dec.decode(value, { stream: true });
          }
        };
        await readUntil(/\{"a":1\}\n\n/);
        assert.equal(got, 'data: {"a":1}\n\n', "the complete event, not the partial one");
        await w().stream(job.id, ':2}\n\ndata: [DONE]\n\n');
        await w().stream(job.id, [{ c: 3 }]);
        await w().done(job.id, { output: [] }, true);
        await readUntil(/\[DONE\]\n\n$/);
        return { r, got };
      })();
      assert.match(res.r.headers.get("content-type") ?? "", /text\/event-stream/);
      assert.equal(res.got, 'data: {"a":1}\n\ndata: {"b":2}\n\ndata: {"c":3}\n\ndata: [DONE]\n\n');
    });

    it("a failure mid-stream is a data: {\"error\"} event (what the clients raise); before any chunk it is the HTTP status", async () => {
      const p = fetch(url("/chat/completions"), { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ stream: true }) });
      const job = await takeJob();
      await w().stream(job.id, 'data: {"x":1}\n\n');
      // the RunPod SDK's shape of a yielded worker-vllm error: str() of the dict
      await w().done(job.id, { error: "{'message': 'vLLM returned HTTP 400: {\"error\": {\"message\": \"bad n\", \"code\": 400}}', 'type': 'worker_error', 'code': None}" }, true);
      const text = await (await p).text();
      assert.equal(text, 'data: {"x":1}\n\ndata: {"error":{"message":"bad n","type":"worker_error","param":null,"code":null}}\n\ndata: [DONE]\n\n');

      const q = fetch(url("/chat/completions"), { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ stream: true }) });
      const job2 = await takeJob();
      await w().done(job2.id, { error: "handler: boom \ntraceback: Traceback (most recent call last): ..." }, true);
      const r2 = await q;
      assert.equal(r2.status, 500);
      assert.equal(r2.headers.get("x-should-retry"), "false");
      assert.deepEqual(await r2.json(), { error: { message: "boom", type: "worker_error", param: null, code: null } });
    });

    it("hostile input is a 4xx in OpenAI's error shape: array body, bad path, HEAD", async () => {
      const a = await http("POST", url("/chat/completions"), { headers: auth(), body: [1, 2] });
      assert.equal(a.status, 400);
      assert.equal(typeof a.body.error.message, "string");
      const b = await http("POST", url("/chat/%00completions"), { headers: auth(), body: {} });
      assert.equal(b.status, 400);
      assert.equal(typeof b.body.error.message, "string");
      const c = await http("POST", url("/chat/completions"), { headers: auth(), raw: "{not json", });
      assert.equal(c.status, 400);
      const d = await fetch(url("/models"), { method: "HEAD", headers: auth() });
      assert.equal(d.status, 405);
      const e = await http("GET", url("/models"), { headers: { authorization: "Bearer nope" } });
      assert.equal(e.status, 401);
      assert.equal(e.body.error.type, "authentication_error");
      // nothing was queued by any of them
      assert.equal((await w().take()).status, 204);
    });
  });
  describe("a long wait for the first chunk (a cold start)", () => {
    let slow: TestGateway;
    const SLOW = { id: "oai-slow", workerToken: "token-oai-slow-123456" };
    before(async () => {
      slow = await startGateway({ redisUrl: redis.url, endpoints: [SLOW], timings: { openaiStreamHeadersAfterMs: 400, openaiKeepAliveMs: 300 } });
    });
    after(async () => slow?.close());

    it("stream: the 200 and event-stream headers go out, SSE comments keep the wait alive, the client still gets every chunk, and a late failure is the client's error", async () => {
      const w = worker(slow, "slow-1", SLOW);
      const take = async () => (await until(async () => {
        const r = await w.take();
        return r.status === 200 ? r : undefined;
      }, 10_000, "a job on oai-slow")).body as { id: string };
      const c = new OpenAI({ apiKey: slow.apiKey, baseURL: `${slow.baseUrl}/${SLOW.id}/openai/v1`, maxRetries: 0 });
      const t0 = Date.now();
      const pending = c.chat.completions.create({ ...CHAT, stream: true }).withResponse();
      const job = await take();
      // no chunk yet: the headers arrive anyway once the hold passes
      const { data: stream, response } = await pending;
      assert.ok(Date.now() - t0 >= 350, "headers only after the hold");
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
      await new Promise((r) => setTimeout(r, 1000)); // comments flow meanwhile
      const chunk = { id: "c1", object: "chat.completion.chunk", created: 1, model: "zen-bigram", choices: [{ index: 0, delta: { content: "late" }, finish_reason: null }] };
      await w.stream(job.id, [chunk]);
      await w.done(job.id, { output: [] }, true);
      const got: string[] = [];
      for await (const ch of stream) got.push(ch.choices[0].delta.content ?? "");
      assert.deepEqual(got, ["late"]);

      // raw: the comments are on the wire ahead of the first event
      const p = fetch(`${slow.baseUrl}/${SLOW.id}/openai/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${slow.apiKey}`, "content-type": "application/json" }, body: JSON.stringify({ stream: true }) });
      const job2 = await take();
      await new Promise((r) => setTimeout(r, 1200));
      await w.done(job2.id, { error: "handler: the model failed to load" }, true);
      const text = await (await p).text();
      assert.match(text, /^: waiting for a worker\n\n(: keep-alive\n\n)+data: \{"error":\{"message":"(handler: )?the model failed to load"/);
      assert.match(text, /data: \[DONE\]\n\n$/);

      // through the client, a failure after the headers is still a thrown API error
      const late = c.chat.completions.create({ ...CHAT, stream: true });
      const job3 = await take();
      await new Promise((r) => setTimeout(r, 700));
      await w.done(job3.id, { error: "handler: out of memory" }, true);
      await assert.rejects(async () => {
        for await (const _ of await late) void _;
      }, (e: unknown) => e instanceof OpenAI.APIError && /out of memory/.test((e as Error).message));
    });
  });
});
