"""Real Kafka peers for gatelog's tests: librdkafka's mock cluster (tests/kafka/mock-cluster.c,
a real Kafka protocol server on 127.0.0.1) and kcat, an independent client, as producer and
consumer. Nothing here imitates gatelog."""
import os
import signal
import subprocess
import tempfile

MOCK = os.environ.get("MOCK_CLUSTER", "build/tests/kafka/mock-cluster")

# A session timeout that librdkafka 2.0.2's mock cluster cannot expire during a join. The
# mock holds the first JoinGroup of an empty group for a fixed 3 s (its stand-in for the
# broker's group.initial.rebalance.delay.ms), but runs the joining member's session from
# that JoinGroup and checks sessions once a second: with session_timeout 3s the check can
# come first (a matter of which of two timers due at the same moment fires first, so more
# often under load), the member is dropped with its JoinGroup unanswered and the connection
# left blocked, and librdkafka waits max.poll.interval.ms + 3 s (303 s) for the answer: no
# partition assigned, ever ("log never matched 'kafka partition assigned'"). 6 s leaves that
# delay 3 s. (A non-empty group waits session - 1 s for members to rejoin, so any session
# timeout leaves 1 s there.) Tests whose joins are of an empty group at their start, whose
# daemons stop cleanly (a LeaveGroup: nobody waits for a session), use it at no cost. Those
# that measure a failover (the dead member's session runs out first: 2 x session) or
# restart after kills keep "3s" and rely on max.poll.interval.ms below to re-join a dropped
# join: test_kafka's shared_daemons, test_commit_catches_up_with_store,
# test_broker_down_and_back (its member expires during the outage; 6 s cost it 5 s),
# test_topic_created_later, and test_crash's KafkaSource.
MOCK_SAFE_SESSION = "6s"

# Fast group membership for tests (PEERS.md): a restarted member must not wait 45 s.
# max.poll.interval.ms: librdkafka times a JoinGroup out after max.poll.interval.ms + 3 s, drops
# the connection and joins again; so a join the mock dropped (above: a configuration that
# keeps a short session for a quick failover) costs 18 s instead of 303 s and the wait for
# the assignment (90 s in test_kafka.wait_log) still sees it. Seen with session_timeout 2s,
# where every join of an empty group is dropped: "Timed out JoinGroupRequest in flight
# (after 13036ms)", "Rejoining group without an assignment" with 10000. The daemon polls its
# consumer at least once a second (ingest/kafka.c's tick), so only a loop stalled 15 s would
# be evicted for it; it must stay >= session.timeout.ms (librdkafka refuses less).
TEST_PROPERTIES = {
    "heartbeat.interval.ms": "500",
    "topic.metadata.refresh.interval.ms": "1000",
    "reconnect.backoff.max.ms": "1000",
    "max.poll.interval.ms": "15000",
}


class MockCluster:
    """One mock cluster; commands go over the helper's stdin (see mock-cluster.c)."""

    def __init__(self, topics=(), brokers=1):
        args = [MOCK, "-n", str(brokers)] + [f"{t}:{n}" for t, n in topics]
        # MOCK_CLUSTER_LOG=DIR keeps the cluster's stderr (with MOCK_CLUSTER_DEBUG=mock, its
        # side of every request and group change; mock-cluster.c) in a file there, named on
        # stdout.
        log_dir = os.environ.get("MOCK_CLUSTER_LOG")
        if log_dir:
            self.err = tempfile.NamedTemporaryFile(dir=log_dir, prefix="mock-cluster-",
                                                   suffix=".log", delete=False)
            print(f"mock cluster {' '.join(args[3:])}: log {self.err.name}", flush=True)
        else:
            self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line.startswith("bootstraps="):
            raise RuntimeError(f"mock-cluster did not start: {line!r}")
        self.bootstraps = line.strip().split("=", 1)[1]

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = []
        while True:
            l = self.proc.stdout.readline()
            if not l:
                raise RuntimeError(f"mock-cluster exited during {line!r}")
            l = l.rstrip("\n")
            if l == "ok":
                return out
            if l.startswith("error"):
                raise RuntimeError(f"mock-cluster {line!r}: {l}")
            out.append(l)

    def create(self, topic, partitions):
        self.cmd(f"create {topic} {partitions}")

    def down(self):
        self.cmd("down")

    def up(self):
        self.cmd("up")

    def stall(self):
        """Every broker stops answering but keeps its connections: the helper's process is
        stopped (SIGSTOP), as a broker host that hangs. Unlike down() (connections refused,
        which librdkafka notices at once), requests then wait for an answer that does not
        come. No command works until resume()."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def committed(self, group, topic, partitions):
        """The group's committed offsets as the broker holds them: {partition: offset},
        absent where nothing was committed."""
        return {p: off for p, (off, _) in self.committed_claims(group, topic,
                                                                partitions).items()}

    def committed_claims(self, group, topic, partitions):
        """{partition: (offset, metadata text)} as the broker holds them (issue 6: gatelog's
        failover claims ride in the commit metadata)."""
        res = {}
        for l in self.cmd(f"committed {group} {topic} {partitions}"):
            f = l.split(" ", 4)
            if int(f[3]) >= 0:
                res[int(f[2])] = (int(f[3]), f[4] if len(f) > 4 else "")
        return res

    def close(self):
        if self.proc.poll() is None:
            self.resume()  # a test that failed while the cluster was stalled
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def produce(bootstraps, topic, messages, partition=None, key_sep=None):
    """Sends text lines with kcat -P (one message a line); with key_sep, 'KEY<sep>VALUE'."""
    args = ["kcat", "-P", "-b", bootstraps, "-t", topic]
    if partition is not None:
        args += ["-p", str(partition)]
    if key_sep:
        args += ["-K", key_sep]
    data = "".join(m + "\n" for m in messages).encode()
    p = subprocess.run(args, input=data, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"kcat -P failed: {p.stderr.decode(errors='replace')}")


def produce_files(bootstraps, topic, payloads, partition=0):
    """Sends each payload (bytes, any content) as one message: kcat -P with files."""
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, b in enumerate(payloads):
            path = os.path.join(d, f"m{i}")
            with open(path, "wb") as f:
                f.write(b)
            paths.append(path)
        p = subprocess.run(["kcat", "-P", "-b", bootstraps, "-t", topic, "-p", str(partition),
                            *paths], capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"kcat -P failed: {p.stderr.decode(errors='replace')}")


def kafka_yaml(bootstraps, topics, group="gatelog-test", name="events", start="earliest",
               extra_props=None, session_timeout="6s", claim_window=None, close_timeout=None):
    """The daemon's kafka: section."""
    props = dict(TEST_PROPERTIES, **(extra_props or {}))
    lines = ["kafka:", f"  - name: {name}", f"    brokers: {bootstraps}",
             "    topics: [" + ", ".join(f'"{t}"' for t in topics) + "]",
             f"    group: {group}", f"    start: {start}",
             f"    session_timeout: {session_timeout}", "    drain_timeout: 5s"]
    if claim_window is not None:
        lines.append(f"    claim_window: {claim_window}")
    if close_timeout is not None:
        lines.append(f"    close_timeout: {close_timeout}")
    lines.append("    properties:")
    lines += [f"      {k}: \"{v}\"" for k, v in props.items()]
    return "\n".join(lines) + "\n"
