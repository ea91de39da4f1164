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
loop thread is "gatelog") and its memory (/proc/PID/smaps_rollup) once all are stored;
--perf FILE records `perf record --call-graph $PERF_CALL_GRAPH` (default fp; dwarf for stacks
without frame pointers) of the daemon from the assignment until all are stored; KAFKA_PROPS=
"key=value,..." passes librdkafka properties to the daemon's consumer."""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "kafka"))
from harness import GATELOG, Daemon  # noqa: E402
from kafkapeer import MockCluster, kafka_yaml, produce  # noqa: E402
from procstat import (ChildRun, ProcWatch, commit_batches, print_table, quiet, row,  # noqa: E402
                      stored_count)  # noqa: E402


def event(i):
    return json.dumps({"ts": 1767323045 + i, "actor": {"id": f"user{i % 97}"},
                       "action": "door.open", "resource": f"building-2/door-{i % 40}",
                       "decision": "allow" if i % 13 else "deny", "host": f"gw{i % 7}",
                       "request_id": f"req-{i:012d}"}, separators=(",", ":"))


def thread_cpu(pid):
    """CPU seconds per thread name of pid (threads of one name summed), most first."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return sorted(out.items(), key=lambda kv: -kv[1])


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
    argv = [a for a in opts if a not in ("--json", "--threads")]
    n = int(argv[0]) if argv else 100_000
    parts = int(argv[1]) if len(argv) > 1 else 4
    mc = MockCluster([("bench", parts)])
    d = None
    try:
        for p in range(parts):
            produce(mc.bootstraps, "bench", [event(i) for i in range(p, n, parts)], partition=p)
        out = f"/tmp/gatelog-bench-kcat-{os.getpid()}.out"
        with open(out, "wb") as f:
            k = ChildRun(["kcat", "-C", "-b", mc.bootstraps, "-t", "bench", "-o", "beginning",
                          "-e", "-q"], stdout=f)
        with open(out, "rb") as f:
            k_n = sum(1 for _ in f)
        os.unlink(out)

        # KAFKA_PROPS="key=value,...": librdkafka properties for the daemon's consumer.
        props = dict(kv.split("=", 1) for kv in os.environ.get("KAFKA_PROPS", "").split(",")
                     if kv)
        d = Daemon(extra=kafka_yaml(mc.bootstraps, ["bench"], group="bench",
                                    extra_props=props))
        quiet(d)
        d.start(timeout=60)
        w = ProcWatch(d.proc.pid, whole=True)
        while "kafka partition assigned" not in d._last_start(d.read_log()):
            time.sleep(0.01)
        perf = None
        if perf_out:
            cg = os.environ.get("PERF_CALL_GRAPH", "fp")
            perf = subprocess.Popen(["perf", "record", "--call-graph", cg, "-F", "499",
                                     "-o", perf_out, "-p", str(d.proc.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        while stored_count(GATELOG, d.db) < n:
            time.sleep(0.05)
        t_stored = time.monotonic() - t0
        w_stored = ProcWatch(d.proc.pid, whole=True).sample()
        if perf:
            perf.send_signal(2)
            perf.wait()
        threads = thread_cpu(d.proc.pid) if "--threads" in sys.argv else None
        mem = memory(d.proc.pid) if "--threads" in sys.argv else None
        batches = commit_batches(d)
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
        if batches:
            print(f"commits while storing: {batches[0]:.0f} transactions, "
                  f"{batches[1]:.0f} records each on average, {batches[2]:.2f} s committing")
        if threads:
            print("daemon CPU per thread when all were stored (s; µs per message): " +
                  ", ".join(f"{name} {cpu:.2f} ({cpu / n * 1e6:.1f})" for name, cpu in threads))
            print("daemon memory when all were stored (MiB): " +
                  ", ".join(f"{k} {v:.1f}" for k, v in mem.items()))
        if "--json" in sys.argv:
            print(json.dumps({"n": n, "rows": rows}))
    finally:
        if d:
            d.cleanup()
        mc.close()


if __name__ == "__main__":
    main()
