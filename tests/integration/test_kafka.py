"""Kafka collector (issue 6) against a real Kafka protocol server: librdkafka's mock cluster
(tests/kafka/mock-cluster.c), with kcat as the independent producer.

What an auditor would check: every produced message is exactly one record (by topic,
partition and offset, and by payload), records verify, malformed payloads are kept and
flagged, and the consumer group's committed offsets never run ahead of what the database
holds. `python3 test_kafka.py NAME...` runs single tests; `exactly_once` alone is the slow
one (meson runs it as its own test)."""
import base64
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "kafka"))

import harness  # noqa: E402
from harness import (Daemon, Failure, check, gatelog, independent_verify, run_tests,  # noqa: E402
                     scrape_metrics)
from kafkapeer import (MOCK_SAFE_SESSION, MockCluster, kafka_yaml, produce,  # noqa: E402
                       produce_files)

SHAPE = ["received", "time", "source", "format", "host", "app", "msgid", "pid", "procid",
         "facility", "severity", "message", "sd", "rule", "actor", "action", "target",
         "outcome", "criteria", "raw_sha256", "raw", "raw_b64", "flags", "error", "event"]


def db_records(db):
    """Every stored record (open epoch included), read with sqlite3 like an auditor would."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT data FROM records ORDER BY seq").fetchall()
    finally:
        con.close()
    return [json.loads(r[0]) for r in rows]


def kafka_recs(recs):
    return [r for r in recs if r["source"]["kind"] == "kafka"]


def wait_kafka_records(d, n, timeout=60):
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        try:
            got = kafka_recs(db_records(d.db))
        except sqlite3.Error:
            got = []
        if len(got) >= n:
            return got
        if d.proc is not None and d.proc.poll() is not None:
            raise Failure(f"daemon exited {d.proc.returncode}:\n" + d.read_log()[-3000:])
        time.sleep(0.1)
    raise Failure(f"wanted {n} Kafka records, store has {len(got)}\n" + d.read_log()[-3000:])


def key_of(r):
    s = r["source"]
    return (s["topic"], s["partition"], s["offset"])


def check_once(recs, expected):
    """expected: {(topic, partition): [payload text by offset]}. Each offset exactly once,
    with its payload."""
    seen = {}
    for r in recs:
        k = key_of(r)
        check(k not in seen, f"offset stored twice: {k}")
        seen[k] = r
    want = {(t, p, o) for (t, p), msgs in expected.items() for o in range(len(msgs))}
    missing = sorted(want - set(seen))
    extra = sorted(set(seen) - want)
    check(not missing, f"{len(missing)} offsets missing, e.g. {missing[:5]}")
    check(not extra, f"unexpected offsets {extra[:5]}")
    for (t, p), msgs in expected.items():
        for o, m in enumerate(msgs):
            ev = seen[(t, p, o)]["event"]
            check(ev == json.loads(m), f"{t}/{p}@{o}: event {ev} is not the message {m}")


def committed_within_store(mc, group, topic, parts, db):
    """The broker's committed offset of each partition is at most (highest stored offset + 1):
    offsets reach the broker only after the database commit."""
    committed = mc.committed(group, topic, parts)
    stored = {}
    for r in kafka_recs(db_records(db)):
        s = r["source"]
        if s["topic"] == topic:
            stored[s["partition"]] = max(stored.get(s["partition"], -1), s["offset"])
    for p, off in committed.items():
        check(off <= stored.get(p, -1) + 1,
              f"{topic}/{p}: broker has offset {off} committed, store only up to "
              f"{stored.get(p, -1)}")
    return committed, stored


def assigned_since_start(d):
    return "kafka partition assigned" in d._last_start(d.read_log())


def wait_log(d, pattern, timeout=90):
    # 90 s: under heavy load (load average 20+ on 2 CPUs) a group join on the mock cluster,
    # with a rebalance of the other member (its revoke drains for up to drain_timeout),
    # took longer than the 30 s this used to allow. A partition that is never assigned
    # still fails, only later; the daemon exiting fails at once.
    deadline = time.time() + timeout
    while time.time() < deadline:
        if re.search(pattern, d._last_start(d.read_log())):
            return
        if d.proc is not None and d.proc.poll() is not None:
            raise Failure(f"daemon exited {d.proc.returncode} before the log matched "
                          f"{pattern!r}:\n" + d.read_log()[-3000:])
        time.sleep(0.05)
    raise Failure(f"log never matched {pattern!r} in {timeout} s:\n" + d.read_log()[-3000:])


def wait_owns_all(d, topic, parts, timeout=90):
    """Waits until the daemon's current assignment (since its last start) is every partition
    of topic. A daemon can commit only what its group assigned it: stopped before that (its
    store may already hold every message, stored by the instance before it), its close has
    nothing to commit and the broker keeps the older offsets. Eager rebalancing (the default
    assignors): a revoke or a loss takes the whole assignment."""
    deadline = time.time() + timeout
    owned = set()
    while time.time() < deadline:
        owned = set()
        for line in d._last_start(d.read_log()).splitlines():
            if "kafka partitions revoked" in line or "kafka partitions lost" in line:
                owned = set()
            m = re.search(r'kafka partition assigned.* topic=(\S+) partition=(\d+)', line)
            if m and m.group(1) == topic:
                owned.add(int(m.group(2)))
        if owned == set(range(parts)):
            return
        if d.proc is not None and d.proc.poll() is not None:
            raise Failure(f"daemon exited {d.proc.returncode}:\n" + d.read_log()[-3000:])
        time.sleep(0.05)
    raise Failure(f"{topic}: the daemon owns partitions {sorted(owned)} after {timeout} s, "
                  f"not all {parts}:\n" + d.read_log()[-3000:])


def test_payloads_and_malformed():
    """JSON, syslog, garbage, broken JSON, binary bytes and a keyed message: each one record
    with every member of the shape; the bad ones flagged malformed with their bytes."""
    mc = MockCluster([("access", 3)])
    d = Daemon(extra=kafka_yaml(mc.bootstraps, ["access"], group="g-payloads"))
    try:
        produce(mc.bootstraps, "access", [
            '{"ts":"2026-01-02T03:04:05Z","actor":"alice","action":"open",'
            '"resource":"door-1","decision":"allow","host":"gw1"}',
            '{"timestamp":1767323045123,"user":"bob","outcome":"deny"}',
            '{"actor":"carol"}',
        ], partition=0)
        produce(mc.bootstraps, "access", [
            "<38>1 2026-01-02T03:04:05Z gw2 sshd 42 - - Accepted publickey for dave",
            "not json at all",
            '{"broken": ',
        ], partition=1)
        binary = b"\xff\xfe binary \x00 bytes"
        produce_files(mc.bootstraps, "access", [binary], partition=2)
        produce(mc.bootstraps, "access", ['user-7|{"actor":"erin","ts":1767323045}'],
                partition=2, key_sep="|")
        d.start()
        recs = wait_kafka_records(d, 8)
        check(len(recs) == 8, f"{len(recs)} records for 8 messages")
        by = {(r["source"]["partition"], r["source"]["offset"]): r for r in recs}
        for r in recs:
            for m in SHAPE:
                check(m in r, f"member {m} missing in {r}")
            s = r["source"]
            check(s["kind"] == "kafka" and s["topic"] == "access", f"source {s}")
            check(re.match(r"\d{4}-\d\d-\d\dT", s["timestamp"] or ""), f"timestamp {s}")
        a = by[(0, 0)]
        check(a["format"] == "json" and a["event"]["actor"] == "alice", f"alice: {a}")
        check(a["time"] == "2026-01-02T03:04:05.000000Z" and a["host"] == "gw1", f"alice {a}")
        check(a["flags"] == [], f"alice flags {a['flags']}")
        check(by[(0, 1)]["time"] == "2026-01-02T03:04:05.123000Z", f"millis {by[(0, 1)]}")
        c = by[(0, 2)]
        check(c["time"] == c["source"]["timestamp"], f"no ts: message timestamp {c}")
        sl = by[(1, 0)]
        check(sl["format"] == "rfc5424" and sl["app"] == "sshd" and sl["event"] is None,
              f"syslog {sl}")
        g = by[(1, 1)]
        check("malformed" in g["flags"] and g["raw"] == "not json at all", f"garbage {g}")
        bj = by[(1, 2)]
        check("malformed" in bj["flags"] and bj["raw"] == '{"broken": ' and
              "JSON" in bj["error"], f"broken json {bj}")
        b = by[(2, 0)]
        check("malformed" in b["flags"] and "invalid_utf8" in b["flags"], f"binary {b}")
        check(base64.b64decode(b["raw_b64"]) == binary, f"raw_b64 {b['raw_b64']}")
        k = by[(2, 1)]
        check(k["source"]["key"] == "user-7" and k["event"]["actor"] == "erin", f"key {k}")
        check(d.stop() == 0, "daemon did not exit 0")
        # After a clean stop the group's lag is zero: committed = last offset + 1.
        committed = mc.committed("g-payloads", "access", 3)
        check(committed == {0: 3, 1: 3, 2: 2}, f"committed offsets {committed}")
        d.seal()
        rc, out, err = d.verify_db()
        check(rc == 0, f"verify failed:\n{out}{err}")
        # A restart stores nothing again.
        d.start()
        wait_log(d, "kafka partition assigned")
        produce(mc.bootstraps, "access", ['{"actor":"frank"}'], partition=1)
        recs = wait_kafka_records(d, 9)
        time.sleep(0.5)
        recs = kafka_recs(db_records(d.db))
        check(len(recs) == 9, f"{len(recs)} records after restart, wanted 9")
        check(d.stop() == 0, "daemon did not exit 0")
    finally:
        d.cleanup()
        mc.close()


def sigkill_lane(lane, kills, results):
    """One daemon and its own topic and group, killed `kills` times at random moments."""
    rnd = random.Random(lane * 7919 + int(time.time()))
    topic, group, parts = f"eo{lane}", f"g-eo{lane}", 3
    mc = MockCluster([(topic, parts)])
    # MOCK_SAFE_SESSION: each restart joins the mock's group again, often an empty one.
    d = Daemon(extra=kafka_yaml(mc.bootstraps, [topic], group=group,
                                session_timeout=MOCK_SAFE_SESSION))
    expected = {(topic, p): [] for p in range(parts)}

    def produce_more(n):
        for p in range(parts):
            msgs = expected[(topic, p)]
            new = [json.dumps({"id": f"{p}-{len(msgs) + i}", "actor": f"u{i}"},
                              separators=(",", ":")) for i in range(n)]
            produce(mc.bootstraps, topic, new, partition=p)
            msgs.extend(new)
    try:
        for k in range(kills):
            produce_more(500)
            d.start()
            if rnd.random() < 0.25:
                time.sleep(rnd.uniform(0, 3.5))  # during start-up or the group join
            else:
                wait_log(d, "kafka partition assigned")
                time.sleep(rnd.uniform(0, 0.25))  # in the middle of consuming
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
            d.proc = None
            d.log.close()
            committed, stored = committed_within_store(mc, group, topic, parts, d.db)
            print(f"lane {lane} kill {k}: produced {sum(len(m) for m in expected.values())}, "
                  f"stored up to {stored}, committed {committed}", flush=True)
        d.start()
        total = sum(len(m) for m in expected.values())
        recs = wait_kafka_records(d, total, timeout=120)
        # Every message may already be stored by the instance killed last; the lag is zero
        # after a clean stop of the partitions' owner.
        wait_owns_all(d, topic, parts)
        check(d.stop() == 0, "daemon did not exit 0")
        recs = kafka_recs(db_records(d.db))
        check_once(recs, expected)
        committed, stored = committed_within_store(mc, group, topic, parts, d.db)
        check(committed == {p: len(expected[(topic, p)]) for p in range(parts)},
              f"after a clean stop the lag is not zero: {committed}")
        d.seal()
        rc, out, err = d.verify_db()
        check(rc == 0, f"verify failed:\n{out}{err}")
        results[lane] = None
    except Exception as e:  # noqa: BLE001 - reported by the caller
        results[lane] = f"lane {lane}: {type(e).__name__}: {e}"
        os.environ["KEEP_TMP"] = "1"
    finally:
        d.cleanup()
        mc.close()


def test_exactly_once():
    """24 SIGKILLs at random moments (4 lanes of 6, in parallel to keep the run short), over
    3 partitions each, while producing: the records are the messages, each exactly once,
    the broker's committed offsets never pass the store, and the chain verifies."""
    lanes, kills = 4, 6
    results = {}
    threads = [threading.Thread(target=sigkill_lane, args=(i, kills, results))
               for i in range(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [v for v in results.values() if v]
    check(len(results) == lanes, f"lanes finished: {len(results)}")
    check(not errors, "\n".join(errors))


def test_two_instances():
    """Two daemons in one consumer group split the partitions; together they hold each
    message exactly once, in two chains that each verify."""
    mc = MockCluster([("shared", 4)])
    cfg = kafka_yaml(mc.bootstraps, ["shared"], group="g-two",
                     session_timeout=MOCK_SAFE_SESSION)
    a, b = Daemon(extra=cfg), Daemon(extra=cfg)
    for d, chain in ((a, "chain-a"), (b, "chain-b")):
        text = open(d.config).read().replace("chain: test-chain", f"chain: {chain}")
        open(d.config, "w").write(text)
    expected = {("shared", p): [] for p in range(4)}
    try:
        a.start()
        b.start()
        # Wait until the group settled with both members (each logs its assignment).
        wait_log(a, "kafka partition assigned")
        wait_log(b, "kafka partition assigned")
        for p in range(4):
            msgs = [json.dumps({"id": f"{p}-{i}"}, separators=(",", ":")) for i in range(300)]
            produce(mc.bootstraps, "shared", msgs, partition=p)
            expected[("shared", p)] = msgs
        deadline = time.time() + 60
        while time.time() < deadline:
            n = len(kafka_recs(db_records(a.db))) + len(kafka_recs(db_records(b.db)))
            if n >= 1200:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        check(a.stop() == 0 and b.stop() == 0, "a daemon did not exit 0")
        ra, rb = kafka_recs(db_records(a.db)), kafka_recs(db_records(b.db))
        check(ra and rb, f"one instance got nothing: {len(ra)} + {len(rb)}")
        check_once(ra + rb, expected)
        for d in (a, b):
            d.seal()
            rc, out, err = d.verify_db()
            check(rc == 0, f"verify failed:\n{out}{err}")
    finally:
        a.cleanup()
        b.cleanup()
        mc.close()


def shared_daemons(mc, group, chains, key, exports, claim_window=None):
    """Daemons of one deployment: each its own chain and store, one signing key and one
    export folder for all (an auditor verifies the folder with one key)."""
    ds = []
    for chain in chains:
        d = Daemon(extra=kafka_yaml(mc.bootstraps, ["fo"], group=group, session_timeout="3s",
                                    claim_window=claim_window))
        text = open(d.config).read().replace("chain: test-chain", f"chain: {chain}")
        text = text.replace(f"key: {d.key}", f"key: {key}")
        text = text.replace(f"path: {d.exports}", f"path: {exports}")
        open(d.config, "w").write(text)
        d.pub = key + ".pub"
        ds.append(d)
    return ds


def start_with_failpoint(d, point="kafka-after-db-commit"):
    """A test hook of docs/RELIABILITY.md: kafka-after-db-commit makes the daemon exit 137
    right after its first store commit of Kafka records, before committing their offsets to
    the broker; kafka-claim-commit-fail makes its first claim commits fail."""
    os.environ["GATELOG_FAILPOINT"] = point
    try:
        d.start()
    finally:
        del os.environ["GATELOG_FAILPOINT"]


def wait_union(dbs, n, timeout=90):
    deadline = time.time() + timeout
    keys = set()
    while time.time() < deadline:
        keys = set()
        for db in dbs:
            try:
                keys |= {key_of(r) for r in kafka_recs(db_records(db))}
            except sqlite3.Error:
                pass
        if len(keys) >= n:
            return keys
        time.sleep(0.2)
    raise Failure(f"wanted {n} offsets across the stores, they hold {len(keys)}")


def test_failover_marked():
    """Instance A dies between its store commit and its broker commit (the failpoint); B
    takes A's partitions over and stores those offsets again. The duplicates are exactly
    the offsets both chains hold, each marked in B's record as a possible redelivery of
    chain A (and nothing past A's claim is marked); the union of both chains is every
    message once; `gatelog verify` over the shared export accepts the marked duplicates and
    counts them. A third instance in another group reading the same topic holds every
    offset again, unmarked: verify fails and names the chains."""
    mc = MockCluster([("fo", 4)])
    tmp = tempfile.mkdtemp(prefix="gatelog-fo-")
    key, exports = os.path.join(tmp, "shared.key"), os.path.join(tmp, "exports")
    gatelog("keygen", "--out", key, check_rc=0)
    a, b = shared_daemons(mc, "g-fo", ["chain-a", "chain-b"], key, exports, claim_window=100)
    c = None
    expected = {("fo", p): [] for p in range(4)}

    def produce_more(n):
        for p in range(4):
            msgs = expected[("fo", p)]
            new = [json.dumps({"id": f"{p}-{len(msgs) + i}"}, separators=(",", ":"))
                   for i in range(n)]
            produce(mc.bootstraps, "fo", new, partition=p)
            msgs.extend(new)

    def total():
        return sum(len(m) for m in expected.values())
    try:
        b.start()
        wait_log(b, "kafka partition assigned")
        start_with_failpoint(a)
        wait_log(a, "kafka partition assigned")
        produce_more(300)
        rc = a.proc.wait(timeout=60)
        check(rc == 137, f"A exited {rc}, not by the failpoint:\n" + a.read_log()[-3000:])
        a.proc = None
        a.log.close()
        a_first = kafka_recs(db_records(a.db))
        check(a_first, "A died before storing anything")
        # A claimed the partitions it was given (it may have died before storing some).
        a_parts = {int(m) for m in re.findall(r'msg="kafka partition assigned" kafka=events '
                                              r'topic=fo partition=(\d+)', a.read_log())}
        check({r["source"]["partition"] for r in a_first} <= a_parts, f"A's parts {a_parts}")
        # B gets A's partitions once A's session times out, and reads A's claims.
        wait_log(b, "kafka partition taken over")
        produce_more(200)
        wait_union([a.db, b.db], total())
        # Idle, B shrinks its claims to what it stored: the broker's commit metadata then
        # claims nothing at or past each committed offset.
        deadline = time.time() + 30
        while True:
            claims = mc.committed_claims("g-fo", "fo", 4)
            live = {p: c for p, c in claims.items()
                    if not re.fullmatch(r"gatelog:1 chain=chain-b through=(\d+)", c[1]) or
                    int(c[1].rsplit("=", 1)[1]) >= c[0]}
            if len(claims) == 4 and not live:
                break
            check(time.time() < deadline, f"claims never shrank: {claims}")
            time.sleep(0.2)
        # A comes back: the group moves partitions from B to A, so A's records after the
        # restart are not marked.
        a.start()
        wait_log(a, "kafka partition assigned")
        produce_more(50)
        wait_union([a.db, b.db], total())
        time.sleep(0.5)
        check(a.stop() == 0 and b.stop() == 0, "a daemon did not exit 0")
        ra, rb = kafka_recs(db_records(a.db)), kafka_recs(db_records(b.db))
        ka, kb = {key_of(r): r for r in ra}, {key_of(r): r for r in rb}
        check(len(ka) == len(ra) and len(kb) == len(rb), "a chain holds an offset twice")
        dups = set(ka) & set(kb)
        check(dups, "no offset is held by both chains: the failover window was not hit")
        check({k[1] for k in dups} <= a_parts, f"duplicates outside A's partitions: {dups}")
        union = {k: ka.get(k) or kb.get(k) for k in set(ka) | set(kb)}
        check_once(list(union.values()), expected)
        a_seqs = {key_of(r) for r in a_first}
        check(dups <= a_seqs, "a duplicate that A stored after its restart")
        for k in dups:
            m = kb[k]["source"].get("redelivery")
            check(m and m["chain"] == "chain-a" and k[2] <= m["through"],
                  f"{k}: B's record is not marked as a redelivery of chain-a: {kb[k]['source']}")
        for r in ra:
            check("redelivery" not in r["source"], f"A's record is marked: {r['source']}")
        marked = [r for r in rb if "redelivery" in r["source"]]
        for r in marked:
            s = r["source"]
            check(s["partition"] in a_parts and s["offset"] <= s["redelivery"]["through"],
                  f"a marker outside A's claim: {s}")
        check(len(marked) < sum(len(expected[("fo", p)]) for p in a_parts),
              "every record of A's partitions is marked: the claim window does not bound it")
        for d in (a, b):
            d.seal()
        rc, out, err = gatelog("verify", "--pubkey", key + ".pub", "--export", exports)
        check(rc == 0, f"verify failed:\n{out}{err}")
        check("chain chain-a" in out and "chain chain-b" in out, f"not both chains:\n{out}")
        m = re.search(r"kafka: (\d+) record\(s\) of 4 partition\(s\); (\d+) offset\(s\) held by "
                      r"two chains, each marked as a redelivery; (\d+) record", out)
        check(m and int(m.group(1)) == len(ra) + len(rb) and int(m.group(2)) == len(dups) and
              int(m.group(3)) == len(marked), f"coverage line wrong ({len(dups)} duplicates, "
              f"{len(marked)} marked):\n{out}")
        rc, out = independent_verify(exports, key + ".pub")
        check(rc == 0 and re.search(rf"kafka: {len(ra) + len(rb)} record\(s\); {len(dups)} "
                                    rf"offset\(s\) held by several chains", out),
              f"the independent verifier disagrees (rc {rc}):\n{out}")
        # Another group over the same topic: every offset a third time, unmarked.
        c, = shared_daemons(mc, "g-other", ["chain-c"], key, exports)
        c.start()
        wait_kafka_records(c, total(), timeout=90)
        check(c.stop() == 0, "C did not exit 0")
        c.seal()
        rc, out, err = gatelog("verify", "--pubkey", key + ".pub", "--export", exports)
        check(rc == 1, f"verify passed with unmarked duplicates (rc {rc}):\n{out}{err}")
        check(re.search(r"FAIL kafka fo/\d offsets \d+\.\.\d+: held by chain chain-\w and "
                        r"by chain chain-\w, and neither record is marked", out) and
              "chain-c" in out, f"the failure does not name the chains:\n{out}")
        rc, out = independent_verify(exports, key + ".pub")
        check(rc == 1 and re.search(r"kafka fo/\d offset \d+: held by chain chain-\w and by "
                                    r"chain chain-\w, and neither record is marked", out) and
              "chain-c" in out, f"the independent verifier passed or names no chains "
              f"(rc {rc}):\n{out}")
    finally:
        for d in (a, b, c):
            if d:
                d.cleanup()
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)
        mc.close()


def marker_chains(src):
    """The chains a record's redelivery marker names, each with its through."""
    m = src.get("redelivery")
    return {x["chain"]: x["through"] for x in (m if isinstance(m, list) else [m] if m else [])}


def test_double_failover():
    """A dies between its store commit and its broker commit; B takes A's partitions over and
    dies the same way inside its own claim window, before any commit of its records reached
    the broker; C takes over. The broker's commit metadata carried A's claim on with B's, so
    C's records of offsets A or B may hold name both chains (an array marker) and verify
    (gatelog's and the independent one) accepts offsets held by all three chains; the union
    of the chains is every message once."""
    mc = MockCluster([("fo", 1)])
    tmp = tempfile.mkdtemp(prefix="gatelog-dfo-")
    key, exports = os.path.join(tmp, "shared.key"), os.path.join(tmp, "exports")
    gatelog("keygen", "--out", key, check_rc=0)
    a, b, c = shared_daemons(mc, "g-dfo", ["chain-a", "chain-b", "chain-c"], key, exports,
                             claim_window=100)
    # One partition: each instance resumes at offset 0 (no commit of stored offsets ever
    # reached the broker before C), so offset 0 is certainly held by all three chains.
    expected = {("fo", p): [] for p in range(1)}

    def produce_more(n):
        for p in range(1):
            msgs = expected[("fo", p)]
            new = [json.dumps({"id": f"{p}-{len(msgs) + i}"}, separators=(",", ":"))
                   for i in range(n)]
            produce(mc.bootstraps, "fo", new, partition=p)
            msgs.extend(new)

    def died(d, name):
        rc = d.proc.wait(timeout=90)
        check(rc == 137, f"{name} exited {rc}, not by the failpoint:\n" + d.read_log()[-3000:])
        d.proc = None
        d.log.close()
        recs = kafka_recs(db_records(d.db))
        check(recs, f"{name} died before storing anything")
        return recs
    try:
        start_with_failpoint(a)
        wait_log(a, "kafka partition assigned")
        produce_more(300)
        ra = died(a, "A")
        start_with_failpoint(b)
        rb = died(b, "B")
        check(any("chain-a" in marker_chains(r["source"]) for r in rb),
              "B's records name no claim of chain-a: B did not take over from A's claim")
        claims = mc.committed_claims("g-dfo", "fo", 1)
        check(any(v[1].startswith("gatelog:2 chain=chain-b ") and " chain=chain-a " in v[1]
                  for v in claims.values()),
              f"B's commit metadata does not carry A's claim on: {claims}")
        c.start()
        produce_more(100)
        total = sum(len(m) for m in expected.values())
        wait_union([c.db], total, timeout=120)
        time.sleep(0.5)
        check(c.stop() == 0, "C did not exit 0")
        rc_ = kafka_recs(db_records(c.db))
        per = {"chain-a": ra, "chain-b": rb, "chain-c": rc_}
        held = {}
        for chain, recs in per.items():
            keys = [key_of(r) for r in recs]
            check(len(set(keys)) == len(keys), f"{chain} holds an offset twice")
            for r in recs:
                held.setdefault(key_of(r), {})[chain] = r
        check_once([next(iter(h.values())) for h in held.values()], expected)
        triple = [k for k, h in held.items() if len(h) == 3]
        check(triple, "no offset held by all three chains: the double failover was not hit")
        for k, h in held.items():
            if "chain-c" not in h:
                continue
            names = marker_chains(h["chain-c"]["source"])
            for other in ("chain-a", "chain-b"):
                if other in h:
                    check(other in names and k[2] <= names[other],
                          f"{k}: C's record does not name {other}: {h['chain-c']['source']}")
            if len(names) > 1:
                check(isinstance(h["chain-c"]["source"]["redelivery"], list),
                      f"{k}: several claims but no array marker")
        for r in ra:
            check("redelivery" not in r["source"], f"A's record is marked: {r['source']}")
        for d in (a, b, c):
            d.seal()
        rc, out, err = gatelog("verify", "--pubkey", key + ".pub", "--export", exports)
        check(rc == 0, f"verify failed:\n{out}{err}")
        shared = sum(1 for h in held.values() if len(h) > 1)
        n = len(ra) + len(rb) + len(rc_)
        m = re.search(r"kafka: (\d+) record\(s\) of 1 partition\(s\); (\d+) offset\(s\) held by "
                      r"two chains", out)
        check(m and int(m.group(1)) == n and int(m.group(2)) == shared,
              f"coverage line wrong ({n} records, {shared} shared):\n{out}")
        rc, out = independent_verify(exports, key + ".pub")
        check(rc == 0 and re.search(rf"kafka: {n} record\(s\); {shared} offset\(s\) held by "
                                    r"several chains", out),
              f"the independent verifier disagrees (rc {rc}):\n{out}")
        # Counting across chains: every chain's records, or each Kafka message once.
        q = ["query", "--export", exports, "--pubkey", key + ".pub"]
        counts = []
        for extra in ([], ["--dedupe"]):
            rc, out, err = gatelog(*q, "--count", "--format", "jsonl", *extra)
            check(rc == 0, f"query --count {extra} failed:\n{out}{err}")
            counts.append(json.loads(out)["count"])
        check(counts[0] - counts[1] == n - total and f"left out {n - total} redelivered" in err,
              f"query --count {counts[0]}, with --dedupe {counts[1]}: not {n - total} fewer "
              f"({n} Kafka records of {total} messages):\n{err}")
        rc, out, err = gatelog(*q, "--dedupe")
        keys = [key_of(json.loads(line)) for line in out.splitlines()
                if json.loads(line)["source"]["kind"] == "kafka"]
        check(rc == 0 and len(keys) == total and len(set(keys)) == total,
              f"query --dedupe printed {len(keys)} Kafka records, {len(set(keys))} distinct; "
              f"wanted {total}:\n{err}")
    finally:
        for d in (a, b, c):
            d.cleanup()
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)
        mc.close()


