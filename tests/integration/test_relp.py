"""RELP (librelp) against real peers: rsyslog's omrelp forwarding, acknowledgements that
mean "committed", at-least-once across SIGKILL, and duplicates flagged, never dropped.
RELP over TLS with rsyslog's omrelp and client certificates; refused clients leave no
record; certificates reload on SIGHUP while rsyslog's session goes on; the limits (flood,
slow loris, per-peer, idle, handshake, oversize frames) disconnect, count and log while an
rsyslog sender keeps delivering.
"""
import atexit
import collections
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tls"))
from certs import fingerprint_sha256, make_pki  # noqa: E402
from peers import (ListenDaemon, Relay, RelpClient, free_port, syslog_line,  # noqa: E402
                   wait_closed)
from harness import (Failure, check, gatelog, run_tests,  # noqa: E402
                     wait_metrics)

PKI_DIR = tempfile.mkdtemp(prefix="gatelog-relp-pki-")
if not os.environ.get("KEEP_TMP"):  # as the harness's Daemon: kept only when asked
    atexit.register(shutil.rmtree, PKI_DIR, True)
PKI = make_pki(PKI_DIR)


def relp_daemon(extra="", max_message="64KiB"):
    """A daemon with a RELP listener on a free port (librelp cannot report port 0); extra
    holds more keys of the same list item."""
    for _ in range(5):
        port = free_port()
        d = ListenDaemon(f"    - relp: 127.0.0.1:{port}\n{extra}", max_message=max_message)
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


def tls_relp(paths=None, extra=""):
    """The TLS keys of a RELP listener: client certificates from the test CA, relay1 only."""
    cert, key = paths or PKI["server"]
    return ("      tls: true\n"
            f"      cert: {cert}\n"
            f"      key: {key}\n"
            f"      ca: {PKI['ca'][0]}\n"
            "      allowed_names: [relay1.test]\n" + extra)


def relp_relay(port, client=None, work=None):
    """rsyslogd relaying imtcp to gatelog with omrelp; over TLS with the client certificate
    `client` of PKI when given (librelp's OpenSSL driver, gatelog's name checked)."""
    tls = ""
    if client:
        tls = ('       tls="on" tls.authmode="name"\n'
               '       tls.permittedpeer=["localhost"]\n'
               f'       tls.cacert="{PKI["ca"][0]}"\n'
               f'       tls.mycert="{PKI[client][0]}" tls.myprivkey="{PKI[client][1]}"\n')
    return Relay(
        modules=('module(load="omrelp" tls.tlslib="openssl")\n' if client
                 else 'module(load="omrelp")\n'),
        action=(f'action(type="omrelp" target="127.0.0.1" port="{port}" template="gl"\n' + tls +
                # timeout: how long omrelp waits for acknowledgements before it gives the
                # session up (default 90 s) when gatelog died with its window full.
                '       timeout="3" action.resumeRetryCount="-1" action.resumeInterval="1"\n'
                '       queue.type="LinkedList" queue.size="20000")\n'),
        work=work, prefix="gatelog-relp-")


def test_rsyslog_omrelp_forward():
    d = relp_daemon()
    relay = relp_relay(d.relp_port)
    try:
        relay.start()
        lines = [f"relp event {i}: user=dave action=login outcome=failure" for i in range(80)]
        relay.send(lines, "sshd")
        recs = wait_messages(d, set(lines))
        for r in recs:
            check(r["source"]["transport"] == "relp", f"transport {r['source']}")
            check(r["source"]["peer"] == "127.0.0.1", f"peer {r['source']}")
            check(r["app"] == "sshd", "app lost")
        check_duplicates_flagged(recs)
        relay.stop()
        d.seal()
        rc, out, err = d.verify_db()
        check(rc == 0, f"verify failed:\n{out}{err}")
    finally:
        relay.close()
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
    relay = relp_relay(d.relp_port)
    n = 400
    try:
        relay.start()
        lines = [f"fault test {i:04d}: user=erin action=read outcome=success" for i in range(n)]
        relay.send(lines)
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
        recs = wait_messages(d, set(lines), timeout=90, nudge=relay.nudger())
        got = collections.Counter(r["message"] for r in recs)
        check(all(got[line] >= 1 for line in lines), "a message is missing")
        dups = check_duplicates_flagged(recs)
        print(f"     {len(recs)} records for {n} messages, {dups} flagged resends", flush=True)
        check(d.stop() == 0, "clean stop")
        rc, out, err = d.verify_db()
        check(rc == 0, f"verify failed after the kills:\n{out}{err}")
    finally:
        relay.close()
        d.cleanup()


