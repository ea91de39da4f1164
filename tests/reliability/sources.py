"""Pluggable load sources for the reliability tests (crash, full disk, overload).

A source produces numbered inputs for a running daemon and knows, from the stored records,
which of its inputs are there. Each source says what its transport can promise, and checks
exactly that; the crash harness (crash.py) only starts, kills and restarts the daemon and
hands every source the records stored after each crash.

Interface (duck-typed):
  name                    short name for messages
  config()                YAML text added to the daemon's configuration ("" if none)
  start(daemon, cycle)    begins sending to the daemon (its ports are known); returns at once
  stop()                  ends sending (the daemon may be dead) and waits for the senders
  mine(rec)               is this stored record one of my inputs?
  check(recs, final)      raises harness.Failure when the stored records (every record of this
                          source, in seq order) break the source's promise; final=True after
                          the last clean stop, when nothing is in flight any more.
  summary()               one line of what was sent and found

Optional:
  ready(daemon)           waits until the source is being read by this daemon run (Kafka:
                          the group assigned the partitions); the harness calls it on its
                          "long" cycles only, so that most kills stay short
  wait_stored(daemon)     after stop(clean=True): waits until everything sent is stored
  close()                 ends peers the source started (mock cluster, writers)

The journald and Kafka sources replay from a position stored in the same transaction as the
records, so their check() requires every input exactly once, in order.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

from harness import Failure, gatelog

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "journald"))
sys.path.insert(0, os.path.join(HERE, "..", "kafka"))


class SyslogTcpSource:
    """Several sender threads, each on its own TCP connection per daemon run, send numbered
    RFC 5424 messages, octet-counted (RFC 6587), so that a frame cut by a kill is discarded,
    never stored half.

    What TCP syslog can promise under SIGKILL, and what check() holds it to:
      - every stored message is one that was sent, byte for byte, and is stored once;
      - per connection, the stored messages are a prefix of what was sent on it (the daemon
        reads, queues and commits in order; a kill loses only the tail that was still in the
        kernel's buffers, the queue or the uncommitted batch, never a message before a stored
        one);
      - what was stored stays stored: the set found after a crash contains the set found
        after every earlier crash (a commit survives later kills);
      - after the final clean stop (SIGTERM), every message sent on a connection that ended
        cleanly is stored.
    It cannot promise that a message sent before a kill is stored: the sender has no
    acknowledgement and cannot know what the daemon read. Those losses are the in-flight
    tail, counted in summary()."""

    name = "syslog-tcp"
    MSG_RE = re.compile(r"^crash c=(\d+) t=(\d+) n=(\d+) x+$")

    def __init__(self, threads=4, pad=40, burst=4, pause=0.008):
        """Each thread sends `burst` messages, then waits `pause` seconds (about 500
        messages a second per thread by default: a steady load, not a flood, so that the
        checks after each kill stay fast; pause=0 floods)."""
        self.n_threads = threads
        self.pad = pad
        self.sent = {}            # (cycle, thread) -> number of messages sent on it
        self.clean = set()        # connections closed by the sender, not by a kill
        self.completed = set()    # connections of this run that got the daemon's EOF
        self.seen_before = set()  # (cycle, thread, n) found after the previous check
        self.threads = []
        self.stopping = threading.Event()
        self.lost_tail = 0
        self.burst = burst
        self.pause = pause

    def config(self):
        return ""

    def _text(self, cycle, t, n):
        return f"crash c={cycle} t={t} n={n} " + "x" * self.pad

    def _sender(self, port, cycle, t):
        key = (cycle, t)
        self.sent[key] = 0
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            return
        n = 0
        try:
            while not self.stopping.is_set():
                msg = (f"<14>1 - crashhost loadgen - - - " + self._text(cycle, t, n)).encode()
                # Counted as sent before the bytes go: a partly sent frame is "sent" too.
                self.sent[key] = n + 1
                s.sendall(b"%d %s" % (len(msg), msg))
                n += 1
                if self.pause and n % self.burst == 0:
                    self.stopping.wait(self.pause)
            s.shutdown(socket.SHUT_WR)
            # The daemon closes its side after reading everything: wait for that EOF, so
            # that "clean" means "the daemon read it all".
            s.settimeout(30)
            while s.recv(4096):
                pass
            self.completed.add(key)
        except OSError:
            pass  # the daemon was killed under us
        finally:
            s.close()

    def start(self, daemon, cycle):
        self.stopping.clear()
        self.threads = [threading.Thread(target=self._sender, args=(daemon.ports["tcp"], cycle, t),
                                         daemon=True) for t in range(self.n_threads)]
        for th in self.threads:
            th.start()

    def stop(self, clean=False):
        """clean: the daemon is alive and will be stopped with SIGTERM, so connections that
        got its EOF were read whole. After a kill an EOF means nothing (the kernel closed)."""
        self.stopping.set()
        for th in self.threads:
            th.join(60)
            if th.is_alive():
                raise Failure("a TCP sender is stuck (the daemon neither reads nor closes)")
        self.threads = []
        if clean:
            self.clean |= self.completed
        self.completed = set()

    def mine(self, rec):
        return rec.get("app") == "loadgen"

    def check(self, recs, final=False):
        found = {}
        for r in recs:
            m = self.MSG_RE.match(r.get("message") or "")
            if not m or r.get("flags") != ["no_timestamp"] or r.get("host") != "crashhost":
                raise Failure(f"{self.name}: corrupted record: {r}")
            key = tuple(int(x) for x in m.groups())
            if key in found:
                raise Failure(f"{self.name}: message {key} stored twice")
            if key[:2] not in self.sent or key[2] >= self.sent[key[:2]]:
                raise Failure(f"{self.name}: stored message {key} was never sent")
            found[key] = r
        # Per connection: a prefix of what was sent.
        per_conn = {}
        for (c, t, n) in found:
            per_conn.setdefault((c, t), []).append(n)
        for conn, ns in per_conn.items():
            ns.sort()
            if ns != list(range(len(ns))):
                missing = sorted(set(range(ns[-1] + 1)) - set(ns))[:5]
                raise Failure(f"{self.name}: connection {conn}: stored messages are not a "
                              f"prefix of what was sent; missing n={missing} before n={ns[-1]}")
        # Durability: what was stored stays stored.
        gone = self.seen_before - set(found)
        if gone:
            raise Failure(f"{self.name}: {len(gone)} messages stored earlier are gone after a "
                          f"crash, e.g. {sorted(gone)[:5]}")
        self.seen_before = set(found)
        if final:
            for conn in self.clean:
                got = len(per_conn.get(conn, []))
                if got != self.sent[conn]:
                    raise Failure(f"{self.name}: connection {conn} ended cleanly with "
                                  f"{self.sent[conn]} sent but {got} stored")
        self.lost_tail = sum(self.sent.values()) - len(found)

    def summary(self):
        total = sum(self.sent.values())
        return (f"{self.name}: {len(self.sent)} connections, {total} messages sent, "
                f"{total - self.lost_tail} stored, {self.lost_tail} lost in flight at kills "
                f"(no acknowledgement in syslog TCP)")


def _exactly_once_prefix(name, lane, got, sent, before, final):
    """got: the numbers stored for one journal or partition, in seq order. They must be
    0, 1, ..., k-1 (each once, in order: nothing the daemon read is lost or repeated), k at
    most what was sent, k not below what was stored after the previous crash, and k equal to
    what was sent after the final clean stop. Returns k."""
    k = len(got)
    if got != list(range(k)):
        seen, dup = set(), None
        for x in got:
            if x in seen:
                dup = x
                break
            seen.add(x)
        if dup is not None:
            raise Failure(f"{name}: {lane}: input {dup} stored twice")
        first = next(i for i, x in enumerate(got) if x != i)
        raise Failure(f"{name}: {lane}: not every input exactly once in order: position {first} "
                      f"holds {got[first]} (missing or reordered), {k} stored")
    if k > sent:
        raise Failure(f"{name}: {lane}: {k} stored but only {sent} sent")
    if k < before:
        raise Failure(f"{name}: {lane}: {before} were stored after an earlier crash, {k} now")
    if final and k != sent:
        raise Failure(f"{name}: {lane}: after the final clean stop {k} stored, {sent} sent")
    return k


def _wait_store(daemon, what, fn, timeout=60):
    """Polls the store (gatelog query) until fn(records) holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rc, out, _ = gatelog("query", "--db", daemon.db, "--include-open")
        if rc == 0 and fn([json.loads(l) for l in out.splitlines() if l.strip()]):
            return
        time.sleep(0.2)
    raise Failure(f"{what} never stored:\n" + daemon.read_log()[-3000:])