def test_commit_catches_up_with_store():
    """Killed between its store commit and its broker commit (the failpoint), the daemon
    restarts with the store ahead of the group's committed offset and nothing new to read:
    it still commits what the store holds, so after a clean stop the lag is zero."""
    mc = MockCluster([("cu", 1)])
    d = Daemon(extra=kafka_yaml(mc.bootstraps, ["cu"], group="g-cu", session_timeout="3s"))
    msgs = [json.dumps({"id": i}) for i in range(3)]
    try:
        produce(mc.bootstraps, "cu", msgs, partition=0)
        # Each run stores at least one more message and dies before committing it to the
        # broker; the messages may take several writer batches (a slow machine).
        stored = {}
        for _ in range(len(msgs)):
            start_with_failpoint(d)
            rc = d.proc.wait(timeout=60)
            check(rc == 137, f"exited {rc}, not by the failpoint:\n" + d.read_log()[-3000:])
            d.proc = None
            d.log.close()
            committed, stored = committed_within_store(mc, "g-cu", "cu", 1, d.db)
            if stored == {0: 2}:
                break
        check(stored == {0: 2} and committed.get(0, -1) < 3,
              f"the crashes did not leave the store ahead: stored {stored}, "
              f"committed {committed}")
        d.start()
        wait_log(d, "kafka partition assigned")
        check(d.stop() == 0, "daemon did not exit 0")
        check(mc.committed("g-cu", "cu", 1) == {0: 3}, f"lag after a clean stop: "
              f"{mc.committed('g-cu', 'cu', 1)}")
        check_once(kafka_recs(db_records(d.db)), {("cu", 0): msgs})
    finally:
        d.cleanup()
        mc.close()


