#!/usr/bin/env python3
"""S3 exports against a real Ceph RADOS Gateway (issue 7): what an auditor gets.

One throwaway Ceph cluster for the whole file (tests/s3/rgw.py). Objects are read back with
boto3 and checked with the no-gatelog verifier; tags, Object Lock and zstd are checked on
the server's side; `gatelog verify|query --export s3://...` read the bucket directly.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "s3"))
import s3common as c  # noqa: E402
from harness import GATELOG, check, run_tests  # noqa: E402

RGW = None


def gl(*args, env=None):
    p = subprocess.run([GATELOG, *args], capture_output=True, timeout=120, env=env)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def test_export_roundtrip_tags_verify_query():
    """Sealed epochs with criteria land in S3 byte for byte as in the folder export, tagged
    by criterion and category, and verify with boto3 + the independent verifier, and with
    gatelog verify/query reading the bucket."""
    RGW.create_bucket("evidence")
    d = c.s3_daemon(RGW, "evidence", prefix="soc2/gatelog")
    try:
        c.fill(d, 2, 64)
        d.start()
        c.wait_backlog_zero(d)
        d.seal()  # a third, empty epoch through the running daemon
        c.wait_backlog_zero(d)
        s3 = RGW.client()
        keys = c.list_keys(s3, "evidence", "soc2/gatelog/")
        for e in range(3):
            base = f"soc2/gatelog/chain=test-chain/epoch={e:010d}/"
            for name in ("manifest.json", "manifest.sig", "records.jsonl"):
                check(base + name in keys, f"{base + name} missing from {keys}")
        for cid, cat in c.CRITERIA.items():
            key = f"soc2/gatelog/chain=test-chain/epoch=0000000001/tsc={cid}/records.jsonl"
            tags = {t["Key"]: t["Value"] for t in
                    s3.get_object_tagging(Bucket="evidence", Key=key)["TagSet"]}
            check(tags.get("tsc") == cid and tags.get("category") == cat,
                  f"{key}: tags {tags}, wanted tsc={cid} category={cat}")
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(
            Bucket="evidence",
            Key="soc2/gatelog/chain=test-chain/epoch=0000000000/manifest.json")["TagSet"]}
        check(tags == {"tsc": "all", "category": "all", "chain": "test-chain"}, f"{tags}")
        # The ETag of a single PUT is the MD5 the server computed: the Content-MD5 we sent
        # was checked against it.
        import hashlib
        body = s3.get_object(Bucket="evidence", Key=keys[0])["Body"].read()
        etag = s3.head_object(Bucket="evidence", Key=keys[0])["ETag"].strip('"')
        check(etag == hashlib.md5(body).hexdigest(), "ETag is not the body's MD5")

        dl = c.download(s3, "evidence", "soc2/gatelog")
        c.independent_verify(dl, d.pub)
        p = subprocess.run(["diff", "-r", dl, d.exports], capture_output=True, text=True)
        check(p.returncode == 0, "S3 export differs from the folder export:\n" + p.stdout)

        rc, out, err = gl("verify", "--pubkey", d.pub, "--export", "s3://evidence/soc2/gatelog",
                          env=RGW.env())
        check(rc == 0 and "OK: 3 sealed epoch(s)" in out, f"verify s3: {rc}\n{out}{err}")

        want = d.query("--criterion", "PI1.3")
        check(len(want) > 0, "no PI1.3 records in the store")
        rc, out, err = gl("query", "--pubkey", d.pub, "--export",
                          "s3://evidence/soc2/gatelog", "--criterion", "PI1.3", env=RGW.env())
        got = [json.loads(line) for line in out.splitlines() if line.strip()]
        check(rc == 0 and got == want, f"query s3: {rc} {len(got)} != {len(want)}\n{err}")

        # Tamper with epoch 1 in the bucket: verify fails naming it; query leaves it out.
        key = "soc2/gatelog/chain=test-chain/epoch=0000000001/records.jsonl"
        orig = s3.get_object(Bucket="evidence", Key=key)["Body"].read()
        s3.put_object(Bucket="evidence", Key=key, Body=orig.replace(b"event", b"EVENT", 1))
        rc, out, err = gl("verify", "--pubkey", d.pub, "--export", "s3://evidence/soc2/gatelog",
                          env=RGW.env())
        check(rc == 1 and "epoch 1:" in out, f"tampered verify: {rc}\n{out}{err}")
        rc, out, err = gl("query", "--pubkey", d.pub, "--export",
                          "s3://evidence/soc2/gatelog", env=RGW.env())
        got = [json.loads(line) for line in out.splitlines() if line.strip()]
        all_recs = d.query()
        e1 = {r["seq"] for r in all_recs[64:128]}
        check(rc == 1 and "epoch=0000000001" in err and "left out" in err,
              f"tampered query: {rc}\n{err}")
        check([r["seq"] for r in got] == [r["seq"] for r in all_recs if r["seq"] not in e1],
              "tampered query did not return exactly the verified epochs' records")
    finally:
        d.stop() if d.proc else None
        d.cleanup()


def test_zstd_and_object_lock():
    """zstd record files with the roots over the uncompressed lines; every object under
    COMPLIANCE retention in a lock-enabled bucket: the server refuses to delete it."""
    RGW.create_bucket("locked", lock=True)
    d = c.s3_daemon(RGW, "locked", extra="      compression: zstd\n"
                                         "      object_lock: {mode: compliance, retain: 1d}\n")
    try:
        c.fill(d, 1, 50)
        d.start()
        c.wait_backlog_zero(d)
        s3 = RGW.client()
        keys = c.list_keys(s3, "locked")
        recs = [k for k in keys if "records" in k]
        check(recs and all(k.endswith("records.jsonl.zst") for k in recs), f"{keys}")
        dl = c.download(s3, "locked")
        c.independent_verify(dl, d.pub)
        rc, out, err = gl("verify", "--pubkey", d.pub, "--export", "s3://locked", env=RGW.env())
        check(rc == 0 and "OK: 1 sealed epoch(s)" in out, f"verify zstd: {rc}\n{out}{err}")

        from botocore.exceptions import ClientError
        key = "chain=test-chain/epoch=0000000000/manifest.json"
        h = s3.head_object(Bucket="locked", Key=key)
        check(h.get("ObjectLockMode") == "COMPLIANCE" and h.get("ObjectLockRetainUntilDate"),
              f"no COMPLIANCE retention on {key}: {h}")
        before = s3.get_object(Bucket="locked", Key=key)["Body"].read()
        for bypass in (False, True):
            try:
                kw = {"BypassGovernanceRetention": True} if bypass else {}
                s3.delete_object(Bucket="locked", Key=key, VersionId=h["VersionId"], **kw)
                check(False, "the server deleted a locked object")
            except ClientError as e:
                check(e.response["Error"]["Code"] == "AccessDenied", f"{e}")
        # An overwrite only stacks a new version; the locked one stays, byte for byte.
        s3.put_object(Bucket="locked", Key=key, Body=b"{}")
        old = s3.get_object(Bucket="locked", Key=key, VersionId=h["VersionId"])["Body"].read()
        check(old == before, "the locked version changed")
        # gatelog itself never replaces a manifest with other bytes: a re-export refuses.
        con = __import__("sqlite3").connect(d.db)
        con.execute("UPDATE outbox SET state = 'pending' WHERE output = 's3'")
        con.commit()
        con.close()
        d.stop()
        d.start()
        c.wait_log(d, r"exists with other bytes")
    finally:
        d.stop() if d.proc else None
        d.cleanup()


def test_several_chains_in_one_bucket_and_folder():
    """Two instances (chains) export into one bucket prefix and one folder: verify and query
    read every chain, each checked on its own."""
    RGW.create_bucket("shared")
    a = c.s3_daemon(RGW, "shared", prefix="org", chain="alpha")
    b = c.s3_daemon(RGW, "shared", prefix="org", chain="beta")
    b.exports = a.exports  # one folder too
    with open(b.config) as f:
        text = f.read()
    with open(b.config, "w") as f:
        f.write(text.replace(os.path.join(b.dir, "exports"), a.exports))
    try:
        c.fill(a, 2, 10)  # each instance its own key
        c.fill(b, 1, 10)
        for d in (a, b):
            c.gatelog("seal", "--now", "-c", d.config, check_rc=0)
        for where, env in ((a.exports, None), ("s3://shared/org", RGW.env())):
            rc, out, err = gl("verify", "--pubkey", a.pub, "--export", where, env=env)
            # beta is signed by another key: its epochs fail, alpha's pass.
            check(rc == 1 and "chain alpha" in out and "chain beta" in out,
                  f"{where}: {rc}\n{out}{err}")
            rc, out, err = gl("verify", "--pubkey", a.pub, "--export", where, "--chain",
                              "alpha", env=env)
            check(rc == 0 and "OK: 3 sealed epoch(s)" in out, f"{where} alpha: {rc}\n{out}")
            rc, out, err = gl("verify", "--pubkey", b.pub, "--export", where, "--chain",
                              "beta", env=env)
            check(rc == 0 and "OK: 2 sealed epoch(s)" in out, f"{where} beta: {rc}\n{out}")
            rc, out, err = gl("query", "--pubkey", a.pub, "--export", where, env=env)
            got = [json.loads(line) for line in out.splitlines() if line.strip()]
            check(rc == 1 and len(got) == 20 and "chain=beta" in err,
                  f"{where} query: {rc} {len(got)}\n{err}")
    finally:
        a.cleanup()
        b.cleanup()


def test_config_errors_name_the_place():
    d = c.s3_daemon(RGW, "Bad_Bucket")
    try:
        rc, out, err = gl("run", "-c", d.config)
        check(rc != 0 and "gatelog.yaml:" in err and "bucket" in err and "Bad_Bucket" in err,
              f"bad bucket: {rc} {err}")
    finally:
        d.cleanup()


def test_tsa_tokens_in_the_bucket():
    """Trusted time (issue 10): with seal.tsa_url, manifest.tsr goes up with each epoch and
    `gatelog verify --export s3://… --tsa-ca` checks it (the local TSA of test_timestamp)."""
    import test_timestamp as ts
    ts.tsa_setup()
    RGW.create_bucket("stamped")
    d = c.s3_daemon(RGW, "stamped", prefix="tsa")
    ts.tsa_config(d.config, d.key)
    try:
        c.fill(d, 1, 8)
        d.start()
        c.wait_backlog_zero(d)
        keys = c.list_keys(RGW.client(), "stamped", "tsa/")
        check("tsa/chain=test-chain/epoch=0000000000/manifest.tsr" in keys, f"{keys}")
        ca = os.path.join(ts.STATE["tsa"], "ca.pem")
        rc, out, err = gl("verify", "--pubkey", d.pub, "--export", "s3://stamped/tsa",
                          "--tsa-ca", ca, env=RGW.env())
        check(rc == 0 and out.count(": time-stamped ") == 1, f"verify s3 --tsa-ca: {out} {err}")
        rc, out, _ = gl("verify", "--pubkey", d.pub, "--export", "s3://stamped/tsa",
                        "--tsa-ca", os.path.join(ts.STATE["tsa"], "other.pem"), env=RGW.env())
        check(rc == 1 and "manifest.tsr: time-stamp token does not verify" in out,
              f"verify s3 with a foreign CA: {rc} {out}")
    finally:
        d.cleanup()
        ts.cleanup()


if __name__ == "__main__":
    RGW = c.start_rgw()
    try:
        run_tests([test_export_roundtrip_tags_verify_query, test_zstd_and_object_lock,
                   test_several_chains_in_one_bucket_and_folder,
                   test_config_errors_name_the_place,
                   test_tsa_tokens_in_the_bucket])  # issue 10
    finally:
        RGW.stop()
