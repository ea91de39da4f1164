"""Which shared libraries each command maps (round 13, issue 12).

libcurl, libmicrohttpd and librelp are loaded on first use (core/dl.h), not linked: an
auditor's `gatelog verify`, `query`, `epochs`, `proof`, `head` or `report` must not map
them (nor GnuTLS, which only they pulled in), while `--version`, `gatelog timestamp` and the
daemon's HTTP endpoint load what they use. The dynamic loader says what it maps
(LD_DEBUG=files: "file=SONAME [0];  needed by ..." for a linked library, "dynamically loaded
by ..." for a dlopen), and a running daemon shows its mappings in /proc/PID/maps.

When libcurl cannot be loaded (here: a mount namespace with /dev/null bound over the
library file, which is what a missing or broken package looks like to dlopen), `gatelog
timestamp` fails naming the soname and the Debian package, `--version` says so, and the
auditor commands work as before.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import GATELOG, Daemon, check, gatelog, logger, run_tests  # noqa: E402

STATE = {}
DAEMON_ONLY = ("libcurl.so.4", "libmicrohttpd.so.12", "librelp.so.0", "libgnutls.so.30")


def loaded(*args):
    """(rc, stdout + stderr without the loader's lines, {soname: 'needed' | 'dlopen'}) of a
    gatelog command run with LD_DEBUG=files."""
    env = dict(os.environ, LD_DEBUG="files")
    p = subprocess.run([GATELOG, *args], capture_output=True, timeout=60, env=env)
    libs, rest = {}, []
    for line in p.stderr.decode(errors="replace").splitlines():
        m = re.search(r"file=(\S+) \[0\];\s+(needed|dynamically loaded) by", line)
        if m:
            libs.setdefault(m.group(1), "needed" if m.group(2) == "needed" else "dlopen")
        elif not re.match(r"\s*\d+:", line):
            rest.append(line)
    return p.returncode, p.stdout.decode(errors="replace") + "\n".join(rest), libs


def setup():
    d = STATE["d"] = Daemon(unix=False)
    d.start()
    logger(d.ports["tcp"], ["sshd[1]: Accepted publickey for alice from 10.0.0.1 port 22",
                            "sudo: alice : TTY=pts/0 ; COMMAND=/bin/ls"], "-T",
           "--octet-count", "--rfc5424=notq")
    d.wait_records(2)
    d.seal()
    for _ in range(100):  # the export is written by the exporter thread after the seal
        if d.verify_export()[0] == 0:
            break
        time.sleep(0.1)
    check(d.verify_export()[0] == 0, "the export never verified")


def auditor_commands():
    d = STATE["d"]
    return [("epochs", "--db", d.db), ("query", "--db", d.db),
            ("verify", "--pubkey", d.pub, "--db", d.db),
            ("verify", "--pubkey", d.pub, "--export", d.exports),
            ("proof", "--record", "1", "--db", d.db), ("head", "--db", d.db),
            ("report", "--criterion", "CC6.1", "--since", "2000-01-01T00:00:00Z", "--until",
             "2100-01-01T00:00:00Z", "--pubkey", d.pub, "--db", d.db, "--format", "json")]


def test_auditor_commands_map_no_daemon_library():
    for args in auditor_commands():
        rc, out, libs = loaded(*args)
        check(rc == 0, f"gatelog {' '.join(args)}: exit {rc}\n{out[-2000:]}")
        # The loader's lines were read: the store's library is there (a parse that finds
        # nothing would otherwise pass).
        check(libs.get("libsqlite3.so.0") == "needed", f"{args[0]}: no SQLite in {libs}")
        bad = [l for l in DAEMON_ONLY if l in libs]
        check(not bad, f"gatelog {' '.join(args)} maps {bad}")


def test_version_and_timestamp_load_what_they_use():
    rc, out, libs = loaded("--version")
    check(rc == 0, f"--version: exit {rc}\n{out}")
    for lib in ("libcurl.so.4", "libmicrohttpd.so.12"):
        check(libs.get(lib) == "dlopen", f"--version: {lib} not loaded on use: {libs.get(lib)}")
    check(re.search(r"libcurl \d", out) and re.search(r"libmicrohttpd \d", out),
          f"--version lacks a version:\n{out}")
    # Port 1 on loopback refuses: libcurl is loaded and asked, nothing else.
    rc, out, libs = loaded("timestamp", "--export", STATE["d"].exports, "--tsa",
                           "http://127.0.0.1:1/")
    check(rc != 0 and "127.0.0.1:1" in out, f"timestamp to a closed port: exit {rc}\n{out}")
    check(libs.get("libcurl.so.4") == "dlopen", f"timestamp: libcurl {libs.get('libcurl.so.4')}")
    check("libmicrohttpd.so.12" not in libs, "timestamp maps libmicrohttpd")


def test_daemon_maps_the_http_library_only():
    with open(f"/proc/{STATE['d'].proc.pid}/maps") as f:
        maps = f.read()
    check("/libmicrohttpd.so.12" in maps, "the daemon's HTTP endpoint runs without libmicrohttpd")
    for lib in ("libcurl.so.4", "librelp.so.0"):  # no S3 output, no RELP listener
        check("/" + lib not in maps, f"the daemon maps {lib} it does not use")


def libcurl_file():
    """The file dlopen("libcurl.so.4") opens, from the loader's cache."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    m = re.search(r"\blibcurl\.so\.4 \(libc6,x86-64\) => (\S+)", out)
    check(m, "ldconfig -p lists no libcurl.so.4")
    return os.path.realpath(m.group(1))


def without_libcurl(*args):
    """A gatelog command in a mount namespace where libcurl's file is /dev/null (needs root,
    as the integration tests run): (rc, stdout, stderr)."""
    check(os.geteuid() == 0, "this test hides libcurl with a bind mount: run it as root")
    script = 'mount --bind /dev/null "$0" && exec "$@"'
    p = subprocess.run(["unshare", "-m", "sh", "-c", script, libcurl_file(), GATELOG, *args],
                       capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def test_missing_libcurl_is_named():
    d = STATE["d"]
    rc, out, err = without_libcurl("timestamp", "--export", d.exports, "--tsa",
                                   "http://127.0.0.1:1/")
    check(rc != 0, f"timestamp without libcurl: exit 0\n{out}{err}")
    check("cannot load libcurl.so.4 (Debian package libcurl4)" in out + err,
          f"timestamp without libcurl does not name it:\n{out}{err}")
    rc, out, err = without_libcurl("--version")
    check(rc == 0 and "libcurl missing" in out and "libcurl4" in out,
          f"--version without libcurl:\n{out}{err}")
    rc, out, err = without_libcurl("verify", "--pubkey", d.pub, "--export", d.exports)
    check(rc == 0, f"verify needs libcurl: exit {rc}\n{out}{err}")


def teardown():
    d = STATE.pop("d", None)
    if d:
        d.stop()
        d.cleanup()


def main():
    try:
        setup()
        run_tests([test_auditor_commands_map_no_daemon_library,
                   test_version_and_timestamp_load_what_they_use,
                   test_daemon_maps_the_http_library_only, test_missing_libcurl_is_named])
    finally:
        teardown()


if __name__ == "__main__":
    main()
