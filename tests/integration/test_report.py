"""gatelog report (issue 10): the evidence report of a period, as JSON and as HTML.

A daemon with the default SOC 2 rule pack receives real sshd, sudo and useradd lines from
logger; one epoch with records and one empty epoch are sealed. The report's numbers are
compared with what `gatelog query --count` / `--group-by` answer for the same period, the
HTML is parsed with html.parser (one chart per criterion, no external URL or script, every
number shown equal to the JSON), the sampled records' proofs are re-checked with
`gatelog verify-proof`, and a tampered export gives a report that says so (exit 1).
"""
import base64
import datetime
import html.parser
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, check, gatelog, logger, run_tests  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOC2 = os.path.join(REPO, "rules", "soc2")
STATE = {}
TODAY = datetime.datetime.now(datetime.timezone.utc).date()
SINCE = (TODAY - datetime.timedelta(days=2)).isoformat()
UNTIL = (TODAY + datetime.timedelta(days=2)).isoformat()


def setup():
    if STATE:
        return STATE
    d = STATE["d"] = Daemon(unix=False, extra=f"rules:\n  paths: [{SOC2}]\n")
    d.start()
    port = d.ports["tcp"]
    sshd = ["Accepted publickey for alice from 10.0.0.5 port 5555 ssh2: ED25519 SHA256:x",
            "Failed password for invalid user bob from 10.0.0.9 port 22 ssh2",
            "Failed password for invalid user bob from 10.0.0.9 port 23 ssh2",
            "Failed password for carol from 10.0.0.7 port 24 ssh2",
            "Accepted password for carol from 10.0.0.7 port 5556 ssh2",
            "Accepted password for <script>alert(1)</script> from 10.0.0.8 port 5557 ssh2"]
    logger(port, sshd, "-T", "--rfc3164", "-t", "sshd", "-i")
    logger(port, ["alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"],
           "-T", "--rfc3164", "-t", "sudo")
    logger(port, ["new user: name=dave, UID=1001, GID=1001, home=/home/dave, shell=/bin/bash, "
                  "from=/dev/pts/0"], "-T", "--rfc3164", "-t", "useradd", "-i")
    d.wait_records(8)
    d.seal()
    d.seal()  # an epoch with no events
    check(d.stop() == 0, "daemon exit status")
    crits = sorted({c for r in d.query() for c in r.get("criteria", [])})
    check(len(crits) >= 2, f"criteria tagged: {crits}")
    STATE["crits"] = crits
    STATE["tmp"] = tempfile.mkdtemp(prefix="gatelog-report-")
    return STATE


def report(*extra, src="db", rc=0, fmt="json", crits=None):
    d = STATE["d"]
    where = ("--db", d.db) if src == "db" else ("--export", src)
    args = ["report", *where, "--pubkey", d.pub, "--since", SINCE, "--until", UNTIL,
            "--format", fmt]
    for c in crits or STATE["crits"]:
        args += ["--criterion", c]
    out = gatelog(*args, *extra, check_rc=rc)[1]
    return json.loads(out) if fmt == "json" else out


def query(*args):
    d = STATE["d"]
    return gatelog("query", "--db", d.db, "--since", SINCE, "--until", UNTIL, *args,
                   check_rc=0)[1]


def groups(crit, by):
    out = query("--criterion", crit, "--group-by", by, "--format", "jsonl")
    return {o[by]: o["count"] for o in map(json.loads, out.splitlines())}


