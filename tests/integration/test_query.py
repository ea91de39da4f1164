"""gatelog query for auditors (issue 10): filters on actor, action, target, outcome, rule and
app, --count, --group-by, and CSV that opens cleanly in a spreadsheet.

A daemon with the default SOC 2 rule pack receives real sshd, sudo and useradd lines (and two
lines whose text would be a spreadsheet formula) from logger; one epoch is sealed. Every
answer of `gatelog query` is compared with a model: the same filter written here in Python
over the records of plain `gatelog query` (the stored bytes), from the database and from the
export.
"""
import collections
import csv
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, check, gatelog, logger, run_tests  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOC2 = os.path.join(REPO, "rules", "soc2")
STATE = {}
FORMULA = "=HYPERLINK(\"http://x\",\"click\"), then +1"


def setup():
    if STATE:
        return STATE
    d = STATE["d"] = Daemon(unix=False, extra=f"rules:\n  paths: [{SOC2}]\n")
    d.start()
    port = d.ports["tcp"]
    sshd = ["Accepted publickey for alice from 10.0.0.5 port 5555 ssh2: ED25519 SHA256:x",
            "Failed password for invalid user bob from 10.0.0.9 port 22 ssh2",
            "Failed password for invalid user bob from 10.0.0.9 port 23 ssh2",
            "Accepted password for carol from 10.0.0.7 port 5556 ssh2"]
    logger(port, sshd, "-T", "--rfc3164", "-t", "sshd", "-i")
    logger(port, ["alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"],
           "-T", "--rfc3164", "-t", "sudo")
    logger(port, ["new user: name=dave, UID=1001, GID=1001, home=/home/dave, shell=/bin/bash, "
                  "from=/dev/pts/0"], "-T", "--rfc3164", "-t", "useradd", "-i")
    logger(port, [FORMULA, "@SUM(A1:A2) and -2+3"], "-T", "--rfc3164", "-t", "mystery")
    d.wait_records(8)
    d.seal()
    check(d.stop() == 0, "daemon exit status")
    STATE["all"] = d.query()
    check(len(STATE["all"]) == 8, f"records: {len(STATE['all'])}")
    return STATE


def q(*args, src="db"):
    d = STATE["d"]
    where = ("--db", d.db) if src == "db" else ("--export", d.exports, "--pubkey", d.pub)
    return gatelog("query", *where, *args, check_rc=0)[1]


def seqs(out):
    return [json.loads(l)["seq"] for l in out.splitlines() if l.strip()]


def party(v, want):
    """The model of --actor/--target."""
    if "=" in want:
        k, val = want.split("=", 1)
        return isinstance(v, dict) and v.get(k) == val
    if isinstance(v, str):
        return v == want
    return isinstance(v, dict) and any(x == want for x in v.values() if isinstance(x, str))


def model(pred):
    return [r["seq"] for r in STATE["all"] if pred(r)]


def test_filters_match_the_model():
    setup()
    cases = [
        (["--actor", "alice"], lambda r: party(r.get("actor"), "alice")),
        (["--actor", "user=bob"], lambda r: party(r.get("actor"), "user=bob")),
        (["--actor", "10.0.0.9"], lambda r: party(r.get("actor"), "10.0.0.9")),
        (["--target", "service=ssh"], lambda r: party(r.get("target"), "service=ssh")),
        (["--target", "root"], lambda r: party(r.get("target"), "root")),
        (["--outcome", "failure"], lambda r: r.get("outcome") == "failure"),
        (["--action", "login"], lambda r: r.get("action") == "login"),
        (["--app", "sudo", "--app", "useradd"], lambda r: r.get("app") in ("sudo", "useradd")),
        (["--rule", "sshd.login.*"], lambda r: (r.get("rule") or "").startswith("sshd.login.")),
        (["--rule", "unmapped"], lambda r: r.get("rule") == "unmapped"),
        (["--app", "sshd", "--outcome", "success", "--actor", "carol"],
         lambda r: r.get("app") == "sshd" and r.get("outcome") == "success"
         and party(r.get("actor"), "carol")),
        (["--actor", "nobody"], lambda r: False),
    ]
    for args, pred in cases:
        want = model(pred)
        for src in ("db", "export"):
            got = seqs(q(*args, src=src))
            check(got == want, f"{src} {args}: got {got}, model {want}")
    # The cases are not vacuous: each narrows, and some match several records.
    check(len(model(lambda r: party(r.get("actor"), "alice"))) == 2, "alice: sshd and sudo")
    check(len(model(lambda r: r.get("outcome") == "failure")) == 2, "two failures")


