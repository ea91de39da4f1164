#!/usr/bin/python3
"""Valgrind memcheck (issue 11): the real daemon under
`valgrind --leak-check=full --error-exitcode=99` for a short run: syslog over TCP (octet
counted and newline framed, several connections) and UDP (good and malformed messages), a
seal while it runs, SIGTERM. Checked: the daemon exits 0 (so valgrind found no error: an
invalid read or write, a use of uninitialised memory, a bad free or a definite leak would make
it exit 99), every message is stored, the chain verifies, and valgrind's own summary says
"definitely lost: 0 bytes" (or no leaks at all) and "ERROR SUMMARY: 0 errors".

Only definite leaks count as errors: "possibly lost" and "still reachable" blocks at exit are
the normal state of libraries that keep global caches (OpenSSL, libyaml none, SQLite none).
Suppressions, only for third-party libraries, are in tests/reliability/valgrind.supp.

Skipped (exit 77) in a sanitizer build: ASan's shadow memory cannot run under valgrind, and
when valgrind is not installed (quickstart installs it)."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

from harness import GATELOG, Daemon, check, gatelog, run_tests

HERE = os.path.dirname(os.path.abspath(__file__))
SUPP = os.path.join(HERE, "..", "reliability", "valgrind.supp")
N_TCP_CONN, N_TCP, N_UDP = 3, 20, 20


class ValgrindDaemon(Daemon):
    """The harness's daemon, started under valgrind (only the daemon: the CLI commands the
    test runs are not)."""

    def start(self, timeout=90):
        self.vg_log = os.path.join(self.dir, "valgrind.log")
        orig = subprocess.Popen

        def popen(argv, **kw):
            return orig(["valgrind", "--tool=memcheck", "--leak-check=full",
                         "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                         "--track-origins=yes", "--error-exitcode=99", "--num-callers=30",
                         "--suppressions=" + SUPP, "--log-file=" + self.vg_log] + argv, **kw)
        subprocess.Popen = popen
        try:
            return super().start(timeout=timeout)
        finally:
            subprocess.Popen = orig


def sanitized():
    out = subprocess.run(["ldd", GATELOG], capture_output=True, text=True).stdout
    return "libasan" in out or "libubsan" in out or "clang_rt" in out


def send_round(d, r):
    """One round of traffic: TCP in both framings over several connections, UDP with some
    malformed datagrams. Returns the number of messages sent."""
    conns = [socket.create_connection(("127.0.0.1", d.ports["tcp"])) for _ in range(N_TCP_CONN)]
    for i in range(N_TCP):
        msg = b"<38>1 2026-01-05T10:00:00Z web1 sshd 42 - - tcp message %d.%d" % (r, i)
        c = conns[i % N_TCP_CONN]
        if i % 2:
            c.sendall(b"%d %s" % (len(msg), msg))   # octet counting (RFC 6587)
        else:
            c.sendall(msg + b"\n")                   # non-transparent framing
    for c in conns:
        c.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(N_UDP):
        if i % 5 == 4:
            msg = b"\xff\xfe<999>1 bad %d.%d \xc0\xaf" % (r, i)  # flagged, still stored
        else:
            msg = b"<13>Feb  5 17:32:18 host app[7]: udp message %d.%d" % (r, i)
        u.sendto(msg, ("127.0.0.1", d.ports["udp"]))
    u.close()
    return N_TCP + N_UDP


def test_valgrind_memcheck():
    # The longer mode (docs/RELIABILITY.md): GATELOG_VALGRIND_SECONDS=3600 keeps the traffic
    # and a seal every 10 s going for that long before the same checks.
    seconds = float(os.environ.get("GATELOG_VALGRIND_SECONDS", "0"))
    d = ValgrindDaemon(unix=False)
    try:
        d.start()
        sent = send_round(d, 0)
        end, next_seal, r = time.time() + seconds, time.time() + 10, 1
        while time.time() < end:
            d.wait_records(sent, timeout=60)  # UDP on loopback: keep the queue from overflowing
            sent += send_round(d, r)
            r += 1
            if time.time() >= next_seal:
                d.seal()
                next_seal = time.time() + 10
        d.wait_records(sent, timeout=60)
        d.seal()
        # the seal is done by the running daemon: wait until verify sees it
        deadline = time.time() + 60
        while time.time() < deadline:
            rc, out, err = d.verify_db()
            if rc == 0 and "epoch" in out + err:
                break
            time.sleep(0.5)
        rc = d.stop(timeout=120)
        log = open(d.vg_log, errors="replace").read()
        print("valgrind:", "\n".join(l for l in log.splitlines()
                                     if re.search(r"ERROR SUMMARY|definitely lost|"
                                                  r"All heap blocks|in use at exit", l)))
        check(rc == 0, f"daemon under valgrind exited {rc} (99 = memcheck errors):\n"
                       + log[-6000:])
        check("ERROR SUMMARY: 0 errors" in log, "valgrind reports errors:\n" + log[-6000:])
        check(re.search(r"definitely lost: 0 bytes|All heap blocks were freed", log),
              "valgrind reports definite leaks:\n" + log[-6000:])
        rc, out, err = d.verify_db()
        check(rc == 0, f"chain does not verify after the valgrind run:\n{out}{err}")
        n = len(d.query())
        check(n == sent, f"sealed records {n}, wanted {sent}")
    finally:
        d.cleanup()


if __name__ == "__main__":
    if not shutil.which("valgrind"):
        print("valgrind not installed: skipped")
        sys.exit(77)
    if sanitized():
        print("sanitizer build: valgrind cannot run ASan binaries: skipped")
        sys.exit(77)
    run_tests([test_valgrind_memcheck])