def test_json_numbers_equal_query():
    setup()
    rep = report()
    check(rep["verification"]["ok"] is True, f"verification: {rep['verification']}")
    check([c["id"] for c in rep["criteria"]] == STATE["crits"], "criteria in order")
    for c in rep["criteria"]:
        cid = c["id"]
        n = int(query("--criterion", cid, "--count").strip())
        check(n > 0 and c["total"] == n, f"{cid}: total {c['total']} vs query --count {n}")
        days = {e["day"]: e["count"] for e in c["by_day"]}
        check(days == groups(cid, "day"), f"{cid}: by_day {days}")
        for e in c["by_day"]:
            check(sum(e["outcomes"].values()) == e["count"], f"{cid}: outcomes sum {e}")
        outs = {e["key"]: e["count"] for e in c["by_outcome"]}
        check(outs == groups(cid, "outcome"), f"{cid}: by_outcome {outs}")
        actors = {e["key"]: e["count"] for e in c["top_actors"]}
        check(actors == groups(cid, "actor"), f"{cid}: top_actors {actors}")
        fails = int(query("--criterion", cid, "--outcome", "failure", "--count").strip())
        check(c["failures_total"] == fails and len(c["failures"]) == fails,
              f"{cid}: failures {c['failures_total']} vs {fails}")
    # the period's epochs: the one with records verified, the empty one flagged
    eps = {e["epoch"]: e for e in rep["epochs"]}
    check(len(eps) >= 2 and all(e["verified"] for e in eps.values()), f"epochs {eps}")
    check(any(e["count"] == 0 and "no events" in e["flags"] for e in eps.values()),
          "the empty epoch is flagged")
    check(sum(e["count"] for e in eps.values()) == len(STATE["d"].query()), "epoch counts")
    kid = rep["keys"]["pinned_key_id"]
    check(len(kid) == 64 and rep["keys"]["signing_key_ids"] == [kid], f"keys {rep['keys']}")


def test_period_outside_is_empty():
    setup()
    d = STATE["d"]
    out = gatelog("report", "--db", d.db, "--pubkey", d.pub, "--since", "2001-01-01",
                  "--until", "2001-01-02", "--format", "json", "--criterion",
                  STATE["crits"][0], check_rc=0)[1]
    rep = json.loads(out)
    check(rep["criteria"][0]["total"] == 0 and rep["epochs"] == [],
          f"2001: {rep['criteria'][0]['total']} records, epochs {rep['epochs']}")


def test_sample_proofs_verify_and_seed_is_fixed():
    setup()
    a = report("--seed", "7", "--sample", "3")
    b = report("--seed", "7", "--sample", "3")
    for ca, cb in zip(a["criteria"], b["criteria"]):
        check([s["seq"] for s in ca["sample"]] == [s["seq"] for s in cb["sample"]],
              "same seed, same sample")
        check(len(ca["sample"]) == min(3, ca["total"]), f"{ca['id']}: sample size")
        seqs = set()
        for s in ca["sample"]:
            check(s["proof_verified"] is True, f"seq {s['seq']}: {s.get('problem')}")
            check(s["seq"] not in seqs, "sampled twice")
            seqs.add(s["seq"])
            path = os.path.join(STATE["tmp"], f"proof-{s['seq']}.json")
            text = json.dumps(s["proof"], separators=(",", ":"), sort_keys=True,
                              ensure_ascii=False)
            with open(path, "w") as f:
                f.write(text + "\n")
            rc, out, _ = gatelog("verify-proof", path, "--pubkey", STATE["d"].pub)
            check(rc == 0 and out.startswith(f"OK: seq {s['seq']} "), f"verify-proof: {out}")
            # a changed byte of the record fails
            bad = dict(s["proof"])
            rec = bytearray(base64.b64decode(bad["record"]))
            rec[rec.index(b'"seq"') + 1] ^= 0x20  # "seq" -> "Seq"
            bad["record"] = base64.b64encode(bytes(rec)).decode()
            with open(path, "w") as f:
                f.write(json.dumps(bad, separators=(",", ":"), sort_keys=True) + "\n")
            rc, out, _ = gatelog("verify-proof", path, "--pubkey", STATE["d"].pub)
            check(rc == 1, f"changed proof still verifies: {out}")


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.numbers, self.urls, self.tags = {}, [], []
        self.svg_in = {}     # criterion -> svg count
        self.section = None
        self._k = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        for name in ("src", "href", "xlink:href", "action", "data"):
            if name in a:
                self.urls.append(a[name])
        if "style" in a and "url(" in a["style"]:
            self.urls.append(a["style"])
        if tag == "section" and "data-criterion" in a:
            self.section = a["data-criterion"]
        if tag == "svg":
            self.svg_in[self.section] = self.svg_in.get(self.section, 0) + 1
        if "data-k" in a:
            self._k = a["data-k"]

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None

    def handle_data(self, data):
        if self._k is not None:
            self.numbers[self._k] = data
            self._k = None


