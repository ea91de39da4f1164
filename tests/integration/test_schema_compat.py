"""Read-only commands on a database of an older schema (round 11), through the real binary.

The query side opens the database read-only and never writes it, so it cannot migrate a
schema 1 file; it reads it in place instead. A daemon with the SOC 2 rule pack stores real
sshd, sudo and useradd lines over three sealed epochs and an open one; the file is then laid
out as schema 1 with version 1's own DDL (test_migrate.to_v1), in two variants: as the
previous gatelog left it, and as one from before issue 10 (no `timestamps` table). Every
read-only command — `query` (sealed, open, by criterion, time, host, counts and groups, CSV),
`epochs` (table and JSONL), `report` (JSON and HTML), `proof` (sealed records, an open one,
one past the end), `head` (and a signed checkpoint) and `verify --db` — is run on each
variant and must print exactly what it prints on the same file once the daemon has migrated
it (stdout, stderr and exit status; the file's name and the report's generation time set
aside), and the file and its WAL must be byte for byte what they were. A file whose schema
is newer than this gatelog reads is refused by every one of them, naming the file, its
version and the versions this gatelog reads, and is not written either.
"""
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, check, gatelog, run_tests  # noqa: E402
from test_migrate import SOC2, fill, send, to_v1  # noqa: E402


def files_digest(db):
    """The database file and its WAL, byte for byte. A missing WAL counts as an empty one:
    SQLite creates an empty -wal (and the -shm, its shared-memory index) for a reader of a
    WAL file in a writable folder; neither holds any of the database's content."""
    out = {}
    for path in (db, db + "-wal"):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        out[os.path.basename(path)] = hashlib.sha256(data).hexdigest()
    return out


def commands(d, host, mid):
    """Every read-only command worth asking, as (name, argv with DB for the file)."""
    q = ["query", "--db", "DB"]
    cmds = [("query sealed", q),
            ("query all", q + ["--include-open"]),
            ("query cc61", q + ["--criterion", "CC6.1", "--include-open"]),
            ("query cc61 sealed", q + ["--criterion", "CC6.1"]),
            ("query cc72 csv", q + ["--criterion", "CC7.2", "--format", "csv"]),
            ("query since", q + ["--since", mid, "--include-open"]),
            ("query until", q + ["--until", mid]),
            ("query crit until", q + ["--criterion", "CC6.1", "--until", mid, "--include-open"]),
            ("query host", q + ["--host", host, "--include-open", "--format", "table"]),
            ("query nohost", q + ["--host", "no-such-host", "--include-open"]),
            ("query count", q + ["--include-open", "--count", "--group-by", "rule"]),
            ("query failures", q + ["--outcome", "failure", "--group-by", "day"]),
            ("epochs", ["epochs", "--db", "DB"]),
            ("epochs jsonl", ["epochs", "--db", "DB", "--format", "jsonl"]),
            ("head", ["head", "--db", "DB"]),
            ("head checkpoint", ["head", "--db", "DB", "--checkpoint", "--key", d.key]),
            ("verify", ["verify", "--pubkey", d.pub, "--db", "DB"])]
    for fmt in ("json", "html"):
        cmds.append((f"report {fmt}", ["report", "--db", "DB", "--pubkey", d.pub,
                                       "--since", "2000-01-01", "--until", "2100-01-01",
                                       "--criterion", "CC6.1", "--criterion", "CC7.2",
                                       "--format", fmt]))
    for seq in (0, 5, 11, 13, 99):  # sealed, sealed, last sealed, open, past the end
        cmds.append((f"proof {seq}", ["proof", "--record", str(seq), "--db", "DB"]))
    return cmds


def normalize(text, db):
    """The file's name and the report's generation time are not answers."""
    text = text.replace(db, "DB")
    text = re.sub(r'"generated":"[^"]*"', '"generated":"T"', text)
    return re.sub(r"(<th>generated</th><td>)[^<]*", r"\1T", text)


def answers(cmds, db):
    out = {}
    for name, argv in cmds:
        rc, so, se = gatelog(*[db if a == "DB" else a for a in argv])
        out[name] = (rc, normalize(so, db), normalize(se, db))
    return out


