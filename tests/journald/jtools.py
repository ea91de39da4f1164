"""Real journal files for the journald tests: export format in, systemd-journal-remote
writes the journal file, journalctl reads it back. Nothing here imitates sd-journal."""
import hashlib
import os
import struct
import subprocess

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
BASE_US = 1_700_000_000_000_000
BOOT = "0123456789abcdef0123456789abcdef"


def export_bytes(entries):
    """Journal export format. Each entry is a list of (FIELD, value bytes|str) pairs; a
    value holding a newline or non-text bytes uses the binary form."""
    out = bytearray()
    for e in entries:
        for k, v in e:
            if isinstance(v, str):
                v = v.encode()
            if b"\n" in v or not _text(v):
                out += k.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
            else:
                out += k.encode() + b"=" + v + b"\n"
        out += b"\n"
    return bytes(out)


def _text(v):
    try:
        s = v.decode()
    except UnicodeDecodeError:
        return False
    return all(c == "\t" or (ord(c) >= 32 and not 0x7F <= ord(c) <= 0x9F) for c in s)


def entry(i, msg=None, **fields):
    """A plain entry number i: its time is BASE_US + i ms, so entries sort by number."""
    e = [("__REALTIME_TIMESTAMP", str(BASE_US + i * 1000)),
         ("__MONOTONIC_TIMESTAMP", str(i * 1000)),
         ("_BOOT_ID", BOOT),
         ("MESSAGE", msg if msg is not None else f"entry {i}"),
         ("SYSLOG_IDENTIFIER", "app"),
         ("PRIORITY", "6"),
         ("_HOSTNAME", "h1")]
    e += list(fields.items())
    return e


def write_journal(path, entries):
    """Appends entries to the journal file path (created when missing)."""
    p = subprocess.run([JOURNAL_REMOTE, "-o", path, "-"], input=export_bytes(entries),
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"systemd-journal-remote: {p.stderr.decode()}")


def journalctl_export(*where):
    """[(cursor, chunk bytes)] of every entry, as `journalctl -o export` prints them;
    where: "-D", DIR or "--file", FILE."""
    p = subprocess.run(["journalctl", *where, "-o", "export", "--no-pager"],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"journalctl: {p.stderr.decode()}")
    return split_export(p.stdout)


def split_export(data):
    """Splits export-format bytes into entries, honouring the binary field form."""
    out, i, start, cursor = [], 0, 0, None
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if line == b"":
            out.append((cursor, data[start:nl + 1]))
            i = start = nl + 1
            cursor = None
            continue
        if b"=" in line:
            if line.startswith(b"__CURSOR="):
                cursor = line[9:].decode()
            i = nl + 1
        else:  # binary: NAME \n le64 value \n
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            i = nl + 9 + n + 1
    return out


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def have_tools():
    return os.access(JOURNAL_REMOTE, os.X_OK)
