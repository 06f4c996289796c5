// The longshore-adapter binary for tests and benchmarks: built once per process from adapter/ (go build, the
// same flags as the stack's image) into a temp dir.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildAdapterBinary } from "../../stacks/adapterImage";

let built: string | undefined;
export function adapterBinary(): string {
  if (built) return built;
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "longshore-adapter-")), "longshore-adapter");
  built = buildAdapterBinary(out, process.arch === "arm64" ? "arm64" : "amd64");
  return built;
}