def test_close_commits_what_async_commits_lost():
    """Asynchronous offset commits can be lost in flight (the failpoint drops them unsent,
    as if their result never came back): the daemon believes them committed. A clean stop
    must still leave the group at the stored offsets (the close's synchronous commit is the
    last word), or the next start re-reads and marks what is already stored."""
    mc = MockCluster([("al", 3)])
    d = Daemon(extra=kafka_yaml(mc.bootstraps, ["al"], group="g-al",
                                session_timeout=MOCK_SAFE_SESSION))
    expected = {("al", p): [json.dumps({"id": f"{p}-{i}"}) for i in range(200)]
                for p in range(3)}
    try:
        for (t, p), msgs in expected.items():
            produce(mc.bootstraps, t, msgs, partition=p)
        start_with_failpoint(d, "kafka-async-commit-lost")
        wait_kafka_records(d, 600, timeout=120)
        time.sleep(3)  # idle ticks: the claims shrink to what is stored (commits lost too)
        check("failpoint: asynchronous commit lost" in d.read_log(), "the failpoint never ran")
        check(d.stop() == 0, "daemon did not exit 0")
        committed, _ = committed_within_store(mc, "g-al", "al", 3, d.db)
        check(committed == {0: 200, 1: 200, 2: 200},
              f"after a clean stop the lag is not zero: {committed}")
        check_once(kafka_recs(db_records(d.db)), expected)
    finally:
        d.cleanup()
        mc.close()


