#!/usr/bin/python3
"""Kafka ingest rate: messages per second from a topic into sealed records, beside
`kcat -C` consuming the same topic, as a ratio, in one run.

  GATELOG=build/cli/gatelog MOCK_CLUSTER=build/tests/kafka/mock-cluster \\
      /usr/bin/python3 bench/kafka.py [N] [PARTITIONS] [--json]

N JSON access events (default 100000, ~200 bytes each) are produced with kcat into a topic of
PARTITIONS partitions (default 4) on librdkafka's mock cluster; `kcat -C` reads them all to
/dev/null (timed); then the daemon, started with a `kafka:` consumer, ingests them: the clock
starts at the partition assignment (so the group join, a fixed ~3 s of the mock, is left
out of both) and stops when `gatelog seal --now` has sealed the epoch holding all N. kcat
only reads; gatelog also parses, builds, hashes, stores (SQLite, synchronous=FULL), seals and
commits the offsets after each transaction. CPU and peak RSS: kcat's from wait4, the daemon's
(every thread, from its start) from /proc (bench/procstat.py). With --json the last line is
the rows as one JSON object (bench/run reads it). --threads also prints the daemon's CPU per
thread name (/proc/PID/task/*/stat and comm: gl-* are gatelog's, rdk:* librdkafka's, the
loop thread is "gatelog"), its context switches per 1,000 messages per thread name (voluntary:
its sleeps, so its wake-ups by other threads) and its memory (/proc/PID/smaps_rollup) once
all are stored;
--states samples every thread's state 200 times a second from the assignment until all
are stored and prints, per thread name, the share of samples running (R), in the kernel
waiting (D) or asleep, and the syscalls it slept in (/proc/PID/task/TID/stat and syscall):
which thread bounds the rate, and what the others wait for; --perf FILE records
`perf record --call-graph $PERF_CALL_GRAPH -F $PERF_FREQ` (default fp and 499; dwarf for
stacks without frame pointers; PERF_EVENT=page-faults samples first touches instead of cycles) of the daemon from the assignment until all are stored; KAFKA_PROPS=
"key=value,..." passes librdkafka properties to the daemon's consumer, KAFKA_CLAIM_WINDOW=N
its claim_window (docs/CONFIG.md)."""
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "kafka"))
from harness import GATELOG, Daemon, scrape_metrics  # noqa: E402
from kafkapeer import MockCluster, kafka_yaml, produce  # noqa: E402
from procstat import (ChildRun, ProcWatch, commit_batches, print_table, proc_cpu_s,  # noqa: E402
                      quiet, row, stored_count)  # noqa: E402


def event(i):
    return json.dumps({"ts": 1767323045 + i, "actor": {"id": f"user{i % 97}"},
                       "action": "door.open", "resource": f"building-2/door-{i % 40}",
                       "decision": "allow" if i % 13 else "deny", "host": f"gw{i % 7}",
                       "request_id": f"req-{i:012d}"}, separators=(",", ":"))


