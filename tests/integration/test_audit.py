"""Auditor tools (issue 10): inclusion proofs, chain heads and C2SP checkpoints.

One daemon seals epochs of 0, 1, 2, 3, 7 and 8 real records (logger over TCP); the head is
taken after the first four. Then:
- every record's proof, from the database and from the export, verifies with
  `gatelog verify-proof` and with the hand recipe of docs/FORMAT.md section 7; changed bytes,
  another key and a seq with no sealed record fail;
- `verify --since-head` accepts the grown chain, and catches a truncated export and a tail
  rewritten and re-signed with the real key (which plain `verify` cannot catch), both with
  gatelog and with the hand recipe of docs/FORMAT.md section 8;
- the checkpoint is a C2SP signed note whose signature and key ID are checked here with
  hashlib and openssl.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, check, gatelog, logger, run_tests, HERE  # noqa: E402

FORMAT_MD = os.path.join(HERE, "..", "..", "docs", "FORMAT.md")
SIZES = [0, 1, 2, 3, 7, 8]
HEAD_AFTER = 4          # the head is taken after this many epochs
STATE = {}


def hand_script(name):
    """The ```py block of docs/FORMAT.md whose first line names it, saved to a file."""
    text = open(FORMAT_MD).read()
    for block in re.findall(r"^```py\n(.*?)^```$", text, re.S | re.M):
        if block.startswith(f"# {name}:"):
            path = os.path.join(STATE["tmp"], name)
            open(path, "w").write(block)
            return path
    raise AssertionError(f"{name} not found in docs/FORMAT.md")


def setup():
    if STATE:
        return STATE
    STATE["tmp"] = tempfile.mkdtemp(prefix="gatelog-audit-")
    d = Daemon(unix=False)
    STATE["d"] = d
    # The epochs it seals hold SIZES records each and the head is taken after HEAD_AFTER of
    # them: none may be sealed by the clock in between.
    d.clear_of_boundary(60)
    d.start()
    n = 0
    for i, size in enumerate(SIZES):
        if size:
            lines = [f"epoch {i} event {k} user=u{k}" for k in range(size)]
            logger(d.ports["tcp"], lines, "-T", "--octet-count", "--rfc5424=notq", "-t", "t")
            n += size
            d.wait_records(n)
        d.seal()
        if i + 1 == HEAD_AFTER:
            STATE["head"] = put("head.json", gatelog("head", "--db", d.db, check_rc=0)[1])
            STATE["ckpt"] = put("head.ckpt", gatelog("head", "--db", d.db, "--checkpoint",
                                                     "--key", d.key, check_rc=0)[1])
    check(d.stop() == 0, "daemon exit status")
    STATE["n"] = n
    return STATE


def put(name, text):
    path = os.path.join(STATE["tmp"], name)
    with open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    return path


def other_key():
    k = os.path.join(STATE["tmp"], "other.key")
    if not os.path.exists(k):
        gatelog("keygen", "--out", k, check_rc=0)
    return k + ".pub"


# ---- proofs ----

def test_every_record_has_a_proof():
    s = setup()
    d = s["d"]
    script = hand_script("check_proof.py")
    for seq in range(s["n"]):
        rc, proof, err = gatelog("proof", "--record", str(seq), "--db", d.db)
        check(rc == 0, f"seq {seq}: proof failed: {err}")
        rc2, proof2, _ = gatelog("proof", "--record", str(seq), "--export", d.exports)
        check(rc2 == 0 and proof2 == proof, f"seq {seq}: export proof differs from the db's")
        p = json.loads(proof)
        check(p["seq"] == seq and json.loads(base64.b64decode(p["record"]))["seq"] == seq,
              f"seq {seq}: wrong record in proof")
        path = put(f"proof-{seq}.json", proof)
        rc, out, err = gatelog("verify-proof", path, "--pubkey", d.pub)
        check(rc == 0 and out.startswith(f"OK: seq {seq} "), f"seq {seq}: {out}{err}")
        hand = subprocess.run(["python3", script, path, d.pub], capture_output=True, text=True)
        check(hand.stdout.count(": ok") == 2, f"seq {seq}: FORMAT.md recipe says {hand.stdout}"
              f"{hand.stderr}")
    # The epochs' sizes as the proofs see them.
    sizes = sorted({json.load(open(os.path.join(s["tmp"], f"proof-{q}.json")))["tree_size"]
                    for q in range(s["n"])})
    check(sizes == sorted(x for x in SIZES if x), f"tree sizes {sizes}")


def test_no_proof_without_a_sealed_record():
    s = setup()
    rc, out, err = gatelog("proof", "--record", str(s["n"]), "--db", s["d"].db)
    check(rc == 1 and "no sealed epoch holds seq" in err and out == "", f"{rc} {out} {err}")
    rc, out, err = gatelog("proof", "--record", "-1", "--db", s["d"].db)
    check(rc == 2, "negative seq accepted")


def test_changed_proof_fails():
    s = setup()
    d = s["d"]
    seq = s["n"] - 5      # in the epoch of 8 records
    good = open(os.path.join(s["tmp"], f"proof-{seq}.json"), "rb").read()
    script = hand_script("check_proof.py")
    # Every 17th byte, changed two ways; each must fail (the unit test changes every byte).
    for at in range(0, len(good), 17):
        for flip in (0x01, 0x20) if at % 34 == 0 else (0x01,):
            bad = bytearray(good)
            bad[at] ^= flip
            path = put("bad.json", bytes(bad))
            rc, out, err = gatelog("verify-proof", path, "--pubkey", d.pub)
            check(rc == 1 and out.startswith("FAIL"), f"byte {at} ^ {flip:#x} verifies: {out}")
    # A changed record byte (inside the base64): the hand recipe catches it too.
    p = json.loads(good)
    rec = base64.b64decode(p["record"]).replace(b"event", b"evfnt")
    p["record"] = base64.b64encode(rec).decode()
    path = put("bad.json", json.dumps(p, separators=(",", ":"), sort_keys=True) + "\n")
    rc, out, _ = gatelog("verify-proof", path, "--pubkey", d.pub)
    check(rc == 1 and "audit path" in out, f"changed record verifies: {out}")
    hand = subprocess.run(["python3", script, path, d.pub], capture_output=True, text=True)
    check("proof: MISMATCH" in hand.stdout, f"hand recipe misses a changed record: {hand.stdout}")
    # Another key.
    rc, out, _ = gatelog("verify-proof", os.path.join(s["tmp"], f"proof-{seq}.json"),
                         "--pubkey", other_key())
    check(rc == 1 and "signature" in out, f"another key verifies: {out}")


# ---- heads ----

def export_copy(name):
    dst = os.path.join(STATE["tmp"], name)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(STATE["d"].exports, dst)
    return dst, os.path.join(dst, "chain=test-chain")


def verify_since(exp, head, pub=None):
    return gatelog("verify", "--pubkey", pub or STATE["d"].pub, "--export", exp,
                   "--since-head", head)


def hand_head(head, chain_dir):
    p = subprocess.run(["python3", hand_script("check_head.py"), head, STATE["d"].pub,
                        chain_dir], capture_output=True, text=True)
    return p.stdout + p.stderr


def test_head_and_checkpoint_format():
    s = setup()
    d = s["d"]
    head = json.load(open(s["head"]))
    check(head["tree_size"] == HEAD_AFTER and head["epoch"] == HEAD_AFTER - 1 and
          head["chain"] == "test-chain", f"head {head}")
    m3 = open(os.path.join(d.exports, "chain=test-chain", f"epoch={HEAD_AFTER - 1:010d}",
                           "manifest.json"), "rb").read()
    check(head["manifest_sha256"] == hashlib.sha256(m3).hexdigest(), "head manifest hash")
    # The current head, from the database and from the export, is the same line.
    a = gatelog("head", "--db", d.db, check_rc=0)[1]
    b = gatelog("head", "--export", d.exports, check_rc=0)[1]
    check(a == b and json.loads(a)["tree_size"] == len(SIZES), f"heads differ: {a} {b}")
    # The checkpoint, checked here against the C2SP signed-note spec with hashlib + openssl.
    text = open(s["ckpt"], "rb").read()
    body, sigs = text.split(b"\n\n")
    origin, size, root = body.decode().split("\n")
    check(origin == "gatelog/test-chain" and size == str(HEAD_AFTER), f"body {body!r}")
    check(base64.b64decode(root).hex() == head["root"], "checkpoint root is the head's root")
    check(sigs.count(b"\n") == 1 and sigs.startswith("\u2014 gatelog/test-chain ".encode()),
          f"signature line {sigs!r}")
    blob = base64.b64decode(sigs.split(b" ")[2])
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", d.pub, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    check(blob[:4] == hashlib.sha256(b"gatelog/test-chain\n\x01" + der[-32:]).digest()[:4],
          "key ID")
    bf, sf = put("body", body + b"\n"), put("sig", blob[4:])
    p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", d.pub, "-rawin",
                        "-in", bf, "-sigfile", sf], capture_output=True, text=True)
    check(p.returncode == 0, "checkpoint signature does not verify with openssl: " + p.stdout)
    vkey = gatelog("head", "--vkey", "--pubkey", d.pub, "--origin", "gatelog/test-chain",
                   check_rc=0)[1].strip()
    check(vkey == "gatelog/test-chain+" + blob[:4].hex() + "+" +
          base64.b64encode(b"\x01" + der[-32:]).decode(), f"vkey {vkey}")


def test_since_head_accepts_a_grown_chain():
    s = setup()
    d = s["d"]
    for head in (s["head"], s["ckpt"]):
        rc, out, err = gatelog("verify", "--pubkey", d.pub, "--db", d.db, "--since-head", head)
        check(rc == 0, f"db does not extend {head}: {out}{err}")
        rc, out, err = verify_since(d.exports, head)
        check(rc == 0, f"export does not extend {head}: {out}{err}")
        out = hand_head(head, os.path.join(d.exports, "chain=test-chain"))
        check(out.count(": ok") == 2, f"hand recipe: {out}")
    # A checkpoint signed by another key, or with its size changed, is refused.
    rc, out, _ = verify_since(d.exports, s["ckpt"], pub=other_key())
    check(rc == 1 and "head" in out, f"checkpoint accepted under another key: {out}")
    forged = open(s["ckpt"], "rb").read().replace(f"\n{HEAD_AFTER}\n".encode(), b"\n3\n", 1)
    rc, out, _ = verify_since(d.exports, put("forged.ckpt", forged))
    check(rc == 1 and "no signature line" in out, f"forged checkpoint accepted: {out}")


def test_since_head_catches_truncation():
    s = setup()
    exp, chain = export_copy("truncated")
    for n in range(HEAD_AFTER - 1, len(SIZES)):
        shutil.rmtree(os.path.join(chain, f"epoch={n:010d}"))
    rc, out, _ = gatelog("verify", "--pubkey", s["d"].pub, "--export", exp)
    check(rc == 0, "plain verify should pass a chain cut at the end (that is the gap): " + out)
    for head in (s["head"], s["ckpt"]):
        rc, out, _ = verify_since(exp, head)
        check(rc == 1 and "truncated" in out and f"epoch {HEAD_AFTER - 1}" in out,
              f"truncation not caught with {head}: {out}")
        check("extends head: TRUNCATED" in hand_head(head, chain), "hand recipe: truncation")


def canon(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def test_since_head_catches_a_resigned_rewrite():
    """An operator with the key rewrites epoch 2 and re-signs it and every later epoch."""
    s = setup()
    d = s["d"]
    exp, chain = export_copy("rewritten")
    prev = None
    for n in range(2, len(SIZES)):
        ed = os.path.join(chain, f"epoch={n:010d}")
        m = json.loads(open(os.path.join(ed, "manifest.json"), "rb").read())
        recs = open(os.path.join(ed, "records.jsonl"), "rb").read().split(b"\n")[:-1]
        if n == 2:
            recs[0] = recs[0].replace(b"event 0", b"event X")
            open(os.path.join(ed, "records.jsonl"), "wb").write(b"".join(r + b"\n" for r in recs))
        m["root"] = mth([hashlib.sha256(b"\x00" + r).digest() for r in recs]).hex()
        check(not m["criteria"] or n != 2, "records carry criteria: extend this test")
        if prev:
            m["prev"] = prev
        data = canon(m)
        open(os.path.join(ed, "manifest.json"), "wb").write(data)
        subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", d.key, "-rawin", "-in",
                        os.path.join(ed, "manifest.json"), "-out", os.path.join(ed, "manifest.sig")],
                       check=True, capture_output=True)
        prev = hashlib.sha256(data).hexdigest()
    rc, out, _ = gatelog("verify", "--pubkey", d.pub, "--export", exp)
    check(rc == 0, "the re-signed rewrite should pass plain verify (the key signed it): " + out)
    for head in (s["head"], s["ckpt"]):
        rc, out, _ = verify_since(exp, head)
        check(rc == 1 and "rewritten" in out and f"epoch {HEAD_AFTER - 1}" in out,
              f"rewrite not caught with {head}: {out}")
        check("extends head: REWRITTEN" in hand_head(head, chain), "hand recipe: rewrite")


def teardown():
    if "d" in STATE:
        STATE["d"].cleanup()
    if "tmp" in STATE and not os.environ.get("KEEP_TMP"):
        shutil.rmtree(STATE["tmp"], ignore_errors=True)


if __name__ == "__main__":
    try:
        run_tests([test_every_record_has_a_proof, test_no_proof_without_a_sealed_record,
                   test_changed_proof_fails, test_head_and_checkpoint_format,
                   test_since_head_accepts_a_grown_chain, test_since_head_catches_truncation,
                   test_since_head_catches_a_resigned_rewrite])
    finally:
        teardown()