def stop_without_close(d, says, close_timeout):
    """Stops d, whose Kafka close cannot end: it must exit 0 within 15 s, log `says` and
    count the close it gave up in its stopped line."""
    t0 = time.time()
    rc = d.stop()  # the harness kills a daemon that has not exited in 30 s, and fails
    took = time.time() - t0
    check(rc == 0, f"daemon exited {rc}")
    # close_timeout (plus the 2 s grace of a close stuck inside librdkafka), librdkafka's
    # destroy and the rest of the stop: loaded machines (and ASan) need the margin.
    check(took < 15, f"the stop took {took:.1f} s with close_timeout {close_timeout}")
    log = d._last_start(d.read_log())
    check(says in log and re.search(r'msg="stopped" .*kafka_close_gave_up=1', log),
          f"the daemon does not say {says!r}:\n" + log[-3000:])


def restart_stores_the_rest(mc, d, expected, first):
    """After a stop without its close: the rest of each partition (past `first`) produced,
    d started again (no failpoint), every message is stored exactly once."""
    for (t, p), msgs in expected.items():
        produce(mc.bootstraps, t, msgs[first:], partition=p)
    d.start()
    wait_kafka_records(d, sum(len(m) for m in expected.values()), timeout=90)
    time.sleep(0.5)
    check(d.stop() == 0, "daemon did not exit 0 after the restart")
    check(re.search(r'msg="stopped" .*kafka_close_gave_up=0', d._last_start(d.read_log())),
          "the close gave up with the broker answering")
    check_once(kafka_recs(db_records(d.db)), expected)