def tasks(pid, *files):
    """(tid, name, {file: text}) for each thread of pid: its comm and the files of
    /proc/PID/task/TID/ asked for. A thread that ends while being read is left out; a
    process that is gone raises FileNotFoundError (os.listdir). The one /proc walker of
    every per-thread reading below."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}/"
        try:
            with open(base + "comm") as f:
                name = f.read().strip()
            texts = {}
            for fn in files:
                with open(base + fn) as f:
                    texts[fn] = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        yield tid, name, texts


def _thread_stat_sum(pid, value):
    """value(fields of /proc/PID/task/TID/stat after the comm) summed per thread name of
    pid (threads of one name summed), most first."""
    out = {}
    for _, name, t in tasks(pid, "stat"):
        fields = t["stat"].rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0) + value(fields)
    return sorted(out.items(), key=lambda kv: -kv[1])


def thread_cpu(pid):
    """CPU seconds per thread name of pid (threads of one name summed), most first."""
    tick = os.sysconf("SC_CLK_TCK")
    return _thread_stat_sum(pid, lambda f: (int(f[11]) + int(f[12])) / tick)


def thread_faults(pid):
    """Minor page faults per thread name of pid since its start (/proc/PID/task/TID/stat,
    field 10): first touches of fresh memory (malloc'd blocks, librdkafka's fetch buffers),
    each a trip into the kernel that this VM makes expensive; a load-independent count."""
    return _thread_stat_sum(pid, lambda f: int(f[7]))


def thread_switches(pid):
    """Context switches per thread name of pid since its start: {name: [voluntary,
    involuntary]} (/proc/PID/task/TID/status). Voluntary ones are the thread's sleeps (each
    a wake-up by another thread or a timeout): a load-independent count of hand-offs."""
    out = {}
    for _, name, t in tasks(pid, "status"):
        st = dict(line.split(":", 1) for line in t["status"].splitlines() if ":" in line)
        c = out.setdefault(name, [0, 0])
        c[0] += int(st["voluntary_ctxt_switches"])
        c[1] += int(st["nonvoluntary_ctxt_switches"])
    return out


SYSCALLS = {0: "read", 1: "write", 7: "poll", 17: "pread64", 18: "pwrite64", 74: "fsync",
            75: "fdatasync", 202: "futex", 232: "epoll_wait", 281: "epoll_pwait",
            271: "ppoll", 45: "recvfrom", 44: "sendto", 46: "sendmsg", 47: "recvmsg",
            20: "writev", 19: "readv", 35: "nanosleep", 230: "clock_nanosleep"}


class StateSampler(threading.Thread):
    """Samples the state of each of pid's threads (see --states) until stop()."""

    def __init__(self, pid, hz=200):
        super().__init__(daemon=True)
        self.pid, self.period, self.done = pid, 1.0 / hz, threading.Event()
        self.counts = {}  # name -> {state or "S:syscall": samples}

    def run(self):
        while not self.done.is_set():
            try:
                threads = list(tasks(self.pid, "stat"))
            except FileNotFoundError:
                return
            for tid, name, t in threads:
                try:
                    state = t["stat"].rsplit(")", 1)[1].split()[0]
                    if state != "R":
                        with open(f"/proc/{self.pid}/task/{tid}/syscall") as f:
                            sc = f.read().split()[0]
                        sc = SYSCALLS.get(int(sc), sc) if sc.isdigit() else sc
                        state = f"{state}:{sc}"
                except (FileNotFoundError, ProcessLookupError, IndexError):
                    continue
                c = self.counts.setdefault(name, {})
                c[state] = c.get(state, 0) + 1
            time.sleep(self.period)

    def stop(self):
        self.done.set()
        self.join()

    def report(self):
        for name, c in sorted(self.counts.items(), key=lambda kv: -kv[1].get("R", 0)):
            total = sum(c.values())
            if not total:
                continue
            parts = ", ".join(f"{k} {v / total * 100:.0f}%"
                              for k, v in sorted(c.items(), key=lambda kv: -kv[1])
                              if v / total >= 0.02)
            print(f"  {name}: {parts}")


