"""The daemon's life: start, keys, configuration errors, epochs over time, restarts,
shutdown without loss, hostile input, and the CLI around it."""
import json
import os
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Failure, check, gatelog, logger, run_tests  # noqa: E402

COMMANDS = ["run", "normalize", "seal", "keygen", "epochs", "query", "verify"]


def epochs(d):
    rc, out, err = gatelog("epochs", "--db", d.db, "--format", "jsonl", check_rc=0)
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    return [r for r in rows if "epoch" in r]  # the last line is the export backlog


def test_help_lists_every_command():
    rc, out, _ = gatelog("help", check_rc=0)
    for c in COMMANDS:
        check(f"  {c}" in out, f"gatelog help does not list {c}")
        rc, out2, _ = gatelog(c, "--help", check_rc=0)
        check("usage: gatelog " + c in out2.lower(), f"{c} --help: {out2[:200]}")
    rc, _, _ = gatelog("no-such-command")
    check(rc == 2, "unknown command must exit 2")


def test_key_created_on_first_start():
    d = Daemon()
    try:
        d.start()
        mode = stat.S_IMODE(os.stat(d.key).st_mode)
        check(mode == 0o600, f"key mode {oct(mode)}")
        check(os.path.exists(d.pub), "public key missing")
        with open(d.pub) as f:
            check("BEGIN PUBLIC KEY" in f.read(), "public key is not PEM")
        log = d.read_log()
        check("signing key" in log and "key_id=" in log, "no notice with the fingerprint")
        # The secret never reaches the database.
        with open(d.key, "rb") as f:
            secret = f.read()
        d.stop()
        with open(d.db, "rb") as f:
            db = f.read()
        body = b"".join(l for l in secret.splitlines() if not l.startswith(b"-----"))
        check(body not in db, "the secret key is in the database")
    finally:
        d.cleanup()


def test_key_readable_by_others_refused():
    d = Daemon()
    try:
        d.start()
        d.stop()
        os.chmod(d.key, 0o644)
        rc, out, err = gatelog("run", "-c", d.config, timeout=20)
        check(rc != 0, "daemon started with a world-readable key")
        check("key" in err and ("mode" in err or "permission" in err.lower()),
              f"no clear reason: {err}")
    finally:
        d.cleanup()


def test_replaced_key_refused_on_a_sealed_chain():
    """A chain signed by one key is not silently continued with another."""
    d = Daemon()
    try:
        d.start()
        d.seal()
        d.stop()
        gatelog("keygen", "--out", d.key, "--force", check_rc=0)
        rc, out, err = gatelog("run", "-c", d.config, timeout=20)
        check(rc != 0, "the daemon signed on with a replaced key")
        check("keygen --rotate" in err, f"no clear reason: {err[-600:]}")
    finally:
        d.cleanup()


def test_bad_config_names_file_line_column():
    d = Daemon()
    try:
        bad = os.path.join(d.dir, "bad.yaml")
        with open(bad, "w") as f:
            f.write("chain: x\nsyslog:\n  listen:\n    - udp: 127.0.0.1:0\n  colour: blue\n")
        rc, out, err = gatelog("run", "-c", bad, timeout=20)
        check(rc == 2, f"exit {rc}")
        check(f"{bad}:5:3" in err and "colour" in err, f"error does not name 5:3: {err}")
        with open(bad, "w") as f:
            f.write("seal:\n  epoch: 3 fortnights\n")
        rc, out, err = gatelog("run", "-c", bad, timeout=20)
        check(rc == 2 and f"{bad}:2:10" in err, f"bad duration: {rc} {err}")
    finally:
        d.cleanup()


def test_empty_epochs_are_sealed():
    d = Daemon(epoch="1s")
    try:
        d.start()
        time.sleep(3.5)
        check(d.stop() == 0, "exit status")
        es = epochs(d)
        sealed = [e for e in es if e["state"] == "sealed"]
        check(len(sealed) >= 2, f"{len(sealed)} sealed epochs after 3.5 s of 1 s epochs")
        check(all(e["count"] == 0 for e in sealed), "empty epochs should have count 0")
        check([e["epoch"] for e in es] == list(range(len(es))), "epoch numbers have gaps")
        rc, out, _ = d.verify_db()
        check(rc == 0, out)
        rc, out, _ = d.verify_export()
        check(rc == 0, out)
    finally:
        d.cleanup()


