"""Tamper suite: every change an attacker could make to sealed evidence is detected.

A daemon seals three epochs of real records; then each case works on a fresh copy of the
database or of the export and changes one thing. `gatelog verify` must exit 1 and name the
epoch (and record) at fault; on the untouched copy it must exit 0 (so the checks can pass).
The independent verifier (no gatelog code) must catch the export cases too.
"""
import json
import os
import shutil
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, Failure, check, gatelog, independent_verify, logger,  # noqa: E402
                     run_tests, HERE)



def build_chain():
    """A stopped daemon with three sealed epochs; the caller cleans it up."""
    def fill(d):
        n = 0
        for epoch in range(3):
            lines = [f"epoch {epoch} event {i} user=u{i}" for i in range(5)]
            logger(d.ports["tcp"], lines, "-T", "--octet-count", "--rfc5424=notq", "-t", "t")
            n += len(lines)
            d.wait_records(n)
            d.seal()

    d = Daemon(unix=False)
    d.clear_of_boundary(60)  # epochs 0..2 of 5 records each, sealed by the test alone
    return d.run_stopped(fill)


def verify_db(d, db):
    return gatelog("verify", "--pubkey", d.pub, "--db", db)


def verify_export(d, exp, pub=None):
    return gatelog("verify", "--pubkey", pub or d.pub, "--export", exp)


def epoch_dir(exp, n):
    return os.path.join(exp, "chain=test-chain", f"epoch={n:010d}")


def db_cases():
    """(name, SQL statements, text the report must contain)."""
    return [
        ("record byte changed",
         ["UPDATE records SET data = CAST(replace(CAST(data AS TEXT), 'event 2', 'event 9') AS BLOB) "
          "WHERE seq = 7"], "epoch 1"),
        ("record deleted", ["DELETE FROM records WHERE seq = 6"], "epoch 1"),
        ("record inserted",
         ["INSERT INTO records(seq, epoch, received, time, host, leaf, data) "
          "SELECT 1000, epoch, received, time, host, leaf, data FROM records WHERE seq = 5"],
         "epoch 1"),
        ("records reordered",
         ["UPDATE records SET seq = -1 WHERE seq = 5", "UPDATE records SET seq = 5 WHERE seq = 6",
          "UPDATE records SET seq = 6 WHERE seq = -1"], "epoch 1"),
        ("epoch removed", ["DELETE FROM records WHERE epoch = 1", "DELETE FROM epochs WHERE epoch = 1"],
         "epoch 1 missing"),
        ("last sealed epoch removed",
         ["DELETE FROM records WHERE epoch = 2", "DELETE FROM epochs WHERE epoch = 2"], "epoch 2"),
        ("manifest edited",
         ["UPDATE epochs SET manifest = CAST(replace(CAST(manifest AS TEXT), '\"count\":5', "
          "'\"count\":4') AS BLOB) WHERE epoch = 1"], "epoch 1"),
        ("signature replaced",
         ["UPDATE epochs SET sig = (SELECT sig FROM epochs WHERE epoch = 0) WHERE epoch = 2"],
         "epoch 2"),
        # The columns queries filter on must agree with the signed record.
        ("host column changed", ["UPDATE records SET host = 'elsewhere' WHERE seq = 7"],
         "host column"),
        ("time column changed", ["UPDATE records SET time = time + 1000000 WHERE seq = 7"],
         "time column"),
        ("first epochs removed",
         ["DELETE FROM records WHERE epoch = 0", "DELETE FROM epochs WHERE epoch = 0"],
         "epoch 0 missing"),
    ]


def test_db_tampering():
    d = build_chain()
    try:
        rc, out, err = verify_db(d, d.db)
        check(rc == 0, f"untouched database does not verify:\n{out}{err}")
        for name, sqls, where in db_cases():
            tmp = tempfile.mkdtemp(prefix="gatelog-tamper-")
            try:
                db = os.path.join(tmp, "copy.db")
                src = sqlite3.connect(d.db)
                dst = sqlite3.connect(db)
                src.backup(dst)
                src.close()
                for sql in sqls:
                    dst.execute(sql)
                dst.commit()
                dst.close()
                rc, out, err = verify_db(d, db)
                check(rc == 1, f"{name}: verify exit {rc}, wanted 1\n{out}{err}")
                check("FAIL" in out and where in out,
                      f"{name}: report does not name {where!r}:\n{out}")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        # Another key: every epoch's signature fails.
        other = os.path.join(d.dir, "other.key")
        gatelog("keygen", "--out", other, check_rc=0)
        rc, out, _ = gatelog("verify", "--pubkey", other + ".pub", "--db", d.db)
        check(rc == 1 and "epoch 0" in out, f"other key: exit {rc}\n{out}")
    finally:
        d.cleanup()


def edit_line(path, idx, fn):
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")[:-1]
    lines = fn(lines, idx)
    with open(path, "wb") as f:
        f.write(b"".join(l + b"\n" for l in lines))


