"""RFC 3161 trusted time for exported manifests (issue 10): `gatelog timestamp`.

A local time-stamping authority is `openssl ts -reply` (a test CA and a TSA certificate with
the critical timeStamping extended key usage, made here with openssl) behind a small Python
HTTP server on 127.0.0.1. A daemon seals two epochs into an export; `gatelog timestamp`
stamps each manifest.json as manifest.tsr, which `openssl ts -verify` accepts by hand and
`gatelog timestamp --verify` and `gatelog verify --tsa-ca` accept; a changed manifest, a token of another manifest, a
foreign CA, a TSA that refuses and a TSA that is down are each caught.

The daemon does it itself with seal.tsa_url: each sealed epoch is exported with its token as
manifest.tsr; while the TSA is down the epoch waits in the outbox and goes out, token and all,
once it is back.
"""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, check, gatelog, logger, run_tests  # noqa: E402

STATE = {}
TSA_CNF = """[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
serial = {dir}/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ess_cert_id_alg = sha256
[ ext_tsa ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
[ ext_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign
"""


def ossl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=30)
    check(p.returncode == 0, f"openssl {args[0]}: {p.stderr.decode()}")
    return p


def make_ca(d, name):
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={name}", "-days", "2",
         "-config", "tsa.cnf", "-extensions", "ext_ca", cwd=d)


class Tsa(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        d = STATE["tsa"]
        if STATE.get("down"):  # no reply at all: the connection just closes
            self.close_connection = True
            return
        if STATE.get("refuse"):
            self.send_response(500)
            self.end_headers()
            return
        with tempfile.NamedTemporaryFile(dir=d, suffix=".tsq", delete=False) as f:
            f.write(body)
        p = subprocess.run(["openssl", "ts", "-reply", "-config", "tsa.cnf", "-queryfile",
                            f.name, "-inkey", "tsa.key", "-signer", "tsa.pem", "-chain",
                            "tsa.pem"], cwd=d, capture_output=True, timeout=30)
        os.unlink(f.name)
        STATE["requests"] = STATE.get("requests", 0) + 1
        self.send_response(200 if p.returncode == 0 else 500)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.end_headers()
        self.wfile.write(p.stdout)

    def log_message(self, *args):
        pass


def tsa_setup():
    """The local TSA alone (also used by test_s3.py); STATE["url"], STATE["tsa"]/ca.pem."""
    if "url" in STATE:
        return STATE
    d = STATE["tsa"] = tempfile.mkdtemp(prefix="gatelog-tsa-")
    with open(os.path.join(d, "tsa.cnf"), "w") as f:
        f.write(TSA_CNF.format(dir=d))
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("01\n")
    make_ca(d, "ca")
    make_ca(d, "other")
    ossl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=test-tsa", cwd=d)
    ossl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "tsa.pem", "-days", "2", "-extfile", "tsa.cnf",
         "-extensions", "ext_tsa", cwd=d)
    srv = STATE["srv"] = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tsa)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    STATE["url"] = f"http://127.0.0.1:{srv.server_address[1]}/tsa"
    return STATE


def tsa_config(path, key):
    """Adds seal.tsa_url and seal.tsa_ca to a harness daemon's configuration."""
    with open(path) as f:
        cfg = f.read()
    key_line = f"  key: {key}\n"
    check(key_line in cfg, "harness config has seal.key")
    with open(path, "w") as f:
        f.write(cfg.replace(key_line, key_line + f"  tsa_url: {STATE['url']}\n  tsa_ca: "
                            f"{os.path.join(STATE['tsa'], 'ca.pem')}\n"))


def setup():
    if "d" in STATE:
        return STATE
    tsa_setup()
    dm = STATE["d"] = Daemon(unix=False)
    dm.clear_of_boundary(90)  # it counts the epochs it seals: none sealed by the clock
    dm.start()
    logger(dm.ports["tcp"], ["one", "two"], "-T", "--rfc3164", "-t", "app")
    dm.wait_records(2)
    dm.seal()
    logger(dm.ports["tcp"], ["three"], "-T", "--rfc3164", "-t", "app")
    dm.wait_records(3)
    dm.seal()
    check(dm.stop() == 0, "daemon exit status")
    STATE["epochs"] = sorted(os.path.join(r, "") for r, _, fs in os.walk(dm.exports)
                             if "manifest.json" in fs)
    check(len(STATE["epochs"]) == 2, f"epochs exported: {STATE['epochs']}")
    return STATE


def copy_export(name):
    dst = os.path.join(STATE["tsa"], name)
    shutil.copytree(STATE["d"].exports, dst)
    return dst


def fails(out):
    return sum(1 for line in out.splitlines() if line.startswith("FAIL "))


def verify(where, *extra, ca="ca.pem"):
    return gatelog("timestamp", "--export", where, "--verify", "--tsa-ca",
                   os.path.join(STATE["tsa"], ca), *extra)


