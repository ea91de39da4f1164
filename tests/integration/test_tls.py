"""Syslog over TLS (RFC 5425) with client certificates, against real peers.

rsyslogd forwards over TLS with a client certificate (its OpenSSL stream driver); the records
name the verified sender. Clients without a certificate, with an untrusted one, or with a
name not on the allow-list are refused and nothing they sent becomes a record. Certificates
reload on SIGHUP without dropping established connections. Slow-loris clients and a flood
of connections do not stop other senders; the limits disconnect, count and log.
"""
import glob
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tls"))
from certs import fingerprint_sha256, make_pki  # noqa: E402
from peers import (ListenDaemon, Relay, frame, syslog_line, tls_client,  # noqa: E402
                   wait_closed)
from harness import check, gatelog, run_tests  # noqa: E402

PKI_DIR = tempfile.mkdtemp(prefix="gatelog-pki-")
PKI = make_pki(PKI_DIR)


def tls_listener(extra="", paths=None):
    cert, key = paths or PKI["server"]
    return (f"    - tls: 127.0.0.1:0\n"
            f"      cert: {cert}\n"
            f"      key: {key}\n"
            f"      ca: {PKI['ca'][0]}\n"
            f"      verify_client: true\n"
            f"      allowed_names: [relay1.test]\n{extra}")


def messages(d):
    return [r["message"] for r in d.query("--include-open")]


def test_rsyslog_over_tls_with_client_cert():
    d = ListenDaemon(tls_listener())
    relay = None
    try:
        d.start()
        port = d.ports["tls"]
        cert, key = PKI["relay1"]
        # The imtcp input stays plain (ptcp): only the forwarding side speaks TLS.
        relay = Relay(
            global_opts=(' DefaultNetstreamDriver="ossl"\n'
                         f'       DefaultNetstreamDriverCAFile="{PKI["ca"][0]}"\n'
                         f'       DefaultNetstreamDriverCertFile="{cert}"\n'
                         f'       DefaultNetstreamDriverKeyFile="{key}"'),
            imtcp=' StreamDriver.Name="ptcp" StreamDriver.Mode="0"',
            action=(f'action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp"\n'
                    '       tcp_framing="octet-counted" template="gl" StreamDriver="ossl"\n'
                    '       StreamDriverMode="1" StreamDriverAuthMode="x509/name"\n'
                    '       StreamDriverPermittedPeers="localhost")\n'),
            prefix="gatelog-rsyslog-tls-")
        relay.start()
        lines = [f"tls relayed event {i}: user=carol action=sudo outcome=success"
                 for i in range(60)]
        relay.send(lines, "sudo")
        d.wait_records(len(lines))
        relay.stop()
        d.seal()
        recs = d.query()
        got = {r["message"] for r in recs}
        for line in lines:
            check(line in got, f"{line!r} missing after the TLS relay")
        fp = fingerprint_sha256(cert)
        for r in recs:
            src = r["source"]
            check(src["transport"] == "tls", f"transport {src['transport']}")
            tls = src.get("tls") or {}
            check(tls.get("verified") is True, f"not marked verified: {tls}")
            client = tls.get("client") or {}
            check(client.get("subject") == "CN=relay1.test", f"subject: {client}")
            check(client.get("san") == ["DNS:relay1.test"], f"san: {client}")
            check(client.get("fingerprint_sha256") == fp,
                  f"fingerprint {client.get('fingerprint_sha256')} != openssl's {fp}")
            check(tls.get("version") in ("TLSv1.2", "TLSv1.3"), f"version: {tls}")
        rc, out, err = d.verify_db()
        check(rc == 0, f"verify failed:\n{out}{err}")
    finally:
        if relay:
            relay.close()
        d.cleanup()


