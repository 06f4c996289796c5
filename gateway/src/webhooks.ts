// Webhook delivery: on a terminal state the status object is POSTed to the job's webhook URL; failures
// are retried (RunPod: twice, 10 s apart). Deliveries are BullMQ jobs with attempts + fixed backoff,
// processed by a regular BullMQ Worker, so a retry survives a gateway restart.
import { Queue, Worker } from "bullmq";
import Redis from "ioredis";
import type { Logger } from "pino";
import type { Timings } from "./config";

export interface WebhookJob {
  url: string;
  body: unknown;
}

export class Webhooks {
  private readonly queue: Queue<WebhookJob>;
  private readonly worker: Worker<WebhookJob>;
  private readonly conn: Redis;
  delivered = 0;
  failedAttempts = 0;

  constructor(redisUrl: string, prefix: string, private readonly t: Timings, private readonly log: Logger, onAttempt?: (ok: boolean) => void) {
    this.conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.conn.on("error", () => undefined);
    const opts = { connection: this.conn, prefix: `${prefix}:bull` };
    this.queue = new Queue<WebhookJob>("webhooks", opts);
    this.queue.on("error", () => undefined);
    this.worker = new Worker<WebhookJob>(
      "webhooks",
      async (job) => {
        const ctrl = AbortSignal.timeout(this.t.webhookTimeoutMs);
        let ok = false;
        try {
          const r = await fetch(job.data.url, {
            method: "POST",
            headers: { "content-type": "application/json", "user-agent": "longshore-gateway" },
            body: JSON.stringify(job.data.body),
            signal: ctrl,
          });
          await r.arrayBuffer().catch(() => undefined);
          ok = r.status >= 200 && r.status < 300;
          if (!ok) throw new Error(`webhook ${job.data.url} answered ${r.status}`);
        } finally {
          onAttempt?.(ok);
          if (ok) this.delivered++;
          else this.failedAttempts++;
        }
      },
      { ...opts, concurrency: 16, connection: this.conn },
    );
    this.worker.on("failed", (job, err) =>
      this.log.warn({ url: job?.data.url, attempt: job?.attemptsMade, err: err.message }, "webhook delivery failed"),
    );
    this.worker.on("error", () => undefined);
  }

  async enqueue(url: string, body: unknown): Promise<void> {
    await this.queue.add("post", { url, body }, {
      attempts: this.t.webhookAttempts,
      backoff: { type: "fixed", delay: this.t.webhookRetryDelayMs },
      removeOnComplete: true,
      removeOnFail: { age: 24 * 3600 },
    });
  }

  async close(): Promise<void> {
    await this.worker.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    await this.conn.quit().catch(() => this.conn.disconnect());
  }
}
