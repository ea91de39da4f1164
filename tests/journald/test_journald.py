"""The journald collector end to end: real journal files written by systemd-journal-remote
(and, when the machine allows, a private systemd-journald), the real daemon following them,
and what an auditor sees: the records, their hashes against `journalctl -o export`, the
manifest's stats and `gatelog verify`."""
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import Daemon, Failure, check, gatelog, run_tests  # noqa: E402
from jtools import (BASE_US, entry, journalctl_export, sha256,  # noqa: E402
                    write_journal)


def jconf(name, directory, more=""):
    return f"journald:\n  - name: {name}\n    directory: {directory}\n{more}"


def jrecords(d, name=None):
    """The journald records in the store (open epoch included), in seq order."""
    rc, out, err = gatelog("query", "--db", d.db, "--include-open", check_rc=0)
    recs = [json.loads(l) for l in out.splitlines() if l.strip()]
    return [r for r in recs if r["source"]["kind"] == "journald" and
            (name is None or r["source"]["name"] == name)]


def wait_jrecords(d, n, name=None, timeout=30):
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        got = jrecords(d, name)
        if len(got) >= n:
            return got
        if d.proc is not None and d.proc.poll() is not None:
            raise Failure("daemon died:\n" + d.read_log()[-3000:])
        time.sleep(0.1)
    raise Failure(f"wanted {n} journald records, have {len(got)}\n" + d.read_log()[-3000:])


def messages(recs):
    return [r["message"] for r in recs if "journal_gap" not in r["flags"]]


def sealed_stats(d):
    """The stats of the last sealed epoch."""
    rc, out, _ = gatelog("epochs", "--db", d.db, "--format", "jsonl", check_rc=0)
    eps = [r for r in (json.loads(l) for l in out.splitlines() if l.strip()) if "epoch" in r]
    return [e for e in eps if e["state"] == "sealed"][-1]["stats"]


def kill9(d):
    d.proc.kill()
    d.proc.wait()
    d.proc = None
    d.log.close()


def sealed_and_verified(d):
    d.seal()
    rc, out, err = d.verify_db()
    check(rc == 0, f"verify --db failed:\n{out}\n{err}")
    rc, out, err = d.verify_export()
    check(rc == 0, f"verify --export failed:\n{out}\n{err}")