def test_refused_clients_leave_no_record():
    d = ListenDaemon(tls_listener())
    try:
        d.start()
        port = d.ports["tls"]
        refused = {"no certificate": None, "untrusted CA": "rogue",
                   "name not allowed": "intruder"}
        for what, cert in refused.items():
            try:
                c = tls_client(port, PKI, cert)
                # TLS 1.3: the client may finish first; the server refuses on its side.
                c.sendall(frame(syslog_line(f"forbidden message ({what})")))
                check(wait_closed(c), f"{what}: the server kept the connection open")
                c.close()
            except OSError:
                pass  # refused during the handshake: what we want
        good = tls_client(port, PKI, "relay1")
        good.sendall(frame(syslog_line("allowed marker")))
        recs = d.wait_records(1)
        good.close()
        d.stop()
        recs = d.query("--include-open")
        check([r["message"] for r in recs] == ["allowed marker"],
              f"records other than the allowed one: {[r['message'] for r in recs]}")
        log = d.read_log()
        check(log.count("reason=handshake_failed") + log.count("reason=client_refused") >= 3,
              "each refused client is logged:\n" + log[-3000:])
        check("intruder.test" in log, "the refused name is in the log")
        gatelog("seal", "--now", "-c", d.config, check_rc=0)
        rc, out, _ = gatelog("epochs", "--db", d.db, "--format", "jsonl", check_rc=0)
        refused_n = sum(json.loads(l).get("stats", {}).get("dropped", {}).get("tls_refused", 0)
                        for l in out.splitlines() if l.strip())
        check(refused_n >= 3, f"refused clients not counted as tls_refused: {refused_n}")
    finally:
        d.cleanup()


def test_limits_slow_loris_and_flood():
    d = ListenDaemon(tls_listener("      handshake_timeout: 1s\n"
                                  "      idle_timeout: 2s\n"
                                  "      max_per_peer: 3\n"), max_message="1KiB")
    socks = []
    try:
        d.start()
        port = d.ports["tls"]
        import socket
        # A flood from 127.0.0.2: plain TCP that never starts a handshake.
        for _ in range(20):
            try:
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=5,
                                                      source_address=("127.0.0.2", 0)))
            except OSError:
                pass
        # Slow loris from 127.0.0.3: a TLS record header, then a byte now and then.
        loris = [socket.create_connection(("127.0.0.1", port), timeout=5,
                                          source_address=("127.0.0.3", 0)) for _ in range(3)]
        for s in loris:
            s.sendall(b"\x16\x03\x01")
        # Another sender works meanwhile.
        good = tls_client(port, PKI, "relay1")
        for i in range(20):
            good.sendall(frame(syslog_line(f"during the flood {i}")))
            for s in loris:
                try:
                    s.sendall(b"\x00")
                except OSError:
                    pass
        d.wait_records(20)
        # Everything the attackers hold is closed by the limits, with no timing assumed.
        for s in socks + loris:
            check(wait_closed(s), "a flood or slow-loris connection was never closed")
        # A frame over max_message: stored truncated and flagged, then disconnected.
        big = syslog_line("big " + "x" * 3000)
        good.sendall(frame(big) + frame(syslog_line("after the big one")))
        check(wait_closed(good), "the oversize sender was not disconnected")
        recs = d.wait_records(21)
        trunc = [r for r in recs if "truncated" in r["flags"]]
        check(len(trunc) == 1 and trunc[0]["message"].startswith("big xxx"),
              f"the oversize frame is not one truncated record: {[r['flags'] for r in recs]}")
        # An idle connection is closed after idle_timeout.
        idle = tls_client(port, PKI, "relay1")
        idle.sendall(frame(syslog_line("then silence")))
        check(wait_closed(idle), "an idle connection was never closed")
        d.wait_records(22)
        d.seal()
        log = d.read_log()
        for reason in ("handshake_timeout", "idle_timeout", "frame_too_large"):
            check(f"reason={reason}" in log, f"no {reason} in the log")
        manifests = glob.glob(os.path.join(d.exports, "*", "*", "manifest.json"))
        check(manifests, "no exported manifest")
        dropped = {}
        for m in manifests:
            with open(m) as f:
                for k, v in json.load(f)["stats"].get("dropped", {}).items():
                    dropped[k] = dropped.get(k, 0) + v
        check(dropped.get("conn_limit", 0) >= 17,
              f"refused connections not counted in the manifest: {dropped}")
        # Each way a connection was closed is counted under its own reason.
        for reason in ("tls_handshake_timeout", "idle_timeout", "frame_too_large"):
            check(dropped.get(reason, 0) >= 1, f"{reason} not counted in the manifest: {dropped}")
        check("after the big one" not in messages(d), "read past the oversize frame")
    finally:
        for s in socks:
            s.close()
        d.cleanup()


