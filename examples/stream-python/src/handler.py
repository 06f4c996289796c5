""" Streaming worker: a generator handler. Every `yield` is streamed to the client (/stream/{id}); with
return_aggregate_stream the final /status output is the list of all chunks. """
import time

import runpod


def handler(job):
    job_input = job["input"]
    text = job_input.get("text", "the quick brown fox")
    delay = float(job_input.get("delay", 0.05))
    if not isinstance(text, str) or not text.strip():
        # Yielding {"error": ...} fails the job with that message (runpod SDK behaviour).
        yield {"error": "input.text must be a non-empty string"}
        return
    for word in text.split():
        time.sleep(delay)
        yield word


runpod.serverless.start({
    "handler": handler,
    "return_aggregate_stream": True,
})