def test_count_and_group_by():
    setup()
    recs = STATE["all"]
    check(q("--count").strip() == str(len(recs)), "count of all")
    check(q("--count", "--outcome", "failure").strip() == "2", "count of failures")
    check(json.loads(q("--count", "--app", "sshd", "--format", "jsonl")) == {"count": 4}, "jsonl")
    check(q("--count", "--app", "sshd", "--format", "csv") == "count\r\n4\r\n", "csv count")
    for by, key in (("outcome", lambda r: r.get("outcome") or "-"),
                    ("app", lambda r: r.get("app") or "-"),
                    ("rule", lambda r: r.get("rule") or "-"),
                    ("day", lambda r: r["time"][:10]),
                    ("actor", lambda r: (r["actor"].get("user") or r["actor"].get("ip") or "-")
                     if isinstance(r.get("actor"), dict) else (r.get("actor") or "-"))):
        want = collections.Counter(key(r) for r in recs)
        for src in ("db", "export"):
            rows = [json.loads(l) for l in q("--group-by", by, "--format", "jsonl",
                                              src=src).splitlines()]
            got = {r[by]: r["count"] for r in rows}
            check(got == dict(want), f"{src} group-by {by}: {got} != {dict(want)}")
            counts = [r["count"] for r in rows]
            if by != "day":
                check(counts == sorted(counts, reverse=True), f"{by}: not by count: {rows}")
        table = q("--group-by", by).splitlines()
        check(table[0].split() == [by, "COUNT"] and len(table) == len(want) + 1, str(table))
        c = list(csv.reader(io.StringIO(q("--group-by", by, "--format", "csv"), newline="")))
        check(c[0] == [by, "count"] and {r[0]: int(r[1]) for r in c[1:]} == dict(want), str(c))
    rc, _, err = gatelog("query", "--db", STATE["d"].db, "--group-by", "colour")
    check(rc == 2 and "colour" in err, f"bad --group-by: {rc} {err}")


def csv_rows(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_opens_cleanly():
    setup()
    raw = q("--format", "csv")
    check(raw.count("\r\n") == len(raw.splitlines()) and raw.endswith("\r\n"),
          "RFC 4180 lines end in CRLF")
    rows = csv_rows(raw)
    head = rows[0]
    for col in ("seq", "time", "app", "rule", "outcome", "actor", "action", "target", "message"):
        check(col in head, f"no {col} column: {head}")
    check(len(rows) == len(STATE["all"]) + 1 and all(len(r) == len(head) for r in rows),
          "one row per record, every row as wide as the header")
    by_seq = {int(r[0]): dict(zip(head, r)) for r in rows[1:]}
    for rec in STATE["all"]:
        row = by_seq[rec["seq"]]
        check(row["message"] == rec["message"], f"message changed: {row['message']!r}")
        check(row["outcome"] == (rec.get("outcome") or ""), "outcome")
    alice = [r for r in by_seq.values() if r["app"] == "sshd" and "alice" in r["actor"]][0]
    check("user=alice" in alice["actor"].split(";") and "ip=10.0.0.5" in alice["actor"],
          f"actor cell: {alice['actor']}")
    # Raw evidence by default; the formula guard only when asked.
    formula = [r for r in by_seq.values() if r["message"].startswith("=")]
    check(len(formula) == 1 and formula[0]["message"] == FORMULA, "formula text kept as is")
    safe = {int(r[0]): dict(zip(head, r)) for r in csv_rows(q("--format", "csv",
                                                              "--csv-safe"))[1:]}
    for seq, row in by_seq.items():
        m = row["message"]
        want = "'" + m if m[:1] in ("=", "+", "-", "@") else m
        check(safe[seq]["message"] == want, f"--csv-safe {m!r} -> {safe[seq]['message']!r}")
    check(sum(1 for r in safe.values() if r["message"].startswith("'")) == 2,
          "both formula-like messages guarded")
    bom = gatelog("query", "--db", STATE["d"].db, "--format", "csv", "--bom")
    out = subprocess_bytes("--format", "csv", "--bom")
    check(out.startswith(b"\xef\xbb\xbf") and out[3:].decode() == raw, f"--bom: {bom[0]}")
    check(not raw.startswith("\ufeff"), "no BOM unless asked")


def subprocess_bytes(*args):
    import subprocess
    from harness import GATELOG
    return subprocess.run([GATELOG, "query", "--db", STATE["d"].db, *args],
                          capture_output=True, check=True).stdout


def main():
    try:
        run_tests([test_filters_match_the_model, test_count_and_group_by,
                   test_csv_opens_cleanly])
    finally:
        if "d" in STATE:
            STATE["d"].cleanup()


if __name__ == "__main__":
    main()