def export_cases():
    """(name, function(exp), text the report must contain)."""
    def recfile(exp, n):
        return os.path.join(epoch_dir(exp, n), "records.jsonl")

    def byte(exp):
        edit_line(recfile(exp, 1), 2, lambda ls, i: ls[:i] + [ls[i].replace(b"event 2", b"event 9")] + ls[i + 1:])

    def delete(exp):
        edit_line(recfile(exp, 1), 1, lambda ls, i: ls[:i] + ls[i + 1:])

    def insert(exp):
        edit_line(recfile(exp, 1), 1, lambda ls, i: ls[:i] + [ls[i]] + ls[i:])

    def reorder(exp):
        edit_line(recfile(exp, 1), 1, lambda ls, i: ls[:i] + [ls[i + 1], ls[i]] + ls[i + 2:])

    def remove_epoch(exp):
        shutil.rmtree(epoch_dir(exp, 1))

    def manifest(exp):
        p = os.path.join(epoch_dir(exp, 1), "manifest.json")
        with open(p, "rb") as f:
            b = f.read()
        with open(p, "wb") as f:
            f.write(b.replace(b'"count":5', b'"count":4'))

    def sig(exp):
        shutil.copy(os.path.join(epoch_dir(exp, 0), "manifest.sig"),
                    os.path.join(epoch_dir(exp, 2), "manifest.sig"))

    def renumber_newest(exp):
        os.rename(epoch_dir(exp, 2), epoch_dir(exp, 7))

    def remove_first(exp):
        shutil.rmtree(epoch_dir(exp, 0))

    return [("newest epoch renumbered", renumber_newest, "holds the manifest of epoch 2"),
            ("first epoch removed", remove_first, "epoch 0 missing"),
            ("record byte changed", byte, "epoch 1"), ("record deleted", delete, "epoch 1"),
            ("record inserted", insert, "epoch 1"), ("records reordered", reorder, "epoch 1"),
            ("epoch removed", remove_epoch, "epoch"), ("manifest edited", manifest, "epoch 1"),
            ("signature replaced", sig, "epoch 2")]


def check_tampered_copy(d, name, edit, want):
    """edit(exp) tampers with a copy of d's export folder: gatelog verify must exit 1 with a
    FAIL line naming want, and the independent Python verifier must reject it too."""
    tmp = tempfile.mkdtemp(prefix="gatelog-tamper-")
    try:
        exp = os.path.join(tmp, "exports")
        shutil.copytree(d.exports, exp)
        edit(exp)
        rc, out, err = verify_export(d, exp)
        check(rc == 1 and "FAIL" in out and want in out,
              f"{name}: verify exit {rc}, wanted 1 with a FAIL naming {want!r}\n{out}{err}")
        rc, _ = independent_verify(exp, d.pub)
        check(rc == 1, f"{name}: independent verifier exit {rc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_export_tampering():
    d = build_chain()
    try:
        rc, out, err = verify_export(d, d.exports)
        check(rc == 0, f"untouched export does not verify:\n{out}{err}")
        for name, fn, where in export_cases():
            check_tampered_copy(d, name, fn, where)
        other = os.path.join(d.dir, "other.key")
        gatelog("keygen", "--out", other, check_rc=0)
        rc, out, _ = verify_export(d, d.exports, other + ".pub")
        check(rc == 1 and "signature" in out, f"other key: exit {rc}\n{out}")
    finally:
        d.cleanup()


def test_tsc_file_tampering():
    """A tsc=ID/records.jsonl is evidence on its own (handed to whoever tests that control):
    a cut, a changed byte or a lost last newline in it fails the epoch, as in records.jsonl."""
    soc2 = os.path.join(os.path.dirname(os.path.dirname(HERE)), "rules", "soc2")
    d = Daemon(unix=False, extra=f"rules:\n  paths: [{soc2}]\n")
    try:
        d.start()
        logger(d.ports["tcp"], [f"Accepted publickey for alice{i} from 10.0.0.5 port 5555 ssh2: "
                                "ED25519 x" for i in range(3)], "-T", "--rfc3164", "-t", "sshd")
        d.wait_records(3)
        d.seal()
        check(d.stop() == 0, "daemon exit status")
        rc, out, err = verify_export(d, d.exports)
        check(rc == 0, f"untouched export does not verify:\n{out}{err}")
        ep = epoch_dir(d.exports, 0)
        tscs = sorted(n for n in os.listdir(ep) if n.startswith("tsc="))
        check(tscs, f"no tsc=ID folder in {ep}: {os.listdir(ep)}")
        rel = os.path.join(os.path.basename(ep), tscs[0], "records.jsonl")
        with open(os.path.join(ep, tscs[0], "records.jsonl"), "rb") as f:
            orig = f.read()
        check(orig.endswith(b"\n") and orig.count(b"\n") == 3, f"{rel} as exported: {orig!r}")
        cases = [("last newline cut", orig[:-1], "does not end with a newline"),
                 ("last line dropped", orig[:orig.rindex(b"\n", 0, len(orig) - 1) + 1],
                  "has 2 records but 3"),
                 ("byte changed", orig.replace(b"alice1", b"alice9"), "line 2 is not this record")]
        for name, data, want in cases:
            def write(exp, data=data):
                with open(os.path.join(epoch_dir(exp, 0), tscs[0], "records.jsonl"), "wb") as f:
                    f.write(data)
            check_tampered_copy(d, name, write, want)
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_db_tampering, test_export_tampering, test_tsc_file_tampering])
