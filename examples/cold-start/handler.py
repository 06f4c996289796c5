"""Cold-start probe: every result carries the worker's own timestamps (epoch ms, this node's clock) so the
bench can split /run -> result into steps; with {"model": true} it reads the model cache (MODEL_PATH) and
returns the sha256 of what it found there."""
import hashlib
import os
import time

PROCESS_START_MS = int(time.time() * 1000)  # first line run by the interpreter after the imports below

import runpod  # noqa: E402

SDK_IMPORTED_MS = int(time.time() * 1000)


def model_digest(path):
    out = {}
    for root, _, files in os.walk(path):
        for f in sorted(files):
            if f.startswith("."):
                continue  # the cache's own marker file
            p = os.path.join(root, f)
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                for b in iter(lambda: fh.read(1 << 20), b""):
                    h.update(b)
            out[os.path.relpath(p, path)] = h.hexdigest()
    return out


def handler(job):
    start = int(time.time() * 1000)
    print(f"LONGSHORE_HANDLER_START {start} {job['id']}", flush=True)
    inp = job.get("input") or {}
    result = {"handlerStartMs": start, "processStartMs": PROCESS_START_MS, "sdkImportedMs": SDK_IMPORTED_MS,
              "pod": os.environ.get("RUNPOD_POD_ID", "")}
    if inp.get("model"):
        path = os.environ.get("MODEL_PATH", "/models")
        result["modelPath"] = path
        result["model"] = model_digest(path)
        # read-only mount: writing must fail
        try:
            with open(os.path.join(path, ".probe"), "w"):
                pass
            result["modelWritable"] = True
        except OSError:
            result["modelWritable"] = False
    time.sleep(float(inp.get("sleep", 0)))
    result["handlerEndMs"] = int(time.time() * 1000)
    return result


runpod.serverless.start({"handler": handler})