def dropped_in_epochs(d):
    """stats.dropped summed over every sealed epoch: what the manifests say."""
    rc, out, _ = gatelog("epochs", "--db", d.db, "--format", "jsonl", check_rc=0)
    total = collections.Counter()
    for line in out.splitlines():
        if line.strip():
            total.update(json.loads(line).get("stats", {}).get("dropped", {}))
    return total


def dropped_metric(m, reason):
    return sum(v for k, v in m.items()
               if k.startswith("gatelog_events_dropped_total") and f'"{reason}"' in k)


def client_ports(port):
    """Local ports of the established TCP connections to 127.0.0.1:port (/proc/net/tcp)."""
    out = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            local, remote, state = cols[1], cols[2], cols[3]
            if state == "01" and int(remote.split(":")[1], 16) == port:
                out.add(int(local.split(":")[1], 16))
    return out


def server_fp(port):
    """SHA-256 of the certificate a new TLS session to port is shown (relay1 presenting)."""
    c = RelpClient(port, PKI, "relay1")
    fp = hashlib.sha256(c.s.getpeercert(binary_form=True)).hexdigest()
    c.close()
    return fp


def test_rsyslog_omrelp_over_tls():
    """rsyslog's omrelp over TLS with a client certificate: every message arrives, and the
    records say the session was authenticated under the allow-list."""
    d = relp_daemon(tls_relp())
    relay = relp_relay(d.relp_port, "relay1")
    try:
        relay.start()
        lines = [f"relp tls event {i}: user=frank action=login outcome=success"
                 for i in range(60)]
        relay.send(lines, "sshd")
        recs = wait_messages(d, set(lines))
        for r in recs:
            src = r["source"]
            check(src["transport"] == "relp", f"transport {src}")
            check(src.get("tls") == {"library": "librelp", "verified": True, "auth": "name",
                                     "allowed_names": ["relay1.test"]},
                  f"source.tls does not say how the sender was checked: {src.get('tls')}")
        check_duplicates_flagged(recs)
        relay.stop()
        d.seal()
        rc, out, err = d.verify_db()
        check(rc == 0, f"verify failed:\n{out}{err}")
    finally:
        relay.close()
        d.cleanup()


def test_tls_refused_clients_leave_no_record():
    """No certificate, an untrusted one, a name not allowed (also from rsyslog itself), and a
    client that never starts the handshake: refused, logged, counted; nothing becomes a
    record; an allowed sender works meanwhile."""
    d = relp_daemon(tls_relp(extra="      handshake_timeout: 1s\n"))
    relay = relp_relay(d.relp_port, "intruder")
    try:
        for what, cert in {"no certificate": None, "untrusted CA": "rogue",
                           "name not allowed": "intruder"}.items():
            try:
                c = RelpClient(d.relp_port, PKI, cert)
                rsp = c.syslog(syslog_line(f"forbidden message ({what})"))
                raise Failure(f"{what}: the server acknowledged {rsp!r}")
            except (OSError, ConnectionError, ssl.SSLError):
                pass  # refused during or right after the handshake: what we want
        relay.start()
        relay.send(["forbidden message (rsyslog as intruder)"])
        silent = socket.create_connection(("127.0.0.1", d.relp_port), timeout=10)
        check(wait_closed(silent), "a client that never starts TLS kept its session")
        good = RelpClient(d.relp_port, PKI, "relay1")
        check(good.syslog(syslog_line("allowed marker")).startswith(b"200 OK"), "allowed")
        good.close()
        deadline = time.time() + 20
        while d.read_log().count("client=\"DNSname: intruder.test") < 2 and \
                time.time() < deadline:
            time.sleep(0.2)  # rsyslog retries every second: each try is refused
        relay.stop()
        check(d.stop() == 0, "clean stop")
        recs = all_records(d)
        check([r["message"] for r in recs] == ["allowed marker"],
              f"records other than the allowed one: {[r['message'] for r in recs]}")
        log = d.read_log()
        check(log.count("reason=tls_refused") >= 4, "each refusal is logged:\n" + log[-3000:])
        check("intruder.test" in log, "the refused name is in the log")
        check("reason=handshake_timeout" in log, "the silent client's timeout is logged")
        d.seal()
        dropped = dropped_in_epochs(d)
        check(dropped["tls_refused"] >= 4, f"refusals not counted in the manifest: {dropped}")
        check(dropped["tls_handshake_timeout"] >= 1, f"timeout not counted: {dropped}")
    finally:
        relay.close()
        d.cleanup()


