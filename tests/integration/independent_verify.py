#!/usr/bin/env python3
"""Independent verifier of a gatelog export folder, written only from docs/FORMAT.md.

Usage: independent_verify.py EXPORT_DIR PUBKEY.pem

EXPORT_DIR is the export PREFIX (holding chain=NAME folders) or one chain=NAME folder.
Exits 0 when every check of docs/FORMAT.md holds, else prints each problem and exits 1
(2 on usage errors). It shares no code with gatelog: SHA-256 from hashlib, JSON from the
json module, signatures checked by the openssl command line tool. Key rotation (section 9):
PUBKEY is the chain's first key; a manifest with "next_key" whose signature verifies hands
over to that key for the following epochs. Kafka records across chains (section 11): every
two records of one (topic, partition, offset) are in different chains and one names the
other's chain in its redelivery marker (an object or an array of them).
"""
import base64
import hashlib
import json
import math
import pathlib
import re
import subprocess
import sys
import tempfile

SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
MEMBERS = {"version", "chain", "epoch", "start", "end", "first_seq", "count", "root",
           "criteria", "stats", "key_id", "prev", "sealed"}
OPTIONAL = {"next_key"}  # section 9: key rotation
HEX64 = re.compile(r"^[0-9a-f]{64}$")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

problems = []
# Section 11: (topic, partition, offset) -> [(chain, set of chains its redelivery names)]
kafka_holders = {}


def problem(where, what):
    problems.append(f"{where}: {what}")


# ---- RFC 6962 section 2.1 ----

def leaf(rec):
    return hashlib.sha256(b"\x00" + rec).digest()


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


# ---- RFC 8785 ----

def es_number(x):
    """ECMAScript Number::toString of a finite double (RFC 8785 section 3.2.2.3)."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + es_number(-x)
    mant, _, exp = repr(x).partition("e")
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    e10 = int(exp or 0) - len(frac)  # value = int(digits) * 10^e10
    k = len(digits.rstrip("0"))
    e10 += len(digits) - k
    digits = digits[:k]
    n = k + e10  # value = 0.digits * 10^n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    m = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{m}e{sign}{abs(e)}"


def canon(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("not a finite number")
        return es_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    keys = sorted(v, key=lambda s: s.encode("utf-16-be", "surrogatepass"))
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canon(v[k])
                          for k in keys) + "}"


def no_dupes(pairs):
    d = {}
    for k, val in pairs:
        if k in d:
            raise ValueError(f"duplicate member {k!r}")
        d[k] = val
    return d


def bad_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse_canonical(data):
    """Returns (value, None) or (value or None, why not canonical)."""
    try:
        v = json.loads(data.decode("utf-8"), object_pairs_hook=no_dupes,
                       parse_constant=bad_constant)
    except (ValueError, UnicodeDecodeError) as e:
        return None, f"not valid JSON ({e})"
    try:
        if canon(v).encode("utf-8") != data:
            return v, "not canonical JSON (RFC 8785)"
    except (ValueError, UnicodeEncodeError) as e:
        return v, f"not canonical JSON ({e})"
    return v, None


# ---- Keys and signatures ----

def load_pubkey(path):
    text = pathlib.Path(path).read_text()
    m = re.search(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", text, re.S)
    if not m:
        sys.exit(f"{path}: no PEM PUBLIC KEY block")
    der = base64.b64decode("".join(m.group(1).split()))
    if len(der) != 44 or not der.startswith(SPKI_PREFIX):
        sys.exit(f"{path}: not an Ed25519 public key")
    return der[12:]


def signature_ok(pk, manifest_path, sig_path):
    """pk: the 32 raw public key bytes, handed to openssl as a PEM SPKI file."""
    pem = ("-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(SPKI_PREFIX + pk).decode() +
           "\n-----END PUBLIC KEY-----\n")
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(pem)
        f.flush()
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", f.name,
                            "-rawin", "-in", str(manifest_path), "-sigfile", str(sig_path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode == 0 and b"Signature Verified Successfully" in r.stdout


# ---- One epoch ----

def read_lines(path):
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        return None
    return data.split(b"\n")[:-1]


def check_manifest(where, m, folder_epoch, chain):
    if not isinstance(m, dict):
        problem(where, "manifest is not a JSON object")
        return False
    if not MEMBERS <= set(m) <= MEMBERS | OPTIONAL:
        problem(where, f"manifest members differ: missing {sorted(MEMBERS - set(m))}, "
                       f"unknown {sorted(set(m) - MEMBERS - OPTIONAL)}")
        return False
    ok = True
    if m["version"] != 1:
        problem(where, f"version {m['version']!r} is not 1")
        ok = False
    for key in ("epoch", "first_seq", "count"):
        if type(m[key]) is not int or m[key] < 0:
            problem(where, f"{key} is not a non-negative integer")
            ok = False
    for key in ("root", "prev", "key_id", "next_key"):
        if key in m and (not isinstance(m[key], str) or not HEX64.match(m[key])):
            problem(where, f"{key} is not 64 lowercase hex digits")
            ok = False
    for key in ("start", "end", "sealed"):
        if not isinstance(m[key], str) or not TIME.match(m[key]):
            problem(where, f"{key} is not an RFC 3339 UTC time with six fractional digits")
    if ok and m["epoch"] != folder_epoch:
        problem(where, f"manifest says epoch {m['epoch']}, the folder says {folder_epoch}")
    if m["chain"] != chain:
        problem(where, f"manifest says chain {m['chain']!r}, the folder says {chain!r}")
    if not isinstance(m["stats"], dict):
        problem(where, "stats is not an object")
    if not isinstance(m["criteria"], dict):
        problem(where, "criteria is not an object")
        ok = False
    return ok


def redelivery_names(mark):
    """Section 11: the chains a "redelivery" member names: an object {"chain": C, ...}, or
    an array of such objects."""
    marks = mark if isinstance(mark, list) else [mark]
    return {x["chain"] for x in marks if isinstance(x, dict) and isinstance(x.get("chain"), str)}


def note_kafka(chain, v):
    """Section 11: remembers which chain holds a Kafka record's (topic, partition, offset)."""
    src = v.get("source") if isinstance(v, dict) else None
    if not isinstance(src, dict) or src.get("kind") != "kafka":
        return
    key = (src.get("topic"), src.get("partition"), src.get("offset"))
    names = redelivery_names(src["redelivery"]) if "redelivery" in src else set()
    kafka_holders.setdefault(key, []).append((chain, names))