class Timeline(threading.Thread):
    """--timeline: every `period` s, each thread's CPU and run-queue wait from
    /proc/PID/task/TID/schedstat (ns: on a CPU, runnable but waiting for one), the records
    stored (StoreCount) and, from /metrics, the messages the consumer queued and the public
    queue's depth: which stage runs, which waits for a CPU and which waits for another,
    phase by phase (start, steady, tail)."""

    def __init__(self, pid, daemon, db, period=0.05):
        super().__init__(daemon=True)
        self.pid, self.d, self.db, self.period = pid, daemon, db, period
        self.done = threading.Event()
        self.rows = []  # (t, {name: (run_ns, wait_ns)}, stored, queued, depth)

    def sample(self):
        out = {}
        for _, name, t in tasks(self.pid, "schedstat"):
            try:
                run, wait = (int(x) for x in t["schedstat"].split()[:2])
            except ValueError:
                continue
            r = out.setdefault(name, [0, 0])
            r[0] += run
            r[1] += wait
        return out

    def run(self):
        sc = StoreCount(self.db)
        t0 = time.monotonic()
        while not self.done.is_set():
            try:
                m = scrape_metrics(self.d)
            except OSError:
                m = {}
            queued = sum(v for k, v in m.items() if k.startswith("gatelog_kafka_messages_total"))
            depth = m.get("gatelog_queue_depth", 0)
            try:
                self.rows.append((time.monotonic() - t0, self.sample(), sc.count(), queued,
                                  depth))
            except FileNotFoundError:
                break
            time.sleep(self.period)
        sc.close()

    def stop(self):
        self.done.set()
        self.join()

    def report(self):
        names = ["gatelog", "rdk:broker1", "gl-mapper", "gl-store", "gl-ckpt", "gl-stage"]
        print("timeline (per interval: messages queued by the consumer and stored, the "
              "public queue's depth at its end, each thread's % of the interval on a CPU / "
              "runnable but waiting for one):")
        print("  t s   queued stored depth  " + "  ".join(f"{n[:11]:>11}" for n in names))
        if self.rows:
            print(f"  {self.rows[0][0]:5.2f} (first sample)")
        for a, b in zip(self.rows, self.rows[1:]):
            dt = (b[0] - a[0]) * 1e9
            cells = []
            for n in names:
                r0, w0 = a[1].get(n, (0, 0))
                r1, w1 = b[1].get(n, (0, 0))
                cells.append(f"{(r1 - r0) / dt * 100:4.0f}/{(w1 - w0) / dt * 100:<4.0f}  ")
            print(f"  {b[0]:5.2f} {b[3] - a[3]:6.0f} {b[2] - a[2]:6.0f} {b[4]:5.0f}  " +
                  " ".join(f"{c:>11}" for c in cells))


class StoreCount:
    """Records plus rule drops stored so far, from the epochs' stats over one read-only
    connection kept open (as bench/run counts): a `gatelog epochs` process per poll cost
    ~0.15 of a core on this 2-core machine, beside the daemon being measured."""

    def __init__(self, db):
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)

    def count(self):
        n = 0
        for (s,) in self.conn.execute("SELECT stats FROM epochs").fetchall():
            st = json.loads(s) if s else {}
            n += st.get("kept", 0) + sum(st.get("dropped_by_rule", {}).values())
        return n

    def close(self):
        self.conn.close()


def memory(pid):
    """The daemon's resident memory by kind (smaps_rollup), in MiB."""
    keep = ("Rss", "Anonymous", "Private_Dirty", "Shared_Clean")
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k = line.split(":")[0]
            if k in keep:
                out[k] = int(line.split()[1]) / 1024
    return out


