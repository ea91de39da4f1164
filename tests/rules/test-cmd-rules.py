#!/usr/bin/env python3
"""`gatelog rules check|test|explain` end to end, as a security engineer uses them:

- `rules test rules/soc2` passes (the default pack's inline tests), and a pack with a wrong
  expectation makes it fail with a FAIL line naming file:line:column and exit 1;
- `rules check` on broken packs prints exactly FILE:LINE:COLUMN: message, one per kind of
  error (YAML syntax, unknown key, PCRE2 error with offset, duplicate id across files,
  unknown criterion, unreadable path), and exits 1;
- the pack hash printed is the one docs/RULES.md defines, recomputed here with hashlib;
- `rules explain` maps syslog lines and JSON events and shows what each rule set.

usage: test-cmd-rules.py PATH/TO/gatelog SOURCE_ROOT
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

GATELOG, ROOT = sys.argv[1], sys.argv[2]
SOC2 = os.path.join(ROOT, "rules", "soc2")
failures = []


def check(name, cond, detail=""):
    if not cond:
        failures.append(name)
        print(f"FAIL {name}: {detail}", file=sys.stderr)
    else:
        print(f"ok   {name}")


def run(*args, stdin=b""):
    p = subprocess.run([GATELOG, "rules", *args], input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def pack_hash(files):
    """docs/RULES.md: SHA-256 over netstrings of each file's base name and bytes."""
    h = hashlib.sha256()
    for f in files:
        name = os.path.basename(f).encode()
        data = open(f, "rb").read()
        h.update(b"%d:" % len(name) + name + b"%d:" % len(data) + data)
    return h.hexdigest()


# --- the default pack ---
rc, out, err = run("test", SOC2)
lines = out.splitlines()
check("default pack tests pass", rc == 0 and lines and " 0 failed" in lines[-1],
      f"rc={rc} last={lines[-1] if lines else ''!r} err={err!r}")
fails = [l for l in lines if l.startswith("FAIL")]
check("no FAIL line", not fails, "\n".join(fails[:5]))
oks = [l for l in lines if l.startswith("ok ")]
check("a line per test", len(oks) >= 80, f"{len(oks)} ok lines")
soc2_files = sorted(os.path.join(SOC2, f) for f in os.listdir(SOC2)
                    if f.endswith((".yaml", ".yml")) and not f.startswith("."))
check("pack hash as documented", pack_hash(soc2_files) in lines[-1], lines[-1] if lines else "")
rc, out, err = run("check", SOC2)
check("default pack checks", rc == 0 and out.startswith("ok: ") and pack_hash(soc2_files) in out,
      f"rc={rc} out={out!r} err={err!r}")
# Every rule of the pack has at least one inline test.
ids_with_tests = {l.split()[2] for l in oks}
ids = set()
for f in soc2_files:
    for l in open(f):
        if l.startswith("  - id: "):
            ids.add(l.split()[2])
check("every default rule is tested", ids and ids <= ids_with_tests, sorted(ids - ids_with_tests))

