// `longshore test --local --image … --worker …` (cli/adapterWorker.ts): the declaration is checked before
// anything starts. (Running an image behind the adapter needs a Docker engine: examples/test-images.sh does it
// for examples/cli-model on the proving ground.)
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Writable } from "stream";
import { main } from "../../cli/main";
import { readWorkerDecl } from "../../cli/adapterWorker";

class Capture extends Writable {
  text = "";
  _write(chunk: any, _enc: string, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}

describe("longshore test --worker (a CLI or HTTP image behind the adapter)", () => {
  let tests: string;
  before(() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-worker-"));
    tests = path.join(dir, "tests.json");
    fs.writeFileSync(tests, JSON.stringify([{ input: { x: 1 } }]));
  });
  const cli = async (args: string[]) => {
    const out = new Capture();
    const err = new Capture();
    const code = await main(["test", "--file", tests, ...args], out, err);
    return { code, err: err.text };
  };

  it("refuses --worker without --local --image, and declarations that are not one of the two shapes (exit 2)", async () => {
    let r = await cli(["--local", "--command", "true", "--worker", '{"command":{}}']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--worker goes with --local --image <ref>/);
    r = await cli(["--local", "--image", "img:1", "--worker", '{"command":{},"http":{"port":80}}']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--worker needs exactly one of "command" or "http"/);
    r = await cli(["--local", "--image", "img:1", "--worker", "{nope"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--worker is not JSON/);
  });

  it("reads a declaration from a file: examples/cli-model/worker.json is the one the local stack deploys", () => {
    const decl = readWorkerDecl("examples/cli-model/worker.json", path.join(__dirname, "../.."));
    assert.deepEqual(decl.command.args, ["predict", "--features", "{input.features}", "--top", "{input.top=1}"]);
  });
});