def check_kafka():
    """Section 11 across chains: two records of one (topic, partition, offset) must be in two
    chains, and one of them must name the other's chain in its redelivery marker."""
    marked = sum(1 for hs in kafka_holders.values() for _, n in hs if n)
    shared = 0
    for (t, p, o), hs in sorted(kafka_holders.items(), key=lambda kv: repr(kv[0])):
        if len(hs) < 2:
            continue
        bad = [(a, b) for i, (a, na) in enumerate(hs) for (b, nb) in hs[i + 1:]
               if a == b or (b not in na and a not in nb)]
        if bad:
            a, b = bad[0]
            problem(f"kafka {t}/{p} offset {o}",
                    f"held twice by chain {a}" if a == b else
                    f"held by chain {a} and by chain {b}, and neither record is marked as a "
                    f"redelivery of the other chain")
        else:
            shared += 1
    if kafka_holders:
        records = sum(len(hs) for hs in kafka_holders.values())
        print(f"kafka: {records} record(s); {shared} offset(s) held by several chains, each "
              f"pair explained by a redelivery marker; {marked} record(s) marked")


def check_records(where, m, recs, chain):
    """Seqs, root and per-criterion roots; returns {criterion: [record bytes]}."""
    tagged = {}
    expect = m["first_seq"]
    for i, rec in enumerate(recs):
        v, why = parse_canonical(rec)
        seq = v.get("seq") if isinstance(v, dict) else None
        if why:
            problem(f"{where} record {i + 1}", f"record is {why}")
        if seq != expect:
            problem(f"{where} record {i + 1}", f"seq is {seq!r}, expected {expect}")
        expect += 1
        note_kafka(chain, v)
        crit = v.get("criteria", []) if isinstance(v, dict) else []
        for cid in dict.fromkeys(crit if isinstance(crit, list) else []):
            if isinstance(cid, str):
                tagged.setdefault(cid, []).append(rec)
    if len(recs) != m["count"]:
        problem(where, f"count is {m['count']} but records.jsonl has {len(recs)} records")
    root = mth([leaf(r) for r in recs]).hex()
    if root != m["root"]:
        problem(where, f"root mismatch: manifest says {m['root']}, records give {root}")
    for cid in sorted(set(tagged) | set(m["criteria"])):
        c = m["criteria"].get(cid)
        got = tagged.get(cid, [])
        if not isinstance(c, dict) or set(c) != {"count", "root"}:
            problem(where, f"criterion {cid!r}: records are tagged with it but the manifest "
                           f"has no {{count, root}} for it")
            continue
        if c["count"] != len(got):
            problem(where, f"criterion {cid!r}: count is {c['count']} but {len(got)} records "
                           f"are tagged with it")
        croot = mth([leaf(r) for r in got]).hex()
        if croot != c["root"]:
            problem(where, f"criterion {cid!r}: root mismatch: manifest says {c['root']}, "
                           f"records give {croot}")
    return tagged


