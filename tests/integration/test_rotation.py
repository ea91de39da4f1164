"""Key rotation and revocation (issue 10; docs/FORMAT.md section 9).

One daemon seals epoch 0 with its first key K1; `gatelog keygen --rotate` makes K2 beside it;
after a restart epoch 1 (signed by K1) announces K2 and epochs 2 and 3 are signed by K2. Then:
- `verify` from the one pinned first key accepts the database and the export (and
  independent_verify.py, written from FORMAT.md, agrees); pinning K2 instead fails at epoch 0;
- the key files were moved: FILE is K2, FILE.old is K1, no FILE.next is left;
- a restart after a crash between the seal and the file move (FILE.next still there) signs
  with K2; with neither file holding the announced key the daemon refuses to start;
- `--revoked` refuses an epoch signed by a revoked key (and a revoked K1 cannot hand over);
  a bad revocation file names FILE:LINE:COLUMN;
- an export whose epoch 1 was re-signed by K2 without the announcement fails.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, check, gatelog, independent_verify, logger, run_tests  # noqa: E402

STATE = {}


def key_id(pub):
    """key_id of a PEM public key, with openssl: SHA-256 of the 32 raw bytes."""
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der[-32:]).hexdigest()


def send_and_seal(d, n_before, k):
    lines = [f"rotation event {n_before + i} user=u{i}" for i in range(k)]
    logger(d.ports["tcp"], lines, "-T", "--octet-count", "--rfc5424=notq", "-t", "t")
    d.wait_records(n_before + k)
    d.seal()
    return n_before + k


def setup():
    if STATE:
        return STATE
    tmp = STATE["tmp"] = tempfile.mkdtemp(prefix="gatelog-rot-")
    d = STATE["d"] = Daemon(unix=False)
    # The tests name epochs 0..3 by what they hold (K1, the announcement, K2): none may be
    # sealed by the clock in between.
    d.clear_of_boundary(90)
    d.start()
    n = send_and_seal(d, 0, 2)                              # epoch 0: K1
    check(d.stop() == 0, "daemon exit status")
    first = STATE["first"] = os.path.join(tmp, "first.pub")
    shutil.copy(d.pub, first)
    rc, out, err = gatelog("keygen", "--rotate", "--out", d.key, check_rc=0)
    check(os.path.exists(d.key + ".next") and os.path.exists(d.key + ".next.pub"),
          "keygen --rotate wrote no FILE.next / FILE.next.pub")
    rc, _, err = gatelog("keygen", "--rotate", "--out", d.key)
    check(rc != 0 and "pending" in err, f"a second --rotate must refuse: {rc} {err}")
    STATE["k1"], STATE["k2"] = key_id(first), key_id(d.key + ".next.pub")
    shutil.copy(d.key + ".next.pub", os.path.join(tmp, "k2.pub"))
    d.start()
    n = send_and_seal(d, n, 3)                              # epoch 1: K1, announces K2
    n = send_and_seal(d, n, 1)                              # epoch 2: K2
    check(d.stop() == 0, "daemon exit status")
    d.start()
    n = send_and_seal(d, n, 2)                              # epoch 3: K2, after a restart
    check(d.stop() == 0, "daemon exit status")
    STATE["n"] = n
    return STATE


def manifest(d, epoch):
    return json.loads(open(os.path.join(d.exports, "chain=test-chain",
                                        f"epoch={epoch:010d}", "manifest.json"), "rb").read())


def test_manifests_name_the_rotation():
    s = setup()
    d = s["d"]
    m = [manifest(d, e) for e in range(4)]
    check(m[0]["key_id"] == s["k1"] and "next_key" not in m[0], f"epoch 0: {m[0]}")
    check(m[1]["key_id"] == s["k1"], "epoch 1 must be signed by the old key")
    check(hashlib.sha256(bytes.fromhex(m[1]["next_key"])).hexdigest() == s["k2"],
          f"epoch 1 must announce K2: {m[1]}")
    check(m[2]["key_id"] == s["k2"] and m[3]["key_id"] == s["k2"], "epochs 2, 3 by K2")
    check("next_key" not in m[2] and "next_key" not in m[3], "one announcement only")


def test_key_files_moved():
    s = setup()
    d = s["d"]
    check(not os.path.exists(d.key + ".next") and not os.path.exists(d.key + ".next.pub"),
          "FILE.next must be gone once the rotation is sealed")
    check(key_id(d.pub) == s["k2"], "FILE.pub must be the new key")
    check(key_id(d.key + ".old.pub") == s["k1"], "FILE.old.pub must be the old key")
    check(os.path.exists(d.key + ".old"), "FILE.old kept")
    check(oct(os.stat(d.key).st_mode & 0o777) == "0o600", "FILE stays 0600")


def test_verify_follows_rotation_from_first_key():
    s = setup()
    d = s["d"]
    for src in (("--db", d.db), ("--export", d.exports)):
        rc, out, _ = gatelog("verify", "--pubkey", s["first"], *src)
        check(rc == 0 and "OK: 4 sealed epoch(s) verified" in out, f"{src}: {rc}\n{out}")
        check(f"epoch 1: announces the next signing key, key_id {s['k2']}" in out, out)
    rc, out = independent_verify(d.exports, s["first"])
    check(rc == 0, f"independent verifier: {out}")
    # The new key alone cannot verify the chain: the first key is the anchor.
    rc, out, _ = gatelog("verify", "--pubkey", d.pub, "--db", d.db)
    check(rc == 1 and re.search(r"FAIL epoch 0: .*bad signature", out), out)
    rc, out = independent_verify(d.exports, d.pub)
    check(rc == 1 and "epoch 0: bad signature" in out, out)


def revoked_file(text):
    path = os.path.join(STATE["tmp"], "revoked.txt")
    open(path, "w").write(text)
    return path


def test_revoked_key_refused():
    s = setup()
    d = s["d"]
    # K2 compromised from epoch 3: epoch 3 fails, epoch 2 (before) still holds.
    rv = revoked_file(f"# compromised\n{s['k2']} 3\n")
    for src in (("--db", d.db), ("--export", d.exports)):
        rc, out, _ = gatelog("verify", "--pubkey", s["first"], "--revoked", rv, *src)
        check(rc == 1, f"{src}: revoked key accepted:\n{out}")
        check(f"FAIL epoch 3: epoch 3: signed by key_id {s['k2']}, which is revoked from "
              f"epoch 3" in out, out)
        check("FAIL epoch 2" not in out and "FAIL epoch 1" not in out, out)
    # K1 revoked from epoch 1: its announcement of K2 is not followed either.
    rv = revoked_file(f"{s['k1']} 1\n")
    rc, out, _ = gatelog("verify", "--pubkey", s["first"], "--revoked", rv, "--db", d.db)
    check(rc == 1 and "FAIL epoch 1: epoch 1: signed by key_id" in out, out)
    check("announces the next signing key" not in out and "FAIL epoch 2" in out, out)
    # Revoked from a later epoch than the chain has: nothing fails.
    rv = revoked_file(f"{s['k2']} 99\n")
    rc, out, _ = gatelog("verify", "--pubkey", s["first"], "--revoked", rv, "--db", d.db)
    check(rc == 0, out)


def test_revocation_file_errors_name_the_place():
    s = setup()
    for text, where in ((f"{s['k2']} 3\n{s['k2']}\n", ":2:65:"),
                        (f"{s['k2']} x3\n", ":1:66:"),
                        ("ABC 3\n", ":1:1:")):
        rv = revoked_file(text)
        rc, _, err = gatelog("verify", "--pubkey", s["first"], "--revoked", rv,
                             "--db", s["d"].db)
        check(rc == 2 and rv + where in err, f"{text!r}: {rc} {err}")


def test_new_key_before_announcement_fails():
    """Epoch 1 re-signed by K2 without naming it: K2 was not announced yet."""
    s = setup()
    d = s["d"]
    exp = os.path.join(s["tmp"], "forged")
    shutil.rmtree(exp, ignore_errors=True)
    shutil.copytree(d.exports, exp)
    folder = os.path.join(exp, "chain=test-chain", "epoch=0000000001")
    m = json.loads(open(os.path.join(folder, "manifest.json"), "rb").read())
    del m["next_key"]
    m["key_id"] = s["k2"]
    mp = os.path.join(folder, "manifest.json")
    open(mp, "wb").write(json.dumps(m, sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=False).encode())
    subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", d.key, "-rawin", "-in", mp,
                    "-out", os.path.join(folder, "manifest.sig")], check=True)
    rc, out, _ = gatelog("verify", "--pubkey", s["first"], "--export", exp)
    check(rc == 1 and re.search(r"FAIL epoch 1: .*bad signature", out), out)
    check(re.search(r"FAIL epoch 1: .*key_id " + s["k2"], out), out)
    rc, out = independent_verify(exp, s["first"])
    check(rc == 1 and "epoch 1: bad signature" in out, out)


def test_restart_before_files_moved():
    """A crash after epoch 1 was sealed but before the files moved: FILE is K1 again and
    FILE.next is K2. The daemon must sign with K2 and finish the move; without K2 anywhere it
    must refuse to start."""
    s = setup()
    tmp = tempfile.mkdtemp(prefix="gatelog-rot2-")
    try:
        d = Daemon(workdir=tmp, unix=False)
        d.start()
        n = send_and_seal(d, 0, 1)                   # epoch 0
        check(d.stop() == 0, "exit")
        first = os.path.join(tmp, "first.pub")
        shutil.copy(d.pub, first)
        gatelog("keygen", "--rotate", "--out", d.key, check_rc=0)
        k2 = key_id(d.key + ".next.pub")
        gatelog("seal", "--now", "-c", d.config, check_rc=0)   # epoch 1 announces, no daemon
        check(not os.path.exists(d.key + ".next"), "seal --now must move the files too")
        # Undo the move as if the process had died before it.
        os.rename(d.key, d.key + ".next")
        os.rename(d.pub, d.key + ".next.pub")
        os.rename(d.key + ".old", d.key)
        os.rename(d.key + ".old.pub", d.pub)
        # Neither FILE nor FILE.next is the announced key: refuse rather than break the chain.
        os.rename(d.key + ".next", os.path.join(tmp, "k2.key"))
        try:
            d.start(timeout=10)
            d.stop()
            raise AssertionError("daemon started without the announced key")
        except Exception as e:  # noqa: BLE001
            check("neither the key file nor its .next file" in d.read_log(),
                  f"{e}\n{d.read_log()[-2000:]}")
        d.proc = None
        os.rename(os.path.join(tmp, "k2.key"), d.key + ".next")
        d.start()
        n = send_and_seal(d, n, 2)                   # epoch 2 (1 was sealed by seal --now)
        check(d.stop() == 0, "exit")
        check(key_id(d.pub) == k2 and not os.path.exists(d.key + ".next"),
              "the move must be finished on start")
        check(manifest(d, 2)["key_id"] == k2, f"epoch 2 must be signed by K2: {manifest(d, 2)}")
        rc, out, _ = gatelog("verify", "--pubkey", first, "--db", d.db)
        check(rc == 0 and "OK: 3 sealed epoch(s)" in out, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    try:
        run_tests([test_manifests_name_the_rotation, test_key_files_moved,
                   test_verify_follows_rotation_from_first_key, test_revoked_key_refused,
                   test_revocation_file_errors_name_the_place,
                   test_new_key_before_announcement_fails, test_restart_before_files_moved])
    finally:
        if "d" in STATE:
            STATE["d"].cleanup()
        if "tmp" in STATE and not os.environ.get("KEEP_TMP"):
            shutil.rmtree(STATE["tmp"], ignore_errors=True)


if __name__ == "__main__":
    main()