def main():
    opts = sys.argv[1:]
    perf_out = None
    if "--perf" in opts:
        perf_out = opts[opts.index("--perf") + 1]
        del opts[opts.index("--perf"):opts.index("--perf") + 2]
    argv = [a for a in opts if a not in ("--json", "--threads", "--states", "--timeline")]
    n = int(argv[0]) if argv else 100_000
    parts = int(argv[1]) if len(argv) > 1 else 4
    mc = MockCluster([("bench", parts)])
    d = None
    try:
        # PRODUCE_PROPS="k=v,...": kcat -X properties of the producer (its batching decides
        # how many messages one fetch of librdkafka's mock brings back).
        pprops = [kv for kv in os.environ.get("PRODUCE_PROPS", "").split(",") if kv]
        for p in range(parts):
            if pprops:
                args = ["kcat", "-P", "-b", mc.bootstraps, "-t", "bench", "-p", str(p)]
                for kv in pprops:
                    args += ["-X", kv]
                data = "".join(event(i) + "\n" for i in range(p, n, parts)).encode()
                subprocess.run(args, input=data, check=True, timeout=120)
            else:
                produce(mc.bootstraps, "bench", [event(i) for i in range(p, n, parts)],
                        partition=p)
        out = f"/tmp/gatelog-bench-kcat-{os.getpid()}.out"
        with open(out, "wb") as f:
            k = ChildRun(["kcat", "-C", "-b", mc.bootstraps, "-t", "bench", "-o", "beginning",
                          "-e", "-q"], stdout=f)
        with open(out, "rb") as f:
            k_n = sum(1 for _ in f)
        os.unlink(out)
        # kcat -P can exit 0 having sent fewer (a 300k run stored 110,101: its local queue
        # overflowed); waiting for n stored records would then never end.
        # The mock cluster also keeps only ~5 MiB per partition (~30,000 of these events;
        # older ones are deleted): 200,000 need 8 partitions.
        if k_n < n:
            raise SystemExit(f"only {k_n} of {n} messages reached the topic (kcat -P); "
                             "try fewer or more partitions (the mock keeps ~30,000 a "
                             "partition), or PRODUCE_PROPS=queue.buffering.max.messages=…")

        # KAFKA_PROPS="key=value,...": librdkafka properties for the daemon's consumer.
        props = dict(kv.split("=", 1) for kv in os.environ.get("KAFKA_PROPS", "").split(",")
                     if kv)
        d = Daemon(extra=kafka_yaml(mc.bootstraps, ["bench"], group="bench",
                                    extra_props=props,
                                    claim_window=os.environ.get("KAFKA_CLAIM_WINDOW")))
        quiet(d)
        d.start(timeout=60)
        w = ProcWatch(d.proc.pid, whole=True)
        while "kafka partition assigned" not in d._last_start(d.read_log()):
            time.sleep(0.01)
        perf = None
        if perf_out:
            cg = os.environ.get("PERF_CALL_GRAPH", "fp")
            # PERF_EVENT=page-faults (say): where the first touches come from, not cycles.
            ev = ["-e", os.environ["PERF_EVENT"]] if os.environ.get("PERF_EVENT") else []
            perf = subprocess.Popen(["perf", "record", "--call-graph", cg, *ev,
                                     "-F", os.environ.get("PERF_FREQ", "499"),
                                     "-o", perf_out, "-p", str(d.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        states = StateSampler(d.proc.pid) if "--states" in sys.argv else None
        if states:
            states.start()
        tl = Timeline(d.proc.pid, d, d.db) if "--timeline" in sys.argv else None
        if tl:
            tl.start()
        # The other CPU the run costs the machine: the mock cluster serving the fetches and
        # this script's own (its store polls, and the --states sampler when asked).
        mock_w = ProcWatch(mc.proc.pid)
        # The daemon's CPU at the assignment (its start-up and the group join before it):
        # --json also gives the CPU from here on, as bench/run's TCP runs count theirs.
        cpu_at_assign = proc_cpu_s(d.proc.pid)
        threads_at_assign = dict(thread_cpu(d.proc.pid)) if "--threads" in sys.argv else {}
        poll_cpu0 = sum(os.times()[0:4])
        t0 = time.monotonic()
        sc = StoreCount(d.db)
        t_first = None  # the first record stored: the start's fixed cost (a fetch, a commit)
        while True:
            got_now = sc.count()
            if got_now and t_first is None:
                t_first = time.monotonic() - t0
            if got_now >= n:
                break
            time.sleep(0.01 if t_first is None else 0.05)
        sc.close()
        t_stored = time.monotonic() - t0
        w_stored = ProcWatch(d.proc.pid, whole=True).sample()
        mock_w.sample()
        poll_cpu = sum(os.times()[0:4]) - poll_cpu0
        if states:
            states.stop()
        if tl:
            tl.stop()
        if perf:
            perf.send_signal(2)
            perf.wait()
        threads = thread_cpu(d.proc.pid) if "--threads" in sys.argv else None
        mem = memory(d.proc.pid) if "--threads" in sys.argv else None
        switches = thread_switches(d.proc.pid) if "--threads" in sys.argv else None
        faults = thread_faults(d.proc.pid) if "--threads" in sys.argv else None
        batches = commit_batches(d)
        try:  # pushes that met a full collector->writer queue: the writer bounds the rate
            full = sum(v for k, v in scrape_metrics(d).items()
                       if k.startswith("gatelog_queue_full_total"))
        except OSError:
            full = None
        d.seal()
        t_gl = time.monotonic() - t0
        w.sample()
        got = stored_count(GATELOG, d.db)
        d.stop()
        committed = mc.committed("bench", "bench", parts)
        rows = [row("kcat -C → file", k_n, n, k.seconds, k),
                row("gatelog (stored)", got, n, t_stored, w_stored),
                row("gatelog (stored and sealed)", got, n, t_gl, w)]
        print(f"messages: {n} in {parts} partitions\n")
        print_table(rows)
        print(f"\nratio gatelog (sealed) / kcat: "
              f"{rows[2]['events_per_s'] / rows[0]['events_per_s']:.2f}")
        print(f"committed offsets after stop: {sum(committed.values())} of {n}")
        print(f"from the assignment: first record stored after {t_first:.3f} s, all after "
              f"{t_stored:.3f} s, sealed after {t_gl:.3f} s; stored/s after the first: "
              f"{(n - 1) / max(t_stored - t_first, 1e-9):,.0f}")
        print(f"beside the daemon until all were stored: mock cluster {mock_w.cpu:.2f} CPU-s "
              f"({mock_w.cpu / n * 1e6:.1f} µs per message), this script "
              f"{poll_cpu:.2f} CPU-s")
        if batches:
            print(f"commits while storing: {batches[0]:.0f} transactions, "
                  f"{batches[1]:.0f} records each on average, {batches[2]:.2f} s committing")
        if full is not None:
            print(f"pushes that met a full queue while storing: {full:.0f}")
        if threads:
            print("daemon CPU per thread when all were stored (s; µs per message): " +
                  ", ".join(f"{name} {cpu:.2f} ({cpu / n * 1e6:.1f})" for name, cpu in threads))
            print("minor page faults per 1,000 messages since the start, per thread: " +
                  ", ".join(f"{name} {v / n * 1000:.0f}" for name, v in faults if v))
            print("daemon memory when all were stored (MiB): " +
                  ", ".join(f"{k} {v:.1f}" for k, v in mem.items()))
            print("context switches per 1,000 messages since the start, voluntary/"
                  "involuntary (a voluntary one is a sleep: each wake-up a hand-off): " +
                  ", ".join(f"{name} {v / n * 1000:.1f}/{i / n * 1000:.1f}"
                            for name, (v, i) in sorted(switches.items(),
                                                       key=lambda kv: -kv[1][0])
                            if v + i > 0))
        if states:
            print("thread states from the assignment until all were stored (R running, "
                  "S:call asleep in call, D:call waiting on the kernel):")
            states.report()
        if tl:
            tl.report()
        # A build with -DGL_WRITER_PROF (cli/writer-prof.h) logs where the writer's two
        # threads spent their wall time at their end: shown as it is.
        for line in d.read_log().splitlines():
            if "writer profile" in line:
                print(line.split("msg=", 1)[-1])
        if "--json" in sys.argv:
            # bench/run's kafka-tcp scenario reads the rows and these: the mock cluster's CPU
            # and the daemon's per thread (--threads) until all were stored, the phases.
            print(json.dumps({"n": n, "rows": rows, "mock_cpu_s": mock_w.cpu,
                              "script_cpu_s": poll_cpu, "threads": dict(threads or []),
                              "cpu_from_assignment_s": w.cpu - cpu_at_assign,
                              "threads_from_assignment": {
                                  k: v - threads_at_assign.get(k, 0.0)
                                  for k, v in (threads or [])},
                              "faults": dict(faults or []), "t_first": t_first,
                              "t_stored": t_stored, "t_sealed": t_gl}))
    finally:
        if d:
            d.cleanup()
        mc.close()


if __name__ == "__main__":
    main()
