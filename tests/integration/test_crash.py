#!/usr/bin/python3
"""Crash consistency (issue 11): one daemon under a steady mixed load (syslog TCP, a journal
file appended by systemd-journal-remote, Kafka from kcat through librdkafka's mock cluster),
killed with SIGKILL at random points 50 times (25 more in the sanitizer build), restarted,
and checked after every kill: the database opens, `gatelog verify --db` passes, seq is
gapless over every stored record, no stored message is duplicated, corrupted or unsent, per
TCP connection the stored messages are a prefix of those sent, the journal's entries and
each Kafka partition's messages are stored exactly once in order up to the last one the
daemon read (the committed Kafka offsets never pass the store), and nothing stored before is
lost later; after a final clean run every journal entry and Kafka message is stored exactly
once. A self-test shows the exactly-once check reports a duplicate and a missing input. tests/reliability/crash.py is the
harness; docs/RELIABILITY.md states the guarantees. Prints the seed; GATELOG_CRASH_SEED and
GATELOG_CRASH_KILLS repeat or lengthen a run."""
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reliability"))

import crash  # noqa: E402
from harness import GATELOG, Daemon, Failure, check, run_tests  # noqa: E402
from sources import JournaldSource, KafkaSource, SyslogTcpSource  # noqa: E402


def sanitized():
    """Is the daemon built with AddressSanitizer?"""
    p = subprocess.run(["ldd", GATELOG], capture_output=True)
    return b"libasan" in p.stdout or b"asan" in p.stdout


def test_sigkill_under_load_loses_nothing_stored():
    seed = int(os.environ.get("GATELOG_CRASH_SEED") or random.randrange(1 << 32))
    # 50 kills in the normal build; 25 more in the sanitizer build, where every start and
    # every check is several times slower (CI runs both).
    kills = int(os.environ.get("GATELOG_CRASH_KILLS") or (25 if sanitized() else 50))
    # A steady load, not a flood: the checks after each kill read every stored record.
    sources = [SyslogTcpSource(threads=2, burst=2, pause=0.02)]
    try:
        sources.append(JournaldSource(batch=4, pause=0.2))
        sources.append(KafkaSource(batch=2, pause=0.1))
        d = Daemon(epoch="1s", unix=False, extra="".join(s.config() for s in sources))
        try:
            # Short cycles (0.05-0.25 s) keep 50 kills under a minute; every 16th cycle is
            # long: it waits for Kafka's group assignment (3-5 s on the mock) first.
            crash.run(d, sources, kills, seed, short=(0.05, 0.25), long_every=16)
            duplicate_is_caught(d, sources)
        finally:
            d.cleanup()
    finally:
        for s in sources:
            if hasattr(s, "close"):
                s.close()


def duplicate_is_caught(d, sources):
    """The exactly-once checks bite: the final records with one journald entry and one Kafka
    message stored twice (and, apart, with one missing) are reported."""
    seqs, recs = crash.stored(d)
    for s in sources[1:]:
        mine = [r for r in recs if s.mine(r)]
        check(len(mine) > 2, f"{s.name}: only {len(mine)} records")
        for bad, word in ((mine[:len(mine) // 2 + 1] + mine[len(mine) // 2:], "twice"),
                          (mine[:1] + mine[2:], "exactly once in order")):
            s.stored = [0] * len(s.stored) if isinstance(s.stored, list) else 0
            try:
                s.check(bad, final=True)
            except Failure as e:
                check(word in str(e), f"{s.name}: reported, but not as {word!r}: {e}")
                print(f"crash: self-test: {s.name} reports: {e}")
            else:
                raise Failure(f"{s.name}: the checker did not notice ({word})")


def test_checker_catches_a_lost_record():
    """The checks bite: a record deleted behind the daemon's back (the loss a broken commit
    would cause) is reported, by seq and by the source's prefix property."""
    import sqlite3
    d = Daemon(epoch="1h", unix=False)
    src = SyslogTcpSource(threads=1)
    try:
        d.start()
        src.start(d, 0)
        d.wait_records(20)
        src.stop(clean=True)
        check(d.stop() == 0, "exit status")
        crash.check_store(d, [src], final=True)
        db = sqlite3.connect(d.db)
        seq = db.execute("SELECT seq FROM records ORDER BY seq LIMIT 1 OFFSET 5").fetchone()[0]
        db.execute("DELETE FROM records WHERE seq=?", (seq,))
        db.commit()
        db.close()
        try:
            crash.check_store(d, [src], final=True)
        except Failure as e:
            check("gap" in str(e), f"reported, but not as a seq gap: {e}")
        else:
            raise Failure("a deleted record was not noticed")
        # The source's own check, alone: the lost message breaks the prefix.
        seqs, recs = crash.stored(d)
        try:
            src.check([r for r in recs if src.mine(r)], final=True)
        except Failure as e:
            check("prefix" in str(e) or "gone" in str(e), str(e))
        else:
            raise Failure("the source did not notice a lost message")
    finally:
        src.stop()
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_checker_catches_a_lost_record, test_sigkill_under_load_loses_nothing_stored])
