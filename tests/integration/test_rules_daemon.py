"""Rules in the running daemon: the default SOC 2 pack maps real program lines sent with
logger, drops are counted per rule, unmapped records are counted per app, every pack in
force is named in the manifest, SIGHUP swaps packs atomically and a broken pack leaves the
old one in force, and a broken pack at start refuses to start with FILE:LINE:COLUMN."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, check, gatelog, logger, run_tests  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOC2 = os.path.join(REPO, "rules", "soc2")


def sealed_stats(d):
    rc, out, _ = gatelog("epochs", "--db", d.db, "--format", "jsonl", check_rc=0)
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    return [r["stats"] for r in rows if r.get("state") == "sealed"]


def pack_hash(path):
    rc, out, _ = gatelog("rules", "check", path, check_rc=0)
    for word in out.split():
        if len(word) == 64 and all(c in "0123456789abcdef" for c in word):
            return word
    raise AssertionError("no pack hash in: " + out)


def test_default_pack_maps_logger_lines():
    d = Daemon(unix=False, extra=f"rules:\n  paths: [{SOC2}]\n")
    d.clear_of_boundary(60)  # the last sealed epoch's stats are those of every line sent
    try:
        d.start()
        port = d.ports["tcp"]
        logger(port, ["Accepted publickey for alice from 10.0.0.5 port 5555 ssh2: ED25519 SHA256:x"],
               "-T", "--rfc3164", "-t", "sshd", "-i")
        logger(port, ["alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"],
               "-T", "--rfc3164", "-t", "sudo")
        logger(port, ["new user: name=bob, UID=1001, GID=1001, home=/home/bob, shell=/bin/bash, "
                      "from=/dev/pts/0"], "-T", "--rfc3164", "-t", "useradd", "-i")
        logger(port, ["nothing any rule knows"], "-T", "--rfc3164", "-t", "mystery")
        d.wait_records(4)
        d.seal()
        cc61 = d.query("--criterion", "CC6.1")
        apps = sorted(r["app"] for r in cc61)
        check(apps == ["sshd", "sudo"], f"CC6.1 returned {apps}")
        ssh = [r for r in cc61 if r["app"] == "sshd"][0]
        check(ssh["actor"].get("user") == "alice", f"actor: {ssh['actor']}")
        check(ssh["outcome"] == "success", f"outcome: {ssh['outcome']}")
        check(ssh["action"], "no action")
        check(ssh["target"], "no target")
        check(ssh["rule"] not in (None, "unmapped"), f"rule: {ssh['rule']}")
        sudo = [r for r in cc61 if r["app"] == "sudo"][0]
        check(sudo["actor"].get("user") == "alice", f"sudo actor: {sudo['actor']}")
        cc62 = d.query("--criterion", "CC6.2")
        check(any(r["app"] == "useradd" for r in cc62), f"useradd not under CC6.2: {cc62}")
        stats = sealed_stats(d)[-1]
        check(stats["unmapped"] == {"mystery": 1}, f"unmapped: {stats['unmapped']}")
        rc, out, _ = gatelog("epochs", "--db", d.db, check_rc=0)
        check("unmapped: mystery=1" in out, "gatelog epochs does not show the rule gap:\n" + out)
        check(stats["rules_packs"] == [pack_hash(SOC2)], f"packs: {stats['rules_packs']}")
        rc, out, _ = d.verify_db()
        check(rc == 0, out)
        rc, out, _ = d.verify_export()
        check(rc == 0, out)
        tsc = os.path.join(d.exports, "chain=test-chain", "epoch=0000000000", "tsc=CC6.1",
                           "records.jsonl")
        with open(tsc) as f:
            check(len(f.read().splitlines()) == 2, "tsc=CC6.1 file should hold 2 records")
    finally:
        d.cleanup()


RULE_A = """rules:
  - id: app-x
    description: events of app x
    match: {app: x}
    set: {action: ping, outcome: success}
    criteria: [CC7.2]
  - id: noise
    description: heartbeat noise
    match: {app: heartbeat}
    drop: true
