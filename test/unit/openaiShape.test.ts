// The OpenAI route's translation of handler outputs (gateway/src/openai-shape.ts): every error shape worker-vllm
// has yielded, as the RunPod SDK leaves it, maps to the status an OpenAI client expects.
import { strict as assert } from "assert";
import { failureError, handlerError, parsePythonLiteral, SseFramer } from "../../gateway/src/openai-shape";

describe("openai-shape: handler errors and SSE framing", () => {
  it("worker-vllm's error today, after the SDK's str(): vLLM's status and message", () => {
    const e = failureError(`{'message': 'vLLM returned HTTP 404: {"object":"error","message":"The model \`x\` does not exist.","type":"NotFoundError","code":404}', 'type': 'worker_error', 'code': None}`);
    assert.equal(e.status, 404);
    assert.equal(e.body.error.message, "The model `x` does not exist.");
  });
  it("vLLM's older ErrorResponse chunk, an {'error': str} and an exception", () => {
    assert.equal(handlerError({ object: "error", message: "bad", type: "BadRequestError", code: 400 })!.status, 400);
    assert.equal(handlerError({ object: "chat.completion" }), null);
    assert.equal(failureError("{'error': 'x'}").status, 500);
    const raised = failureError("handler: division by zero \ntraceback: Traceback ...");
    assert.deepEqual([raised.status, raised.body.error.message], [500, "division by zero"]);
    assert.equal(failureError({ message: "m", type: "NotFoundError" }).status, 404);
    assert.equal(failureError("plain text").body.error.message, "plain text");
  });
  it("Python literals: nesting, escapes, None/True/False; anything else is undefined", () => {
    assert.deepEqual(parsePythonLiteral(`{'a': [1, 2.5, None], "b": 'it\\'s', 'c': (True, False)}`), { a: [1, 2.5, null], b: "it's", c: [true, false] });
    assert.equal(parsePythonLiteral("{'a': }"), undefined);
    assert.equal(parsePythonLiteral("["), undefined);
    assert.equal(parsePythonLiteral("[".repeat(100) + "]".repeat(100)), undefined, "depth bound");
  });
  it("SSE: events complete across chunks, [DONE] dropped, objects and lists framed, remainder flushed", () => {
    const f = new SseFramer();
    assert.deepEqual(f.push("data: {\"a\":1}\n\ndata: {"), ['data: {"a":1}\n\n']);
    assert.deepEqual(f.push("}\r\n\r\ndata: [DONE]\n\n"), ["data: {}\n\n"]);
    assert.deepEqual(f.push([{ b: 1 }, null]), ['data: {"b":1}\n\n']);
    assert.deepEqual(f.push({ error: { message: "m", code: 400 } }), ['data: {"error":{"message":"m","type":"worker_error","param":null,"code":400}}\n\n']);
    assert.deepEqual(f.push("event: x\ndata: 1"), []);
    assert.deepEqual(f.flush(), ["event: x\ndata: 1\n\n"]);
  });
});