def test_stop_with_a_stalled_broker():
    """The brokers stop answering (their process is stopped: connections stay open, requests
    wait) and the daemon is told to stop. The close's last commit and librdkafka's consumer
    close would wait for them without end (librdkafka 2.0.2 bounds neither), so a service
    manager would have to kill the daemon. close_timeout bounds both: the daemon stops in
    about that long and says it gave up. Nothing is lost or stored twice: with asynchronous
    commits lost (the failpoint), the broker never heard of the stored offsets, and the next
    start resumes from the store's positions all the same."""
    mc = MockCluster([("stall", 2)])
    d = Daemon(extra=kafka_yaml(mc.bootstraps, ["stall"], group="g-stall",
                                session_timeout=MOCK_SAFE_SESSION, close_timeout="2s"))
    expected = {("stall", p): [json.dumps({"id": f"{p}-{i}"}) for i in range(50)]
                for p in range(2)}
    try:
        for (t, p), msgs in expected.items():
            produce(mc.bootstraps, t, msgs[:30], partition=p)
        start_with_failpoint(d, "kafka-async-commit-lost")
        wait_kafka_records(d, 60)
        mc.stall()
        stop_without_close(d, "did not end in close_timeout", "2s")
        mc.resume()
        committed_within_store(mc, "g-stall", "stall", 2, d.db)
        restart_stores_the_rest(mc, d, expected, 30)
        committed, _ = committed_within_store(mc, "g-stall", "stall", 2, d.db)
        check(committed == {0: 50, 1: 50}, f"committed after a clean stop: {committed}")
    finally:
        d.cleanup()
        mc.close()