def test_stamp_then_verify():
    setup()
    exp = copy_export("good")
    rc, out, err = gatelog("timestamp", "--export", exp, "--tsa", STATE["url"])
    check(rc == 0 and "2 manifest(s) stamped" in out, f"stamp: {rc} {out} {err}")
    n = STATE["requests"]
    rc, out, _ = gatelog("timestamp", "--export", exp, "--tsa", STATE["url"])
    check(rc == 0 and "0 manifest(s) stamped" in out and STATE["requests"] == n,
          "a second run asks for nothing")
    rc, out, _ = verify(exp, "--require")
    check(rc == 0 and "OK: 2 time stamp(s) verified" in out, f"verify: {out}")
    for r, _, fs in os.walk(exp):  # by hand, as docs say an auditor does
        if "manifest.tsr" in fs:
            p = subprocess.run(["openssl", "ts", "-verify", "-data", "manifest.json", "-in",
                                "manifest.tsr", "-CAfile", os.path.join(STATE["tsa"], "ca.pem")],
                               cwd=r, capture_output=True)
            check(p.returncode == 0 and b"Verification: OK" in p.stdout, "openssl ts -verify")
    # the chain itself still verifies with the extra files present, tokens included
    rc, out, _ = gatelog("verify", "--pubkey", STATE["d"].pub, "--export", exp, "--tsa-ca",
                         os.path.join(STATE["tsa"], "ca.pem"))
    check(rc == 0 and out.count(": time-stamped ") == 2, f"gatelog verify --tsa-ca: {out}")
    STATE["good"] = exp


def test_tampering_is_caught():
    setup()
    if "good" not in STATE:
        test_stamp_then_verify()
    # a changed manifest
    bad = copy_export("changed")
    shutil.rmtree(bad)
    shutil.copytree(STATE["good"], bad)
    e0 = os.path.join(bad, os.path.relpath(STATE["epochs"][0], STATE["d"].exports))
    with open(os.path.join(e0, "manifest.json"), "rb+") as f:
        b = f.read()
        f.seek(0)
        f.write(b.replace(b'"count":', b'"count": ', 1))
    rc, out, _ = verify(bad)
    check(rc == 1 and fails(out) == 1 and "does not verify" in out, f"changed: {out}")
    # a token moved from another epoch
    swap = os.path.join(STATE["tsa"], "swapped")
    shutil.copytree(STATE["good"], swap)
    e = [os.path.join(swap, os.path.relpath(p, STATE["d"].exports)) for p in STATE["epochs"]]
    shutil.copy(os.path.join(e[1], "manifest.tsr"), os.path.join(e[0], "manifest.tsr"))
    rc, out, _ = verify(swap)
    check(rc == 1 and fails(out) == 1, f"swapped token: {out}")
    rc, out, _ = gatelog("verify", "--pubkey", STATE["d"].pub, "--export", swap, "--tsa-ca",
                         os.path.join(STATE["tsa"], "ca.pem"))
    check(rc == 1 and "manifest.tsr: time-stamp token does not verify" in out,
          f"gatelog verify --tsa-ca, swapped token: {out}")
    # a CA that did not issue the TSA's certificate
    rc, out, _ = verify(STATE["good"], ca="other.pem")
    check(rc == 1 and fails(out) == 2, f"foreign CA: {out}")
    # a missing token passes without --require, fails with it
    os.unlink(os.path.join(e[1], "manifest.tsr"))
    shutil.copy(os.path.join(STATE["good"], os.path.relpath(STATE["epochs"][0],
                STATE["d"].exports), "manifest.tsr"), os.path.join(e[0], "manifest.tsr"))
    rc, out, _ = verify(swap)
    check(rc == 0 and "1 manifest(s) without one" in out, f"missing, not required: {out}")
    rc, out, _ = verify(swap, "--require")
    check(rc == 1 and "1 missing" in out, f"missing, required: {out}")


def test_tsa_refusing_or_down():
    setup()
    exp = copy_export("refused")
    STATE["refuse"] = True
    try:
        rc, _, err = gatelog("timestamp", "--export", exp, "--tsa", STATE["url"])
    finally:
        STATE["refuse"] = False
    check(rc == 3 and "HTTP status 500" in err, f"refusing TSA: {rc} {err}")
    check(not any("manifest.tsr" in fs or any(f.endswith(".tmp") for f in fs)
                  for _, _, fs in os.walk(exp)), "no token written")
    rc, _, err = gatelog("timestamp", "--export", exp, "--tsa", "http://127.0.0.1:1/tsa")
    check(rc == 3 and "127.0.0.1:1" in err, f"TSA down: {rc} {err}")
    rc, _, _ = gatelog("timestamp", "--export", exp)
    check(rc == 2, "usage: no --tsa")


def epoch_dirs(root):
    """{epoch folder name: set of file names} of every epoch folder under root."""
    return {os.path.basename(r): set(fs) for r, _, fs in os.walk(root)
            if os.path.basename(r).startswith("epoch=")}


def backlog(dm):
    rc, out, _ = gatelog("epochs", "--db", dm.db, "--format", "jsonl")
    check(rc == 0, "gatelog epochs")
    return json.loads(out.splitlines()[-1])["backlog"]


