"""RELP (librelp) against real peers: rsyslog's omrelp forwarding, acknowledgements that
mean "committed", at-least-once across SIGKILL, and duplicates flagged, never dropped.
"""
import collections
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tls"))
from peers import (TEMPLATE, ListenDaemon, RelpClient, free_port, start_rsyslog,  # noqa: E402
                   stop, syslog_line)
from harness import Failure, check, gatelog, logger, run_tests  # noqa: E402


def relp_daemon(extra=""):
    """A daemon with a RELP listener on a free port (librelp cannot report port 0)."""
    for _ in range(5):
        port = free_port()
        d = ListenDaemon(f"    - relp: 127.0.0.1:{port}\n{extra}")
        try:
            d.start()
            d.relp_port = port
            return d
        except Failure:
            d.cleanup()
    raise Failure("no RELP port could be bound")


def all_records(d):
    rc, out, err = gatelog("query", "--db", d.db, "--include-open")
    if rc != 0:
        return []
    import json
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def wait_messages(d, want, timeout=60, nudge=None):
    """Waits until every text in want is a record's message; returns all records. nudge(),
    when given, is called every second meanwhile."""
    deadline = time.time() + timeout
    recs = []
    last = time.time()
    while time.time() < deadline:
        recs = all_records(d)
        if want <= {r["message"] for r in recs}:
            return recs
        if nudge and time.time() - last > 1:
            nudge()
            last = time.time()
        time.sleep(0.2)
    missing = want - {r["message"] for r in recs}
    raise Failure(f"{len(missing)} messages missing, e.g. {sorted(missing)[:3]}\n" +
                  d.read_log()[-2000:])


def check_duplicates_flagged(recs):
    """Every extra copy of a message is flagged possible_duplicate; the first is not."""
    by_msg = collections.defaultdict(list)
    for r in recs:
        by_msg[r["message"]].append(r)
    n_dups = 0
    for msg, rs in by_msg.items():
        rs.sort(key=lambda r: r["seq"])
        check("possible_duplicate" not in rs[0]["flags"], f"first copy flagged: {msg!r}")
        for r in rs[1:]:
            check("possible_duplicate" in r["flags"],
                  f"a resent copy of {msg!r} is not flagged: {r['flags']}")
            n_dups += 1
    return n_dups


def rsyslog_relp_conf(work, port):
    def conf(inport):
        return (f'global(workDirectory="{work}")\n'
                'module(load="imtcp")\nmodule(load="omrelp")\n'
                f'input(type="imtcp" address="127.0.0.1" port="{inport}")\n' + TEMPLATE +
                f'action(type="omrelp" target="127.0.0.1" port="{port}" template="gl"\n'
                # timeout: how long omrelp waits for acknowledgements before it gives the
                # session up (default 90 s) when gatelog died with its window full.
                '       timeout="3" action.resumeRetryCount="-1" action.resumeInterval="1"\n'
                '       queue.type="LinkedList" queue.size="20000")\n')
    return conf


def test_rsyslog_omrelp_forward():
    d = relp_daemon()
    work = tempfile.mkdtemp(prefix="gatelog-relp-")
    relay = None
    try:
        relay, inport = start_rsyslog(work, rsyslog_relp_conf(work, d.relp_port))
        lines = [f"relp event {i}: user=dave action=login outcome=failure" for i in range(80)]
        logger(inport, lines, "-T", "--octet-count", "--rfc5424=notq", "-t", "sshd")
        recs = wait_messages(d, set(lines))
        for r in recs:
            check(r["source"]["transport"] == "relp", f"transport {r['source']}")
            check(r["source"]["peer"] == "127.0.0.1", f"peer {r['source']}")
            check(r["app"] == "sshd", "app lost")
        check_duplicates_flagged(recs)
        stop(relay)
        relay = None
        d.seal()
        rc, out, err = d.verify_db()
        check(rc == 0, f"verify failed:\n{out}{err}")
    finally:
        stop(relay)
        shutil.rmtree(work, ignore_errors=True)
        d.cleanup()