def test_stop_with_a_close_stuck_in_librdkafka():
    """A librdkafka call of the close that never returns (the test hook kafka-close-stuck
    stands for rd_kafka_assign in the final revoke, where a close hung in round 13 with no
    deadline of its own): the stop waits close_timeout plus a grace, says so, and ends; the
    next start stores every message once."""
    mc = MockCluster([("stuck", 2)])
    d = Daemon(extra=kafka_yaml(mc.bootstraps, ["stuck"], group="g-stuck",
                                session_timeout=MOCK_SAFE_SESSION, close_timeout="1s"))
    expected = {("stuck", p): [json.dumps({"id": f"{p}-{i}"}) for i in range(20)]
                for p in range(2)}
    try:
        for (t, p), msgs in expected.items():
            produce(mc.bootstraps, t, msgs[:10], partition=p)
        start_with_failpoint(d, "kafka-close-stuck")
        wait_kafka_records(d, 20)
        stop_without_close(d, "close is stuck inside librdkafka", "1s")
        restart_stores_the_rest(mc, d, expected, 10)
    finally:
        d.cleanup()
        mc.close()


def test_claim_commit_fails_during_rebalance():
    """A's claim commits fail (the failpoint), so A holds a message past a tick with its
    partitions paused; meanwhile B joins the group. The rebalance completes only if A keeps
    polling its consumer while it holds the message (serve_while_held in ingest/kafka.c):
    A gives the held message up unstored, and it is read again. Afterwards every message is
    stored exactly once across the two chains (by offset and payload; `query --count` equals
    `--dedupe` equals what was produced) and `verify --export` passes over both chains."""
    mc = MockCluster([("fo", 4)])
    tmp = tempfile.mkdtemp(prefix="gatelog-held-")
    key, exports = os.path.join(tmp, "shared.key"), os.path.join(tmp, "exports")
    gatelog("keygen", "--out", key, check_rc=0)
    a, b = shared_daemons(mc, "g-held", ["chain-a", "chain-b"], key, exports)
    expected = {("fo", p): [json.dumps({"id": f"{p}-{i}"}, separators=(",", ":"))
                            for i in range(100)] for p in range(4)}
    total = sum(len(m) for m in expected.values())
    try:
        start_with_failpoint(a, "kafka-claim-commit-fail")
        wait_log(a, "kafka partition assigned")
        for (t, p), msgs in expected.items():
            produce(mc.bootstraps, t, msgs, partition=p)
        wait_log(a, r"claim commit: failpoint")
        check(not kafka_recs(db_records(a.db)), "A stored a message whose claim failed")
        b.start()
        wait_log(a, r'msg="kafka revoke: held event released, not stored"')
        wait_union([a.db, b.db], total)
        time.sleep(0.5)
        check(a.stop() == 0 and b.stop() == 0, "a daemon did not exit 0")
        ra, rb = kafka_recs(db_records(a.db)), kafka_recs(db_records(b.db))
        check(ra and rb, f"the partitions were not shared: {len(ra)} + {len(rb)} records")
        check_once(ra + rb, expected)
        for r in ra + rb:
            check("redelivery" not in r["source"], f"a clean hand-over marked {r['source']}")
        for d in (a, b):
            d.seal()
        q = ["query", "--export", exports, "--pubkey", key + ".pub"]
        for extra in ([], ["--dedupe"]):
            rc, out, err = gatelog(*q, "--count", "--format", "jsonl", *extra)
            check(rc == 0 and json.loads(out)["count"] == total,
                  f"query --count {extra}: {out.strip()} for {total} messages\n{err}")
        rc, out, err = gatelog("verify", "--pubkey", key + ".pub", "--export", exports)
        check(rc == 0, f"verify failed:\n{out}{err}")
        check("chain chain-a" in out and "chain chain-b" in out, f"not both chains:\n{out}")
    finally:
        a.cleanup()
        b.cleanup()
        mc.close()
        shutil.rmtree(tmp, ignore_errors=True)


def check_once_across(ra, rb, expected, chains=("chain-a", "chain-b")):
    """Each chain holds each offset at most once; together they hold every expected offset
    with its payload; an offset held by both is one the hand-over's commit could not cover
    (the mock refuses commits during a rebalance): the later owner's copy must then be
    marked as a redelivery of the other chain (docs/FORMAT.md section 11)."""
    ka, kb = {key_of(r): r for r in ra}, {key_of(r): r for r in rb}
    check(len(ka) == len(ra) and len(kb) == len(rb), "a chain holds an offset twice")
    for k in set(ka) & set(kb):
        marks = [(r, other) for r, other in ((ka[k], chains[1]), (kb[k], chains[0]))
                 if k[2] <= marker_chains(r["source"]).get(other, -1)]
        check(marks, f"{k} held by both chains, neither copy marked: {ka[k]['source']} "
                     f"{kb[k]['source']}")
    check_once(list({**ka, **kb}.values()), expected)


