// End-to-end: the OpenAI-compatible route through the deployed `local` stack — the official `openai` npm client with
// baseURL = <gateway>/v2/openai/openai/v1, the examples/openai-worker image built by WorkerImage and scaled from zero
// by KEDA, one streamed chat completion whose first token arrives while the job still runs.
import { strict as assert } from "assert";
import OpenAI from "openai";
import { log } from "./harness";
import { DeployedStack, deployedStack } from "./stack";

describe("e2e: OpenAI-compatible route (examples/openai-worker)", function () {
  this.timeout(15 * 60_000);
  let d: DeployedStack;

  before(async function () {
    d = await deployedStack();
  });

  it("a streamed chat completion through the stack with the openai npm client, scaled from zero", async () => {
    const ep = d.out("openaiEndpointId");
    const client = new OpenAI({ apiKey: d.apiKey, baseURL: `${d.gatewayBase}/v2/${ep}/openai/v1`, maxRetries: 0, timeout: 10 * 60_000 });
    const t0 = Date.now();
    const { data: stream, response } = await client.chat.completions
      .create({ model: "zen-bigram", messages: [{ role: "user", content: "Beautiful is" }], max_tokens: 40, seed: 5, stream: true, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsStreaming)
      .withResponse();
    const id = response.headers.get("x-longshore-job-id")!;
    const parts: string[] = [];
    let statusAtFirst = "";
    let firstAt = 0;
    for await (const c of stream) {
      const t = c.choices[0]?.delta?.content;
      if (t && !firstAt) {
        firstAt = Date.now() - t0;
        const s = await fetch(`${d.gatewayBase}/v2/${ep}/status/${id}`, { headers: { authorization: `Bearer ${d.apiKey}` } });
        statusAtFirst = ((await s.json()) as { status: string }).status;
      }
      if (t) parts.push(t);
    }
    log(`openai e2e: first token after ${firstAt} ms (cold start included), ${parts.length} tokens in ${Date.now() - t0} ms`);
    assert.equal(statusAtFirst, "IN_PROGRESS", "the first token reached the client while the job was still running");
    assert.equal(parts.length, 40);
    const whole = await client.chat.completions.create({ model: "zen-bigram", messages: [{ role: "user", content: "Beautiful is" }], max_tokens: 40, seed: 5, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.equal(parts.join(""), whole.choices[0].message.content);
  });
});
