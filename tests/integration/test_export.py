"""The folder export against a model built from its own records (issue 12).

The exporter reads each record's criteria from the record's first bytes (cli/export-crit.h)
and writes every record file with its writeback started early and the files fsync'd
together (outputs/export-folder.c). Here a real daemon with the default rule pack takes
messages that map to several criteria, none, and messages whose text imitates the record
format ("criteria":["X"], escaped quotes, backslashes, non-ASCII); after the seal every
tsc=ID/records.jsonl must be exactly the lines of records.jsonl whose parsed "criteria"
holds ID, in order, no other tsc= folder may exist, no temporary file may be left, and
`gatelog verify --export` and the independent verifier must accept the export. Then the
same epoch is exported a second time from a copy of the database (its outbox entry set back
to pending, `gatelog seal --now` without a daemon) and must be byte for byte the same.
"""
import filecmp
import json
import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, check, gatelog, independent_verify, logger, run_tests,  # noqa: E402
                     HERE)

SOC2 = os.path.join(os.path.dirname(os.path.dirname(HERE)), "rules", "soc2")


def send_mix(d):
    port = d.ports["tcp"]
    n = 0
    tricky = [
        'Failed password for eve from 192.0.2.9 port 4711 ssh2 "criteria":["X1"]',
        'Accepted publickey for bob from 192.0.2.10 port 22 ssh2 \\"criteria\\":[\\"Y\\"]',
        'Failed password for invalid user caf\u00e9 from 192.0.2.11 port 5 ssh2 \\',
        'Accepted password for al\\"ice from 192.0.2.12 port 6 ssh2 {"criteria":[]}',
    ]
    for i in range(40):
        logger(port, [f"Failed password for user{i} from 192.0.2.{i} port {1000 + i} ssh2",
                      f"Accepted password for user{i} from 192.0.2.{i} port {2000 + i} ssh2"],
               "-T", "--octet-count", "--rfc5424=notq", "-t", "sshd")
        n += 2
    logger(port, [f"pam_unix(sudo:session): session opened for user root by u{i}(uid=0)"
                  for i in range(20)], "-T", "--octet-count", "--rfc5424=notq", "-t", "sudo")
    n += 20
    logger(port, tricky, "-T", "--octet-count", "--rfc5424=notq", "-t", "sshd")
    n += len(tricky)
    logger(port, [f'unmapped "criteria":["Z{i}"] line {i}' for i in range(20)],
           "-T", "--octet-count", "--rfc5424=notq", "-t", "cron")
    return n + 20


def epoch_dir(d, epoch=0):
    return os.path.join(d.exports, "chain=test-chain", f"epoch={epoch:010d}")


def epoch_dirs(exports):
    """Every exported epoch's folder, oldest first."""
    base = os.path.join(exports, "chain=test-chain")
    return [os.path.join(base, n) for n in sorted(os.listdir(base)) if n.startswith("epoch=")]


def check_against_model(edir):
    """The epoch's tsc= folders against its records.jsonl: (records, criteria named)."""
    with open(os.path.join(edir, "records.jsonl"), "rb") as f:
        lines = f.read().split(b"\n")
    check(lines[-1] == b"", "records.jsonl does not end with a newline")
    lines = lines[:-1]
    want = {}
    for line in lines:
        for cid in json.loads(line).get("criteria", []):
            want.setdefault(cid, []).append(line)
    got = sorted(n[4:] for n in os.listdir(edir) if n.startswith("tsc="))
    check(got == sorted(want), f"tsc folders {got}, records name {sorted(want)}")
    for cid, recs in want.items():
        with open(os.path.join(edir, f"tsc={cid}", "records.jsonl"), "rb") as f:
            data = f.read()
        check(data == b"".join(r + b"\n" for r in recs),
              f"tsc={cid}/records.jsonl is not the records tagged {cid}, in order")
    for root, _, files in os.walk(edir):
        for name in files:
            check(not name.startswith("."), f"temporary file left: {root}/{name}")
    return len(lines), set(want)


def reexport(d, out):
    """Every epoch exported again from a copy of the database, without a daemon."""
    w = os.path.join(d.dir, "copy")
    os.mkdir(w)
    for name in os.listdir(d.dir):
        if name.startswith("gatelog.db") or name.startswith("gatelog.key"):
            shutil.copy(os.path.join(d.dir, name), w)
    c = sqlite3.connect(os.path.join(w, "gatelog.db"))
    c.execute("UPDATE outbox SET state = 'pending'")
    c.commit()
    c.close()
    with open(d.config) as f:
        text = f.read()
    text = text.replace(d.dir, w).replace(os.path.join(w, "exports"), out)
    cfg = os.path.join(w, "gatelog.yaml")
    with open(cfg, "w") as f:
        f.write(text)
    gatelog("seal", "--now", "-c", cfg, check_rc=0)
    return os.path.join(out, "chain=test-chain", "epoch=0000000000")


def same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    check(not cmp.left_only and not cmp.right_only,
          f"files differ: {cmp.left_only} / {cmp.right_only}")
    for name in cmp.common_files:
        with open(os.path.join(a, name), "rb") as f, open(os.path.join(b, name), "rb") as g:
            check(f.read() == g.read(), f"{name} differs between the two exports")
    for sub in cmp.common_dirs:
        same_tree(os.path.join(a, sub), os.path.join(b, sub))


def test_export_matches_model():
    d = Daemon(unix=False, extra=f"rules:\n  paths: [{SOC2}]\n")
    try:
        d.start()
        n = send_mix(d)
        d.wait_records(n)
        d.seal()
        # Epoch 0 holds every record, or epochs 0 and 1 between them when the test ran
        # across the hour: the harness's 1 h epochs are aligned to the clock, and the daemon
        # seals one at hh:00:00 (GATELOG_TEST_EPOCH=20s makes that boundary likely).
        edirs = epoch_dirs(d.exports)
        check(1 <= len(edirs) <= 2, f"exported epochs {edirs}")
        total, crits = 0, set()
        for edir in edirs:
            check(os.path.exists(os.path.join(edir, "manifest.json")),
                  f"{edir} not exported")
            k, c = check_against_model(edir)
            total, crits = total + k, crits | c
        check(total == n, f"records.jsonl files hold {total} records, {n} were sent")
        check(len(crits) >= 2, f"the mix should map to several criteria, got {sorted(crits)}")
        rc, out, err = d.verify_export()
        check(rc == 0, f"verify --export failed ({rc}):\n{out}{err}")
        rc, out = independent_verify(d.exports, d.pub)
        check(rc == 0, "independent verifier failed:\n" + out)
        d.stop()
        out = os.path.join(d.dir, "exports2")
        reexport(d, out)
        again = epoch_dirs(out)
        names = [os.path.basename(e) for e in edirs]
        check([os.path.basename(e) for e in again[:len(edirs)]] == names,
              f"re-exported {again}, exported {edirs}")
        for edir, edir2 in zip(edirs, again):
            same_tree(edir, edir2)
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_export_matches_model])
