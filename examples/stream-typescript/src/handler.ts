// Streaming worker with the Longshore TypeScript SDK: an async generator handler. Every `yield` is streamed
// to the client (/stream/{id}); with returnAggregateStream the final /status output is the list of chunks.
import { start, type Job, type JobContext } from "longshore/worker";

async function* handler(job: Job, ctx: JobContext): AsyncGenerator<unknown> {
  const text = job.input?.text ?? "the quick brown fox";
  const delayMs = Number(job.input?.delayMs ?? 50);
  if (typeof text !== "string" || !text.trim()) {
    // Yielding {error} fails the job with that message, as with the Python SDK.
    yield { error: "input.text must be a non-empty string" };
    return;
  }
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (ctx.signal.aborted) return; // cancelled: stop producing
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    yield word;
  }
}

start({ handler, returnAggregateStream: true });