def test_ack_means_committed():
    """A "200 OK" is only sent once the record is in the database: SIGKILL right after the
    acknowledgement, and the record must be there."""
    d = relp_daemon()
    try:
        for i in range(3):
            c = RelpClient(d.relp_port)
            msg = f"acknowledged then killed {i}"
            rsp = c.syslog(syslog_line(msg))
            check(rsp.startswith(b"200 OK"), f"response {rsp!r}")
            d.kill()
            check(msg in {r["message"] for r in all_records(d)},
                  f"{msg!r} was acknowledged but is not stored")
            c.s.close()
            d.start()
    finally:
        d.cleanup()


def test_duplicates_flagged_across_sessions_and_restart():
    d = relp_daemon()
    try:
        text = syslog_line("the same bytes twice")
        c = RelpClient(d.relp_port)
        check(c.syslog(text).startswith(b"200 OK"), "first send")
        c.close()
        c = RelpClient(d.relp_port)  # a new session (txnr restarts at 1)
        check(c.syslog(text).startswith(b"200 OK"), "resend")
        check(c.syslog(syslog_line("a different message")).startswith(b"200 OK"), "other")
        c.close()
        check(d.stop() == 0, "clean stop")
        d.start()  # the window is seeded from the store
        c = RelpClient(d.relp_port)
        check(c.syslog(text).startswith(b"200 OK"), "resend after restart")
        c.close()
        recs = all_records(d)
        same = [r for r in recs if r["message"] == "the same bytes twice"]
        check(len(same) == 3, f"a duplicate was dropped: {len(same)} copies stored")
        check(check_duplicates_flagged(recs) == 2, "both resends are flagged")
        check(all("possible_duplicate" not in r["flags"] for r in recs
                  if r["message"] == "a different message"), "a distinct message was flagged")
    finally:
        d.cleanup()


def test_sigkill_while_rsyslog_sends():
    """rsyslog sends N messages over RELP while gatelog is SIGKILLed and restarted: all N
    end up as records (at-least-once), every resent copy is flagged, none is missing."""
    d = relp_daemon()
    work = tempfile.mkdtemp(prefix="gatelog-relp-kill-")
    relay = None
    n = 400
    try:
        relay, inport = start_rsyslog(work, rsyslog_relp_conf(work, d.relp_port))
        lines = [f"fault test {i:04d}: user=erin action=read outcome=success" for i in range(n)]
        logger(inport, lines, "-T", "--octet-count", "--rfc5424=notq", "-t", "app")
        for kill_at in (n // 5, n // 2):
            deadline = time.time() + 60
            while len(all_records(d)) < kill_at and time.time() < deadline:
                time.sleep(0.02)
            check(len(all_records(d)) >= kill_at, "records did not arrive")
            d.kill()
            time.sleep(0.3)  # rsyslog notices the broken session
            d.start()
        # rsyslog 8.2302 retries a suspended omrelp action only when a new message reaches
        # its queue: keep one coming until everything arrived (they become records too).
        nudges = []

        def nudge():
            nudges.append(f"nudge {len(nudges)}")
            logger(inport, [nudges[-1]], "-T", "--octet-count", "--rfc5424=notq", "-t", "app")
        recs = wait_messages(d, set(lines), timeout=90, nudge=nudge)
        got = collections.Counter(r["message"] for r in recs)
        check(all(got[line] >= 1 for line in lines), "a message is missing")
        dups = check_duplicates_flagged(recs)
        print(f"     {len(recs)} records for {n} messages, {dups} flagged resends", flush=True)
        check(d.stop() == 0, "clean stop")
        rc, out, err = d.verify_db()
        check(rc == 0, f"verify failed after the kills:\n{out}{err}")
    finally:
        stop(relay)
        shutil.rmtree(work, ignore_errors=True)
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_rsyslog_omrelp_forward, test_ack_means_committed,
               test_duplicates_flagged_across_sessions_and_restart,
               test_sigkill_while_rsyslog_sends])