def test_sighup_reloads_certificates_keeping_connections():
    work = tempfile.mkdtemp(prefix="gatelog-reload-")
    cert, key = os.path.join(work, "server.pem"), os.path.join(work, "server.key")
    shutil.copy(PKI["server"][0], cert)
    shutil.copy(PKI["server"][1], key)
    pki = dict(PKI, live=(cert, key))
    d = ListenDaemon(tls_listener(paths=(cert, key)))
    try:
        d.start()
        port = d.ports["tls"]

        def server_fp(c):
            return hashlib.sha256(c.getpeercert(binary_form=True)).hexdigest()

        old = tls_client(port, pki, "relay1")
        old.sendall(frame(syslog_line("before the reload")))
        d.wait_records(1)
        check(server_fp(old) == fingerprint_sha256(PKI["server"][0]), "first certificate")
        shutil.copy(PKI["server2"][0], cert)
        shutil.copy(PKI["server2"][1], key)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while 'msg="reloaded"' not in d.read_log() and time.time() < deadline:
            time.sleep(0.05)
        check('msg="reloaded"' in d.read_log(), "no reload in the log")
        new = tls_client(port, pki, "relay1")
        check(server_fp(new) == fingerprint_sha256(PKI["server2"][0]),
              "a new connection did not get the new certificate")
        old.sendall(frame(syslog_line("old connection after the reload")))
        new.sendall(frame(syslog_line("new connection after the reload")))
        d.wait_records(3)
        # A broken file is refused and the working certificate stays.
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "reload failed" not in d.read_log() and time.time() < deadline:
            time.sleep(0.05)
        check("reload failed" in d.read_log(), "a broken certificate was not reported")
        third = tls_client(port, pki, "relay1")
        check(server_fp(third) == fingerprint_sha256(PKI["server2"][0]), "kept certificate")
        third.sendall(frame(syslog_line("after a failed reload")))
        d.wait_records(4)
        got = set(messages(d))
        for m in ("before the reload", "old connection after the reload",
                  "new connection after the reload", "after a failed reload"):
            check(m in got, f"{m!r} missing")
        for c in (old, new, third):
            c.close()
    finally:
        d.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def test_config_errors_name_the_place():
    work = tempfile.mkdtemp(prefix="gatelog-tlscfg-")
    try:
        cases = [
            ("    - tls: 127.0.0.1:0\n      key: k\n", "missing key 'cert'"),
            (f"    - tls: 127.0.0.1:0\n      cert: {PKI['server'][0]}\n      key: "
             f"{PKI['server'][1]}\n      verify_client: true\n", "verify_client needs 'ca'"),
            ("    - relp: 127.0.0.1:0\n", "relp needs a fixed port"),
            ("    - tls: 127.0.0.1:0\n      cert: a\n      key: b\n      colour: red\n",
             "unknown key 'colour'"),
        ]
        for item, want in cases:
            conf = os.path.join(work, "g.yaml")
            with open(conf, "w") as f:
                f.write("syslog:\n  listen:\n" + item)
            rc, out, err = gatelog("run", "-c", conf)
            check(rc != 0 and want in err and "g.yaml:" in err,
                  f"{want!r}: rc={rc} stderr={err}")
        # A certificate that does not load stops the start with the file named.
        d = ListenDaemon(f"    - tls: 127.0.0.1:0\n      cert: {work}/missing.pem\n"
                         f"      key: {PKI['server'][1]}\n")
        try:
            d.start()
            check(False, "started with a missing certificate")
        except Exception as e:  # noqa: BLE001
            check("missing.pem" in str(e), f"the file is not named: {e}")
        finally:
            d.cleanup()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        run_tests([test_rsyslog_over_tls_with_client_cert, test_refused_clients_leave_no_record,
                   test_limits_slow_loris_and_flood,
                   test_sighup_reloads_certificates_keeping_connections,
                   test_config_errors_name_the_place])
    finally:
        shutil.rmtree(PKI_DIR, ignore_errors=True)
