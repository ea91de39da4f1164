"""What the benchmarks read about a process and a gatelog store, in one place (bench/run,
bench/journald.py, bench/kafka.py, bench/relp.py).

CPU is user + system time of the whole process (every thread) from /proc/PID/stat; peak RSS
is VmHWM from /proc/PID/status (the kernel's high-water mark of resident memory since
the process started). A process that has exited reads as None."""
import json
import os
import subprocess

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    """User + system CPU seconds of pid so far (every thread)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def proc_hwm_kib(pid):
    """Peak resident set (VmHWM) of pid in KiB, 0 if the kernel does not say."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class ProcWatch:
    """CPU used by pid from now on (or, with whole=True, since it started), and its peak
    RSS (read while it still runs)."""

    def __init__(self, pid, whole=False):
        self.pid = pid
        self.cpu0 = 0.0 if whole else proc_cpu_s(pid)
        self.cpu = 0.0
        self.hwm_kib = 0

    def sample(self):
        """Reads the CPU used since the start and the peak RSS; call before the process
        exits (the last sample is what is reported)."""
        try:
            self.cpu = proc_cpu_s(self.pid) - self.cpu0
            self.hwm_kib = proc_hwm_kib(self.pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
        return self

    def fields(self, events):
        """The benchmark's columns for events handled in the interval."""
        return {"cpu_s": self.cpu, "cpu_s_per_1M": self.cpu / max(events, 1) * 1e6,
                "peak_rss_mib": self.hwm_kib / 1024}


def stored_count(gatelog_exe, db):
    """Records plus rule drops in every epoch of a gatelog store (sealed and open), from
    `gatelog epochs`; 0 while the store cannot be read yet."""
    p = subprocess.run([gatelog_exe, "epochs", "--db", db, "--format", "jsonl"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return 0
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return sum(r.get("count", 0) for r in rows if "epoch" in r)


def quiet(daemon):
    """A harness Daemon's config at log level info (debug logging costs per event)."""
    with open(daemon.config) as f:
        text = f.read().replace("level: debug", "level: info")
    with open(daemon.config, "w") as f:
        f.write(text)


def row(name, events, sent, seconds, watch):
    """One result row: events/s, CPU s per 1M, peak RSS, completeness."""
    r = {"system": name, "sent": sent, "out": events, "seconds": seconds,
         "events_per_s": events / seconds if seconds > 0 else 0,
         "completeness": events / sent if sent else 0}
    if watch is not None:
        r.update(watch.fields(events))
    return r


def print_table(rows):
    """A Markdown table of rows from row()."""
    print("| system | events/s | CPU s / 1M | peak RSS MiB | completeness |")
    print("|---|---|---|---|---|")
    for r in rows:
        cpu = f"{r['cpu_s_per_1M']:.2f}" if "cpu_s_per_1M" in r else "n/a"
        rss = f"{r['peak_rss_mib']:.1f}" if "peak_rss_mib" in r else "n/a"
        print(f"| {r['system']} | {r['events_per_s']:,.0f} | {cpu} | {rss} | "
              f"{r['completeness']:.4f} |")


class ChildRun:
    """A command run to its end with its CPU and peak RSS from wait4 (rusage of that child
    alone): for peers that only read and exit (journalctl, kcat)."""

    def __init__(self, argv, stdout=subprocess.DEVNULL):
        import time
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=stdout)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        self.seconds = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"{argv[0]}: exit {p.returncode}")
        self.cpu = ru.ru_utime + ru.ru_stime
        self.hwm_kib = ru.ru_maxrss

    def fields(self, events):
        return {"cpu_s": self.cpu, "cpu_s_per_1M": self.cpu / max(events, 1) * 1e6,
                "peak_rss_mib": self.hwm_kib / 1024}


def commit_batches(daemon):
    """(batches committed, mean events per batch, seconds spent committing) from a harness
    Daemon's /metrics (gatelog_batch_commit_seconds): how well the writer amortises its
    per-transaction fdatasync. None when the endpoint does not answer."""
    from harness import scrape_metrics
    try:
        m = scrape_metrics(daemon)
    except OSError:
        return None
    n = m.get("gatelog_batch_commit_seconds_count", 0)
    kept = sum(v for k, v in m.items() if k.startswith("gatelog_events_kept_total"))
    return n, kept / n if n else 0.0, m.get("gatelog_batch_commit_seconds_sum", 0.0)
