// Webhook delivery: on a terminal state the status object is POSTed to the job's webhook URL; failures
// are retried (RunPod: twice, 10 s apart). Deliveries are BullMQ jobs with attempts + fixed backoff,
// processed by a regular BullMQ Worker, so a retry survives a gateway restart.
//
// Each POST goes through node's http/https with the SSRF policy's `lookup` (ssrf.ts: only public
// addresses unless allowed, checked on the address connected to), one connection per attempt (no pooled
// sockets to arbitrary hosts), no redirects followed, and the receiver's answer read up to a cap and
// discarded. node:http rather than fetch/undici: fetch has no connect-time lookup hook without the undici
// package's Agent, and http.request never follows redirects. Signed per Standard Webhooks
// (standardwebhooks.com, as Svix/Stripe-style receivers verify): webhook-id, webhook-timestamp and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>" with the endpoint's webhookSecret.
import { createHmac, randomUUID } from "crypto";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import { Queue, Worker } from "bullmq";
import Redis from "ioredis";
import type { Logger } from "pino";
import type { Timings } from "./config";
import { hostOf, WebhookTargetPolicy } from "./ssrf";

export interface WebhookJob {
  url: string;
  body: unknown;
  /** endpoint id: its webhookSecret is looked up at delivery time (never stored in Redis) */
  ep?: string;
  /** Standard Webhooks message id, the same on every retry so receivers can de-duplicate */
  msgId?: string;
}

export interface WebhookOptions {
  policy: WebhookTargetPolicy;
  /** the endpoint's signing secret, if it has one */
  secretFor: (ep: string) => string | undefined;
  /** bytes of a receiver's answer that are read (then discarded) before the connection is dropped */
  maxResponseBytes: number;
  onAttempt?: (ok: boolean) => void;
}

/** Standard Webhooks signature header value for `body` (the exact bytes sent). */
export function signWebhook(secret: string, msgId: string, timestampS: number, body: string): string {
  const key = secret.startsWith("whsec_") ? Buffer.from(secret.slice(6), "base64") : Buffer.from(secret, "utf8");
  return "v1," + createHmac("sha256", key).update(`${msgId}.${timestampS}.${body}`).digest("base64");
}

/** One POST attempt; resolves with the HTTP status, rejects on a refused target / network error / timeout. */
export function postWebhook(url: string, body: string, headers: Record<string, string>, o: { policy: WebhookTargetPolicy; timeoutMs: number; maxResponseBytes: number }): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return reject(new Error("webhook is not a valid URL"));
    }
    const problem = o.policy.urlProblem(url);
    if (problem) return reject(new Error(problem));
    const host = hostOf(u);
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(u, {
      method: "POST",
      headers: { ...headers, "content-length": Buffer.byteLength(body) },
      agent: false,
      // IP literals are not looked up (checked by urlProblem above); names resolve through the policy
      lookup: net.isIP(host) ? undefined : (o.policy.lookup as unknown as typeof import("dns").lookup),
    });
    const timer = setTimeout(() => req.destroy(new Error(`webhook ${url} timed out after ${o.timeoutMs} ms`)), o.timeoutMs);
    req.on("response", (res) => {
      let n = 0;
      const finish = () => {
        clearTimeout(timer);
        resolve(res.statusCode ?? 0);
      };
      res.on("data", (d: Buffer) => {
        n += d.length;
        if (n > o.maxResponseBytes) {
          // enough: the status is all we use; drop the connection instead of reading the rest
          res.destroy();
          req.destroy();
          finish();
        }
      });
      res.on("end", finish);
      res.on("error", finish);
      res.on("close", finish);
    });
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(body);
  });
}

export class Webhooks {
  private readonly queue: Queue<WebhookJob>;
  private readonly worker: Worker<WebhookJob>;
  private readonly conn: Redis;
  delivered = 0;
  failedAttempts = 0;

  constructor(redisUrl: string, prefix: string, private readonly t: Timings, private readonly log: Logger, private readonly o: WebhookOptions) {
    this.conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.conn.on("error", () => undefined);
    const opts = { connection: this.conn, prefix: `${prefix}:bull` };
    this.queue = new Queue<WebhookJob>("webhooks", opts);
    this.queue.on("error", () => undefined);
    this.worker = new Worker<WebhookJob>(
      "webhooks",
      async (job) => {
        let ok = false;
        try {
          const body = JSON.stringify(job.data.body);
          const msgId = job.data.msgId ?? `msg_${job.id}`;
          const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "longshore-gateway", "webhook-id": msgId };
          const secret = job.data.ep ? this.o.secretFor(job.data.ep) : undefined;
          if (secret) {
            const ts = Math.floor(Date.now() / 1000);
            headers["webhook-timestamp"] = String(ts);
            headers["webhook-signature"] = signWebhook(secret, msgId, ts, body);
          }
          const status = await postWebhook(job.data.url, body, headers, { policy: this.o.policy, timeoutMs: this.t.webhookTimeoutMs, maxResponseBytes: this.o.maxResponseBytes });
          ok = status >= 200 && status < 300;
          if (!ok) throw new Error(`webhook ${job.data.url} answered ${status}${status >= 300 && status < 400 ? " (redirects are not followed)" : ""}`);
        } finally {
          this.o.onAttempt?.(ok);
          if (ok) this.delivered++;
          else this.failedAttempts++;
        }
      },
      { ...opts, concurrency: 16, connection: this.conn },
    );
    this.worker.on("failed", (job, err) =>
      this.log.warn({ ep: job?.data.ep, jobId: (job?.data.body as { id?: string } | undefined)?.id, url: job?.data.url, attempt: job?.attemptsMade, err: err.message }, "webhook delivery failed"),
    );
    this.worker.on("error", () => undefined);
  }

  async enqueue(url: string, body: unknown, ep?: string): Promise<void> {
    await this.queue.add("post", { url, body, ep, msgId: `msg_${randomUUID()}` }, {
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