def check_tsc(where, folder, m, tagged):
    present = {p.name[4:]: p for p in folder.glob("tsc=*") if p.is_dir()}
    for cid, c in m["criteria"].items():
        if cid not in present:
            if isinstance(c, dict) and c.get("count", 0) > 0:
                problem(where, f"tsc={cid}/records.jsonl is missing")
            continue
        lines = read_lines(present[cid] / "records.jsonl") \
            if (present[cid] / "records.jsonl").is_file() else None
        if lines is None:
            problem(where, f"tsc={cid}/records.jsonl is missing or does not end in a newline")
        elif lines != tagged.get(cid, []):
            problem(where, f"tsc={cid}/records.jsonl is not the epoch's records tagged {cid}")
    for cid in present:
        if cid not in m["criteria"]:
            problem(where, f"tsc={cid} present but the manifest lists no criterion {cid!r}")


def check_epoch(folder, number, chain, pk, key_id):
    """Returns (manifest dict or None, sha256 of manifest.json or None, the key for the next
    epoch: pk, or the manifest's next_key when its signature and key_id are good)."""
    where = f"chain {chain} epoch {number}"
    mpath, spath, rpath = (folder / "manifest.json", folder / "manifest.sig",
                           folder / "records.jsonl")
    for p in (mpath, spath, rpath):
        if not p.is_file():
            problem(where, f"{p.name} is missing")
    if not mpath.is_file():
        return None, None, pk
    data = mpath.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    sig_ok = False
    if spath.is_file():
        if len(spath.read_bytes()) != 64:
            problem(where, "manifest.sig is not 64 bytes")
        elif not signature_ok(pk, mpath, spath):
            problem(where, "bad signature: openssl does not verify manifest.sig")
        else:
            sig_ok = True
    m, why = parse_canonical(data)
    if why:
        problem(where, f"manifest.json is {why}")
    if m is None or not check_manifest(where, m, number, chain):
        return None, digest, pk
    if m["key_id"] != key_id:
        problem(where, f"key_id {m['key_id']} is not the given public key's {key_id}")
    elif sig_ok and "next_key" in m:
        pk = bytes.fromhex(m["next_key"])
    recs = read_lines(rpath) if rpath.is_file() else []
    if recs is None:
        problem(where, "records.jsonl does not end in a newline")
        recs = rpath.read_bytes().split(b"\n")
    tagged = check_records(where, m, recs, chain)
    check_tsc(where, folder, m, tagged)
    return m, digest, pk


def check_chain(chain_dir, pk):
    chain = chain_dir.name[len("chain="):]
    epochs = {}
    for d in chain_dir.glob("epoch=*"):
        if d.is_dir() and re.fullmatch(r"epoch=\d{10}", d.name):
            epochs[int(d.name[6:])] = d
        else:
            problem(f"chain {chain}", f"unexpected entry {d.name}")
    if not epochs:
        problem(f"chain {chain}", "no epoch folders")
        return
    prev_num = prev_digest = next_seq = None
    for number in sorted(epochs):
        m, digest, pk = check_epoch(epochs[number], number, chain, pk,
                                    hashlib.sha256(pk).hexdigest())
        where = f"chain {chain} epoch {number}"
        if prev_num is None and number != 0:
            problem(where, f"epoch 0 missing: the chain starts at epoch {number}")
        if prev_num is not None and number != prev_num + 1:
            gap = f"{prev_num + 1}" if number == prev_num + 2 else \
                f"s {prev_num + 1} to {number - 1}"
            problem(where, f"epoch{gap} missing: epochs jump from {prev_num} to {number}")
        elif m is not None:
            if prev_num is None and number == 0 and m["prev"] != "0" * 64:
                problem(where, "prev of epoch 0 is not 64 zeros")
            if prev_digest is not None and m["prev"] != prev_digest:
                problem(where, f"prev {m['prev']} is not the SHA-256 of epoch {prev_num}'s "
                               f"manifest.json ({prev_digest})")
            if next_seq is not None and m["first_seq"] != next_seq:
                problem(where, f"first_seq {m['first_seq']} does not continue the previous "
                               f"epoch (expected {next_seq})")
        prev_num, prev_digest = number, digest
        next_seq = m["first_seq"] + m["count"] if m is not None else None


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root, pubkey_path = pathlib.Path(argv[1]), pathlib.Path(argv[2])
    pk = load_pubkey(pubkey_path)
    key_id = hashlib.sha256(pk).hexdigest()
    chains = [root] if root.name.startswith("chain=") else \
        sorted(p for p in root.glob("chain=*") if p.is_dir())
    if not chains:
        problem(str(root), "no chain=NAME folder")
    for c in chains:
        check_chain(c, pk)
    check_kafka()
    for p in problems:
        print(p)
    if problems:
        print(f"FAILED: {len(problems)} problem(s)")
        return 1
    print(f"OK: {len(chains)} chain(s) verified, key_id {key_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
