#!/usr/bin/python3
"""Kafka ingest rate: messages per second from a topic into sealed records, beside
`kcat -C` consuming the same topic, as a ratio, in one run.

  GATELOG=build/cli/gatelog MOCK_CLUSTER=build/tests/kafka/mock-cluster \\
      /usr/bin/python3 bench/kafka.py [N] [PARTITIONS]

N JSON access events (default 100000, ~200 bytes each) are produced with kcat into a topic of
PARTITIONS partitions (default 4) on librdkafka's mock cluster; `kcat -C` reads them all to
/dev/null (timed); then the daemon, started with a `kafka:` consumer, ingests them: the clock
starts at the partition assignment (so the group join, a fixed ~3 s of the mock, is left
out of both) and stops when `gatelog seal --now` has sealed the epoch holding all N. kcat
only reads; gatelog also parses, builds, hashes, stores (SQLite, synchronous=FULL), seals and
commits the offsets after each transaction."""
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "kafka"))
from harness import Daemon, gatelog  # noqa: E402
from kafkapeer import MockCluster, kafka_yaml, produce  # noqa: E402


def event(i):
    return json.dumps({"ts": 1767323045 + i, "actor": {"id": f"user{i % 97}"},
                       "action": "door.open", "resource": f"building-2/door-{i % 40}",
                       "decision": "allow" if i % 13 else "deny", "host": f"gw{i % 7}",
                       "request_id": f"req-{i:012d}"}, separators=(",", ":"))


def sealed_and_open(d):
    rc, out, _ = gatelog("epochs", "--db", d.db, "--format", "jsonl")
    if rc != 0:
        return 0
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    return sum(r.get("count", 0) for r in rows if "epoch" in r)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    parts = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    mc = MockCluster([("bench", parts)])
    d = None
    try:
        for p in range(parts):
            produce(mc.bootstraps, "bench", [event(i) for i in range(p, n, parts)], partition=p)
        t0 = time.monotonic()
        subprocess.run(["kcat", "-C", "-b", mc.bootstraps, "-t", "bench", "-o", "beginning",
                        "-e", "-q"], stdout=subprocess.DEVNULL, check=True)
        t_kcat = time.monotonic() - t0

        d = Daemon(extra=kafka_yaml(mc.bootstraps, ["bench"], group="bench"))
        with open(d.config) as f:
            text = f.read().replace("level: debug", "level: info")
        with open(d.config, "w") as f:
            f.write(text)
        d.start(timeout=60)
        while "kafka partition assigned" not in d._last_start(d.read_log()):
            time.sleep(0.01)
        t0 = time.monotonic()
        while sealed_and_open(d) < n:
            time.sleep(0.05)
        t_stored = time.monotonic() - t0
        d.seal()
        t_gl = time.monotonic() - t0
        d.stop()
        committed = mc.committed("bench", "bench", parts)
        r_k, r_g = n / t_kcat, n / t_gl
        print(f"messages:                     {n} in {parts} partitions")
        print(f"kcat -C:                      {t_kcat:8.2f} s  {r_k:10.0f} messages/s")
        print(f"gatelog stored:               {t_stored:8.2f} s  {n / t_stored:10.0f} messages/s")
        print(f"gatelog stored and sealed:    {t_gl:8.2f} s  {r_g:10.0f} messages/s")
        print(f"ratio gatelog / kcat:         {r_g / r_k:8.2f}")
        print(f"committed offsets after stop: {sum(committed.values())} of {n}")
    finally:
        if d:
            d.cleanup()
        mc.close()


if __name__ == "__main__":
    main()
