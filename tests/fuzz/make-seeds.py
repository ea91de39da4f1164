#!/usr/bin/python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/.

Run from the repository root with a built daemon: GATELOG=build/cli/gatelog
/usr/bin/python3 tests/fuzz/make-seeds.py. Seeds are named seed-<what>; files named crash-*
are regressions found by fuzzing and are never touched here. The verifier's seeds come from
a real daemon run: a key made from the fuzz key seed (32 bytes of 0x42, as fuzz-verifier.c
pins), real records sealed into real epochs, read back from the database."""
import base64
import os
import socket
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


SYSLOG = {
    # RFC 5424 section 6.5 examples
    "5424-ex1": b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
                b"\xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8",
    "5424-ex2": b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
                b"%% It's time to make the do-nuts.",
    "5424-ex3": b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
                b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] '
                b'\xef\xbb\xbfAn application event log entry...',
    "5424-ex4": b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
                b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
                b'[examplePriority@32473 class="high"]',
    "5424-escapes": b'<13>1 2024-02-29T23:59:60.123456+14:00 h app 123 m [a@1 x="q\\"\\]\\\\" '
                    b'x="2"] msg\r\n',
    "5424-nil": b"<0>1 - - - - - -",
    "5424-sshd": b"<38>1 2026-01-05T10:00:00Z web1 sshd 4242 - - Accepted publickey for alice "
                 b"from 203.0.113.5 port 50022 ssh2",
    # RFC 3164 section 5.4 examples and real-world forms
    "3164-ex1": b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "3164-ex2": b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
    "3164-ex3": b"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make "
                b"the do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, "
                b"Jelly_Injector=OK, Frier=OK # Transport: Conveyer1=OK, Conveyer2=OK # %%",
    "3164-ex4": b"<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 "
                b"sched[0]: That's All Folks!",
    "3164-nopri": b"Feb 29 12:00:00 host sudo:    bob : TTY=pts/0 ; PWD=/ ; USER=root ; "
                  b"COMMAND=/bin/ls",
    "3164-iso": b"<86>2024-02-29T12:00:00.5+01:00 host CRON[99]: (root) CMD (run-parts)",
    # hostile
    "bad-utf8": b"\xff\xfe\x00 not utf8",
    "bad-pri": b"<999>1 bad pri",
    "bad-time": b"<13>1 2026-13-45T99:99:99Z h a - - - bad time",
    "bad-sd": b"<13>1 - h a - - [x" * 3,
    "nul-tail": b"<13>1 - h a - - - text\x00\x00",
    "overlong": b"<13>1 - h a - - - \xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80",
    "empty": b"",
}

FRAMER = {
    "octets": b"11 <13>1 - h a25 <13>1 - h a - - - second",
    "lines": b"<13>1 - h a - - - one\n<13>1 - h a - - - two\r\n\n",
    "mixed": b"9 <13>hello<13>newline framed\n14 octet-counted.",
    "bad-count": b"0012 <13>x\n1234567890 y\n12x not a count\n",
    "oversize": b"40 " + b"A" * 40 + b"\n" + b"B" * 100 + b"\nC\n",
    "partial": b"100 only a few octets",
    "nul": b"\x00\x00\n\x01\x02 x\n",
}

JSON = {
    "record": b'{"a":1,"b":[true,false,null],"c":{"d":"\\u00e9\\ud83d\\ude00"},"e":-0.0}',
    "numbers": b"[1e21,1e-7,0.1,123456789012345678901,-9223372036854775808,5e-324,"
               b"1.7976931348623157e308,100,1E2,-0]",
    "escapes": b'"\\b\\f\\n\\r\\t\\/\\\\\\"\\u001f\\u2028"',
    "keys": b'{"\\u20ac":1,"\\r":2,"\\ud83d\\ude00":3,"\\ufb33":4,"1":5,"10":6,"":7}',
    "deep": b"[" * 60 + b"]" * 60,
    "dup": b'{"a":1,"a":2}',
    "ws": b' \t\r\n {"x" : [ 1 , 2 ] } \n',
    "bad": b'{"a":[1,2,}',
    "lone-surrogate": b'"\\ud800"',
}

CONFIG = {
    "default": open(os.path.join(HERE, "..", "..", "cli", "config.c")).read()
    .split("config_default_yaml[] =")[1].split(";")[0],
    "full": """chain: test-chain
syslog:
  listen:
    - udp: 127.0.0.1:0
    - tcp: "[::1]:6514"
    - unix: /tmp/gatelog.sock
  max_message: 64KiB
  max_connections: 10
  format: rfc5424
queue:
  max_events: 8
store:
  path: /tmp/x.db
seal:
  epoch: 250ms
  key: /tmp/k
outputs:
  - name: local
    type: folder
    path: /tmp/exports
run:
  pid_file: /tmp/p
log:
  level: debug
  format: json