# --- broken packs: exact file:line:column ---
with tempfile.TemporaryDirectory() as d:
    def write(name, text):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    good = ("rules:\n"
            "  - id: a.one\n"
            "    description: d\n"
            "    match: {app: sshd, message: {regex: '^Accepted (?<user>\\S+)'}}\n"
            "    set: {actor.user: '{user}', outcome: success}\n"
            "    criteria: [CC6.1]\n"
            "    tests:\n"
            "      - input: '<86>Jun 15 12:00:00 h sshd[1]: Accepted alice'\n"
            "        expect: {actor.user: alice}\n")
    cases = [
        ("yaml syntax", "rules:\n  - id: x\n    match: {app: [a, b}\n",
         "{f}:3:23: YAML: did not find expected ',' or ']' while parsing a flow sequence"),
        ("unknown key", "rules:\n  - id: x\n    description: d\n    match: {app: a}\n"
                        "    criteira: [CC6.1]\n",
         "{f}:5:5: rule: unknown key 'criteira' (expected one of: id, description, match, set, "
         "criteria, continue, drop, redact, withhold_raw, tests)"),
        ("bad regex", "rules:\n  - id: x\n    description: d\n"
                      "    match: {message: {regex: '^Failed (?<user>\\S+ from'}}\n",
         "{f}:4:55: match.message.regex: bad regex: missing closing parenthesis at offset 24"),
        ("unknown criterion", "rules:\n  - id: x\n    description: d\n    match: {app: a}\n"
                              "    criteria: [CC6.1, PI1.6]\n",
         "{f}:5:23: criteria: unknown criterion 'PI1.6' (the 2017 Trust Services Criteria are "
         "CC1.1-CC1.5, CC2.1-CC2.3, CC3.1-CC3.4, CC4.1-CC4.2, CC5.1-CC5.3, CC6.1-CC6.8, "
         "CC7.1-CC7.5, CC8.1, CC9.1-CC9.2, A1.1-A1.3, PI1.1-PI1.5, C1.1-C1.2, P1.1-P8.1)"),
    ]
    for name, text, want in cases:
        f = write("bad.yaml", text)
        rc, out, err = run("check", f)
        want = want.format(f=f)
        check(f"check: {name}", rc == 1 and err.strip() == want,
              f"rc={rc}\n  got  {err.strip()}\n  want {want}")

    # A duplicate id across two files of one folder names both places.
    sub = os.path.join(d, "pack")
    os.mkdir(sub)
    a = os.path.join(sub, "10-a.yaml")
    b = os.path.join(sub, "20-b.yaml")
    open(a, "w").write(good)
    open(b, "w").write("rules:\n  - id: a.one\n    description: again\n    match: {app: x}\n")
    open(os.path.join(sub, "README.txt"), "w").write("not a rule file\n")
    rc, out, err = run("check", sub)
    want = f"{b}:2:9: id: duplicate rule id 'a.one' (first defined at {a}:2:5)"
    check("check: duplicate id across files", rc == 1 and err.strip() == want,
          f"rc={rc}\n  got  {err.strip()}\n  want {want}")
    rc, out, err = run("check", os.path.join(d, "missing.yaml"))
    check("check: missing path", rc == 1 and "missing.yaml: cannot read: No such file" in err,
          err)

    # `rules test` bites: a wrong expectation fails with file:line:column and exit 1.
    os.remove(b)
    rc, out, err = run("test", sub)
    check("test: good pack passes", rc == 0 and "1 passed, 0 failed" in out, out + err)
    check("test: hash of the folder", pack_hash([a]) in out, out)
    open(a, "w").write(good.replace("expect: {actor.user: alice}", "expect: {actor.user: bob}"))
    rc, out, err = run("test", sub)
    check("test: wrong expectation fails", rc == 1 and
          f"FAIL {a}:8:9 a.one #1: actor.user is \"alice\", expected \"bob\"" in out and
          "0 passed, 1 failed" in out, out + err)

    # --- explain ---
    rc, out, err = run("explain", "--rules", SOC2, stdin=b"<86>Jun 15 12:00:00 web-1 sshd[42]: "
                       b"Failed password for invalid user admin from 203.0.113.50 port 41234 ssh2\n")
    rec = json.loads(out.split("record: ", 1)[1]) if "record: " in out else {}
    check("explain: syslog line", rc == 0 and "MATCH sshd.login.failed.invalid_user" in out and
          "set outcome = \"failure\"" in out and rec.get("rule") == "sshd.login.failed.invalid_user"
          and rec.get("actor") == {"user": "admin", "ip": "203.0.113.50", "port": "41234"}
          and rec.get("criteria") == ["CC6.1", "CC7.2"], out + err)
    check("explain: the index skipped other apps' rules", "sudo." not in out and
          "tried " in out, out)
    rc, out, err = run("explain", "--rules", SOC2, stdin=json.dumps(
        {"actor": {"id": "svc-etl", "ip": "10.9.8.7"}, "resource": "/db/hr",
         "decision": "deny"}).encode())
    rec = json.loads(out.split("record: ", 1)[1]) if "record: " in out else {}
    check("explain: JSON event", rc == 0 and rec.get("rule") == "gate.access.denied" and
          rec.get("actor") == {"user": "svc-etl", "ip": "10.9.8.7"} and
          rec.get("target") == {"resource": "/db/hr"} and rec.get("outcome") == "failure",
          out + err)
    rc, out, err = run("explain", "--rules", SOC2, stdin=b"<86>Jun 15 12:00:00 web-1 CRON[9]: "
                       b"pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")
    check("explain: drop", rc == 0 and "DROPPED by rule pam.cron_session.drop" in out, out + err)
    rc, out, err = run("explain", "--rules", SOC2, stdin=b"<13>Jun 15 12:00:00 web-1 foo: bar")
    check("explain: unmapped", rc == 0 and "result: rule unmapped" in out and
          "\"criteria\":[]" in out, out + err)
    rc, out, err = run("explain", "--format", "json", "--rules", SOC2, stdin=b"not json")
    check("explain: --format json refuses text", rc == 2 and "not a JSON object" in err, err)

    # Keyed hashes: with --hmac-key the value is HMAC-SHA-256 under the file's bytes.
    key = write("key", "k" * 32 + "\n")
    hp = write("hash.yaml", "rules:\n  - id: h\n    description: d\n"
                            "    match: {message: {regex: '^user (?<u>\\S+)$'}}\n"
                            "    set: {actor.user: '{u}'}\n    redact: {actor.user: hash}\n")
    rc, out, err = run("explain", "--rules", hp, "--hmac-key", key, stdin=b"<13>1 - h a - - - user alice")
    rec = json.loads(out.split("record: ", 1)[1]) if "record: " in out else {}
    import hmac
    want = "hmac-sha256:" + hmac.new(b"k" * 32, b"alice", hashlib.sha256).hexdigest()
    check("explain: keyed hash", rc == 0 and rec.get("actor") == {"user": want} and
          rec.get("redacted") == {"actor.user": "hash"} and "redacted" in rec.get("flags", []),
          out + err)
    short = write("short", "tooshort")
    rc, out, err = run("check", hp, "--hmac-key", short)
    check("short key refused", rc == 2 and "16 to 4096 bytes" in err, err)

rc, out, err = run("frobnicate")
check("unknown subcommand", rc == 2, err)

print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failures")
sys.exit(1 if failures else 0)
