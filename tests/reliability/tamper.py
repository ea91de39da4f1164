#!/usr/bin/python3
"""Tamper generator (issue 11): thousands of random mutations of sealed evidence, each of
which `gatelog verify` must reject with exit 1 (never 0, never a crash, never a hang).

A real daemon (with the SOC 2 rules pack, so that epochs have tsc=ID/ files) seals a chain
of epochs; then, from a seeded random generator (the seed is printed; GATELOG_TAMPER_SEED=N
repeats a run, GATELOG_TAMPER_N=N changes the number of mutations per target):

  export mutations: byte and bit flips anywhere in any file (records, tsc files, manifests,
    signatures), lines deleted/duplicated/swapped/moved to another epoch, files truncated,
    extended, removed or copied over one another, tsc files added, epoch folders removed,
    renamed, swapped or added, manifests re-serialized with edited stats/count/times, and
    one to four of these at once;
  database mutations: the same through SQL on a copy (record bytes, seq, epoch, rows deleted
    or duplicated, manifests, signatures, epoch rows), and raw byte flips in the file.

Each mutated copy goes to tamper-verify (the code of `gatelog verify` linked into one
process, fed one run per line: thousands of runs cost seconds, not minutes); a sample also
goes to the real `gatelog verify` binary (same exit status required) and, for exports, to
the independent verifier (tests/integration/independent_verify.py, no gatelog code: exit 1
required).

Honest exceptions, each checked rather than skipped:
  - Removing the newest epochs whole (or making the newest epoch folder incomplete by
    removing its manifest.json) leaves a shorter chain that is valid on its own: only a head
    kept by the auditor can show it (docs/FORMAT.md section 8). Those mutations are run
    with --since-head (a head taken before tampering), which must reject them.
  - A file the format does not define, added to an export, is not evidence: verify must
    still exit 0 (and the independent verifier too).
  - A raw byte flip in the database file may land in free space, or in a column that is
    only an index (seq, received, time, host, leaf; the epochs row's copies of manifest
    members); SQL edits of those columns likewise. If verify exits 0, the evidence it reads
    (each epoch's records in order, every manifest and signature) must be unchanged.
  - A raw flip that leaves a file SQLite cannot read (a damaged page, the schema changed)
    makes verify stop with exit 3 (runtime error, the file and SQLite's reason named),
    never 0.
  - Known gap (reported): the newest epoch folder renamed to a higher number keeps every
    folder in order and every manifest intact; gatelog verify does not compare a folder's
    number with its manifest's epoch and accepts it; the independent verifier must reject it.
"""
import json
import os
import random
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import GATELOG, Daemon, Failure, check, gatelog, logger, run_tests  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
INDEPENDENT = os.path.join(REPO, "tests", "integration", "independent_verify.py")
HELPER = os.environ.get("GATELOG_TAMPER_VERIFY",
                        os.path.join(os.path.dirname(GATELOG), "..", "tests", "reliability",
                                     "tamper-verify"))
CHAIN = "chain=test-chain"
EPOCHS = 5


# ---- the sealed chain ----

def build_chain():
    """A stopped daemon with the sealed chain; the caller cleans it up."""
    def fill(d):
        n = 0
        for e in range(EPOCHS):
            if e == 2:
                d.seal()  # an empty epoch (no records, no tsc files)
                continue
            port = d.ports["tcp"]
            lines = [f"Accepted publickey for u{e}x{i} from 10.0.{e}.{i} port 22 ssh2"
                     for i in range(3)]
            logger(port, lines, "-T", "--rfc3164", "-t", "sshd", "-i")
            logger(port, [f"new user: name=n{e}, UID=100{e}, GID=100{e}, home=/home/n{e}, "
                          f"shell=/bin/sh, from=/dev/pts/0"], "-T", "--rfc3164", "-t", "useradd",
                   "-i")
            logger(port, [f"epoch {e} unmapped {i}" for i in range(2)], "-T", "--rfc3164", "-t",
                   "m")
            n += 6
            d.wait_records(n)
            d.seal()

    d = Daemon(unix=False, extra=f"rules:\n  paths: [{os.path.join(REPO, 'rules', 'soc2')}]\n")
    d.clear_of_boundary(60)  # EPOCHS epochs, the third empty, all sealed by the test alone
    return d.run_stopped(fill)


