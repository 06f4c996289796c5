// Hello World worker with the Longshore TypeScript SDK — the same job as RunPod's Python seed example:
// SLEEP_TIME seconds of pretend work, then "Hello World".
import { start, type Job } from "longshore/worker";

const sleepTime = Number.parseInt(process.env.SLEEP_TIME ?? "3", 10);

// Load your model(s) here, outside the handler, so they stay warm between jobs.

async function handler(job: Job): Promise<string> {
  console.log(JSON.stringify(job));
  for (let slept = 0; slept < sleepTime; slept++) {
    console.log("working, I promise");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  // do the things; an `echo` input comes back as the output (the e2e burst test checks each job got its own)
  return typeof job.input?.echo === "string" ? job.input.echo : "Hello World";
}

start({ handler });
