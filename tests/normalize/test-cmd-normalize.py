#!/usr/bin/env python3
"""`gatelog normalize` end to end, checked the way an auditor would: with Python's own json,
hashlib and base64 rather than with gatelog's code.

usage: test-cmd-normalize.py PATH/TO/gatelog
"""
import base64
import hashlib
import json
import subprocess
import sys

GATELOG = sys.argv[1]
RECEIVED = "2025-01-01T00:00:10Z"
MEMBERS = {"received", "time", "source", "format", "host", "app", "msgid", "pid", "procid",
           "facility", "severity", "message", "sd", "rule", "actor", "action", "target",
           "outcome", "criteria", "raw_sha256", "raw", "raw_b64", "flags", "error"}
failures = []


def check(name, cond, detail=""):
    if not cond:
        failures.append(f"{name}: {detail}")
        print(f"FAIL {name}: {detail}", file=sys.stderr)


def run(args, stdin=b""):
    p = subprocess.run([GATELOG, "normalize", *args], input=stdin, capture_output=True,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


# Lines as sent; the last one without its LF.
lines = [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbf'su root' failed",
    b"<13>Dec 31 23:59:59 host app[42]: crossing the year\r",
    b"<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [ex@32473 iut=\"3\" a=\"1\" a=\"2\"] m",
    b"Use the BFG!",
    b"<13>1 - h a - - - caf\xe9",
    b"",
    b"<999>garbage",
]
data = b"\n".join(lines)
rc, out, err = run(["--received", RECEIVED], data)
check("exit status", rc == 0, f"rc={rc} stderr={err!r}")
out_lines = out.split(b"\n")
check("one record per line", out_lines[-1] == b"" and len(out_lines) - 1 == len(lines),
      f"{len(out_lines) - 1} records for {len(lines)} lines")
recs = []
for i, (raw_line, text) in enumerate(zip(lines, out_lines)):
    rec = json.loads(text)
    recs.append(rec)
    canon = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    check(f"line {i} canonical", canon.encode() == text, text[:80])
    check(f"line {i} members", set(rec) == MEMBERS, sorted(set(rec) ^ MEMBERS))
    check(f"line {i} raw_sha256", rec["raw_sha256"] == hashlib.sha256(raw_line).hexdigest())
    check(f"line {i} received", rec["received"] == "2025-01-01T00:00:10.000000Z")
    check(f"line {i} source",
          rec["source"] == {"kind": "syslog", "transport": "stdin", "peer": None})
    check(f"line {i} flags sorted", rec["flags"] == sorted(set(rec["flags"])))
    if rec["raw_b64"] is not None:
        check(f"line {i} raw_b64", base64.b64decode(rec["raw_b64"]) == raw_line)
    if rec["raw"] is not None:
        check(f"line {i} raw", rec["raw"].encode() == raw_line)

r = recs[0]
check("5424 time", r["time"] == "2003-10-11T22:14:15.003000Z", r["time"])
check("5424 message BOM stripped", r["message"] == "'su root' failed", r["message"])
check("5424 fields", (r["host"], r["app"], r["msgid"], r["facility"], r["severity"]) ==
      ("mymachine.example.com", "su", "ID47", "auth", "crit"))
r = recs[1]
check("3164 year", r["time"] == "2024-12-31T23:59:59.000000Z", r["time"])
check("3164 CR stripped", r["message"] == "crossing the year", r["message"])
check("3164 pid", (r["pid"], r["procid"], r["flags"]) == (42, "42", ["year_inferred"]))
r = recs[2]
check("sd", r["sd"] == {"ex@32473": {"iut": "3", "a": ["1", "2"]}}, r["sd"])
r = recs[3]
check("no PRI", r["flags"] == ["bad_pri", "malformed", "no_timestamp"] and
      r["message"] == "Use the BFG!" and r["time"] == r["received"], r)
r = recs[4]
check("invalid utf8", r["flags"] == ["invalid_utf8", "no_timestamp"] and
      r["message"] == "caf\ufffd", r)
check("empty line", recs[5]["message"] == "" and "malformed" in recs[5]["flags"])
check("bad PRI", recs[6]["message"] == "<999>garbage" and "bad_pri" in recs[6]["flags"])

# Same input, same --received: byte-identical output.
check("repeatable", run(["--received", RECEIVED], data)[1] == out)

# Forced formats.
rc, out, _ = run(["--format", "rfc3164", "--received", RECEIVED], lines[0])
check("--format rfc3164", json.loads(out)["format"] == "unknown")
rc, out, _ = run(["-f", "rfc5424", "-r", RECEIVED], lines[0] + b"\n")
check("-f rfc5424", json.loads(out)["format"] == "rfc5424")

# A line past the 64 KiB cap is cut and flagged; the next line is intact.
big = b"<13>1 - h a - - - " + b"x" * 70000
rc, out, _ = run(["--received", RECEIVED], big + b"\n<13>1 - h a - - - next\n")
recs = [json.loads(x) for x in out.splitlines()]
check("truncated count", len(recs) == 2, len(recs))
if len(recs) == 2:
    check("truncated flag", "truncated" in recs[0]["flags"], recs[0]["flags"])
    check("truncated sha covers kept bytes",
          recs[0]["raw_sha256"] == hashlib.sha256(big[:65536]).hexdigest())
    check("after truncated", recs[1]["message"] == "next" and recs[1]["flags"] == ["no_timestamp"])

# Empty input: no output. Default receipt time is now.
check("empty input", run([])[1] == b"")
rc, out, _ = run([], b"<13>1 - - - - - -\n")
check("default received", rc == 0 and json.loads(out)["received"] >= "2025-", out)

# Options.
check("--help", run(["--help"])[0] == 0 and b"Usage" in run(["--help"])[1])
for bad in (["--format", "xml"], ["--received", "yesterday"], ["--bogus"], ["file.log"],
            ["--received"]):
    rc, out, err = run(bad)
    check(f"bad option {bad}", rc == 2 and out == b"" and err != b"", (rc, err))

if failures:
    print(f"{len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("ok")