def test_fields_hashes_and_follow():
    jd = tempfile.mkdtemp(prefix="gatelog-jd-")
    d = Daemon(extra=jconf("h1", jd))
    d.clear_of_boundary(60)  # the last sealed epoch's stats are the test's seal's
    try:
        special = [
            entry(0, "Accepted publickey for alice", _TRANSPORT="syslog", SYSLOG_FACILITY="10",
                  _PID="812", _COMM="sshd", _UID="0", _SYSTEMD_UNIT="ssh.service",
                  SYSLOG_IDENTIFIER="sshd"),
            entry(1, "two\nlines", TAG="x"),
            entry(2, b"bad \xff utf8", BLOB=b"\x00\x01\x02"),
            entry(3, "repeated") + [("TAG", "a"), ("TAG", "b")],
        ]
        # SYSLOG_IDENTIFIER given twice in entry 0: drop the default one.
        special[0] = [f for f in special[0] if f != ("SYSLOG_IDENTIFIER", "app")]
        write_journal(os.path.join(jd, "a.journal"), special + [entry(i) for i in range(4, 50)])
        d.start()
        recs = wait_jrecords(d, 50)
        check(len(recs) == 50, f"{len(recs)} records")
        # The records are built on the source's own thread (issue 12, round 8).
        comms = []
        for tid in os.listdir(f"/proc/{d.proc.pid}/task"):
            with open(f"/proc/{d.proc.pid}/task/{tid}/comm") as f:
                comms.append(f.read().strip())
        check(comms.count("gl-journal") == 1, f"threads: {comms}")
        r0 = recs[0]
        check(r0["app"] == "sshd" and r0["pid"] == 812 and r0["host"] == "h1", str(r0))
        check(r0["facility"] == "authpriv" and r0["severity"] == "info", str(r0))
        check(r0["source"] == {"kind": "journald", "name": "h1", "transport": "syslog",
                               "peer": None}, str(r0["source"]))
        check(r0["journal"]["_SYSTEMD_UNIT"] == "ssh.service" and r0["journal"]["_UID"] == "0",
              str(r0["journal"]))
        check(r0["time"] == "2023-11-14T22:13:20.000000Z" and r0["format"] == "journald",
              r0["time"])
        check(recs[1]["message"] == "two\nlines", recs[1]["message"])
        check(recs[2]["journal"]["MESSAGE"] == {"base64": "YmFkIP8gdXRmOA=="} and
              recs[2]["journal"]["BLOB"] == {"base64": "AAEC"} and
              "invalid_utf8" in recs[2]["flags"], str(recs[2]))
        check(recs[3]["journal"]["TAG"] == ["a", "b"], str(recs[3]["journal"]))
        check(messages(recs)[4:] == [f"entry {i}" for i in range(4, 50)], "order")
        # raw_sha256 is the SHA-256 of the entry exactly as `journalctl -o export` prints it.
        exp = journalctl_export("-D", jd)
        check(len(exp) == 50, f"journalctl sees {len(exp)}")
        for r, (cur, chunk) in zip(recs, exp):
            check(r["journal"]["__CURSOR"] == cur, f"cursor {r['journal']['__CURSOR']} != {cur}")
            check(r["raw_sha256"] == sha256(chunk), f"raw_sha256 of {cur}")
        # Following: appends to the same file, and a new file in the directory.
        write_journal(os.path.join(jd, "a.journal"), [entry(i) for i in range(50, 80)])
        wait_jrecords(d, 80)
        write_journal(os.path.join(jd, "b.journal"), [entry(i) for i in range(80, 100)])
        recs = wait_jrecords(d, 100)
        check(messages(recs)[4:] == [f"entry {i}" for i in range(4, 100)], "order after follow")
        # A clean restart neither repeats nor loses.
        check(d.stop() == 0, "stop")
        write_journal(os.path.join(jd, "b.journal"), [entry(i) for i in range(100, 110)])
        d.start()
        recs = wait_jrecords(d, 110)
        time.sleep(0.3)
        recs = jrecords(d)
        check(len(recs) == 110 and messages(recs)[4:] == [f"entry {i}" for i in range(4, 110)],
              f"after restart: {len(recs)} records")
        check(d.stop() == 0, "stop")
        sealed_and_verified(d)
        st = sealed_stats(d)
        check(st["sources"]["journald:h1"]["count"] >= 110 and
              st["sources"]["journald:h1"]["last"] == recs[-1]["journal"]["__CURSOR"],
              f"stats.sources: {st.get('sources')}")
    finally:
        d.cleanup()
        shutil.rmtree(jd, ignore_errors=True)


def test_exactly_once_under_sigkill():
    """N entries in several appends, 20+ SIGKILLs at random moments (while catching up,
    while idle, while appending): afterwards exactly the N entries, in order, once each."""
    rng = random.Random(int(os.environ.get("JD_SEED", "5")))
    n, appends, kills = 2000, 10, 22
    jd = tempfile.mkdtemp(prefix="gatelog-jd-")
    # A small queue makes the backpressure path run too.
    d = Daemon(extra="queue:\n  max_events: 64\n" + jconf("h1", jd))
    # The harness's YAML has no queue section; the extra one above is the only one.
    path = os.path.join(jd, "a.journal")
    try:
        per = n // appends
        written = 0
        for k in range(kills):
            if written < n and (k % 2 == 0 or k >= kills - appends):
                write_journal(path, [entry(i) for i in range(written, written + per)])
                written += per
            d.start()
            if rng.random() < 0.3 and written < n:
                write_journal(path, [entry(i) for i in range(written, written + per)])
                written += per
            time.sleep(rng.uniform(0.0, 0.25))
            kill9(d)
        while written < n:
            write_journal(path, [entry(i) for i in range(written, written + per)])
            written += per
        d.start()
        recs = wait_jrecords(d, n, timeout=60)
        time.sleep(0.5)  # anything extra (a duplicate) would show now
        recs = jrecords(d)
        got = messages(recs)
        dup = len(got) - len(set(got))
        check(got == [f"entry {i}" for i in range(n)],
              f"{len(got)} records, {dup} duplicates, first difference at "
              f"{next((i for i, (a, b) in enumerate(zip(got, [f'entry {i}' for i in range(n)])) if a != b), None)}")
        check(all("journal_gap" not in r["flags"] for r in recs), "a gap was reported")
        check_positions(recs, journalctl_export("-D", jd))
        check(d.stop() == 0, "stop")
        sealed_and_verified(d)
        # The positions stored with the records: the sealed epochs' last one is the last
        # entry's cursor (a wrong stored position would also have shown as a resend or a
        # skip above).
        rc, out, _ = gatelog("epochs", "--db", d.db, "--format", "jsonl", check_rc=0)
        eps = [e for e in (json.loads(l) for l in out.splitlines() if l.strip())
               if "epoch" in e and e["state"] == "sealed"]
        last = [e["stats"]["sources"]["journald:h1"]["last"] for e in eps
                if "journald:h1" in ((e.get("stats") or {}).get("sources") or {})]
        check(last and last[-1] == recs[-1]["journal"]["__CURSOR"],
              f"stored position {last[-1:]} is not the last entry's cursor")
    finally:
        d.cleanup()
        shutil.rmtree(jd, ignore_errors=True)


