"""An OpenAI-compatible RunPod worker that follows worker-vllm's handler contract, with a tiny real model.

Job input (what the gateway's /v2/<ep>/openai/v1/... route, like RunPod's, sends):
    {"openai_route": "/v1/chat/completions", "openai_input": {...the OpenAI request body...}}
    {"openai_route": "/v1/models"}                     (a GET: no openai_input)
Routes: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings.

As in worker-vllm: an async generator handler; with "stream": true it yields raw SSE text
("data: {chunk}\\n\\n" ... "data: [DONE]\\n\\n"), otherwise the response JSON once; errors are yielded as
{"error": {"message", "type", "code"}} (the RunPod SDK then fails the job with it).

The model: a word-bigram Markov chain trained at start-up on the Zen of Python, which ships with every Python
(the stdlib `this` module) -- no GPU, no download, deterministic (seeded by the request's `seed` or its prompt).
It is a real, if very small, statistical language model, not an LLM. Embeddings: a hashed bag of words.
TOKEN_DELAY_S (default 0.05) paces generation like a GPU emitting tokens.
"""

import asyncio
import base64
import codecs
import contextlib
import hashlib
import io
import json
import math
import os
import random
import re
import struct
import time
import uuid

import runpod

MODEL = os.getenv("OPENAI_SERVED_MODEL_NAME_OVERRIDE") or "zen-bigram"
TOKEN_DELAY_S = float(os.getenv("TOKEN_DELAY_S", "0.05"))
EMBEDDING_DIM = 64
CREATED = 1796083200  # fixed (2026-12-01): /v1/models is deterministic

with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
    import this
ZEN = codecs.decode(this.s, "rot13")


def tokenize(text):
    return re.findall(r"[A-Za-z']+|[0-9]+|[^\sA-Za-z0-9']", text)


WORDS = tokenize(ZEN)
NEXT = {}
for a, b in zip(WORDS, WORDS[1:]):
    NEXT.setdefault(a.lower(), []).append(b)


def generate(prompt, max_tokens, seed, ignore_eos=False):
    """Yields (token, finish_reason or None): the chain walked from the prompt's last known word; it stops at
    the first "." unless ignore_eos (vLLM's sampling parameter of that name)."""
    rng = random.Random(seed if seed is not None else hashlib.sha256(prompt.encode()).hexdigest())
    words = [w for w in tokenize(prompt) if w.lower() in NEXT]
    cur = words[-1] if words else WORDS[0]
    for i in range(max_tokens):
        cur = rng.choice(NEXT.get(cur.lower()) or WORDS[:1])
        done = cur == "." and i > 0 and not ignore_eos
        last = done or i == max_tokens - 1
        yield (cur if i == 0 or re.match(r"[^\w]", cur) else " " + cur), ("stop" if done else "length" if last else None)
        if done:
            return


def error(status, message, err_type, param=None):
    return {"error": {"message": message, "type": err_type, "param": param, "code": status}}


def check_model(body):
    model = body.get("model") or MODEL
    if model != MODEL:
        return error(404, f"The model `{model}` does not exist.", "NotFoundError", "model")
    return None


def sse(obj):
    return f"data: {json.dumps(obj)}\n\n"


async def completion(body, chat):
    if chat:
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            yield error(400, "messages: a non-empty list is required", "BadRequestError", "messages")
            return
        prompt = " ".join(str(m.get("content") or "") for m in msgs if isinstance(m, dict))
    else:
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            prompt = " ".join(map(str, prompt))
        if not isinstance(prompt, str):
            yield error(400, "prompt: a string is required", "BadRequestError", "prompt")
            return
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 16
    if not isinstance(max_tokens, int) or max_tokens < 1:
        yield error(400, "max_tokens must be a positive integer", "BadRequestError", "max_tokens")
        return
    rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
    obj = "chat.completion" if chat else "text_completion"
    head = {"id": rid, "created": int(time.time()), "model": MODEL}
    prompt_tokens = len(tokenize(prompt))
    tokens = generate(prompt, max_tokens, body.get("seed"), body.get("ignore_eos") is True)

    if body.get("stream") is True:
        include_usage = (body.get("stream_options") or {}).get("include_usage") is True
        if chat:
            yield sse({**head, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}]})
        n = 0
        for tok, finish in tokens:
            await asyncio.sleep(TOKEN_DELAY_S)
            n += 1
            if chat:
                yield sse({**head, "object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": {"content": tok}, "logprobs": None, "finish_reason": finish}]})
            else:
                yield sse({**head, "object": "text_completion",
                           "choices": [{"index": 0, "text": tok, "logprobs": None, "finish_reason": finish}]})
        if include_usage:
            yield sse({**head, "object": obj + ("" if not chat else ".chunk"), "choices": [],
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}})
        yield "data: [DONE]\n\n"
        return

    text, finish = "", "length"
    for tok, f in tokens:
        await asyncio.sleep(TOKEN_DELAY_S)
        text += tok
        finish = f or finish
    n = len(tokenize(text))
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": finish}
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
    yield {**head, "object": obj, "choices": [choice], "usage": usage}


def embed(text):
    v = [0.0] * EMBEDDING_DIM
    for w in tokenize(text.lower()):
        h = hashlib.sha256(w.encode()).digest()
        v[h[0] % EMBEDDING_DIM] += 1.0 if h[1] % 2 else -1.0
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


def embeddings(body):
    inp = body.get("input")
    items = [inp] if isinstance(inp, str) else inp
    if not isinstance(items, list) or not items or not all(isinstance(s, str) for s in items):
        return error(400, "input: a string or a list of strings is required", "BadRequestError", "input")
    data = []
    for i, s in enumerate(items):
        vec = embed(s)
        if body.get("encoding_format") == "base64":  # what the OpenAI clients ask for by default
            vec = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vec})
    n = sum(len(tokenize(s)) for s in items)
    return {"object": "list", "data": data, "model": MODEL, "usage": {"prompt_tokens": n, "total_tokens": n}}


async def handler(job):
    job_input = job.get("input") or {}
    route = job_input.get("openai_route")
    body = job_input.get("openai_input") or {}
    if not route:
        yield error(400, "job input must contain openai_route (+ openai_input)", "BadRequestError")
        return
    if route == "/v1/models":
        yield {"object": "list", "data": [{"id": MODEL, "object": "model", "created": CREATED, "owned_by": "longshore"}]}
        return
    if route not in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
        yield error(404, f"Invalid route {route}", "NotFoundError")
        return
    bad = check_model(body)
    if bad:
        yield bad
        return
    if route == "/v1/embeddings":
        yield embeddings(body)
        return
    async for out in completion(body, route == "/v1/chat/completions"):
        yield out


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
