/**
 * Reads the two test-file formats RunPod users already have:
 *  - the test-runner action's `.github/tests.json`: `[{"input":{…}, "output"|"expectedOutput"?: any, "hardwareConfig"?: {…}}]`
 *  - the hub's `.runpod/tests.json`: `{"tests":[{"name","input","timeout"(ms), "expectedOutput"|"output"?}], "config":{…}}`
 * Bad files give one clear error naming the test and the rule (TestsFileError); nothing is half-run.
 */
import * as fs from "fs";
import * as path from "path";

export interface TestCase {
  name: string;
  input: unknown;
  /** Present when the file gives an expected output (`output` or `expectedOutput`); compared by deep equality. */
  expected?: { value: unknown };
  /** Per-test timeout from the hub format (ms). */
  timeoutMs?: number;
  hardwareConfig?: unknown;
}

export interface TestsFile {
  path: string;
  format: "test-runner" | "hub";
  tests: TestCase[];
  config?: unknown;
}

export class TestsFileError extends Error {}

export const DEFAULT_TEST_FILES = [".github/tests.json", ".runpod/tests.json"];

/** Finds the tests file: the one given, else .github/tests.json, else .runpod/tests.json under `dir`. */
export function findTestsFile(dir: string, file?: string): string {
  if (file) {
    const p = path.resolve(dir, file);
    if (!fs.existsSync(p)) throw new TestsFileError(`tests file not found: ${p}`);
    return p;
  }
  for (const f of DEFAULT_TEST_FILES) {
    const p = path.resolve(dir, f);
    if (fs.existsSync(p)) return p;
  }
  throw new TestsFileError(`no tests file: looked for ${DEFAULT_TEST_FILES.join(" and ")} under ${path.resolve(dir)} (use --file)`);
}

function expectedOf(t: Record<string, unknown>): TestCase["expected"] {
  if ("expectedOutput" in t) return { value: t.expectedOutput };
  if ("output" in t) return { value: t.output };
  return undefined;
}

export function parseTests(text: string, file = "tests.json"): TestsFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err: any) {
    throw new TestsFileError(`${file}: not valid JSON (${err.message})`);
  }
  const where = (i: number) => `${file}: test #${i + 1}`;
  const isObj = (v: unknown): v is Record<string, unknown> => v != null && typeof v === "object" && !Array.isArray(v);

  if (Array.isArray(doc)) {
    if (doc.length === 0) throw new TestsFileError(`${file}: the array of tests is empty`);
    const tests = doc.map((t, i): TestCase => {
      if (!isObj(t)) throw new TestsFileError(`${where(i)}: must be an object like {"input": {...}, "output": ...}`);
      if (!("input" in t)) throw new TestsFileError(`${where(i)}: has no "input"`);
      return { name: typeof t.name === "string" ? t.name : `test ${i + 1}`, input: t.input, expected: expectedOf(t), hardwareConfig: t.hardwareConfig };
    });
    return { path: file, format: "test-runner", tests };
  }
  if (isObj(doc) && Array.isArray(doc.tests)) {
    if (doc.tests.length === 0) throw new TestsFileError(`${file}: "tests" is empty`);
    const tests = doc.tests.map((t, i): TestCase => {
      if (!isObj(t)) throw new TestsFileError(`${where(i)}: must be an object like {"name": "...", "input": {...}, "timeout": 10000}`);
      if (!("input" in t)) throw new TestsFileError(`${where(i)}: has no "input"`);
      let timeoutMs: number | undefined;
      if (t.timeout !== undefined) {
        if (typeof t.timeout !== "number" || !(t.timeout > 0)) throw new TestsFileError(`${where(i)}: "timeout" must be a positive number of milliseconds`);
        timeoutMs = t.timeout;
      }
      return { name: typeof t.name === "string" && t.name ? t.name : `test ${i + 1}`, input: t.input, expected: expectedOf(t), timeoutMs };
    });
    return { path: file, format: "hub", tests, config: doc.config };
  }
  throw new TestsFileError(`${file}: expected an array of tests ([{"input": ...}]) or an object {"tests": [...]}`);
}

export function loadTests(file: string): TestsFile {
  return parseTests(fs.readFileSync(file, "utf8"), file);
}
