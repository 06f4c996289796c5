// What an OpenAI-compatible handler yields (worker-vllm's contract: docs/openai.md) turned into what an OpenAI
// client reads: error objects with the HTTP status the client maps to its typed errors, and SSE framing.
//
// Handlers report errors in several shapes, all seen in worker-vllm's history:
//   {"error": {"message", "type", "code"}}         worker-vllm today (code null; "vLLM returned HTTP 404: {...}")
//   {"object": "error", "message", "type", "code"}   vLLM's older ErrorResponse, yielded as an ordinary chunk
//   {"error": "text"}                                an exception caught in the handler
// and the RunPod Python SDK turns a yielded {"error": ...} into a FAILED job whose error is str() of the value:
// a Python repr ("{'message': ..., 'code': None}"), or "handler: <exception> \ntraceback: ..." for a raise.

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | number | null };
}
export interface OpenAIError {
  status: number;
  body: OpenAIErrorBody;
}

const TYPE_STATUS: Record<string, number> = {
  BadRequestError: 400,
  invalid_request_error: 400,
  AuthenticationError: 401,
  PermissionDeniedError: 403,
  NotFoundError: 404,
  not_found_error: 404,
  ConflictError: 409,
  UnprocessableEntityError: 422,
  RateLimitError: 429,
  rate_limit_error: 429,
  InternalServerError: 500,
  ServiceUnavailableError: 503,
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export function openaiError(status: number, message: string, type = "invalid_request_error", code: string | number | null = null, param: string | null = null): OpenAIError {
  return { status, body: { error: { message, type, param, code } } };
}

/** The status an OpenAI client expects: the handler's numeric code, else "HTTP NNN" in its message, else its type. */
function statusFor(code: unknown, message: string, type: string): number {
  const n = typeof code === "number" ? code : typeof code === "string" && /^\d{3}$/.test(code) ? Number(code) : NaN;
  if (n >= 400 && n <= 599) return n;
  const m = /\bHTTP (\d{3})\b/.exec(message);
  if (m && Number(m[1]) >= 400 && Number(m[1]) <= 599) return Number(m[1]);
  return TYPE_STATUS[type] ?? 500;
}

function fromObject(e: Obj): OpenAIError {
  let message = typeof e.message === "string" ? e.message : JSON.stringify(e.message ?? e);
  const type = typeof e.type === "string" ? e.type : "worker_error";
  const status = statusFor(e.code, message, type);
  // worker-vllm wraps vLLM's own error JSON: "vLLM returned HTTP 404: {"error": {"message": ...}}"; show vLLM's message
  const wrapped = /^vLLM returned HTTP \d{3}: (\{[\s\S]*\})\s*$/.exec(message);
  if (wrapped) {
    try {
      const inner = JSON.parse(wrapped[1]);
      const im = isObj(inner.error) ? inner.error.message : inner.message;
      if (typeof im === "string") message = im;
    } catch {
      /* keep the whole message */
    }
  }
  const code = typeof e.code === "string" || typeof e.code === "number" ? e.code : null;
  return { status, body: { error: { message, type, param: typeof e.param === "string" ? e.param : null, code } } };
}

/** The error a handler yielded or returned, or null when `v` is an ordinary output. */
export function handlerError(v: unknown): OpenAIError | null {
  if (!isObj(v)) return null;
  if (v.object === "error" && (typeof v.message === "string" || v.code !== undefined)) return fromObject(v);
  if (v.error === undefined || v.error === null || v.error === "") return null;
  if (isObj(v.error)) return fromObject(v.error);
  return fromObject({ message: String(v.error) });
}

/** The error of a FAILED job (what the worker's job-done carried) as an OpenAI error. */
export function failureError(err: unknown): OpenAIError {
  if (isObj(err)) return handlerError(err) ?? fromObject(err);
  const s = typeof err === "string" ? err : JSON.stringify(err ?? "the job failed");
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch {
    parsed = parsePythonLiteral(s);
  }
  if (isObj(parsed)) return handlerError(parsed) ?? fromObject(parsed);
  // an exception raised in the handler: "handler: <message> \ntraceback: ..." — the message, not the traceback
  const raised = /^handler: ([\s\S]*?)\s*\ntraceback:/.exec(s);
  return fromObject({ message: raised ? raised[1] : s, type: "worker_error" });
}

/**
 * A Python literal (what str(dict) prints: dicts, lists, tuples, quoted strings, numbers, None/True/False), or
 * undefined when `s` is not one. Hand-written: no maintained npm package parses Python reprs, and this is the
 * only shape the RunPod SDK leaves of a yielded error object.
 */
export function parsePythonLiteral(s: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const fail = (): never => {
    throw new Error("not a literal");
  };
  const str = (): string => {
    const q = s[i++];
    let out = "";
    while (i < s.length && s[i] !== q) {
      if (s[i] === "\\") {
        const c = s[i + 1];
        const esc: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0" };
        if (c === "x" || c === "u") {
          const len = c === "x" ? 2 : 4;
          out += String.fromCharCode(parseInt(s.slice(i + 2, i + 2 + len), 16));
          i += 2 + len;
          continue;
        }
        out += esc[c] ?? "\\" + c;
        i += 2;
      } else out += s[i++];
    }
    if (s[i] !== q) fail();
    i++;
    return out;
  };
  const value = (depth: number): unknown => {
    if (depth > 32) fail();
    ws();
    const c = s[i];
    if (c === "'" || c === '"') return str();
    if (c === "{" || c === "[" || c === "(") {
      const close = c === "{" ? "}" : c === "[" ? "]" : ")";
      i++;
      const obj: Obj = {};
      const arr: unknown[] = [];
      for (;;) {
        ws();
        if (s[i] === close) break;
        if (c === "{") {
          const k = value(depth + 1);
          ws();
          if (s[i++] !== ":") fail();
          obj[String(k)] = value(depth + 1);
        } else arr.push(value(depth + 1));
        ws();
        if (s[i] === ",") i++;
        else if (s[i] !== close) fail();
      }
      i++;
      return c === "{" ? obj : arr;
    }
    const m = /^(None|True|False|-?\d+(\.\d+)?([eE][-+]?\d+)?)/.exec(s.slice(i, i + 40));
    if (!m) fail();
    i += m![0].length;
    return m![0] === "None" ? null : m![0] === "True" ? true : m![0] === "False" ? false : Number(m![0]);
  };
  try {
    const v = value(0);
    ws();
    return i === s.length ? v : undefined;
  } catch {
    return undefined;
  }
}

const DONE = /^data:\s*\[DONE\]\s*$/;

/**
 * Frames a handler's stream chunks as Server-Sent Events. A string chunk is SSE text already (worker-vllm yields
 * vLLM's raw "data: {...}\n\n" bytes, possibly split mid-event): it is relayed event by event as complete events
 * arrive. An object is one event (`data: <json>`), an error object the `data: {"error": ...}` event the OpenAI
 * clients raise from, a list one event per item (worker-vllm's RAW_OPENAI_OUTPUT=0 batches). The handler's own
 * `data: [DONE]` is dropped: the gateway ends every stream with exactly one.
 */
export class SseFramer {
  private buf = "";

  push(chunk: unknown): string[] {
    const out: string[] = [];
    if (chunk === null || chunk === undefined) return out;
    if (Array.isArray(chunk)) {
      for (const c of chunk) out.push(...this.push(c));
      return out;
    }
    if (typeof chunk === "string") {
      this.buf += chunk;
      for (;;) {
        const m = /\r?\n\r?\n/.exec(this.buf);
        if (!m) break;
        const ev = this.buf.slice(0, m.index);
        this.buf = this.buf.slice(m.index + m[0].length);
        if (ev.trim() && !DONE.test(ev.trim())) out.push(ev + "\n\n");
      }
      return out;
    }
    const err = handlerError(chunk);
    out.push(`data: ${JSON.stringify(err ? err.body : chunk)}\n\n`);
    return out;
  }

  /** What is left of an unterminated last event, terminated. */
  flush(): string[] {
    const rest = this.buf.trim();
    this.buf = "";
    return rest && !DONE.test(rest) ? [rest + "\n\n"] : [];
  }
}
