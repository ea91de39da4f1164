#!/usr/bin/python3
"""journald ingest rate: entries per second from real journal files into sealed records,
beside `journalctl -o export` reading the same files, as a ratio, in one run.

  GATELOG=build/cli/gatelog /usr/bin/python3 bench/journald.py [N]

N entries (default 100000, about 300 bytes each as journald's own entries are) are written
with systemd-journal-remote; then journalctl exports them to /dev/null (timed), and the
daemon, started with a `journald:` source on the directory, ingests them; the clock stops
when `gatelog seal --now` has sealed the epoch holding all N. The ratio is gatelog's rate
over journalctl's: journalctl only reads and prints, gatelog also builds, hashes, stores
(SQLite, synchronous=FULL) and seals every entry."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "journald"))
from harness import Daemon, gatelog  # noqa: E402
from jtools import entry, write_journal  # noqa: E402


def fields(i):
    return entry(i, f"Accepted publickey for user{i % 97} from 10.0.{i % 256}.{i % 199} "
                    f"port {1024 + i % 60000} ssh2: ED25519 SHA256:abcdefghijklmnop{i}",
                 _TRANSPORT="syslog", _PID=str(1000 + i % 5000), _UID="0", _GID="0",
                 _COMM="sshd", _EXE="/usr/sbin/sshd", _CMDLINE="sshd: alice [priv]",
                 _SYSTEMD_UNIT="ssh.service", SYSLOG_FACILITY="10")


def open_count(d):
    rc, out, _ = gatelog("epochs", "--db", d.db, "--format", "jsonl")
    if rc != 0:
        return 0
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    return sum(r.get("count", 0) for r in rows if "epoch" in r)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    jd = tempfile.mkdtemp(prefix="gatelog-bench-jd-")
    d = None
    try:
        path = os.path.join(jd, "bench.journal")
        for start in range(0, n, 20_000):
            write_journal(path, [fields(i) for i in range(start, min(n, start + 20_000))])
        t0 = time.monotonic()
        with open(os.devnull, "wb") as null:
            subprocess.run(["journalctl", "-D", jd, "-o", "export", "--no-pager"], stdout=null,
                           check=True)
        t_jctl = time.monotonic() - t0

        d = Daemon(extra=f"journald:\n  - name: bench\n    directory: {jd}\n")
        with open(d.config) as f:
            text = f.read().replace("level: debug", "level: info")
        with open(d.config, "w") as f:
            f.write(text)
        t0 = time.monotonic()
        d.start(timeout=60)
        while open_count(d) < n:
            time.sleep(0.05)
        t_stored = time.monotonic() - t0
        d.seal()
        t_gl = time.monotonic() - t0
        d.stop()
        r_j, r_g = n / t_jctl, n / t_gl
        print(f"entries:                      {n}")
        print(f"journalctl -o export:         {t_jctl:8.2f} s  {r_j:10.0f} entries/s")
        print(f"gatelog stored:               {t_stored:8.2f} s  {n / t_stored:10.0f} entries/s")
        print(f"gatelog stored and sealed:    {t_gl:8.2f} s  {r_g:10.0f} entries/s")
        print(f"ratio gatelog / journalctl:   {r_g / r_j:8.2f}")
    finally:
        if d:
            d.cleanup()
        shutil.rmtree(jd, ignore_errors=True)


if __name__ == "__main__":
    main()