def test_held_slices_at_rebalance_and_stop():
    """Slices (issue 12: up to 64 messages taken and queued at once) held in the collector
    at a shutdown and queued against a full queue across a rebalance. A's first claim
    commits fail (the failpoint), so A holds the slice it took; A is stopped then: the held
    events must be neither stored nor committed. A restarts with a queue of 8 events, so
    nearly every slice meets a full queue and leaves events held until space comes; B joins
    meanwhile (A's revoke releases or drains what it holds of the partitions it gives up).
    Every message is then stored exactly once across the two chains, the group's committed
    offsets are the ends of the partitions, and `verify --export` passes. A lost held event
    fails check_once; one committed without being stored fails the committed offsets."""
    mc = MockCluster([("fo", 4)])
    tmp = tempfile.mkdtemp(prefix="gatelog-slices-")
    key, exports = os.path.join(tmp, "shared.key"), os.path.join(tmp, "exports")
    gatelog("keygen", "--out", key, check_rc=0)
    a, b = shared_daemons(mc, "g-slices", ["chain-a", "chain-b"], key, exports)
    with open(a.config, "a") as f:
        f.write("queue:\n  max_events: 8\n")
    n_part = 5000
    expected = {("fo", p): [json.dumps({"id": f"{p}-{i}", "pad": "x" * (i % 50)},
                                       separators=(",", ":")) for i in range(n_part)]
                for p in range(4)}
    total = sum(len(m) for m in expected.values())
    try:
        for (t, p), msgs in expected.items():
            produce(mc.bootstraps, t, msgs, partition=p)
        start_with_failpoint(a, "kafka-claim-commit-fail")
        wait_log(a, r"claim commit: failpoint")
        check(a.stop() == 0, "A did not exit 0 while holding a slice")
        check(not kafka_recs(db_records(a.db)), "A stored a held event")
        c = mc.committed("g-slices", "fo", 4)
        check(all(v == 0 for v in c.values()), f"A committed held events: {c}")
        a.start()
        wait_metrics(a, "records stored by A", lambda m: len(kafka_recs(db_records(a.db))) >= 500)
        full = sum(v for s, v in scrape_metrics(a).items()
                   if s.startswith("gatelog_queue_full_total"))
        check(full > 0, "A's queue never filled: no slice was held")
        b.start()
        wait_log(b, "kafka partition assigned")
        wait_union([a.db, b.db], total, timeout=180)
        time.sleep(0.5)
        check(a.stop() == 0 and b.stop() == 0, "a daemon did not exit 0")
        ra, rb = kafka_recs(db_records(a.db)), kafka_recs(db_records(b.db))
        check_once_across(ra, rb, expected)
        check(mc.committed("g-slices", "fo", 4) == {p: n_part for p in range(4)},
              f"committed offsets after stop: {mc.committed('g-slices', 'fo', 4)}")
        for d in (a, b):
            d.seal()
        rc, out, err = gatelog("query", "--export", exports, "--pubkey", key + ".pub",
                               "--count", "--dedupe", "--format", "jsonl")
        check(rc == 0 and json.loads(out)["count"] == total,
              f"query --count --dedupe: {out.strip()} for {total} messages\n{err}")
        rc, out, err = gatelog("verify", "--pubkey", key + ".pub", "--export", exports)
        check(rc == 0, f"verify failed:\n{out}{err}")
    finally:
        a.cleanup()
        b.cleanup()
        mc.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_backpressure():
    """A queue of 8 events against 3000 waiting messages: the partitions pause and resume
    many times, and every message is still stored exactly once."""
    mc = MockCluster([("bp", 2)])
    d = Daemon(extra=kafka_yaml(mc.bootstraps, ["bp"], group="g-bp",
                                session_timeout=MOCK_SAFE_SESSION) +
               "queue:\n  max_events: 8\n")
    expected = {("bp", p): [json.dumps({"id": f"{p}-{i}"}, separators=(",", ":"))
                            for i in range(1500)] for p in range(2)}
    try:
        for (t, p), msgs in expected.items():
            produce(mc.bootstraps, t, msgs, partition=p)
        d.start()
        wait_kafka_records(d, 3000, timeout=120)
        check(d.stop() == 0, "daemon did not exit 0")
        check_once(kafka_recs(db_records(d.db)), expected)
        check(mc.committed("g-bp", "bp", 2) == {0: 1500, 1: 1500}, "lag after stop")
    finally:
        d.cleanup()
        mc.close()


def wait_metrics(d, what, fn, timeout=60):
    return harness.wait_metrics(d, what, fn, timeout, show=("kafka", "store"))


