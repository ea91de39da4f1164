"""Helpers shared by the S3 export tests (tests/integration/test_s3*.py).

A daemon whose outputs are a local folder and an S3 output, sealed epochs of records tagged
with criteria (tests/s3/s3-fill), the export backlog read from the database, downloads with
boto3 and the no-gatelog verifier (tests/integration/independent_verify.py).
"""
import atexit
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import Daemon, Failure, check, gatelog  # noqa: E402
import rgw as rgwmod  # noqa: E402

INDEPENDENT = os.path.join(HERE, "..", "integration", "independent_verify.py")
S3_FILL = os.environ.get("S3_FILL", "build/tests/s3/s3-fill")
CRITERIA = {"CC6.1": "security", "A1.2": "availability", "PI1.3": "processing_integrity",
            "C1.1": "confidentiality", "P4.2": "privacy"}


def s3_block(rgw, bucket, prefix="", endpoint=None, extra="", secret=None):
    """The YAML of an s3 output item's `s3:` block (indented for an outputs list item)."""
    lines = [f"      endpoint: {endpoint or rgw.endpoint}", "      region: us-east-1",
             f"      bucket: {bucket}", "      addressing: path",
             f"      access_key: {rgwmod.ACCESS_KEY}",
             f"      secret_key: {secret or rgwmod.SECRET_KEY}"]
    if prefix:
        lines.append(f"      prefix: {prefix}")
    return "\n".join(lines) + "\n" + extra


def s3_daemon(rgw, bucket, prefix="", chain="test-chain", endpoint=None, extra="",
              secret=None, folder=True, workdir=None):
    """A Daemon (not started) exporting to a folder named 'local' and to S3 named 's3'."""
    d = Daemon(workdir=workdir)
    with open(d.config) as f:
        text = f.read()
    old = f"outputs:\n  - name: local\n    type: folder\n    path: {d.exports}\n"
    check(old in text, "harness config changed: cannot place the s3 output")
    new = "outputs:\n"
    if folder:
        new += f"  - name: local\n    type: folder\n    path: {d.exports}\n"
    new += "  - name: s3\n    type: s3\n    s3:\n" + s3_block(rgw, bucket, prefix, endpoint,
                                                             extra, secret)
    text = text.replace(old, new).replace("chain: test-chain", f"chain: {chain}")
    with open(d.config, "w") as f:
        f.write(text)
    d.chain = chain
    d.outputs = "local,s3" if folder else "s3"
    # The tests name the epochs they seal (fill's, then the daemon's) and count them: none
    # may be sealed by the clock (1 h epochs, aligned) before the test's checks.
    d.clear_of_boundary(90)
    return d


def keygen(d):
    gatelog("keygen", "--out", d.key, check_rc=0)


def fill(d, epochs, records, pad=0):
    """Sealed epochs of tagged records, queued for the daemon's outputs (daemon not running),
    with the daemon's epoch length (GATELOG_TEST_EPOCH or 1 h: it refuses a database of
    another length)."""
    if not os.path.exists(d.key):
        keygen(d)
    p = subprocess.run([S3_FILL, d.db, d.key, d.chain, d.outputs, str(epochs), str(records),
                        str(pad), str(d.epoch_seconds())], capture_output=True, timeout=120)
    check(p.returncode == 0, f"s3-fill failed: {p.stdout!r} {p.stderr!r}")


def backlog(d, output="s3"):
    con = sqlite3.connect(f"file:{d.db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM outbox WHERE output = ? AND state = 'pending'",
                           (output,)).fetchone()[0]
    finally:
        con.close()


def sealed_and_backlog(d, output="s3"):
    """(sealed epochs, epochs pending for output), read in one transaction."""
    con = sqlite3.connect(f"file:{d.db}?mode=ro", uri=True, timeout=10,
                          isolation_level=None)
    try:
        con.execute("BEGIN")
        sealed = con.execute("SELECT count(*) FROM epochs WHERE sealed = 1").fetchone()[0]
        pending = con.execute("SELECT count(*) FROM outbox WHERE output = ? AND "
                              "state = 'pending'", (output,)).fetchone()[0]
        con.execute("COMMIT")
        return sealed, pending
    finally:
        con.close()


def sealed_epochs(d):
    con = sqlite3.connect(f"file:{d.db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM epochs WHERE sealed = 1").fetchone()[0]
    finally:
        con.close()


def wait_backlog_zero(d, timeout=60, output="s3"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if backlog(d, output) == 0:
            return
        if d.proc is not None and d.proc.poll() is not None:
            raise Failure("daemon exited:\n" + d.read_log()[-3000:])
        time.sleep(0.1)
    raise Failure(f"export backlog of {output} still {backlog(d, output)}:\n" +
                  d.read_log()[-3000:])


def wait_log(d, pattern, timeout=30):
    import re
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, d.read_log())
        if m:
            return m.group(0)
        time.sleep(0.1)
    raise Failure(f"log never showed /{pattern}/:\n" + d.read_log()[-3000:])


def seal_nowait(d):
    """Seals through the running daemon without waiting for the exports."""
    rc, out, err = gatelog("seal", "--now", "-c", d.config, "--timeout", "1")
    check(rc == 0 or "exports are still pending" in err, f"seal failed ({rc}): {out}{err}")


def list_keys(s3, bucket, prefix=""):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def download(s3, bucket, prefix=""):
    """Everything under prefix into a new folder (the prefix stripped); .zst decompressed
    with the zstd command line tool. Returns the folder."""
    out = tempfile.mkdtemp(prefix="gatelog-s3-dl-")
    if not os.environ.get("KEEP_TMP"):  # as the harness's Daemon: kept only when asked
        atexit.register(shutil.rmtree, out, True)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    for key in list_keys(s3, bucket, prefix):
        path = os.path.join(out, key[len(prefix):])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, key, path)
        if path.endswith(".zst"):
            p = subprocess.run(["zstd", "-q", "-d", "--rm", path], capture_output=True)
            check(p.returncode == 0, f"zstd -d {key}: {p.stderr!r}")
    return out


def independent_verify(folder, pub):
    p = subprocess.run(["/usr/bin/python3", INDEPENDENT, folder, pub], capture_output=True,
                       timeout=120)
    out = p.stdout.decode(errors="replace")
    check(p.returncode == 0, f"independent verifier failed on {folder}:\n{out}")
    return out


def start_rgw():
    """The cluster for one test file, or exit 77 (meson's skip) when Ceph is absent."""
    why = rgwmod.available()
    if why:
        if os.environ.get("CI"):
            print(f"FAIL: {why} (CI installs it through ./quickstart)")
            sys.exit(1)
        print(f"SKIP: {why}")
        sys.exit(77)
    return rgwmod.Rgw().start()