def check_positions(recs, exported):
    """Each record's cursor (its position) is journalctl's for the same entry, in order, and
    the header fields the collector reads from the cursor (issue 12: times and boot id
    parsed out of it, not asked of the library) agree with journalctl's."""
    want = [c for c, _ in exported]
    got = [r["journal"]["__CURSOR"] for r in recs]
    check(got == want, f"record cursors differ from journalctl's at "
          f"{next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(got))}")
    for r, (_, chunk) in zip(recs, exported):
        j = r["journal"]
        for line in chunk.split(b"\n"):
            k, _, v = line.partition(b"=")
            if k in (b"__REALTIME_TIMESTAMP", b"__MONOTONIC_TIMESTAMP", b"_BOOT_ID"):
                check(j[k.decode()] == v.decode(), f"{k.decode()} {j[k.decode()]} != {v}")


def wait_metrics(d, what, fn, timeout=60):
    return harness.wait_metrics(d, what, fn, timeout, show=("journald",))


def test_cursor_lag_metric():
    """ops (issue 9): gatelog_journald_cursor_lag_seconds{source} is the time between the
    last entry read and the journal's newest while the store is locked (the writer waits,
    the queue fills, reading stops), and 0 once everything is stored; events received and
    kept match the entries."""
    import sqlite3
    n = 3000  # 1 ms apart (jtools.entry): the journal spans 3 s
    jd = tempfile.mkdtemp(prefix="gatelog-jd-")
    d = Daemon(extra="queue:\n  max_events: 8\n" + jconf("lag1", jd))
    lag = 'gatelog_journald_cursor_lag_seconds{source="lag1"}'
    rcv = 'gatelog_events_received_total{source="journald"}'
    try:
        write_journal(os.path.join(jd, "a.journal"), [entry(0)])
        d.start()
        wait_jrecords(d, 1)
        con = sqlite3.connect(d.db, timeout=30, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")  # the writer cannot commit until we let go
        write_journal(os.path.join(jd, "a.journal"), [entry(i) for i in range(1, n)])
        # The writer holds one batch (up to 1024), the queue 8: reading stops at entry
        # received-1, whose time is (n - received) ms before the newest (rounded up).
        wait_metrics(d, "the lag while the store is locked",
                     lambda m: m.get(rcv, 0) > 1 and m.get(lag, 0) > 0 and
                     m.get(lag) == -(-(n - m.get(rcv)) // 1000))
        con.execute("ROLLBACK")
        con.close()
        wait_jrecords(d, n, timeout=60)
        m = wait_metrics(d, "lag 0 and everything kept",
                         lambda m: m.get(lag) == 0 and
                         m.get('gatelog_events_kept_total{source="journald"}') == n)
        check(m.get(rcv) == n, f"received {m.get(rcv)}, {n} entries")
        check(d.stop() == 0, "stop")
    finally:
        d.cleanup()
        shutil.rmtree(jd, ignore_errors=True)


def test_rotation_gap_counted():
    """The file holding the stored cursor is deleted while the daemon is down: a
    journal_gap record (counted in the manifest's stats.flags) and then the rest."""
    jd = tempfile.mkdtemp(prefix="gatelog-jd-")
    d = Daemon(extra=jconf("h1", jd))
    d.clear_of_boundary(60)  # the last sealed epoch's stats are the test's seal's
    try:
        write_journal(os.path.join(jd, "a.journal"), [entry(i) for i in range(100)])
        d.start()
        recs = wait_jrecords(d, 100)
        last = recs[-1]["journal"]["__CURSOR"]
        check(d.stop() == 0, "stop")
        write_journal(os.path.join(jd, "b.journal"), [entry(i) for i in range(150, 200)])
        os.unlink(os.path.join(jd, "a.journal"))
        d.start()
        recs = wait_jrecords(d, 151)
        gap = recs[100]
        check(gap["flags"] == ["journal_gap"], f"record 100 is not the gap: {gap}")
        check(gap["journal"]["gap_after_cursor"] == last, str(gap["journal"]))
        check(gap["journal"]["gap_after_time"] == "2023-11-14T22:13:20.099000Z" and
              gap["journal"]["gap_before_time"] == "2023-11-14T22:13:20.150000Z",
              str(gap["journal"]))
        check(messages(recs)[100:] == [f"entry {i}" for i in range(150, 200)],
              "ingestion continues after the gap")
        check("gap recorded" in d.read_log(), "no log line about the gap")
        # Exactly once across the gap too: a restart reports nothing twice.
        check(d.stop() == 0, "stop")
        write_journal(os.path.join(jd, "b.journal"), [entry(i) for i in range(200, 210)])
        d.start()
        recs = wait_jrecords(d, 161)
        time.sleep(0.3)
        recs = jrecords(d)
        check(len(recs) == 161 and sum("journal_gap" in r["flags"] for r in recs) == 1,
              f"{len(recs)} records after restart")
        check(d.stop() == 0, "stop")
        sealed_and_verified(d)
        st = sealed_stats(d)
        check(st.get("flags", {}).get("journal_gap") == 1, f"stats: {st}")
    finally:
        d.cleanup()
        shutil.rmtree(jd, ignore_errors=True)


def corrupt_objects(path, back, n):
    """Writes n random bytes `back` bytes before the journal's last object (header field
    tail_object_offset, offset 136 in systemd's Journal File Format), where entries live."""
    with open(path, "r+b") as f:
        (tail,) = struct.unpack("<Q", f.read(144)[136:144])
        f.seek(tail - back)
        f.write(random.Random(1).randbytes(n))


def test_corrupt_and_truncated_files():
    """A truncated journal file and one with garbage over some entries: no crash; the
    truncated one is logged and reported by a journal_unreadable record; of the damaged
    one, every entry is either read or counted missing by a journal_gap record; every
    other entry is read, and the daemon goes on following."""
    jd = tempfile.mkdtemp(prefix="gatelog-jd-")
    d = Daemon(extra=jconf("h1", jd))
    d.clear_of_boundary(60)  # the last sealed epoch's stats are the test's seal's
    try:
        write_journal(os.path.join(jd, "good.journal"), [entry(i) for i in range(20)])
        write_journal(os.path.join(jd, "cut.journal"), [entry(i) for i in range(100, 400)])
        with open(os.path.join(jd, "cut.journal"), "r+b") as f:
            f.truncate(100_000)
        write_journal(os.path.join(jd, "noise.journal"), [entry(i) for i in range(500, 600)])
        corrupt_objects(os.path.join(jd, "noise.journal"), 10_000, 300)
        old = time.time() - 60
        for name in ("cut.journal", "noise.journal"):
            os.utime(os.path.join(jd, name), (old, old))
        d.start()
        recs = wait_jrecords(d, 21)
        # Following goes on: entries newer than everything read so far.
        write_journal(os.path.join(jd, "good.journal"), [entry(i) for i in range(600, 610)])
        deadline = time.time() + 20
        while time.time() < deadline and "entry 609" not in messages(recs):
            time.sleep(0.1)
            recs = jrecords(d)
        check("entry 609" in messages(recs), "stopped following after bad files")
        unread = [r for r in recs if "journal_unreadable" in r["flags"]]
        check(len(unread) == 1 and unread[0]["journal"]["file"].endswith("cut.journal"),
              f"unreadable records: {unread}")
        log = d.read_log()
        check("journal file cannot be read" in log and "cut.journal" in log, log[-2000:])
        got = messages([r for r in recs if "journal_unreadable" not in r["flags"]])
        check([m for m in got if int(m.split()[1]) < 20] == [f"entry {i}" for i in range(20)],
              f"good entries: {got[:25]}")
        noise = [m for m in got if 500 <= int(m.split()[1]) < 600]
        gaps = [r for r in recs if "journal_gap" in r["flags"]]
        missing = sum(g["journal"]["missing"] or 0 for g in gaps)
        check(len(noise) + missing == 100,
              f"damaged file: {len(noise)} entries read, {missing} counted missing, "
              f"{len(gaps)} gap records")
        check(d.stop() == 0, "stop")
        sealed_and_verified(d)
        check(sealed_stats(d)["flags"].get("journal_unreadable") == 1, "stats.flags")
    finally:
        d.cleanup()
        shutil.rmtree(jd, ignore_errors=True)


def test_filters_and_start():
    """match, units, identifiers, transports, priorities; start: tail and a time; two
    sources with their own positions."""
    jd = tempfile.mkdtemp(prefix="gatelog-jd-")
    mix = []
    for i in range(60):
        unit = ["ssh.service", "cron.service", "nginx.service"][i % 3]
        ident = ["sshd", "CRON", "nginx"][i % 3]
        mix.append(entry(i, PRIORITY=str(i % 8), _SYSTEMD_UNIT=unit,
                         _TRANSPORT=["syslog", "journal"][i % 2]) )
        mix[-1] = [f for f in mix[-1] if f[0] not in ("SYSLOG_IDENTIFIER", "PRIORITY")] + \
            [("SYSLOG_IDENTIFIER", ident), ("PRIORITY", str(i % 8))]
    write_journal(os.path.join(jd, "a.journal"), mix)
    srcs = (
        "journald:\n"
        f"  - name: ssh\n    directory: {jd}\n    units: [ssh]\n"
        f"  - name: warn\n    directory: {jd}\n    priorities: warning\n"
        f"    transports: [syslog]\n"
        f"  - name: cron\n    directory: {jd}\n    identifiers: [CRON]\n"
        f"    match: [\"PRIORITY=1\", \"PRIORITY=4\"]\n"
        f"  - name: tail\n    directory: {jd}\n    start: tail\n"
        f"  - name: late\n    directory: {jd}\n    start: \"2023-11-14T22:13:20.050Z\"\n"
        f"  - name: byfile\n    files: [{jd}/a.journal]\n")
    d = Daemon(extra=srcs)
    try:
        d.start()
        want = {
            "ssh": [i for i in range(60) if i % 3 == 0],
            "warn": [i for i in range(60) if i % 8 <= 4 and i % 2 == 0],
            "cron": [i for i in range(60) if i % 3 == 1 and i % 8 in (1, 4)],
            "late": list(range(50, 60)),
            "byfile": list(range(60)),
        }
        for name, idx in want.items():
            wait_jrecords(d, len(idx), name)
        time.sleep(0.5)
        for name, idx in want.items():
            got = messages(jrecords(d, name))
            check(got == [f"entry {i}" for i in idx], f"{name}: {got}")
        check(jrecords(d, "tail") == [], "tail read old entries")
        write_journal(os.path.join(jd, "a.journal"),
                      [entry(i, _SYSTEMD_UNIT="ssh.service") for i in range(60, 63)])
        recs = wait_jrecords(d, 3, "tail")
        check(messages(recs) == ["entry 60", "entry 61", "entry 62"], messages(recs))
        wait_jrecords(d, len(want["ssh"]) + 3, "ssh")
        recs = wait_jrecords(d, 63, "byfile")
        check(messages(recs)[60:] == ["entry 60", "entry 61", "entry 62"], "files: follow")
        check(d.stop() == 0, "stop")
    finally:
        d.cleanup()
        shutil.rmtree(jd, ignore_errors=True)


def ns_journald(d):
    """Starts nsjournald.sh in its own mount and PID namespace; returns the Popen, or None
    with the reason when this machine cannot (no unshare rights)."""
    p = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--mount-proc",
                          os.path.join(HERE, "nsjournald.sh"), d],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 15
    while time.time() < deadline:
        if os.path.exists(os.path.join(d, "ready")):
            return p, None
        if p.poll() is not None:
            return None, p.stdout.read().decode(errors="replace")
        time.sleep(0.05)
    p.kill()
    return None, "journald did not start in 15 s"


def ns_send(d, n, lines):
    with open(os.path.join(d, f"send.{n}.tmp"), "w") as f:
        f.write("".join(f"{tag} {msg}\n" for tag, msg in lines))
    os.rename(os.path.join(d, f"send.{n}.tmp"), os.path.join(d, f"send.{n}"))
    deadline = time.time() + 20
    while not os.path.exists(os.path.join(d, f"sent.{n}")):
        check(time.time() < deadline, f"batch {n} not sent")
        time.sleep(0.05)


def test_private_systemd_journald():
    """A real systemd-journald in its own namespaces receives through systemd-cat and
    logger --journald while gatelog follows its files (PEERS.md). Trusted fields from the
    socket credentials (_PID, _UID, _GID) are always there; those journald reads from /proc
    (_COMM, _EXE, _CMDLINE) can be missing for a sender that exited first, so they are not
    asserted."""
    jd = tempfile.mkdtemp(prefix="gatelog-nsjd-")
    ns, why = ns_journald(jd)
    if ns is None:
        raise Failure(f"cannot run a private systemd-journald here: {why}")
    d = Daemon(extra=jconf("ns", os.path.join(jd, "log", "journal"),
                           "    identifiers: [sshd, sudo]\n"))
    try:
        first = [("sshd", f"Accepted publickey for alice port {i}") if i % 2 == 0 else
                 ("sudo", f"alice : COMMAND=/bin/true {i}") for i in range(20)]
        ns_send(jd, 1, first + [("noise", "not for us")])
        d.start()
        recs = wait_jrecords(d, 20)
        # journald orders what arrives on its stream and native sockets itself: the order
        # to keep is the journal's, as journalctl shows it.
        where = ("-D", os.path.join(jd, "log", "journal"), "SYSLOG_IDENTIFIER=sshd",
                 "SYSLOG_IDENTIFIER=sudo")
        check(sorted(r["message"] for r in recs) == sorted(m for _, m in first),
              f"{[r['message'] for r in recs]}")
        check([r["journal"]["__CURSOR"] for r in recs] == [c for c, _ in journalctl_export(*where)],
              "not in the journal's order")
        cat = next(r for r in recs if r["message"] == first[0][1])
        native = next(r for r in recs if r["message"] == first[1][1])
        check(cat["source"]["transport"] == "stdout" and cat["app"] == "sshd" and
              cat["severity"] == "warning" and isinstance(cat["pid"], int) and
              "_UID" in cat["journal"] and "_GID" in cat["journal"],
              f"systemd-cat record: {cat}")
        check(native["source"]["transport"] == "journal" and native["app"] == "sudo" and
              native["journal"].get("ACCESS_USER") == "alice" and
              isinstance(native["pid"], int) and "_UID" in native["journal"],
              f"logger --journald record: {native}")
        # Following the live journald, then a restart in the middle of its writing.
        second = [("sshd", f"Failed password for bob {i}") for i in range(30)]
        ns_send(jd, 2, second)
        wait_jrecords(d, 50)
        kill9(d)
        third = [("sudo", f"bob : COMMAND=/bin/false {i}") for i in range(10)]
        ns_send(jd, 3, third)
        d.start()
        recs = wait_jrecords(d, 60)
        time.sleep(0.3)
        recs = jrecords(d)
        want = [m for _, m in first + second + third]
        check(sorted(r["message"] for r in recs) == sorted(want), f"{len(recs)} records")
        exp = journalctl_export(*where)
        check([r["journal"]["__CURSOR"] for r in recs] == [c for c, _ in exp],
              "not exactly the journal's entries in its order")
        check([r["raw_sha256"] for r in recs] == [sha256(chunk) for _, chunk in exp],
              "raw_sha256 differs from journalctl -o export")
        check(d.stop() == 0, "stop")
        sealed_and_verified(d)
    finally:
        d.cleanup()
        open(os.path.join(jd, "stop"), "w").close()
        try:
            ns.wait(timeout=10)
        except subprocess.TimeoutExpired:
            ns.kill()
        shutil.rmtree(jd, ignore_errors=True)


def test_bad_source_refused():
    d = Daemon(extra=jconf("h1", "/nonexistent/journal/dir"))
    try:
        try:
            d.start(timeout=10)
        except Failure as e:
            check("cannot open a journal source" in str(e) and "source=h1" in str(e), str(e))
        else:
            raise Failure("started with a missing journal directory")
    finally:
        d.cleanup()


if __name__ == "__main__":
    if not os.access("/lib/systemd/systemd-journal-remote", os.X_OK):
        print("systemd-journal-remote is missing (package systemd-journal-remote)")
        sys.exit(1)
    run_tests([test_fields_hashes_and_follow, test_filters_and_start,
               test_rotation_gap_counted, test_corrupt_and_truncated_files,
               test_bad_source_refused, test_private_systemd_journald, test_cursor_lag_metric,
               test_exactly_once_under_sigkill])