def test_html_matches_json():
    setup()
    rep = report("--seed", "3")
    page = report("--seed", "3", fmt="html")
    p = Page()
    p.feed(page)
    p.close()
    check(page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>"), "a page")
    check("script" not in p.tags and "link" not in p.tags and "img" not in p.tags,
          f"tags: {sorted(set(p.tags))}")
    check(not p.urls, f"external references: {p.urls}")
    check("http://" not in page and "https://" not in page, "no URL in the page")
    check("<script>alert(1)</script>" not in page, "record text is escaped")
    check("@media print" in page, "print CSS")
    check(p.svg_in == {c: 1 for c in STATE["crits"]}, f"charts per criterion: {p.svg_in}")
    want = {"verification/epochs_checked": rep["verification"]["epochs_checked"],
            "verification/problems": rep["verification"]["problems"]}
    for c in rep["criteria"]:
        cid = c["id"]
        want[f"{cid}/total"] = c["total"]
        want[f"{cid}/failures_total"] = c["failures_total"]
        for e in c["by_day"]:
            want[f"{cid}/day/{e['day']}"] = e["count"]
            for o in c["by_outcome"]:
                want[f"{cid}/day/{e['day']}/{o['key']}"] = e["outcomes"].get(o["key"], 0)
        for what, arr in (("outcome", "by_outcome"), ("actor", "top_actors"),
                          ("target", "top_targets")):
            for e in c[arr]:
                want[f"{cid}/{what}/{e['key']}"] = e["count"]
    for e in rep["epochs"]:
        for k in ("count", "dropped", "malformed"):
            want[f"epoch/{e['epoch']}/{k}"] = e[k]
    got = {k: int(v) for k, v in p.numbers.items() if k != "verification/ok"}
    check(got == want, f"numbers in the page differ from the JSON:\n{got}\n{want}")
    check(p.numbers.get("verification/ok") == "OK", "the page says the chain verified")
    check(page.count("proof verified") == sum(len(c["sample"]) for c in rep["criteria"]),
          "each sampled record shows its verified proof")


def test_export_report_and_tampering():
    setup()
    d = STATE["d"]
    a = report(src=d.exports)
    b = report()
    check([c["total"] for c in a["criteria"]] == [c["total"] for c in b["criteria"]],
          "the export gives the same counts as the database")
    check(a["verification"]["ok"] is True, f"export verification {a['verification']}")
    bad = os.path.join(STATE["tmp"], "exports")
    shutil.copytree(d.exports, bad)
    hit = None
    for root, _, files in os.walk(bad):
        if "records.jsonl" in files and os.path.getsize(os.path.join(root, "records.jsonl")):
            hit = os.path.join(root, "records.jsonl")
            break
    check(hit is not None, "an exported epoch with records")
    with open(hit) as f:
        text = f.read()
    with open(hit, "w") as f:
        f.write(text.replace("alice", "alicf", 1))
    rep = report(src=bad, rc=1)
    check(rep["verification"]["ok"] is False and rep["verification"]["problems"] > 0,
          f"tampered export: {rep['verification']}")
    check(any(not e["verified"] and "verification failed" in e["flags"] for e in rep["epochs"]),
          "the tampered epoch is flagged")
    page = report(src=bad, rc=1, fmt="html")
    check("FAILED" in page, "the page says FAILED")


def test_usage_errors():
    setup()
    d = STATE["d"]
    for args in (["--db", d.db, "--pubkey", d.pub, "--since", SINCE, "--until", UNTIL],
                 ["--db", d.db, "--criterion", "CC6.1", "--since", SINCE, "--until", UNTIL],
                 ["--db", d.db, "--pubkey", d.pub, "--criterion", "CC6.1", "--since", UNTIL,
                  "--until", SINCE],
                 ["--db", d.db, "--pubkey", d.pub, "--criterion", "CC6.1", "--since", "x",
                  "--until", UNTIL],
                 ["--db", d.db, "--pubkey", d.pub, "--criterion", "CC6.1", "--since", SINCE,
                  "--until", UNTIL, "--format", "pdf"]):
        rc, _, err = gatelog("report", *args)
        check(rc == 2 and "Usage: gatelog report" in err, f"{args}: rc {rc}")


def cleanup():
    if "d" in STATE:
        STATE["d"].cleanup()
    if "tmp" in STATE:
        shutil.rmtree(STATE["tmp"], ignore_errors=True)


if __name__ == "__main__":
    try:
        run_tests([test_json_numbers_equal_query, test_period_outside_is_empty,
                   test_sample_proofs_verify_and_seed_is_fixed, test_html_matches_json,
                   test_export_report_and_tampering, test_usage_errors])
    finally:
        cleanup()