class JournaldSource:
    """A writer thread appends numbered entries to a real journal file with
    systemd-journal-remote (export format in, tests/journald/jtools.py), in small batches at a
    steady rate, for the whole run: while the daemon runs, while it is dead (it catches up on
    restart) and across kills. The daemon follows the journal directory.

    Promise (the cursor is stored in the transaction that stores the record): after every
    crash, the stored entries are exactly entries 0..k-1 of the journal, each once, in order,
    with no journal_gap; k never goes down; after the final clean stop, k = all written."""

    name = "journald"

    def __init__(self, batch=10, pause=0.1):
        import jtools
        self.jt = jtools
        self.dir = tempfile.mkdtemp(prefix="gatelog-crash-jd-")
        self.path = os.path.join(self.dir, "crash.journal")
        self.batch, self.pause = batch, pause
        self.written = 0          # entries systemd-journal-remote has written (exit 0)
        self.stored = 0
        self.during_kills = 0     # stored before the final clean run
        self.thread = None
        self.stopping = threading.Event()
        self.error = None

    def config(self):
        return f"journald:\n  - name: crashjd\n    directory: {self.dir}\n"

    def _writer(self):
        try:
            while not self.stopping.is_set():
                n = self.written
                self.jt.write_journal(self.path, [self.jt.entry(i, f"jcrash {i}")
                                                  for i in range(n, n + self.batch)])
                self.written = n + self.batch
                self.stopping.wait(self.pause)
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.error = f"journal writer: {e}"

    def start(self, daemon, cycle):
        if self.thread is None:
            self.stopping.clear()
            self.thread = threading.Thread(target=self._writer, daemon=True)
            self.thread.start()

    def stop(self, clean=False):
        if clean and self.thread is not None:
            self.stopping.set()
            self.thread.join(60)
            self.thread = None

    def wait_stored(self, daemon):
        _wait_store(daemon, f"{self.name}: all {self.written} entries",
                    lambda recs: sum(1 for r in recs if self.mine(r)) >= self.written)

    def mine(self, rec):
        return rec.get("source", {}).get("kind") == "journald"

    def check(self, recs, final=False):
        if self.error:
            raise Failure(self.error)
        got = []
        for r in recs:
            m = re.match(r"^jcrash (\d+)$", r.get("message") or "")
            if not m or "journal_gap" in r.get("flags", []) or r["source"]["name"] != "crashjd":
                raise Failure(f"{self.name}: unexpected record: {r}")
            got.append(int(m.group(1)))
        self.stored = _exactly_once_prefix(self.name, "crash.journal", got, self.written,
                                           self.stored, final)
        if not final:
            self.during_kills = self.stored

    def close(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(60)
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    def summary(self):
        return (f"{self.name}: {self.written} entries written, {self.stored} stored, each "
                f"exactly once in order ({self.during_kills} before the final clean run)")


class KafkaSource:
    """librdkafka's mock cluster (tests/kafka/mock-cluster, a real Kafka protocol server) with
    one long-lived `kcat -P` producer per partition, fed numbered JSON messages at a steady
    rate for the whole run; the daemon consumes in a consumer group.

    A (re)started consumer gets its partitions only after the group's rebalance (about 3 s on
    the mock, 5 s after a kill left a dead member behind), so most short kill cycles kill it
    before or while it joins; ready() makes the harness's long cycles wait for the assignment
    and the first stored message, and kill while it consumes.

    Promise (the offset is stored in the transaction that stores the record, and committed to
    the broker only after it): after every crash, each partition's stored messages are
    offsets 0..k-1 with their payloads, each once, in order; k never goes down; the broker's
    committed offset is at most k; after the final clean stop, k = all produced."""

    name = "kafka"
    TOPIC = "crash"

    def __init__(self, partitions=2, batch=5, pause=0.05):
        from kafkapeer import MockCluster, kafka_yaml
        self.parts = partitions
        self.mc = MockCluster([(self.TOPIC, partitions)])
        self.yaml = kafka_yaml(self.mc.bootstraps, [self.TOPIC], group="g-crash",
                               session_timeout="3s")
        self.batch, self.pause = batch, pause
        self.sent = [0] * partitions
        self.stored = [0] * partitions
        self.during_kills = 0     # stored before the final clean run
        self.procs = []
        self.thread = None
        self.stopping = threading.Event()
        self.error = None
        self.assigned_cycles = 0

    def config(self):
        return self.yaml

    def _producer(self):
        try:
            while not self.stopping.is_set():
                for p, proc in enumerate(self.procs):
                    n = self.sent[p]
                    proc.stdin.write("".join(
                        json.dumps({"p": p, "n": i, "actor": "crash"}, separators=(",", ":"))
                        + "\n" for i in range(n, n + self.batch)).encode())
                    proc.stdin.flush()
                    self.sent[p] = n + self.batch
                self.stopping.wait(self.pause)
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.error = f"kafka producer: {e}"

    def start(self, daemon, cycle):
        if self.thread is None:
            self.procs = [subprocess.Popen(["kcat", "-P", "-b", self.mc.bootstraps, "-t",
                                            self.TOPIC, "-p", str(p)], stdin=subprocess.PIPE,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                          for p in range(self.parts)]
            self.stopping.clear()
            self.thread = threading.Thread(target=self._producer, daemon=True)
            self.thread.start()

    def _end_producers(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(60)
            self.thread = None
        for proc in self.procs:
            proc.stdin.close()
            err = proc.stderr.read()
            if proc.wait(60) != 0:  # kcat exits 0 once every message is delivered
                self.error = f"kcat -P failed: {err.decode(errors='replace')}"
        self.procs = []

    def stop(self, clean=False):
        if clean:
            self._end_producers()

    def _count(self, daemon):
        import sqlite3
        con = sqlite3.connect(f"file:{daemon.db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute("SELECT count(*) FROM records WHERE "
                               "json_extract(data, '$.source.kind') = 'kafka'").fetchone()[0]
        finally:
            con.close()

    def ready(self, daemon, timeout=60):
        """Waits for the assignment, then for this run's first stored message (about 1 s
        later on the mock): the harness then kills while the daemon consumes. 60 s: a join
        the mock dropped (kafkapeer's MOCK_SAFE_SESSION) is joined again after 18 s."""
        deadline = time.time() + timeout
        while "kafka partition assigned" not in daemon._last_start(daemon.read_log()):
            if time.time() > deadline:
                raise Failure(f"{self.name}: partitions never assigned:\n" +
                              daemon.read_log()[-3000:])
            time.sleep(0.05)
        self.assigned_cycles += 1
        before = self._count(daemon)
        while self._count(daemon) == before:
            if time.time() > deadline:
                raise Failure(f"{self.name}: assigned but nothing consumed:\n" +
                              daemon.read_log()[-3000:])
            time.sleep(0.02)

    def wait_stored(self, daemon):
        total = sum(self.sent)
        _wait_store(daemon, f"{self.name}: all {total} messages",
                    lambda recs: sum(1 for r in recs if self.mine(r)) >= total)

    def mine(self, rec):
        return rec.get("source", {}).get("kind") == "kafka"

    def check(self, recs, final=False):
        if self.error:
            raise Failure(self.error)
        got = [[] for _ in range(self.parts)]
        for r in recs:
            s, ev = r["source"], r.get("event") or {}
            if (s.get("topic") != self.TOPIC or not 0 <= s.get("partition", -1) < self.parts
                    or ev.get("p") != s["partition"] or ev.get("n") != s.get("offset")):
                raise Failure(f"{self.name}: record is not the message at its offset: {r}")
            got[s["partition"]].append(s["offset"])
        for p in range(self.parts):
            self.stored[p] = _exactly_once_prefix(self.name, f"{self.TOPIC}/{p}", got[p],
                                                  self.sent[p], self.stored[p], final)
        if not final:
            self.during_kills = sum(self.stored)
        committed = self.mc.committed("g-crash", self.TOPIC, self.parts)
        for p, off in committed.items():
            if off > self.stored[p]:
                raise Failure(f"{self.name}: broker has offset {off} of partition {p} "
                              f"committed, the store only {self.stored[p]} messages")

    def close(self):
        try:
            self._end_producers()
        finally:
            self.mc.close()

    def summary(self):
        return (f"{self.name}: {sum(self.sent)} messages produced to {self.parts} partitions, "
                f"{sum(self.stored)} stored, each exactly once in order ({self.during_kills} "
                f"before the final clean run); partitions assigned in {self.assigned_cycles} "
                f"long cycles")
