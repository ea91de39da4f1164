#!/usr/bin/python3
"""journald ingest rate: entries per second from real journal files into sealed records,
beside `journalctl -o export` reading the same files to a file, in one run.

  GATELOG=build/cli/gatelog /usr/bin/python3 bench/journald.py [N] [--json]

N entries (default 100000, about 300 bytes each as journald's own entries are) are written
with systemd-journal-remote; then journalctl exports them to a file (timed, CPU and peak RSS
from wait4), and the daemon, started with a `journald:` source on the directory, ingests
them; the clock stops when `gatelog seal --now` has sealed the epoch holding all N. The
daemon's CPU (every thread, from its start) and peak RSS come from /proc (bench/procstat.py).
The ratio is gatelog's rate over journalctl's: journalctl only reads and prints, gatelog
also builds, hashes, stores (SQLite, synchronous=FULL) and seals every entry. The collector
alone (bench/journald-collect, next to the gatelog binary's build: the daemon's collector,
its loop thread reading and its gl-journal thread building, into records that are dropped,
no SQLite) runs on the same files the same way as journalctl
(wall clock and CPU of the process from wait4), for the issue's like-for-like ratio. The
daemon's peak anonymous and file-backed resident memory (RssAnon, RssFile: the journal
files sd-journal maps) are sampled while it ingests. With --json the last line is the rows
as one JSON object (bench/run reads it)."""
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "journald"))
from harness import GATELOG, Daemon  # noqa: E402
from jtools import entry, write_journal  # noqa: E402
from procstat import (ChildRun, ProcWatch, commit_batches, print_table, quiet, row,  # noqa: E402
                      stored_count)  # noqa: E402


def fields(i):
    return entry(i, f"Accepted publickey for user{i % 97} from 10.0.{i % 256}.{i % 199} "
                    f"port {1024 + i % 60000} ssh2: ED25519 SHA256:abcdefghijklmnop{i}",
                 _TRANSPORT="syslog", _PID=str(1000 + i % 5000), _UID="0", _GID="0",
                 _COMM="sshd", _EXE="/usr/sbin/sshd", _CMDLINE="sshd: alice [priv]",
                 _SYSTEMD_UNIT="ssh.service", SYSLOG_FACILITY="10")


def rss_split_mib(pid):
    """(RssAnon, RssFile) of pid in MiB, from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k = line.split(":")[0]
            if k in ("RssAnon", "RssFile"):
                out[k] = int(line.split()[1]) / 1024
    return out.get("RssAnon", 0.0), out.get("RssFile", 0.0)


def collector_only(jd, n):
    """The journald-collect row, or None when the tool is not built."""
    exe = os.environ.get("JOURNALD_COLLECT") or os.path.join(
        os.path.dirname(os.path.dirname(GATELOG)), "bench", "journald-collect")
    if not os.access(exe, os.X_OK):
        return None, None
    out = os.path.join(jd, "collect.json")
    with open(out, "wb") as f:
        c = ChildRun([exe, "--n", str(n), "--directory", jd], stdout=f)
    with open(out) as f:
        info = json.loads(f.read().strip().splitlines()[-1])
    return row("gatelog collector only (journald-collect)", info["entries"], n, c.seconds,
               c), info


def main():
    argv = [a for a in sys.argv[1:] if a != "--json"]
    n = int(argv[0]) if argv else 100_000
    jd = tempfile.mkdtemp(prefix="gatelog-bench-jd-")
    d = None
    try:
        path = os.path.join(jd, "bench.journal")
        for start in range(0, n, 20_000):
            write_journal(path, [fields(i) for i in range(start, min(n, start + 20_000))])
        out = os.path.join(jd, "export.txt")
        with open(out, "wb") as f:
            j = ChildRun(["journalctl", "-D", jd, "-o", "export", "--no-pager"], stdout=f)
        with open(out, "rb") as f:
            j_n = sum(1 for l in f if l.startswith(b"__CURSOR="))
        os.unlink(out)
        c_row, c_info = collector_only(jd, n)

        d = Daemon(extra=f"journald:\n  - name: bench\n    directory: {jd}\n")
        quiet(d)
        t0 = time.monotonic()
        d.start(timeout=60)
        w = ProcWatch(d.proc.pid, whole=True)
        anon = file_ = 0.0
        while stored_count(GATELOG, d.db) < n:
            a, f_ = rss_split_mib(d.proc.pid)
            anon, file_ = max(anon, a), max(file_, f_)
            time.sleep(0.05)
        t_stored = time.monotonic() - t0
        w_stored = ProcWatch(d.proc.pid, whole=True).sample()
        batches = commit_batches(d)
        d.seal()
        t_gl = time.monotonic() - t0
        w.sample()
        got = stored_count(GATELOG, d.db)
        d.stop()
        rows = [row("journalctl -o export → file", j_n, n, j.seconds, j),
                row("gatelog (stored)", got, n, t_stored, w_stored),
                row("gatelog (stored and sealed)", got, n, t_gl, w)]
        if c_row:
            rows.insert(1, c_row)
        print(f"entries: {n}\n")
        print_table(rows)
        print(f"\nratio gatelog (sealed) / journalctl: "
              f"{rows[-1]['events_per_s'] / rows[0]['events_per_s']:.2f}")
        if c_row:
            print(f"ratio collector only / journalctl: "
                  f"{c_row['events_per_s'] / rows[0]['events_per_s']:.2f} (CPU per entry "
                  f"{c_row['cpu_s_per_1M'] / rows[0]['cpu_s_per_1M']:.2f}×; CPU-µs per entry: "
                  f"reading (loop thread) {c_info['collector_thread_cpu_s'] / n * 1e6:.2f}, "
                  f"building (gl-journal) "
                  f"{c_info.get('build_thread_cpu_s', 0) / n * 1e6:.2f})")
        print(f"daemon peak RssAnon {anon:.1f} MiB, RssFile {file_:.1f} MiB (the mapped "
              f"journal files)")
        if batches:
            print(f"commits while storing: {batches[0]:.0f} transactions, "
                  f"{batches[1]:.0f} records each on average, {batches[2]:.2f} s committing")
        if "--json" in sys.argv:
            print(json.dumps({"n": n, "rows": rows}))
    finally:
        if d:
            d.cleanup()
        shutil.rmtree(jd, ignore_errors=True)


if __name__ == "__main__":
    main()
