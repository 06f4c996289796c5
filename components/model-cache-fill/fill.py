"""Fills a model cache volume once: downloads one object (S3 / S3-compatible via boto3, or HTTP(S)), checks its
sha256, and publishes it under <dest>/<version>/ with an atomic rename. Idempotent: a version whose marker file
holds the same sha256 is left as it is. Exit codes: 0 filled or already there; 2 the source is missing; 3 the
checksum is wrong; 1 anything else, after ATTEMPTS tries in this process with a backoff (MC_ATTEMPTS, default 4).
Retrying here, not with the Job's backoffLimit: the Job fails on its first failed pod (backoffLimit 0), which
Pulumi's Job awaiter reports at once (reason BackoffLimitExceeded) instead of waiting out its timeout. The reason goes to the container's termination message
(kubectl describe / the Job's pod status) and stderr."""
import hashlib
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request

MARKER = ".longshore-model-cache"
CHUNK = 8 * 1024 * 1024


class Permanent(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def fail(code, message):
    line = f"model cache: {message}"
    print(line, file=sys.stderr, flush=True)
    try:
        with open(os.environ.get("MC_TERMINATION_LOG", "/dev/termination-log"), "w") as f:
            f.write(line)
    except OSError:
        pass
    sys.exit(code)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                return h.hexdigest()
            h.update(b)


def download_s3(url, out):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError, EndpointConnectionError

    bucket, _, key = url[len("s3://"):].partition("/")
    endpoint = os.environ.get("MC_S3_ENDPOINT") or None
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("MC_S3_REGION") or "us-east-1",
        config=Config(
            s3={"addressing_style": "path" if endpoint else "auto"},
            retries={"max_attempts": 5, "mode": "standard"},
            # S3-compatible stores differ in which integrity headers they know: only send what S3 requires.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    where = f"s3://{bucket}/{key}" + (f" at {endpoint}" if endpoint else "")
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            raise Permanent(2, f"source {where} not found ({code}): upload the model there or fix source.url")
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise Permanent(2, f"source {where} refused the credentials ({code}): check source.credentials")
        raise
    except EndpointConnectionError as e:
        raise RuntimeError(f"cannot reach the S3 endpoint for {where}: {e}")
    # boto3's managed transfer: ranged GETs in parallel for large objects.
    client.download_file(bucket, key, out)


def download_http(url, out):
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(out, "wb") as f:
            shutil.copyfileobj(r, f, CHUNK)
    except urllib.error.HTTPError as e:
        if e.code in (404, 410):
            raise Permanent(2, f"source {url} not found (HTTP {e.code})")
        if e.code in (401, 403):
            raise Permanent(2, f"source {url} refused access (HTTP {e.code})")
        raise


def main():
    url = os.environ["MC_SOURCE_URL"]
    want = os.environ["MC_SHA256"].lower()
    version = os.environ["MC_VERSION"]
    dest = os.environ.get("MC_DEST", "/cache")
    name = os.environ.get("MC_FILE") or os.path.basename(url.rstrip("/")) or "model"
    extract = os.environ.get("MC_EXTRACT") == "tar"
    final = os.path.join(dest, version)
    marker = os.path.join(final, MARKER)
    if os.path.exists(marker) and open(marker).read().strip() == want:
        print(f"model cache: {version} already filled ({want}); nothing to do", flush=True)
        return
    tmp = os.path.join(dest, f".fill-{version}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        publish(url, want, name, extract, tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed fill leaves nothing behind


def publish(url, want, name, extract, tmp, final):
    version = os.path.basename(final)
    blob = os.path.join(tmp, name if not extract else ".archive")
    print(f"model cache: filling {version} from {url}", flush=True)
    if url.startswith("s3://"):
        download_s3(url, blob)
    elif url.startswith(("http://", "https://")):
        download_http(url, blob)
    else:
        raise Permanent(2, f"source.url {url!r} is neither s3:// nor http(s)://")
    got = sha256_of(blob)
    size = os.path.getsize(blob)
    if got != want:
        raise Permanent(3, f"checksum mismatch for {url}: expected sha256 {want}, got {got} ({size} bytes); nothing was published")
    if extract:
        with tarfile.open(blob) as t:
            t.extractall(tmp, filter="data")
        os.remove(blob)
    with open(os.path.join(tmp, MARKER), "w") as f:
        f.write(want + "\n")
    if os.path.exists(final):
        shutil.rmtree(final)  # a stale or half-written copy of this version (its marker did not match)
    os.rename(tmp, final)
    print(f"model cache: {version} filled ({size} bytes, sha256 {got}) at {final}", flush=True)


def run():
    attempts = max(1, int(os.environ.get("MC_ATTEMPTS", "4")))
    for attempt in range(1, attempts + 1):
        try:
            main()
            return
        except Permanent as e:
            fail(e.code, str(e))
        except Exception as e:  # transient (network, S3 5xx past boto3's own retries): try again
            if attempt == attempts:
                fail(1, f"{type(e).__name__}: {e} (gave up after {attempts} attempts)")
            delay = min(60, 5 * 2 ** (attempt - 1))
            print(f"model cache: attempt {attempt} of {attempts} failed ({type(e).__name__}: {e}); again in {delay} s", file=sys.stderr, flush=True)
            time.sleep(delay)


if __name__ == "__main__":
    run()