class Verifier:
    """tamper-verify, one process for many runs."""

    def __init__(self):
        check(os.path.exists(HELPER), f"{HELPER} not built")
        self.p = subprocess.Popen([HELPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b""
        self.runs = 0

    def run(self, args, what, timeout=60):
        self.p.stdin.write(("\t".join(args) + "\n").encode())
        self.p.stdin.flush()
        deadline = time.time() + timeout
        while b"@@rc " not in self.buf or not self.buf.split(b"@@rc ", 1)[1].count(b"\n"):
            left = deadline - time.time()
            if left <= 0:
                raise Failure(f"{what}: verify hangs (no answer in {timeout}s)")
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    self.p.wait()
                    raise Failure(f"{what}: verify crashed (status {self.p.returncode}):\n"
                                  f"{self.buf.decode(errors='replace')[-3000:]}")
                self.buf += chunk
        report, rest = self.buf.split(b"@@rc ", 1)
        rc, self.buf = rest.split(b"\n", 1)
        self.runs += 1
        return int(rc), report.decode(errors="replace")

    def close(self):
        self.p.stdin.close()
        err = (self.buf + self.p.stdout.read()).decode(errors="replace")
        rc = self.p.wait()
        # LeakSanitizer (ASan build) reports at exit: thousands of runs must leak nothing.
        check(rc == 0, f"tamper-verify exited {rc} after {self.runs} runs:\n{err[-3000:]}")


def scratch():
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="gatelog-tamper-", dir=base)


# ---- export mutations ----
# Each takes (rng, exp) and returns a description, or None when it does not apply to this
# copy (then another is drawn). A description starting with "HEAD " needs --since-head.

def files(exp, pred=lambda p: True):
    out = []
    for root, dirs, fs in os.walk(exp):
        dirs.sort()
        for f in sorted(fs):
            p = os.path.join(root, f)
            if pred(p):
                out.append(p)
    return out


def epoch_dirs(exp):
    c = os.path.join(exp, CHAIN)
    return sorted(os.path.join(c, x) for x in os.listdir(c) if x.startswith("epoch="))


def tree(exp):
    """The export's content: relative path -> bytes (folders included, as None)."""
    out = {}
    for root, dirs, fs in os.walk(exp):
        for x in dirs:
            out[rel(exp, os.path.join(root, x))] = None
        for x in fs:
            out[rel(exp, os.path.join(root, x))] = read(os.path.join(root, x))
    return out


def rel(exp, p):
    return os.path.relpath(p, exp)


def read(p):
    with open(p, "rb") as f:
        return f.read()


def write(p, b):
    with open(p, "wb") as f:
        f.write(b)


def m_flip_byte(rng, exp):
    fs = [p for p in files(exp) if os.path.getsize(p) > 0]
    p = rng.choice(fs)
    b = bytearray(read(p))
    i = rng.randrange(len(b))
    b[i] ^= rng.randrange(1, 256)
    write(p, bytes(b))
    return f"byte {i} of {rel(exp, p)} changed"


def m_flip_bit(rng, exp):
    fs = [p for p in files(exp) if os.path.getsize(p) > 0]
    p = rng.choice(fs)
    b = bytearray(read(p))
    i = rng.randrange(len(b))
    bit = rng.randrange(8)
    b[i] ^= 1 << bit
    write(p, bytes(b))
    return f"bit {bit} of byte {i} of {rel(exp, p)} flipped"


def jsonl(exp):
    return [p for p in files(exp, lambda p: p.endswith(".jsonl")) if os.path.getsize(p) > 0]


def lines_of(p):
    return read(p).split(b"\n")[:-1]


def put_lines(p, ls):
    write(p, b"".join(l + b"\n" for l in ls))


def m_delete_line(rng, exp):
    p = rng.choice(jsonl(exp))
    ls = lines_of(p)
    i = rng.randrange(len(ls))
    put_lines(p, ls[:i] + ls[i + 1:])
    return f"line {i} of {rel(exp, p)} deleted"


def m_dup_line(rng, exp):
    p = rng.choice(jsonl(exp))
    ls = lines_of(p)
    i = rng.randrange(len(ls))
    j = rng.randrange(len(ls) + 1)
    put_lines(p, ls[:j] + [ls[i]] + ls[j:])
    return f"line {i} of {rel(exp, p)} duplicated at {j}"


def m_swap_lines(rng, exp):
    ps = [p for p in jsonl(exp) if len(set(lines_of(p))) > 1]
    if not ps:
        return None
    p = rng.choice(ps)
    ls = lines_of(p)
    i, j = rng.sample(range(len(ls)), 2)
    if ls[i] == ls[j]:
        return None
    ls[i], ls[j] = ls[j], ls[i]
    put_lines(p, ls)
    return f"lines {i} and {j} of {rel(exp, p)} swapped"


def m_move_line(rng, exp):
    ps = jsonl(exp)
    p = rng.choice(ps)
    q = rng.choice([x for x in files(exp, lambda x: x.endswith(".jsonl")) if x != p])
    ls, lq = lines_of(p), lines_of(q)
    i = rng.randrange(len(ls))
    j = rng.randrange(len(lq) + 1)
    put_lines(q, lq[:j] + [ls[i]] + lq[j:])
    put_lines(p, ls[:i] + ls[i + 1:])
    return f"line {i} of {rel(exp, p)} moved to line {j} of {rel(exp, q)}"


def m_truncate(rng, exp):
    fs = [p for p in files(exp) if os.path.getsize(p) > 0]
    p = rng.choice(fs)
    n = os.path.getsize(p)
    k = rng.randrange(n)
    os.truncate(p, k)
    return f"{rel(exp, p)} truncated from {n} to {k} bytes"


def m_append(rng, exp):
    p = rng.choice(files(exp))
    tail = rng.choice([b"\n", b" ", b"{}\n", b"\x00", bytes(rng.randrange(256) for _ in range(8))])
    with open(p, "ab") as f:
        f.write(tail)
    return f"{tail!r} appended to {rel(exp, p)}"


def m_remove_file(rng, exp):
    p = rng.choice(files(exp))
    ed = epoch_dirs(exp)
    os.remove(p)
    if os.path.basename(p) == "manifest.json" and os.path.dirname(p) == ed[-1]:
        # The newest epoch folder becomes "incomplete" (being exported): a shorter chain.
        return f"HEAD {rel(exp, p)} removed (newest epoch now incomplete)"
    return f"{rel(exp, p)} removed"


def m_copy_over(rng, exp):
    """One file replaced by another of the same name from another epoch (a consistent-looking
    manifest/signature/records from elsewhere in the chain)."""
    name = rng.choice(["manifest.json", "manifest.sig", "records.jsonl"])
    ed = epoch_dirs(exp)
    a, b = rng.sample(ed, 2)
    if not (os.path.exists(os.path.join(a, name)) and os.path.exists(os.path.join(b, name))):
        return None
    if read(os.path.join(a, name)) == read(os.path.join(b, name)):
        return None  # two empty records.jsonl: nothing changed
    shutil.copyfile(os.path.join(a, name), os.path.join(b, name))
    return f"{name} of {rel(exp, a)} copied over {rel(exp, b)}"


def m_pair_over(rng, exp):
    """manifest.json and manifest.sig together from another epoch (a valid signed pair)."""
    ed = epoch_dirs(exp)
    a, b = rng.sample(ed, 2)
    for name in ("manifest.json", "manifest.sig"):
        shutil.copyfile(os.path.join(a, name), os.path.join(b, name))
    return f"signed manifest of {rel(exp, a)} copied over {rel(exp, b)}"


def m_add_tsc(rng, exp):
    ed = rng.choice(epoch_dirs(exp))
    cid = rng.choice(["CC6.1", "CC6.2", "CC7.2", "CC8.1", "A1.2"])
    d = os.path.join(ed, f"tsc={cid}")
    recs = read(os.path.join(ed, "records.jsonl"))
    if os.path.exists(d):
        return None
    if not recs:
        return None  # an empty tsc file beside an empty epoch: see the neutral cases
    os.mkdir(d)
    ls = recs.split(b"\n")[:-1]
    write(os.path.join(d, "records.jsonl"), rng.choice(ls) + b"\n")
    return f"{rel(exp, d)}/records.jsonl added with one of the epoch's records"


def m_remove_epoch(rng, exp):
    ed = epoch_dirs(exp)
    i = rng.randrange(len(ed))
    shutil.rmtree(ed[i])
    # The oldest or the newest epoch removed whole leaves a shorter chain, valid on its own.
    return ("HEAD " if i in (0, len(ed) - 1) else "") + f"{rel(exp, ed[i])} removed"


def m_remove_newest(rng, exp):
    ed = epoch_dirs(exp)
    k = rng.randrange(1, len(ed))
    for p in ed[-k:]:
        shutil.rmtree(p)
    return f"HEAD newest {k} epoch folders removed"


def m_rename_epoch(rng, exp):
    ed = epoch_dirs(exp)
    p = rng.choice(ed)
    n = int(os.path.basename(p)[6:])
    new = rng.choice([x for x in range(len(ed) + 3) if x != n])
    q = os.path.join(os.path.dirname(p), f"epoch={new:010d}")
    if os.path.exists(q):
        tmp = q + ".tmp"
        os.rename(q, tmp)
        os.rename(p, q)
        os.rename(tmp, p)
        return f"epoch folders {n} and {new} swapped"
    os.rename(p, q)
    if n == len(ed) - 1 and new > n:
        # The folders stay in order and every manifest is intact: gatelog verify does not
        # compare the folder's number with the manifest's epoch (a known gap, reported);
        # the independent verifier does.
        return f"GAP epoch folder {n} (the newest) renamed to {new}"
    return f"epoch folder {n} renamed to {new}"


def m_add_epoch(rng, exp):
    """A copy of an existing epoch added as the next one (a replayed epoch)."""
    ed = epoch_dirs(exp)
    src = rng.choice(ed)
    shutil.copytree(src, os.path.join(os.path.dirname(src), f"epoch={len(ed):010d}"))
    return f"{rel(exp, src)} replayed as epoch {len(ed)}"


def edit_manifest(rng, exp, fn, what):
    ed = rng.choice(epoch_dirs(exp))
    p = os.path.join(ed, "manifest.json")
    m = json.loads(read(p))
    old = json.dumps(m, sort_keys=True)
    fn(m)
    if json.dumps(m, sort_keys=True) == old:
        return None
    # Re-serialized canonically (sorted keys, no spaces): the signature alone must catch it.
    write(p, json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{what} of {rel(exp, p)}"


def m_edit_stats(rng, exp):
    def fn(m):
        st = m.get("stats")
        if not isinstance(st, dict):
            return
        k = rng.choice(sorted(st) + ["dropped"])
        v = st.get(k)
        if isinstance(v, int):
            st[k] = v + rng.choice([-1, 1, 1000])
        elif isinstance(v, dict):
            st[k] = {**v, "forged": 1}
        else:
            st[k] = 0
    return edit_manifest(rng, exp, fn, "stats edited (re-serialized canonically)")


def m_edit_field(rng, exp):
    def fn(m):
        k = rng.choice(["count", "first_seq", "epoch", "start", "end", "sealed", "root", "prev"])
        v = m.get(k)
        if isinstance(v, int):
            m[k] = v + 1
        elif isinstance(v, str) and v:
            m[k] = v[:-1] + ("0" if v[-1] != "0" else "1")
    return edit_manifest(rng, exp, fn, "a member edited (re-serialized canonically)")


EXPORT_MUTATIONS = [m_flip_byte, m_flip_byte, m_flip_bit, m_delete_line, m_dup_line,
                    m_swap_lines, m_move_line, m_truncate, m_append, m_remove_file,
                    m_copy_over, m_pair_over, m_add_tsc, m_remove_epoch, m_remove_newest,
                    m_rename_epoch, m_add_epoch, m_edit_stats, m_edit_field]


def mutate_export(rng, exp):
    """One to four mutations; returns their descriptions."""
    k = rng.choice([1, 1, 1, 2, 3, 4])
    done = []
    tries = 0
    while len(done) < k and tries < 50:
        tries += 1
        fn = rng.choice(EXPORT_MUTATIONS)
        try:
            what = fn(rng, exp)
        except (IndexError, ValueError, FileNotFoundError, OSError):
            what = None  # the folder it wanted is gone (an earlier mutation of this copy)
        if what:
            done.append(what)
            KINDS[fn.__name__[2:]] = KINDS.get(fn.__name__[2:], 0) + 1
    return done


KINDS = {}  # mutation kind -> times applied


# ---- database mutations (SQL on a copy, or raw bytes) ----

def evidence(db):
    """What verify --db reads as evidence: sealed records' bytes and every epoch's manifest
    and signature, or None when SQLite cannot read it."""
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        c.text_factory = bytes
        ep = c.execute("SELECT epoch, manifest, sig FROM epochs NOT INDEXED ORDER BY epoch").fetchall()
        # What verify reads: each epoch's records in seq order. The seq column itself is only
        # an index (the record's own "seq" member is what is signed).
        rec = c.execute("SELECT epoch, data FROM records NOT INDEXED ORDER BY epoch, seq").fetchall()
        c.close()
        return ep, rec
    except sqlite3.Error:
        return None


def db_sql_mutation(rng, c):
    seqs = [r[0] for r in c.execute("SELECT seq FROM records WHERE epoch IN "
                                    "(SELECT epoch FROM epochs) ORDER BY seq")]
    eps = [r[0] for r in c.execute("SELECT epoch FROM epochs WHERE sealed ORDER BY epoch")]
    s = rng.choice(seqs)
    e = rng.choice(eps)
    kind = rng.randrange(15)
    if kind == 14:
        c.execute("UPDATE epochs SET sealed=0 WHERE epoch=?", (e,))
        # The oldest: the sealed chain then starts later, valid on its own (only a head
        # shows it).
        return ("HEAD " if e == eps[0] else "") + f"epoch {e} marked as not sealed"
    if kind == 0:
        data = bytearray(c.execute("SELECT data FROM records WHERE seq=?", (s,)).fetchone()[0])
        i = rng.randrange(len(data))
        data[i] ^= rng.randrange(1, 256)
        c.execute("UPDATE records SET data=? WHERE seq=?", (bytes(data), s))
        return f"byte {i} of record seq {s} changed"
    if kind == 1:
        c.execute("DELETE FROM records WHERE seq=?", (s,))
        return f"record seq {s} deleted"
    if kind == 2:
        new = rng.choice([max(seqs) + 1, -1, s + 1000])
        c.execute("INSERT INTO records(seq, epoch, received, time, host, leaf, data) SELECT ?, "
                  "epoch, received, time, host, leaf, data FROM records WHERE seq=?", (new, s))
        return f"record seq {s} duplicated as seq {new}"
    if kind == 3:
        t = rng.choice([x for x in seqs if x != s])
        c.execute("UPDATE records SET seq=-7 WHERE seq=?", (s,))
        c.execute("UPDATE records SET seq=? WHERE seq=?", (s, t))
        c.execute("UPDATE records SET seq=? WHERE seq=-7", (t,))
        return f"records seq {s} and {t} swapped"
    if kind == 4:
        other = rng.choice([x for x in eps if x != e])
        cur = c.execute("SELECT epoch FROM records WHERE seq=?", (s,)).fetchone()[0]
        if other == cur:
            return None
        c.execute("UPDATE records SET epoch=? WHERE seq=?", (other, s))
        return f"record seq {s} moved to epoch {other}"
    if kind == 5:
        m = bytearray(c.execute("SELECT manifest FROM epochs WHERE epoch=?", (e,)).fetchone()[0])
        i = rng.randrange(len(m))
        m[i] ^= rng.randrange(1, 256)
        c.execute("UPDATE epochs SET manifest=? WHERE epoch=?", (bytes(m), e))
        return f"byte {i} of manifest {e} changed"
    if kind == 6:
        sg = bytearray(c.execute("SELECT sig FROM epochs WHERE epoch=?", (e,)).fetchone()[0])
        i = rng.randrange(len(sg))
        sg[i] ^= 1 << rng.randrange(8)
        c.execute("UPDATE epochs SET sig=? WHERE epoch=?", (bytes(sg), e))
        return f"bit of byte {i} of signature {e} flipped"
    if kind == 7:
        other = rng.choice([x for x in eps if x != e])
        c.execute("UPDATE epochs SET sig=(SELECT sig FROM epochs WHERE epoch=?) WHERE epoch=?",
                  (other, e))
        return f"signature of epoch {other} copied to {e}"
    if kind == 8:
        c.execute("DELETE FROM epochs WHERE epoch=?", (e,))
        # The oldest epoch removed whole leaves a chain that starts later, valid on its own
        # (only a head shows it); the newest leaves the open epoch after a gap.
        head = "HEAD " if e == eps[0] else ""
        if rng.random() < 0.5:
            c.execute("DELETE FROM records WHERE epoch=?", (e,))
            return f"{head}epoch {e} and its records deleted"
        return f"{head}epoch row {e} deleted"
    if kind == 9:
        m = json.loads(c.execute("SELECT manifest FROM epochs WHERE epoch=?", (e,)).fetchone()[0])
        st = m.get("stats") or {}
        k = rng.choice(sorted(st) or ["dropped"])
        st[k] = (st[k] + 1) if isinstance(st.get(k), int) else 7
        m["stats"] = st
        c.execute("UPDATE epochs SET manifest=? WHERE epoch=?",
                  (json.dumps(m, sort_keys=True, separators=(",", ":")).encode(), e))
        return f"stats.{k} of manifest {e} edited"
    if kind == 10:
        k = rng.randrange(64)
        c.execute("UPDATE epochs SET sig=substr(sig, 1, ?) WHERE epoch=?", (k, e))
        return f"signature {e} truncated to {k} bytes"
    if kind == 11:
        other = rng.choice([x for x in eps if x != e])
        c.execute("UPDATE epochs SET manifest=(SELECT manifest FROM epochs WHERE epoch=?), "
                  "sig=(SELECT sig FROM epochs WHERE epoch=?) WHERE epoch=?", (other, other, e))
        return f"signed manifest of epoch {other} copied to {e}"
    if kind == 12:
        data = c.execute("SELECT data FROM records WHERE seq=?", (s,)).fetchone()[0]
        r = json.loads(data)
        r["message"] = (r.get("message") or "") + "!"
        new = json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        c.execute("UPDATE records SET data=? WHERE seq=?", (new, s))
        return f"message of record seq {s} edited (canonical JSON kept)"
    c.execute("UPDATE records SET data=CAST(data AS TEXT) || ' ' WHERE seq=?", (s,))
    return f"a space appended to record seq {s}"


def mutate_db(rng, db, base_evidence):
    """Returns (descriptions, neutral_ok): neutral_ok when a 0 exit is acceptable if the
    evidence read back is unchanged (raw flips only)."""
    if rng.random() < 0.25:
        b = bytearray(read(db))
        k = rng.choice([1, 1, 2, 8])
        where = []
        for _ in range(k):
            i = rng.randrange(len(b))
            b[i] ^= rng.randrange(1, 256)
            where.append(i)
        write(db, bytes(b))
        return [f"raw byte(s) {where} of the database file changed"], True
    c = sqlite3.connect(db)
    c.text_factory = bytes
    done = []
    k = rng.choice([1, 1, 1, 2, 3])
    tries = 0
    while len(done) < k and tries < 30:
        tries += 1
        try:
            what = db_sql_mutation(rng, c)
        except (sqlite3.Error, IndexError, TypeError, ValueError):
            what = None
        if what:
            done.append(what)
    c.commit()
    c.close()
    # e.g. the mutations undid each other, or only moved index columns (two records of
    # different epochs swapping seq values keep every epoch's records in the same order)
    return done, evidence(db) == base_evidence


# ---- the tests ----

def count():
    """1500 export mutations (and 1000 database ones) a run; 900 in the ASan build, where each
    verify is about three times slower (CI runs both builds; every run has a new seed)."""
    asan = b"libasan" in subprocess.run(["ldd", HELPER], capture_output=True).stdout
    return int(os.environ.get("GATELOG_TAMPER_N") or (900 if asan else 1500))


def seed():
    s = int(os.environ.get("GATELOG_TAMPER_SEED") or random.randrange(1 << 32))
    print(f"tamper: seed {s} (GATELOG_TAMPER_SEED={s} repeats this run)", flush=True)
    return s


def test_export_mutations():
    d = build_chain()
    tmp = None
    try:  # the daemon's folder goes whatever fails, the verifier's start included
        v = Verifier()
        tmp = scratch()
        head = os.path.join(d.dir, "head.txt")
        rc, out, err = gatelog("head", "--export", d.exports)
        check(rc == 0, f"gatelog head: {out}{err}")
        with open(head, "w") as f:
            f.write(out)
        base_args = ["--pubkey", d.pub, "--export"]
        rc, out = v.run(base_args + [d.exports], "untouched export")
        check(rc == 0, f"untouched export does not verify:\n{out}")
        rc, out = v.run(["--since-head", head] + base_args + [d.exports], "untouched + head")
        check(rc == 0, f"untouched export does not verify against its head:\n{out}")
        check(len([p for p in files(d.exports) if "tsc=" in p]) >= 4, "no tsc files exported")
        rng = random.Random(seed())
        n = count()
        cli_runs = indep_runs = head_runs = undone = 0
        base_tree = tree(d.exports)
        t0 = time.time()
        for i in range(n):
            exp = os.path.join(tmp, f"x{i}")
            shutil.copytree(d.exports, exp)
            done = mutate_export(rng, exp)
            what = f"export mutation {i}: " + "; ".join(done)
            if tree(exp) == base_tree:
                # The mutations undid each other (an epoch replayed, then removed): the
                # export is the original one and must verify.
                rc, out = v.run(base_args + [exp], what)
                check(rc == 0, f"{what}: nothing changed in the end, yet verify exit {rc}")
                undone += 1
                shutil.rmtree(exp)
                continue
            args = base_args + [exp]
            if any(x.startswith("HEAD ") for x in done):
                args = ["--since-head", head] + args
                head_runs += 1
            rc, out = v.run(args, what)
            if rc == 0 and "--since-head" not in args:
                # Valid on its own: without the key, only a cut chain can be (e.g. folders
                # swapped, then one removed: the oldest epoch gone). The head must show it.
                args = ["--since-head", head] + args
                rc, out = v.run(args, what + " (again, against the head)")
                head_runs += rc == 1
            check(rc == 1 and "FAIL" in out, f"{what}: verify exit {rc}, wanted 1\n{out}")
            if i % 50 == 0:
                # The shipped binary agrees; the independent verifier (no gatelog code)
                # rejects it too.
                p = subprocess.run([GATELOG, "verify", *args], capture_output=True, timeout=60)
                check(p.returncode == rc, f"{what}: gatelog verify exit {p.returncode}, "
                                          f"in-process {rc}")
                cli_runs += 1
                if not any(x.startswith("HEAD ") for x in done):
                    p = subprocess.run(["/usr/bin/python3", INDEPENDENT, exp, d.pub],
                                       capture_output=True, timeout=120)
                    check(p.returncode == 1, f"{what}: independent verifier exit "
                                             f"{p.returncode}\n{p.stdout.decode()}")
                    indep_runs += 1
            shutil.rmtree(exp)
        # Neutral: a file the format does not define is not evidence.
        exp = os.path.join(tmp, "neutral")
        shutil.copytree(d.exports, exp)
        write(os.path.join(epoch_dirs(exp)[1], "NOTES.txt"), b"not evidence\n")
        rc, out = v.run(base_args + [exp], "file added")
        check(rc == 0, f"an added file the format does not define: exit {rc}\n{out}")
        p = subprocess.run(["/usr/bin/python3", INDEPENDENT, exp, d.pub], capture_output=True)
        check(p.returncode == 0, f"independent verifier on an added NOTES.txt: {p.returncode}")
        v.close()
        print(f"tamper: {n} export mutations in {time.time() - t0:.1f}s, every one rejected "
              f"(exit 1); {head_runs} shortened the chain and were rejected against a head; "
              f"{cli_runs} also by the gatelog binary, {indep_runs} also by the independent "
              f"verifier; {undone} undid themselves (and verified); an added NOTES.txt is "
              f"not evidence (both exit 0)", flush=True)
        print("tamper: mutations applied: " +
              ", ".join(f"{k} {v}" for k, v in sorted(KINDS.items())), flush=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        d.cleanup()


def test_db_mutations():
    d = build_chain()
    tmp = None
    try:  # the daemon's folder goes whatever fails, the verifier's start included
        v = Verifier()
        tmp = scratch()
        base = os.path.join(tmp, "base.db")
        src = sqlite3.connect(d.db)
        dst = sqlite3.connect(base)
        src.backup(dst)
        src.close()
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.close()
        base_ev = evidence(base)
        rc, out = v.run(["--pubkey", d.pub, "--db", base], "untouched database")
        check(rc == 0, f"untouched database does not verify:\n{out}")
        rng = random.Random(seed())
        n = count() * 2 // 3
        neutral = raw = cli_runs = unreadable = head_runs = 0
        head = os.path.join(d.dir, "head.txt")
        rc, out, err = gatelog("head", "--db", base)
        check(rc == 0, f"gatelog head: {out}{err}")
        with open(head, "w") as f:
            f.write(out)
        t0 = time.time()
        for i in range(n):
            db = os.path.join(tmp, f"m{i}.db")
            shutil.copyfile(base, db)
            done, neutral_ok = mutate_db(rng, db, base_ev)
            raw_flip = done[0].startswith("raw")
            raw += raw_flip
            what = f"database mutation {i}: " + "; ".join(done)
            args = ["--pubkey", d.pub, "--db", db]
            if any(x.startswith("HEAD ") for x in done):
                args = ["--since-head", head] + args
                head_runs += 1
            rc, out = v.run(args, what)
            if rc == 0 and neutral_ok and evidence(db) == base_ev:
                neutral += 1  # free space or an index column: the evidence is unchanged
            elif rc == 3 and raw_flip:
                # SQLite cannot read the file (a damaged page, or the schema itself changed:
                # "no such column"): verify stops with a runtime error (exit 3, "gatelog:
                # FILE: <SQLite's reason>"), never 0. Counted, and the file is named.
                check(f"gatelog: {db}: " in out, f"{what}: exit 3 without naming the file\n{out}")
                unreadable += 1
            else:
                check(rc == 1 and "FAIL" in out, f"{what}: verify exit {rc}, wanted 1\n{out}")
            if i % 50 == 0:
                p = subprocess.run([GATELOG, "verify", *args],
                                   capture_output=True, timeout=60)
                check(p.returncode == rc, f"{what}: gatelog verify exit {p.returncode}, "
                                          f"in-process {rc}")
                cli_runs += 1
            os.remove(db)
        v.close()
        print(f"tamper: {n} database mutations in {time.time() - t0:.1f}s ({raw} raw byte "
              f"flips of the file); every one that changed the evidence was rejected (exit 1); "
              f"{neutral} left the evidence unchanged (free space, index columns) and verified; "
              f"{unreadable} raw flips damaged the file so that SQLite cannot read it (exit 3, "
              f"never 0); "
              f"{head_runs} removed the oldest epoch and were rejected against a head; "
              f"{cli_runs} also run by the gatelog binary", flush=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_export_mutations, test_db_mutations])