""",
    "bad-key": "syslog:\n  listen:\n    - udp: 127.0.0.1:0\n  nope: 1\n",
    "bad-size": "syslog:\n  max_message: 12QiB\n",
    "anchors": "a: &x {b: [1, 2]}\nc: *x\n",
    "flow": "{syslog: {listen: [{udp: '127.0.0.1:1'}]}, seal: {epoch: 1d}}",
}


def unpack_default(text):
    # the C string literal lines into YAML text
    import ast
    return "".join(ast.literal_eval(l.strip()) for l in text.strip().splitlines())


def verifier_seeds():
    """Runs the real daemon with the fuzz key and writes its sealed epochs as seeds."""
    from harness import Daemon, gatelog
    seed = bytes([0x42]) * 32
    der = bytes.fromhex("302e020100300506032b657004220420") + seed
    pem = ("-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(der).decode() +
           "\n-----END PRIVATE KEY-----\n")
    d = Daemon(unix=False)
    try:
        with open(d.key, "w") as f:
            f.write(pem)
        os.chmod(d.key, 0o600)
        d.start()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(3):
            u.sendto(SYSLOG["5424-sshd"] + b" #%d" % i, ("127.0.0.1", d.ports["udp"]))
        u.sendto(SYSLOG["bad-utf8"], ("127.0.0.1", d.ports["udp"]))
        d.wait_records(4)
        d.seal()
        d.stop()
        gatelog("seal", "--now", "-c", d.config, check_rc=0)
        db = sqlite3.connect(d.db)
        epochs = db.execute("SELECT epoch, manifest, sig FROM epochs WHERE sealed IS NOT NULL "
                            "AND manifest IS NOT NULL ORDER BY epoch").fetchall()
        chunks = []
        for e, manifest, sig in epochs:
            recs = [r[0] for r in db.execute("SELECT data FROM records WHERE epoch=? "
                                             "ORDER BY seq", (e,))]
            chunks.append(b"\0".join([bytes(manifest), bytes(sig).hex().encode()] +
                                     [bytes(r) for r in recs]))
            # the same epoch with an empty signature field: the target signs it
            chunks_e = b"\0".join([bytes(manifest), b""] + [bytes(r) for r in recs])
            write("verifier", f"epoch{e}-selfsigned", chunks_e)
        write("verifier", "chain", b"\0\0".join(chunks))
        write("verifier", "chain-first", chunks[0])
        if len(chunks) > 1:
            write("verifier", "chain-swapped", b"\0\0".join([chunks[1], chunks[0]]))
        print(f"verifier: {len(epochs)} epochs")
    finally:
        d.cleanup()


def fuzz_key_pem():
    seed = bytes([0x42]) * 32
    der = bytes.fromhex("302e020100300506032b657004220420") + seed
    return ("-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(der).decode() +
            "\n-----END PRIVATE KEY-----\n")


def proof_seeds():
    """Proof target (issue 11): `gatelog proof` over a small chain sealed with the fuzz key,
    records tagged by the SOC 2 pack so that proofs carry criterion paths. Writes each proof
    as is, and each with "signature":"" (the target signs the manifest itself)."""
    import json
    from harness import Daemon, gatelog
    soc2 = os.path.join(HERE, "..", "..", "rules", "soc2")
    d = Daemon(unix=False, extra=f"rules:\n  paths: [{soc2}]\n")
    try:
        with open(d.key, "w") as f:
            f.write(fuzz_key_pem())
        os.chmod(d.key, 0o600)
        d.start()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        lines = [SYSLOG["5424-sshd"], SYSLOG["3164-nopri"], SYSLOG["5424-ex1"],
                 b"<38>1 2026-01-05T10:00:01Z web1 sshd 4242 - - Failed password for bob "
                 b"from 203.0.113.9 port 50023 ssh2", SYSLOG["bad-utf8"]]
        for line in lines:
            u.sendto(line, ("127.0.0.1", d.ports["udp"]))
        d.wait_records(len(lines))
        d.seal()
        d.stop()
        for seq in range(len(lines)):
            out = gatelog("proof", "--record", str(seq), "--db", d.db, check_rc=0)[1].encode()
            write("proof", f"seq{seq}", out)
            p = json.loads(out)
            p["signature"] = ""
            write("proof", f"seq{seq}-selfsigned",
                  json.dumps(p, sort_keys=True, separators=(",", ":")) + "\n")
        print(f"proof: {len(lines)} proofs")
    finally:
        d.cleanup()


def main():
    if sys.argv[1:] == ["proof"]:  # only the proof seeds (issue 11)
        proof_seeds()
        return
    for k, v in SYSLOG.items():
        for t in ("syslog-5424", "syslog-3164"):
            write(t, k, v)
    for k, v in FRAMER.items():
        write("framer", k, v)
    for k, v in JSON.items():
        write("json", k, v)
    for k, v in CONFIG.items():
        write("config", k, unpack_default(v) if k == "default" else v)
    verifier_seeds()
    proof_seeds()


if __name__ == "__main__":
    main()