def test_restart_continues_chain_and_seals_missed_interval():
    d = Daemon(epoch="2s")
    try:
        d.start()
        logger(d.ports["tcp"], [f"before {i}" for i in range(10)], "-T", "--rfc5424=notq")
        d.wait_records(10)
        check(d.stop() == 0, "exit status")
        time.sleep(2.5)  # the open epoch's interval ends while the daemon is down
        d.start()
        es = epochs(d)
        check(any(e["state"] == "sealed" and e["count"] == 10 for e in es),
              f"the interval that ended while down was not sealed on start: {es}")
        logger(d.ports["tcp"], [f"after {i}" for i in range(10)], "-T", "--rfc5424=notq")
        recs = d.wait_records(20)
        d.seal()
        recs = d.query()
        check(sorted(r["seq"] for r in recs) == list(range(20)), "seq not gapless across restart")
        rc, out, _ = d.verify_db()
        check(rc == 0, out)
        rc, out, _ = d.verify_export()
        check(rc == 0, out)
    finally:
        d.cleanup()


def test_sigterm_keeps_what_was_received():
    d = Daemon()
    try:
        d.start()
        n = 3000
        s = socket.create_connection(("127.0.0.1", d.ports["tcp"]))
        payload = b"".join(f"<13>1 - h app - - - burst {i}\n".encode() for i in range(n))
        s.sendall(payload)
        s.close()
        rc = d.stop()
        check(rc == 0, f"exit status {rc}")
        rc, out, _ = gatelog("query", "--db", d.db, "--include-open", check_rc=0)
        got = [json.loads(l)["message"] for l in out.splitlines()]
        check(len(got) == n, f"{len(got)} of {n} stored after SIGTERM")
        check(got == [f"burst {i}" for i in range(n)], "order or content differs")
    finally:
        d.cleanup()


def test_hostile_input_becomes_flagged_records():
    d = Daemon()
    try:
        d.start()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        bad = [b"\xff\xfe\x00 not utf8", b"<999>1 bad pri", b"no header at all",
               b"<13>1 2026-13-45T99:99:99Z h a - - - bad time", b"<13>1 - h a - - [x" * 3]
        for b in bad:
            u.sendto(b, ("127.0.0.1", d.ports["udp"]))
        recs = d.wait_records(len(bad))
        by_hash = {r["raw_sha256"]: r for r in recs}
        import hashlib
        for b in bad:
            h = hashlib.sha256(b).hexdigest()
            check(h in by_hash, f"{b!r} was not kept as a record")
            check(by_hash[h]["flags"] != [], f"{b!r} is not flagged: {by_hash[h]}")
        inv = by_hash[hashlib.sha256(bad[0]).hexdigest()]
        check("invalid_utf8" in inv["flags"] and inv["raw_b64"], f"invalid utf8: {inv}")
        # Still alive and well after garbage.
        logger(d.ports["tcp"], ["still alive"], "-T", "--rfc5424=notq")
        d.wait_records(len(bad) + 1)
        d.seal()
        rc, out, _ = d.verify_db()
        check(rc == 0, out)
    finally:
        d.cleanup()


def test_oversized_message_truncated_and_flagged():
    d = Daemon(extra="")
    try:
        d.start()
        big = "x" * (70 * 1024)
        s = socket.create_connection(("127.0.0.1", d.ports["tcp"]))
        s.sendall(f"<13>1 - h app - - - {big}\n<13>1 - h app - - - after\n".encode())
        s.close()
        recs = d.wait_records(2)
        t = [r for r in recs if "truncated" in r["flags"]]
        check(len(t) == 1, f"one truncated record expected: {[r['flags'] for r in recs]}")
        check(len(t[0]["message"]) < 64 * 1024, "message not truncated")
        check(any(r["message"] == "after" for r in recs), "the next message was lost")
    finally:
        d.cleanup()


