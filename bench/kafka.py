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
the rows as one JSON object (bench/run reads it)."""
import json
import os
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


def main():
    argv = [a for a in sys.argv[1:] if a != "--json"]
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

        d = Daemon(extra=kafka_yaml(mc.bootstraps, ["bench"], group="bench"))
        quiet(d)
        d.start(timeout=60)
        w = ProcWatch(d.proc.pid, whole=True)
        while "kafka partition assigned" not in d._last_start(d.read_log()):
            time.sleep(0.01)
        t0 = time.monotonic()
        while stored_count(GATELOG, d.db) < n:
            time.sleep(0.05)
        t_stored = time.monotonic() - t0
        w_stored = ProcWatch(d.proc.pid, whole=True).sample()
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
        if "--json" in sys.argv:
            print(json.dumps({"n": n, "rows": rows}))
    finally:
        if d:
            d.cleanup()
        mc.close()


if __name__ == "__main__":
    main()