def test_limits_flood_slow_loris_oversize():
    """A flood of connections and slow-loris clients do not stop an rsyslog sender; the
    limits close them and count them (metrics and manifest); an oversize frame is stored cut
    and flagged and its session goes on."""
    d = relp_daemon("      idle_timeout: 2s\n      max_per_peer: 3\n", max_message="1KiB")
    relay = relp_relay(d.relp_port)
    socks = []
    try:
        relay.start()
        # A flood from 127.0.0.2: 20 connections that never say anything.
        for _ in range(20):
            try:
                socks.append(socket.create_connection(("127.0.0.1", d.relp_port), timeout=5,
                                                      source_address=("127.0.0.2", 0)))
            except OSError:
                pass
        # Slow loris from 127.0.0.3: half a RELP frame, then nothing.
        loris = [socket.create_connection(("127.0.0.1", d.relp_port), timeout=5,
                                          source_address=("127.0.0.3", 0)) for _ in range(3)]
        for s in loris:
            s.sendall(b"1 open 8")
        lines = [f"during the flood {i}: user=gina action=read outcome=success"
                 for i in range(50)]
        relay.send(lines)
        wait_messages(d, set(lines))
        for s in socks + loris:
            check(wait_closed(s), "a flood or slow-loris connection was never closed")
        # Drops reach the metrics with the writer's next commit: one more message brings it.
        # rsyslog's own session went quiet for idle_timeout too and was closed: it reconnects
        # when a message comes after its retry interval (PEERS.md), hence the nudges.
        relay.send(["after the flood"])
        wait_messages(d, {"after the flood"}, nudge=relay.nudger())
        wait_metrics(d, "17 refused and 6 idle sessions",
                     lambda m: dropped_metric(m, "conn_limit") >= 17 and
                     dropped_metric(m, "idle_timeout") >= 6, show=("dropped",))
        # A frame over max_message (1 KiB) from another sender: stored cut and flagged, and
        # its session carries on.
        c = RelpClient(d.relp_port, src="127.0.0.4")
        check(c.syslog(syslog_line("big " + "x" * 3000)).startswith(b"200 OK"), "big frame")
        check(c.syslog(syslog_line("after the big one")).startswith(b"200 OK"), "next")
        c.close()
        recs = wait_messages(d, {"after the big one"})
        trunc = [r for r in recs if "truncated" in r["flags"]]
        check(len(trunc) == 1 and trunc[0]["message"].startswith("big xxx") and
              len(trunc[0]["message"]) < 1024,
              f"the oversize frame is not one truncated record: {[r['flags'] for r in recs]}")
        log = d.read_log()
        for what in ("reason=per_peer_limit", "reason=idle_timeout", "relp frame truncated"):
            check(what in log, f"{what} not in the log")
        relay.stop()
        check(d.stop() == 0, "clean stop")
        d.seal()
        dropped = dropped_in_epochs(d)
        check(dropped["conn_limit"] >= 17, f"per-peer refusals not in the manifest: {dropped}")
        check(dropped["idle_timeout"] >= 6, f"idle closes not in the manifest: {dropped}")
        check(dropped["frame_too_large"] == 1, f"oversize frame not counted: {dropped}")
        rc, out, err = d.verify_db()
        check(rc == 0, f"verify failed:\n{out}{err}")
    finally:
        for s in socks:
            s.close()
        relay.close()
        d.cleanup()