def readyz(d):
    """ops (issue 9): (status, body) of /readyz."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.ports['http']}/readyz",
                                    timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_consumer_lag_metric():
    """ops (issue 9): gatelog_kafka_consumer_lag{consumer,topic,partition} shows what is in
    each partition but not yet read while the store is locked (the writer retries, the queue
    fills, the collector stops taking messages), and 0 for every partition once everything is
    stored; events received and kept match what was produced."""
    mc = MockCluster([("lagt", 2)])
    d = Daemon(extra=kafka_yaml(mc.bootstraps, ["lagt"], group="g-lag") +
               "queue:\n  max_events: 8\n")
    lag = 'gatelog_kafka_consumer_lag{consumer="events",topic="lagt",partition="%d"}'
    N = 1000  # per partition
    try:
        d.start()
        wait_log(d, "kafka partition assigned")
        con = sqlite3.connect(d.db, timeout=30, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")  # the writer cannot commit until we let go
        for p in range(2):
            produce(mc.bootstraps, "lagt", [f'{{"n":{i}}}' for i in range(N)], partition=p)
        # The writer holds one batch (up to 1024) and the queue 8: the rest stays unread,
        # and the lags add up to exactly what was produced and not yet received.
        rcv = 'gatelog_events_received_total{source="kafka"}'
        wait_metrics(d, "lag = produced - received while the store is locked",
                         lambda m: m.get(lag % 0, 0) + m.get(lag % 1, 0) > 0 and
                         m.get(lag % 0, 0) + m.get(lag % 1, 0) == 2 * N - m.get(rcv, 0))
        con.execute("ROLLBACK")
        con.close()
        wait_kafka_records(d, 2 * N, timeout=120)
        wait_metrics(d, "lag 0 on both partitions after everything was stored",
                     lambda m: m.get(lag % 0) == 0 and m.get(lag % 1) == 0)
        m = wait_metrics(d, "everything received and kept",
                         lambda m: m.get('gatelog_events_kept_total{source="kafka"}') == 2 * N)
        check(m.get(rcv) == 2 * N, f"received {m.get(rcv)}, produced {2 * N}")
        check(d.stop() == 0, "daemon did not exit 0")
    finally:
        d.cleanup()
        mc.close()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_broker_down_and_back():
    """The broker goes away: the daemon keeps running, says so once, does not spin, and
    takes what is produced after the broker is back."""
    mc = MockCluster([("flaky", 2)])
    d = Daemon(extra=kafka_yaml(mc.bootstraps, ["flaky"], group="g-flaky", session_timeout="3s"))
    try:
        d.start()
        wait_log(d, "kafka partition assigned")
        produce(mc.bootstraps, "flaky", ['{"n":1}'], partition=0)
        wait_kafka_records(d, 1)
        check(readyz(d) == (200, "ready\n"), f"/readyz before the outage: {readyz(d)}")
        mc.down()
        wait_log(d, "kafka brokers unreachable")
        # ops (issue 9): unready (never unhealthy) while the brokers are away, saying why.
        st, body = readyz(d)
        check(st == 503 and body.startswith("not ready: kafka events: brokers unreachable"),
              f"/readyz with the broker down: {st} {body!r}")
        cpu0 = cpu_seconds(d.proc.pid)
        time.sleep(3)
        cpu = cpu_seconds(d.proc.pid) - cpu0
        check(cpu < 1.0, f"daemon used {cpu:.2f} s of CPU in 3 s with the broker down")
        check(d.proc.poll() is None, "daemon died with the broker down")
        mc.up()
        produce(mc.bootstraps, "flaky", ['{"n":2}', '{"n":3}'], partition=1)
        recs = wait_kafka_records(d, 3, timeout=60)
        check(len(recs) == 3, f"{len(recs)} records")
        check(readyz(d) == (200, "ready\n"), f"/readyz after the outage: {readyz(d)}")
        log = d._last_start(d.read_log())
        n_down = len(re.findall(r'msg="kafka brokers unreachable', log))
        check(n_down == 1, f"'unreachable' logged {n_down} times for one outage")
        check(d.stop() == 0, "daemon did not exit 0")
    finally:
        d.cleanup()
        mc.close()


def test_topic_created_later():
    """A topic that does not exist yet (by name, and one matched by a regex): the daemon
    runs, and takes the topics' messages once they are created."""
    mc = MockCluster([("other", 1)])
    d = Daemon(extra=kafka_yaml(mc.bootstraps, ["later", "^audit-.*"], group="g-later",
                                session_timeout="3s"))
    try:
        d.start()
        time.sleep(1.5)
        check(d.proc.poll() is None, "daemon died on a missing topic")
        mc.create("later", 2)
        mc.create("audit-idp", 1)
        produce(mc.bootstraps, "later", ['{"n":1}'], partition=1)
        produce(mc.bootstraps, "audit-idp", ['{"n":2}'], partition=0)
        produce(mc.bootstraps, "other", ['{"n":3}'], partition=0)
        recs = wait_kafka_records(d, 2, timeout=60)
        time.sleep(0.5)
        recs = kafka_recs(db_records(d.db))
        topics = sorted(r["source"]["topic"] for r in recs)
        check(topics == ["audit-idp", "later"], f"topics stored: {topics}")
        check(d.stop() == 0, "daemon did not exit 0")
    finally:
        d.cleanup()
        mc.close()


def test_start_offsets_from_the_broker():
    """A fresh group (nothing stored, nothing committed) starts each partition at the
    offset the broker names for the log's beginning (start: earliest) or end (start:
    latest), asked by the collector at the assignment (issue 12, round 8: given the logical
    offset, librdkafka 2.0.2 waited a fixed 500 ms when a new topic's partition had no
    leader yet). The log names each start; the earliest consumer stores every message, the
    latest one only those produced after its start, each exactly once, and both groups end
    committed at the partitions' ends."""
    mc = MockCluster([("st", 2)])
    old = {p: [f'{{"p":{p},"n":{i}}}' for i in range(5)] for p in range(2)}
    new = {p: [f'{{"p":{p},"n":{i}}}' for i in range(5, 8)] for p in range(2)}
    de = Daemon(extra=kafka_yaml(mc.bootstraps, ["st"], group="g-early", start="earliest"))
    dl = Daemon(extra=kafka_yaml(mc.bootstraps, ["st"], group="g-late", start="latest"))
    try:
        for p in range(2):
            produce(mc.bootstraps, "st", old[p], partition=p)
        de.start()
        dl.start()
        for p in range(2):
            wait_log(de, rf"kafka partition starts.* partition={p} at=beginning offset=0\b")
            wait_log(dl, rf"kafka partition starts.* partition={p} at=end offset=5\b")
        for p in range(2):
            produce(mc.bootstraps, "st", new[p], partition=p)
        early = wait_kafka_records(de, 16)
        late = wait_kafka_records(dl, 6)
        check_once(early, {("st", p): old[p] + new[p] for p in range(2)})
        got = sorted(key_of(r) for r in late)
        check(got == [("st", p, o) for p in range(2) for o in range(5, 8)],
              f"start: latest stored {got}")
        for r in late:
            s = r["source"]
            check(r["event"] == json.loads(new[s["partition"]][s["offset"] - 5]),
                  f"{key_of(r)}: event {r['event']}")
        check(de.stop() == 0 and dl.stop() == 0, "a daemon did not exit 0")
        for g in ("g-early", "g-late"):
            c = mc.committed(g, "st", 2)
            check(c == {0: 8, 1: 8}, f"{g} committed {c}")
    finally:
        de.cleanup()
        dl.cleanup()
        mc.close()


def test_bad_config():
    """A misspelt librdkafka property is refused at start-up with file:line:column."""
    d = Daemon(extra="kafka:\n  - name: x\n    brokers: 127.0.0.1:1\n    topics: [t]\n"
                     "    properties:\n      sesion.timeout.ms: 3000\n")
    try:
        rc, out, err = gatelog("run", "-c", d.config, timeout=20)
        check(rc != 0, "daemon started with a bad property")
        check(re.search(r"gatelog\.yaml:\d+:\d+: kafka\[0\]\.properties\.sesion\.timeout\.ms",
                        out + err), f"error does not name the place:\n{out}{err}")
    finally:
        d.cleanup()


if __name__ == "__main__":
    tests = [test_payloads_and_malformed, test_backpressure, test_consumer_lag_metric,
             test_two_instances, test_failover_marked, test_double_failover,
             test_commit_catches_up_with_store, test_close_commits_what_async_commits_lost,
             test_stop_with_a_stalled_broker, test_stop_with_a_close_stuck_in_librdkafka,
             test_claim_commit_fails_during_rebalance,
             test_held_slices_at_rebalance_and_stop, test_broker_down_and_back,
             test_topic_created_later, test_start_offsets_from_the_broker, test_bad_config,
             test_exactly_once]
    if len(sys.argv) > 1 and sys.argv[1] == "--fast":
        sys.argv.pop(1)
        tests = tests[:-1]
    run_tests(tests)