def test_old_schemas_read_in_place():
    d = Daemon(unix=False, extra=f"rules:\n  paths: [{SOC2}]\n")
    # The fresh file's answers must equal the migrated one's (a restart later): no epoch
    # sealed by the clock in between.
    d.clear_of_boundary(90)
    try:
        n = fill(d)
        recs = d.query("--include-open")
        check(len(recs) == n == 16, f"{len(recs)} records")
        times = sorted(r["time"] for r in recs)
        host = next(r["host"] for r in recs if r.get("host"))
        cmds = commands(d, host, times[len(times) // 2])
        fresh = answers(cmds, d.db)  # schema 2 as the daemon wrote it

        to_v1(d.db)
        variants = {"v1": os.path.join(d.dir, "v1.db"),
                    "v1 before issue 10": os.path.join(d.dir, "v1-pre10.db")}
        for path in variants.values():
            shutil.copyfile(d.db, path)
        c = sqlite3.connect(variants["v1 before issue 10"])
        c.execute("DROP TABLE timestamps")
        c.commit()
        c.close()
        got = {}
        for name, path in variants.items():
            before = files_digest(path)
            got[name] = answers(cmds, path)
            check(files_digest(path) == before,
                  f"{name}: a read-only command wrote the file: {before} -> "
                  f"{files_digest(path)}")
            c = sqlite3.connect(path)
            v = c.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
            c.close()
            check(v == "1", f"{name}: schema {v} after reading")

        # The same file migrated by the daemon (d.db was rewritten to schema 1 as well).
        d.start()
        check(d.stop() == 0, "daemon exit status")
        check("store migrated" in d.read_log(), "no migration:\n" + d.read_log())
        migrated = answers(cmds, d.db)
        for k, (rc, so, se) in migrated.items():
            check(rc == 0 or k in ("proof 13", "proof 99"), f"{k} on the migrated file: "
                  f"exit {rc}\n{so}{se}")
            check(so or se or k == "query nohost", f"{k}: no output")
        for name, ans in [("fresh schema 2", fresh)] + list(got.items()):
            for k in migrated:
                check(ans[k] == migrated[k], f"{k} on {name} differs from the migrated file:"
                                             f"\n{ans[k]}\nmigrated:\n{migrated[k]}")
        check(json.loads(migrated["report json"][1])["verification"]["ok"] is True,
              "report: " + migrated["report json"][1][:400])
        check(migrated["query cc61"][1].count("\n") >= 4, "CC6.1: " + migrated["query cc61"][1])
        check(migrated["query host"][1].count("\n") > 4, "host: " + migrated["query host"][1])
    finally:
        d.cleanup()


def test_newer_schema_refused():
    d = Daemon(unix=False, extra=f"rules:\n  paths: [{SOC2}]\n")
    try:
        d.start()
        send(d, 0)
        d.wait_records(4)
        d.seal()
        check(d.stop() == 0, "daemon exit status")
        c = sqlite3.connect(d.db)
        c.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")
        c.commit()
        c.close()
        before = files_digest(d.db)
        want = "database schema version 3 is newer than this gatelog reads (1 to 2)"
        for name, argv in commands(d, "h", "2000-01-01"):
            rc, so, se = gatelog(*[d.db if a == "DB" else a for a in argv])
            check(rc != 0 and want in so + se and d.db in so + se,
                  f"{name} on schema 3: exit {rc}\n{so}{se}")
        check(files_digest(d.db) == before, "a read-only command wrote the schema 3 file")
        # The daemon refuses it too, and leaves it alone.
        try:
            d.start(timeout=10)
            started = True
        except Exception as e:  # noqa: BLE001 (harness.Failure: it exited at start)
            started = False
            check(want in str(e), f"daemon on schema 3: {e}")
        check(not started, "the daemon started on a schema 3 file")
        check(files_digest(d.db) == before, "the daemon wrote the schema 3 file")
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_old_schemas_read_in_place, test_newer_schema_refused])
