"""Schema 1 to 2 (issue 12): a database laid out as the previous gatelog wrote it is migrated
in place when the daemon starts on it, and every answer stays the same.

A daemon with the SOC 2 rule pack stores real sshd, sudo and useradd lines over three sealed
epochs and an open one. The answers of `query` (sealed, with the open epoch, by criterion,
by time, by host), `epochs` and `verify --db` are kept; then the database is rewritten into
schema 1 with version 1's own DDL (kept below verbatim: records without the criteria
column, record_criteria and its seq index, records_epoch, records_time, meta schema 1).
Read-only commands read it in place with the same answers (round 11); the daemon started on
it logs the migration, and afterwards every answer is the same as before, byte for byte. The daemon then continues
the open epoch: new records get the next seqs, the epoch seals, and `verify` passes on the
database and on the export.
"""
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, check, gatelog, logger, run_tests  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOC2 = os.path.join(REPO, "rules", "soc2")

# Version 1's tables as outputs/store.c created them before schema 2.
V1_RECORDS = ("CREATE TABLE records(seq INTEGER PRIMARY KEY, epoch INTEGER NOT NULL,"
              " received INTEGER NOT NULL, time INTEGER NOT NULL, host TEXT,"
              " leaf BLOB NOT NULL, data BLOB NOT NULL)")
V1_INDEXES = ["CREATE INDEX records_epoch ON records(epoch)",
              "CREATE INDEX records_time ON records(time)",
              "CREATE TABLE record_criteria(criterion TEXT NOT NULL, seq INTEGER NOT NULL,"
              " PRIMARY KEY(criterion, seq)) WITHOUT ROWID",
              "CREATE INDEX record_criteria_seq ON record_criteria(seq)"]


def to_v1(db):
    """Rewrites a schema 2 database into schema 1 (the records and epochs unchanged)."""
    c = sqlite3.connect(db)
    c.execute("BEGIN")
    tags = [(t, seq) for seq, crit in c.execute("SELECT seq, criteria FROM records")
            if crit for t in crit.split(" ")]
    c.execute("ALTER TABLE records RENAME TO records_v2")
    c.execute(V1_RECORDS)
    c.execute("INSERT INTO records(seq, epoch, received, time, host, leaf, data) "
              "SELECT seq, epoch, received, time, host, leaf, data FROM records_v2")
    c.execute("DROP TABLE records_v2")
    for sql in V1_INDEXES:
        c.execute(sql)
    c.executemany("INSERT INTO record_criteria(criterion, seq) VALUES(?, ?)", tags)
    c.execute("DROP TABLE batches")
    c.execute("DROP TABLE criteria_index")
    c.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    c.commit()
    c.close()
    return len(tags)


def send(d, k):
    port = d.ports["tcp"]
    logger(port, [f"Accepted publickey for alice{k} from 10.0.0.5 port 5555 ssh2: ED25519 x",
                  f"Failed password for invalid user bob{k} from 10.0.0.9 port 22 ssh2"],
           "-T", "--rfc3164", "-t", "sshd", "-i")
    logger(port, [f"alice{k} : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"],
           "-T", "--rfc3164", "-t", "sudo")
    logger(port, [f"plain line {k} that no rule maps"], "-T", "--rfc3164", "-t", "mystery")


def fill(d):
    """Starts d, stores 4 records in each of three sealed epochs and in the open one, stops
    it; returns the number of records (16)."""
    d.start()
    n = 0
    for k in range(4):
        if k == 2:
            # RFC 3164 times have whole seconds: the second half is sent in a later second
            # than the first, so that a time bound between them (the tests' "mid") splits
            # the records whatever the clock (all 16 in one second gave --until nothing).
            time.sleep(1.05 - time.time() % 1)
        send(d, k)
        n += 4
        d.wait_records(n)
        if k < 3:
            d.seal()
    check(d.stop() == 0, "daemon exit status")
    return n


