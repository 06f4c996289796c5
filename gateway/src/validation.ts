// Checks on request input that JSON Schema (ajv) does not express or that run before it:
//  * nesting depth: V8's JSON.stringify recurses and throws RangeError ("Maximum call stack size
//    exceeded") on a few thousand levels, which surfaced as a 503 "temporarily unavailable" — a worker SDK
//    retries that as an outage. Python's json module (the runpod worker) stops near 1,000 levels anyway.
//  * non-finite numbers: JSON.parse turns 1e309 into Infinity, which JSON.stringify silently writes as
//    null, and ajv's coerced query numbers let "Infinity" / "1e309" through `maximum`.
// One iterative walk (no recursion, so a hostile body cannot overflow the stack here either) visits
// each value once: cost is the number of values, not of bytes, so a 20 MB base64 string is one step.

/** Deepest nesting of arrays/objects accepted in a JSON body. */
export const MAX_JSON_DEPTH = 512;

const NOT_FINITE = "a number in the JSON body is not finite (e.g. 1e309)";

/** Reason the parsed JSON value is refused, or undefined when it is fine. */
export function checkJson(root: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  if (typeof root === "number" && !Number.isFinite(root)) return NOT_FINITE;
  if (root === null || typeof root !== "object") return undefined;
  const stack: { v: object; d: number }[] = [{ v: root as object, d: 1 }];
  while (stack.length) {
    const { v, d } = stack.pop()!;
    if (d > maxDepth) return `JSON nested deeper than ${maxDepth} levels`;
    const values = Array.isArray(v) ? v : Object.values(v);
    for (const x of values) {
      if (x !== null && typeof x === "object") stack.push({ v: x, d: d + 1 });
      else if (typeof x === "number" && !Number.isFinite(x)) return NOT_FINITE;
    }
  }
  return undefined;
}


/** Query-string parameters the routes read as numbers. */
export const NUMERIC_QUERY = ["wait", "batch_size"] as const;

/** Reason a numeric query parameter is refused (non-finite: Infinity, -Infinity, NaN, 1e309), or undefined. */
export function checkNumericQuery(q: Record<string, unknown> | undefined): string | undefined {
  if (!q) return undefined;
  for (const k of NUMERIC_QUERY) {
    const raw = q[k];
    for (const v of Array.isArray(raw) ? raw : [raw]) {
      if (v === undefined || v === "") continue;
      const n = typeof v === "number" ? v : Number(v);
      if (!Number.isFinite(n)) return `querystring/${k} must be a finite number, got ${JSON.stringify(String(v)).slice(0, 40)}`;
    }
  }
  return undefined;
}