"""

RULE_B = """rules:
  - id: app-x-v2
    description: events of app x, second version
    match: {app: x}
    set: {action: ping, outcome: success}
    criteria: [CC6.8]
"""


def test_sighup_reload_and_drops():
    d = Daemon(unix=False)
    try:
        d.clear_of_boundary(60)  # the last sealed epoch's stats are those of the reload
        rules_dir = os.path.join(d.dir, "rules")
        os.mkdir(rules_dir)
        rule_file = os.path.join(rules_dir, "10-x.yaml")
        with open(rule_file, "w") as f:
            f.write(RULE_A)
        hash_a = pack_hash(rules_dir)
        with open(d.config, "a") as f:
            f.write(f"rules:\n  paths: [{rules_dir}]\n")
        d.start()
        port = d.ports["tcp"]
        logger(port, ["one"], "-T", "--rfc5424=notq", "-t", "x")
        logger(port, ["beat", "beat", "beat"], "-T", "--rfc5424=notq", "-t", "heartbeat")
        d.wait_records(1)
        # A broken pack: the reload fails, the old rules stay in force.
        with open(rule_file, "w") as f:
            f.write(RULE_A.replace("criteria: [CC7.2]", "criteria: [CC99.9]"))
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "rules reload failed" not in d.read_log() and time.time() < deadline:
            time.sleep(0.05)
        log = d.read_log()
        check("rules reload failed" in log and "10-x.yaml:" in log, "no reload error logged")
        logger(port, ["two"], "-T", "--rfc5424=notq", "-t", "x")
        d.wait_records(2)
        # A good new pack: applies from the next record on.
        with open(rule_file, "w") as f:
            f.write(RULE_B)
        hash_b = pack_hash(rules_dir)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "rules in force" not in d.read_log().split("rules reload failed")[-1] \
                and time.time() < deadline:
            time.sleep(0.05)
        logger(port, ["three"], "-T", "--rfc5424=notq", "-t", "x")
        recs = d.wait_records(3)
        by_msg = {r["message"]: r for r in recs}
        check(by_msg["one"]["rule"] == "app-x" and by_msg["one"]["criteria"] == ["CC7.2"],
              f"one: {by_msg['one']['rule']}")
        check(by_msg["two"]["rule"] == "app-x", "the broken pack must not replace the old one")
        check(by_msg["three"]["rule"] == "app-x-v2" and by_msg["three"]["criteria"] == ["CC6.8"],
              f"three: {by_msg['three']['rule']}")
        d.seal()
        stats = sealed_stats(d)[-1]
        check(stats["dropped_by_rule"] == {"noise": 3}, f"drops: {stats['dropped_by_rule']}")
        check(stats["received"] == 6 and stats["kept"] == 3, f"received/kept: {stats}")
        check(sorted(stats["rules_packs"]) == sorted([hash_a, hash_b]),
              f"packs {stats['rules_packs']} != {[hash_a, hash_b]}")
        rc, out, _ = d.verify_db()
        check(rc == 0, out)
    finally:
        d.cleanup()


def test_broken_pack_refuses_start():
    d = Daemon(unix=False)
    rules_dir = os.path.join(d.dir, "rules")
    os.mkdir(rules_dir)
    with open(os.path.join(rules_dir, "10-bad.yaml"), "w") as f:
        f.write("rules:\n  - id: x\n    description: y\n    match: {app: x}\n    colour: red\n")
    with open(d.config, "a") as f:
        f.write(f"rules:\n  paths: [{rules_dir}]\n")
    try:
        rc, out, err = gatelog("run", "-c", d.config, timeout=20)
        check(rc == 2, f"exit {rc}")
        check("10-bad.yaml:5:5" in err and "colour" in err, f"error: {err[-500:]}")
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_default_pack_maps_logger_lines, test_sighup_reload_and_drops,
               test_broken_pack_refuses_start])