def test_sighup_reload_keeps_rsyslog_session():
    """SIGHUP swaps the certificate for new sessions; rsyslog's established TLS session is
    not dropped and keeps delivering; a broken file is refused and the old one stays."""
    work = tempfile.mkdtemp(prefix="gatelog-relp-reload-")
    d = relay = None
    try:  # the folder goes whatever fails, the daemon's start included
        cert, key = os.path.join(work, "server.pem"), os.path.join(work, "server.key")
        shutil.copy(PKI["server"][0], cert)
        shutil.copy(PKI["server"][1], key)
        d = relp_daemon(tls_relp(paths=(cert, key)))
        relay = relp_relay(d.relp_port, "relay1", work=work)
        relay.start()
        first = [f"before the reload {i}" for i in range(20)]
        relay.send(first)
        wait_messages(d, set(first))
        session = client_ports(d.relp_port)
        check(len(session) == 1, f"rsyslog should hold one session: {session}")
        check(server_fp(d.relp_port) == fingerprint_sha256(PKI["server"][0]), "first cert")
        shutil.copy(PKI["server2"][0], cert)
        shutil.copy(PKI["server2"][1], key)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while 'msg="reloaded"' not in d.read_log() and time.time() < deadline:
            time.sleep(0.05)
        check('msg="reloaded"' in d.read_log(), "no reload in the log")
        check(server_fp(d.relp_port) == fingerprint_sha256(PKI["server2"][0]),
              "a session opened after the reload did not get the new certificate")
        second = [f"after the reload {i}" for i in range(20)]
        relay.send(second)
        wait_messages(d, set(second))
        check(client_ports(d.relp_port) == session,
              "rsyslog's established session did not survive the reload")
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "reload failed" not in d.read_log() and time.time() < deadline:
            time.sleep(0.05)
        check("reload failed" in d.read_log(), "a broken certificate was not reported")
        check(server_fp(d.relp_port) == fingerprint_sha256(PKI["server2"][0]),
              "a failed reload changed the certificate")
        relay.send(["after a failed reload"])
        wait_messages(d, {"after a failed reload"})
        check(client_ports(d.relp_port) == session, "the failed reload dropped rsyslog")
    finally:
        if relay:
            relay.close()
        if d:
            d.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def test_global_session_limit():
    """syslog.max_connections bounds RELP sessions of all addresses together: the one over
    it is closed before it can deliver, counted and logged; the others keep working."""
    d = relp_daemon()
    clients = []
    try:
        with open(d.config) as f:
            text = f.read()
        d.stop()
        with open(d.config, "w") as f:
            f.write(text.replace("  max_message: 64KiB\n",
                                 "  max_message: 64KiB\n  max_connections: 3\n", 1))
        d.start()
        for i in range(3):
            clients.append(RelpClient(d.relp_port, src=f"127.0.1.{i + 1}"))
        try:
            extra = RelpClient(d.relp_port, src="127.0.1.9")
            rsp = extra.syslog(syslog_line("over the limit"))
            raise Failure(f"a fourth session was served: {rsp!r}")
        except (OSError, ConnectionError):
            pass
        for i, c in enumerate(clients):
            check(c.syslog(syslog_line(f"within the limit {i}")).startswith(b"200 OK"),
                  "a session within the limit stopped working")
        check("reason=conn_limit" in d.read_log(), "the refused session is not logged")
        for c in clients:
            c.close()
        check(d.stop() == 0, "clean stop")
        d.seal()
        check(dropped_in_epochs(d)["conn_limit"] == 1, "the refused session is not counted")
        check("over the limit" not in {r["message"] for r in all_records(d)},
              "the session over the limit delivered")
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_rsyslog_omrelp_forward, test_ack_means_committed,
               test_duplicates_flagged_across_sessions_and_restart,
               test_sigkill_while_rsyslog_sends, test_rsyslog_omrelp_over_tls,
               test_tls_refused_clients_leave_no_record, test_limits_flood_slow_loris_oversize,
               test_sighup_reload_keeps_rsyslog_session, test_global_session_limit])