def test_seal_without_daemon_and_epochs_listing():
    d = Daemon()
    d.clear_of_boundary(60)  # epoch 0 holds the two records: none sealed by the clock first
    try:
        d.start()
        logger(d.ports["udp"], ["one", "two"], "-d", "--rfc5424=notq")
        d.wait_records(2)
        d.stop()
        rc, out, err = gatelog("seal", "--now", "-c", d.config, check_rc=0)
        es = epochs(d)
        check(es[0]["state"] == "sealed" and es[0]["count"] == 2, f"{es}")
        check(es[-1]["state"] == "open", "a new open epoch follows")
        check(os.path.exists(os.path.join(d.exports, "chain=test-chain", "epoch=0000000000",
                                          "manifest.json")), "not exported")
        rc, out, _ = gatelog("epochs", "--db", d.db, check_rc=0)
        check("sealed" in out and "open" in out, out)
    finally:
        d.cleanup()


def test_udp_overload_drops_are_counted_exactly():
    """An 8-event queue and a UDP flood: every datagram sent is either a record or a counted drop
    in the sealed manifest's stats (sent = kept + dropped)."""
    d = Daemon(unix=False, extra="queue:\n  max_events: 8\n")
    try:
        d.start()
        n = 20000
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        for i in range(n):
            u.sendto(f"<13>1 - h flood - - - datagram {i}".encode(), ("127.0.0.1", d.ports["udp"]))
        time.sleep(1.0)  # let the daemon read what the kernel kept
        check(d.stop() == 0, "exit status")
        gatelog("seal", "--now", "-c", d.config, check_rc=0)
        es = epochs(d)
        sealed = [e for e in es if e["state"] == "sealed"]
        kept = sum(e["stats"]["kept"] for e in sealed)
        dropped = sum(sum(e["stats"]["dropped"].values()) for e in sealed)
        received = sum(e["stats"]["received"] for e in sealed)
        recs = d.query()
        check(len(recs) == kept, f"{len(recs)} records but stats say kept={kept}")
        check(kept + dropped == n, f"sent {n} != kept {kept} + dropped {dropped}")
        check(received == n, f"stats received={received}, sent {n}")
        check(dropped > 0, "an 8-event queue under a 20000-datagram flood dropped nothing: "
              "the test did not overload anything")
        rc, out, _ = d.verify_db()
        check(rc == 0, out)
    finally:
        d.cleanup()


def test_normalize_command():
    line = b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 ' \
           b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ' \
           b'\xef\xbb\xbfAn application event log entry...\n' \
           b'<34>Oct 11 22:14:15 mymachine su: \'su root\' failed for lonvick on /dev/pts/8\n'
    rc, out, err = gatelog("normalize", "--received", "2003-10-12T00:00:00Z", stdin=line,
                           check_rc=0)
    recs = [json.loads(l) for l in out.splitlines()]
    check(len(recs) == 2, f"{len(recs)} records")
    a, b = recs
    check(a["time"] == "2003-10-11T22:14:15.003000Z", a["time"])
    check(a["facility"] == "local4" and a["severity"] == "notice", f"{a['facility']} {a['severity']}")
    check(a["sd"]["exampleSDID@32473"]["eventID"] == "1011", f"{a['sd']}")
    check(a["message"] == "An application event log entry...", a["message"])
    check(b["time"] == "2003-10-11T22:14:15.000000Z", b["time"])
    check(b["app"] == "su" and b["host"] == "mymachine", f"{b['app']} {b['host']}")
    check(b["facility"] == "auth" and b["severity"] == "crit", f"{b['facility']} {b['severity']}")
    # Canonical JSON: re-serialising with sorted keys and no spaces gives the same bytes.
    for l in out.splitlines():
        check(json.dumps(json.loads(l), sort_keys=True, separators=(",", ":"),
                         ensure_ascii=False) == l, "not canonical: " + l)


if __name__ == "__main__":
    run_tests([test_help_lists_every_command, test_key_created_on_first_start,
               test_key_readable_by_others_refused, test_replaced_key_refused_on_a_sealed_chain,
               test_bad_config_names_file_line_column,
               test_empty_epochs_are_sealed, test_restart_continues_chain_and_seals_missed_interval,
               test_sigterm_keeps_what_was_received, test_hostile_input_becomes_flagged_records,
               test_oversized_message_truncated_and_flagged,
               test_seal_without_daemon_and_epochs_listing,
               test_udp_overload_drops_are_counted_exactly, test_normalize_command])