def answers(d):
    """Everything a reader asks of the database, as text."""
    out = {}
    recs = [json.loads(l) for l in gatelog("query", "--db", d.db, "--include-open",
                                           check_rc=0)[1].splitlines() if l.strip()]
    times = sorted(r["time"] for r in recs)
    mid = times[len(times) // 2]
    for name, args in [("sealed", []), ("all", ["--include-open"]),
                       ("cc61", ["--criterion", "CC6.1", "--include-open"]),
                       ("cc61 sealed", ["--criterion", "CC6.1"]),
                       ("since", ["--since", mid, "--include-open"]),
                       ("until", ["--until", mid]),
                       ("crit until", ["--criterion", "CC6.1", "--until", mid,
                                       "--include-open"]),
                       ("count by rule", ["--include-open", "--count", "--group-by", "rule"])]:
        out[name] = gatelog("query", "--db", d.db, *args, check_rc=0)[1]
    check(out["until"].strip() and out["since"].strip(), f"a bound at {mid} split nothing")
    out["epochs"] = gatelog("epochs", "--db", d.db, "--format", "jsonl", check_rc=0)[1]
    rc, v, err = d.verify_db()
    check(rc == 0, f"verify --db: exit {rc}\n{v}{err}")
    out["verify"] = v
    return out


def test_migrate_in_place_then_continue():
    d = Daemon(unix=False, extra=f"rules:\n  paths: [{SOC2}]\n")
    # Three sealed epochs and the open one, the same answers before and after the migration
    # (a restart), four sealed at the end: no epoch may be sealed by the clock meanwhile.
    d.clear_of_boundary(120)
    try:
        n = fill(d)
        before = answers(d)
        check(before["cc61"].count("\n") >= 4, "CC6.1 records:\n" + before["cc61"])
        n_tags = to_v1(d.db)
        check(n_tags >= 8, f"criterion tags: {n_tags}")

        # Read-only opens read it in place (round 11; every command: test_schema_compat):
        # the same answers, and the schema 1 file is still there for the daemon to migrate.
        ro = answers(d)
        for k in before:
            check(ro[k] == before[k], f"{k} differs on schema 1:\n"
                                      f"before:\n{before[k]}\nschema 1:\n{ro[k]}")

        d.start()
        check(d.stop() == 0, "daemon exit status")
        log = d.read_log()
        check("store migrated" in log and f"{n} records" in log, "no migration line:\n" + log)
        after = answers(d)
        for k in before:
            check(after[k] == before[k], f"{k} differs after the migration:\n"
                                         f"before:\n{before[k]}\nafter:\n{after[k]}")
        c = sqlite3.connect(d.db)
        names = {r[0] for r in c.execute("SELECT name FROM sqlite_schema")}
        schema = c.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        c.close()
        check(schema == "2" and "record_criteria" not in names and "records_epoch" not in names
              and "batches" in names, f"schema {schema}, tables {sorted(names)}")

        # The migrated open epoch continues: next seqs, sealed, verified.
        d.start()
        send(d, 9)
        recs = d.wait_records(n + 4)
        d.seal()
        check(d.stop() == 0, "daemon exit status")
        check([r["seq"] for r in recs] == list(range(n + 4)), "seqs not contiguous")
        rc, out, err = d.verify_db()
        check(rc == 0, f"verify --db after continuing: exit {rc}\n{out}{err}")
        rc, out, err = d.verify_export()
        check(rc == 0, f"verify --export after continuing: exit {rc}\n{out}{err}")
        cc = [json.loads(l)["seq"] for l in gatelog("query", "--db", d.db, "--criterion",
                                                    "CC6.1", check_rc=0)[1].splitlines()]
        old = [json.loads(l)["seq"] for l in before["cc61"].splitlines()]
        check(cc[:len(old)] == old and len(cc) > len(old), f"CC6.1 after: {cc}, before {old}")
        eps = [json.loads(l) for l in gatelog("epochs", "--db", d.db, "--format", "jsonl",
                                              check_rc=0)[1].splitlines()]
        sealed = [e for e in eps if e.get("state") == "sealed"]
        check(len(sealed) == 4, f"epochs after: {eps}")
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_migrate_in_place_then_continue])