def test_daemon_stamps():
    """seal.tsa_url: the daemon exports every epoch with its token; a TSA outage holds the
    epoch back (backlog), never drops it or its token."""
    setup()
    ca = os.path.join(STATE["tsa"], "ca.pem")
    dm = STATE["dd"] = Daemon(unix=False)
    tsa_config(dm.config, dm.key)
    dm.clear_of_boundary(90)  # it counts epochs, backlog and TSA requests
    dm.start()
    logger(dm.ports["tcp"], ["alpha", "beta"], "-T", "--rfc3164", "-t", "app")
    dm.wait_records(2)
    n0 = STATE.get("requests", 0)
    dm.seal()  # returns once the export is written
    eps = epoch_dirs(dm.exports)
    check(len(eps) == 1, f"one epoch exported: {eps}")
    (e1, files), = eps.items()
    check({"manifest.json", "manifest.tsr"} <= files, f"token exported: {files}")
    check(STATE["requests"] == n0 + 1, "one TSA request for one epoch")
    edir = [r for r, _, _ in os.walk(dm.exports) if r.endswith(e1)][0]
    p = subprocess.run(["openssl", "ts", "-verify", "-data", "manifest.json", "-in",
                        "manifest.tsr", "-CAfile", ca], cwd=edir, capture_output=True)
    check(p.returncode == 0 and b"Verification: OK" in p.stdout, f"openssl ts -verify: {p}")
    rc, out, _ = gatelog("verify", "--pubkey", dm.pub, "--export", dm.exports, "--tsa-ca", ca)
    check(rc == 0 and out.count(": time-stamped ") == 1, f"gatelog verify --tsa-ca: {out}")
    # a foreign CA fails the same export
    rc, out, _ = gatelog("verify", "--pubkey", dm.pub, "--export", dm.exports, "--tsa-ca",
                         os.path.join(STATE["tsa"], "other.pem"))
    check(rc == 1 and "manifest.tsr: time-stamp token does not verify" in out,
          f"foreign CA: {rc} {out}")

    # the TSA goes down: the next sealed epoch waits in the outbox
    STATE["down"] = True
    try:
        logger(dm.ports["tcp"], ["gamma"], "-T", "--rfc3164", "-t", "app")
        dm.wait_records(3)
        rc, _, err = gatelog("seal", "--now", "-c", dm.config, "--timeout", "3")
        check(rc == 3 and "exports are still pending" in err, f"seal while down: {rc} {err}")
        check(backlog(dm) == {"local": 1}, f"backlog while the TSA is down: {backlog(dm)}")
        eps = epoch_dirs(dm.exports)
        check(all("manifest.json" in fs for fs in eps.values()) and
              sum("manifest.json" in fs for fs in eps.values()) == 1,
              f"nothing exported without its token: {eps}")
        log = dm.read_log()
        check(log.count("time-stamping failing") == 1 and "Empty reply" in log,
              "the outage is logged once:\n" + log[-2000:])
    finally:
        STATE["down"] = False
    # back: the exporter's retry brings token and export
    deadline = time.time() + 60
    while time.time() < deadline and backlog(dm) != {"local": 0}:
        time.sleep(0.2)
    eps = epoch_dirs(dm.exports)
    check(len(eps) == 2 and all({"manifest.json", "manifest.tsr"} <= fs for fs in eps.values()),
          f"both epochs exported with tokens: {eps}\n" + dm.read_log()[-2000:])
    check("time-stamping recovered" in dm.read_log(), "the recovery is logged")
    rc, out, _ = gatelog("verify", "--pubkey", dm.pub, "--export", dm.exports, "--tsa-ca", ca)
    check(rc == 0 and out.count(": time-stamped ") == 2, f"verify after the outage: {out}")
    # a restart asks for nothing: the tokens are kept in the store
    n = STATE["requests"]
    check(dm.stop() == 0, "daemon exit status")
    shutil.rmtree(dm.exports)
    dm.start()
    rc, _, _ = gatelog("seal", "--now", "-c", dm.config)  # an empty epoch, exported too
    check(rc == 0, "seal after restart")
    check(STATE["requests"] == n + 1, "only the new epoch is stamped")
    check(dm.stop() == 0, "daemon exit status")


def test_bad_tsa_url_refused():
    d = tempfile.mkdtemp(prefix="gatelog-tsa-cfg-")
    try:
        path = os.path.join(d, "g.yaml")
        with open(path, "w") as f:
            f.write("seal:\n  tsa_url: ftp://127.0.0.1/tsa\n")
        rc, out, err = gatelog("config", "check", path)
        check(rc != 0 and f"{path}:2:12:" in out + err, f"bad tsa_url: {rc} {out} {err}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def cleanup():
    if "srv" in STATE:
        STATE["srv"].shutdown()
    for k in ("d", "dd"):
        if k in STATE:
            STATE[k].cleanup()
    if "tsa" in STATE:
        shutil.rmtree(STATE["tsa"], ignore_errors=True)


if __name__ == "__main__":
    try:
        run_tests([test_stamp_then_verify, test_tampering_is_caught, test_tsa_refusing_or_down,
                   test_daemon_stamps, test_bad_tsa_url_refused])
    finally:
        cleanup()
