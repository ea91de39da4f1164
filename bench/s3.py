#!/usr/bin/env python3
"""bench/s3: the S3 export rate of one large epoch to a local Ceph RADOS Gateway, with and
without zstd (issue 7).

    /usr/bin/python3 bench/s3.py [BUILD_DIR] [RECORDS] [PAD]

Fills a database with one sealed epoch of RECORDS records (default 200000, each tagged with
0-5 criteria and padded by PAD bytes, default 200) through the real writer (tests/s3/s3-fill),
then times `gatelog seal --now` without a daemon, which exports every pending epoch: records.jsonl,
five tsc=ID files and the manifest, each with its HEAD, MD5 and SHA-256. Prints records/s and
MiB/s (of uncompressed record bytes, records.jsonl and tsc files together) and the bytes stored.
The gateway runs on the same 2 cores, so this is a floor, not a ceiling.
"""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
os.environ.setdefault("GATELOG", os.path.join(build, "cli", "gatelog"))
os.environ.setdefault("S3_FILL", os.path.join(build, "tests", "s3", "s3-fill"))
sys.path.insert(0, os.path.join(ROOT, "tests", "s3"))
import s3common as c  # noqa: E402

records = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
pad = int(sys.argv[3]) if len(sys.argv) > 3 else 200

rgw = c.start_rgw()
raw = 0
try:
    for mode in ("none", "zstd"):
        bucket = f"bench-{mode}"
        rgw.create_bucket(bucket)
        d = c.s3_daemon(rgw, bucket, folder=False,
                        extra=f"      compression: {mode}\n")
        try:
            t0 = time.time()
            c.fill(d, 1, records, pad)
            t_fill = time.time() - t0
            t0 = time.time()
            c.gatelog("seal", "--now", "-c", d.config, check_rc=0, timeout=600)
            t = time.time() - t0
            s3 = rgw.client()
            stored = 0
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for o in page.get("Contents", []):
                    stored += o["Size"]
            if mode == "none":
                raw = stored  # uncompressed: the bytes of every record file (+ manifests)
            print(f"{mode:5} {records} records, {raw / 2**20:.1f} MiB of record files, "
                  f"{stored / 2**20:.1f} MiB stored: export {t:.2f} s = "
                  f"{records / t:,.0f} records/s, {raw / 2**20 / t:.1f} MiB/s "
                  f"(fill {t_fill:.1f} s)", flush=True)
        finally:
            d.cleanup()
finally:
    rgw.stop()
