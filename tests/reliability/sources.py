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

journald and Kafka sources (issues 5 and 6) can be added here by their owners: both replay
from a stored position, so their check() should require every input exactly once.
"""
import re
import socket
import threading

from harness import Failure


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
