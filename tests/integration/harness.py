"""Integration test harness: starts the real gatelog daemon and real peers on 127.0.0.1.

Each test gets a temporary folder with its own configuration, database, key and exports, so
tests can run in parallel. Ports are chosen by the kernel (port 0) and read back from the
daemon's "listening" log lines. Nothing here imitates gatelog: tests assert what a user or an
auditor would check, through the CLI, the database file and the export folder.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

GATELOG = os.path.abspath(os.environ.get("GATELOG", "build/cli/gatelog"))
HERE = os.path.dirname(os.path.abspath(__file__))


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


INDEPENDENT = os.path.join(HERE, "independent_verify.py")


def independent_verify(exports, pub):
    """The auditor's verifier written from docs/FORMAT.md alone (hashlib and the openssl
    CLI) over an export folder: (exit code, stdout + stderr)."""
    p = subprocess.run([sys.executable, INDEPENDENT, exports, pub], capture_output=True,
                       timeout=120)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def gatelog(*args, stdin=None, check_rc=None, timeout=60):
    """Runs a gatelog command; returns (rc, stdout, stderr)."""
    p = subprocess.run([GATELOG, *args], input=stdin, capture_output=True, timeout=timeout)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if check_rc is not None and p.returncode != check_rc:
        raise Failure(f"gatelog {' '.join(args)}: exit {p.returncode}, wanted {check_rc}\n"
                      f"stdout:\n{out}\nstderr:\n{err}")
    return p.returncode, out, err


class Daemon:
    """One gatelog daemon in its own folder."""

    def __init__(self, workdir=None, epoch=None, unix=True, extra=""):
        self.dir = workdir or tempfile.mkdtemp(prefix="gatelog-it-")
        # 1 h epochs aligned to the clock hour, so a test that runs across hh:00:00 sees the
        # daemon seal an epoch of its own. GATELOG_TEST_EPOCH=20s (say) puts such a boundary
        # inside most tests, to check that they hold across one.
        epoch = epoch or os.environ.get("GATELOG_TEST_EPOCH") or "1h"
        self.epoch = epoch
        self.unix_path = os.path.join(self.dir, "gatelog.sock") if unix else None
        self.config = os.path.join(self.dir, "gatelog.yaml")
        self.db = os.path.join(self.dir, "gatelog.db")
        self.key = os.path.join(self.dir, "gatelog.key")
        self.pub = self.key + ".pub"
        self.exports = os.path.join(self.dir, "exports")
        self.proc = None
        self.ports = {}
        self.stderr_path = os.path.join(self.dir, "daemon.log")
        unix_line = f"    - unix: {self.unix_path}\n" if unix else ""
        with open(self.config, "w") as f:
            f.write(f"""chain: test-chain
syslog:
  listen:
    - udp: 127.0.0.1:0
    - tcp: 127.0.0.1:0
{unix_line}  max_message: 64KiB
store:
  path: {self.db}
seal:
  epoch: {epoch}
  key: {self.key}
outputs:
  - name: local
    type: folder
    path: {self.exports}
run:
  pid_file: {os.path.join(self.dir, 'gatelog.pid')}
  allow_root: true
log:
  level: debug
http:
  listen: 127.0.0.1:0
{extra}""")
        # ops (issue 9): tests run as root (allow_root above); the HTTP endpoint takes a
        # free port, read back as self.ports["http"] from its "listening" log line.

    def epoch_seconds(self):
        """seal.epoch in seconds ("1h", "30s", "2m", "1d")."""
        m = re.fullmatch(r"(\d+)(s|m|h|d)", self.epoch)
        check(m, f"epoch {self.epoch!r}: the harness reads N followed by s, m, h or d")
        return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]

    def clear_of_boundary(self, need):
        """For a test whose scenario must run inside one epoch (it numbers the epochs it
        seals, or waits on the open one): when the next boundary (epochs are aligned to
        their length in UTC, so hh:00:00 with 1 h) is less than `need` seconds away, waits
        until just after it. With 1 h epochs it waits in need/3600 of the runs, at most
        `need` s; `need` is capped at half an epoch, so a run with GATELOG_TEST_EPOCH (short
        epochs) still waits at most that. Returns the seconds waited."""
        length = self.epoch_seconds()
        need = min(need, length / 2)
        left = length - time.time() % length
        if left >= need:
            return 0.0
        time.sleep(left + 0.2)
        return left + 0.2

    def start(self, timeout=20):
        self.log = open(self.stderr_path, "ab")
        self.log_offset = self.log.tell()  # only this start's lines count
        self.proc = subprocess.Popen([GATELOG, "run", "-c", self.config], stdout=self.log,
                                     stderr=self.log, cwd=self.dir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.read_log()
            if re.search(r'msg="?ready\b', self._last_start(text)):
                self._parse_ports(text)
                return self
            if self.proc.poll() is not None:
                raise Failure(f"daemon exited {self.proc.returncode} at start:\n{text}")
            time.sleep(0.05)
        raise Failure("daemon not ready in time:\n" + self.read_log())

    def _parse_ports(self, text):
        last = self._last_start(text)
        self.ports = {}
        for m in re.finditer(r'msg="?listening"? transport=(\w+) addr=\S+ port=(\d+)', last):
            self.ports[m.group(1)] = int(m.group(2))
        check("udp" in self.ports and "tcp" in self.ports, "ports not in the log:\n" + text)

    def _last_start(self, text):
        """Only the lines of the last start count."""
        return text[getattr(self, "log_offset", 0):]

    def read_log(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise Failure("daemon did not stop on signal:\n" + self.read_log())
        self.proc = None
        self.log.close()
        return rc

    def seal(self):
        return gatelog("seal", "--now", "-c", self.config, check_rc=0)

    def run_stopped(self, fill):
        """Starts the daemon, runs fill(self) and stops it (exit status 0). On any failure
        cleans up, so that its folder is not left in /tmp, and raises again. Returns self, for
        the caller to clean up."""
        try:
            self.start()
            fill(self)
            check(self.stop() == 0, "daemon exit status")
        except BaseException:
            self.cleanup()
            raise
        return self

    def query(self, *args):
        rc, out, err = gatelog("query", "--db", self.db, *args, check_rc=0)
        return [json.loads(l) for l in out.splitlines() if l.strip()]

    def verify_db(self):
        return gatelog("verify", "--pubkey", self.pub, "--db", self.db)

    def verify_export(self):
        return gatelog("verify", "--pubkey", self.pub, "--export", self.exports)

    def wait_records(self, n, timeout=20):
        """Waits until the store holds n records (open epoch included)."""
        deadline = time.time() + timeout
        got = []
        while time.time() < deadline:
            rc, out, _ = gatelog("query", "--db", self.db, "--include-open")
            if rc == 0:
                got = [l for l in out.splitlines() if l.strip()]
                if len(got) >= n:
                    return [json.loads(l) for l in got]
            time.sleep(0.1)
        raise Failure(f"wanted {n} records, store has {len(got)}\n" + self.read_log()[-3000:])

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        if os.environ.get("KEEP_TMP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def logger(port, lines, *opts):
    """Sends lines with util-linux logger to 127.0.0.1:port."""
    p = subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(port), *opts],
                       input="\n".join(lines).encode() + b"\n", capture_output=True, timeout=30)
    check(p.returncode == 0, f"logger failed: {p.stderr.decode()}")


def scrape_metrics(d):
    """ops (issue 9): {'name{labels}': value} from a daemon's /metrics."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{d.ports['http']}/metrics",
                                timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def wait_metrics(d, what, fn, timeout=60, show=()):
    """Scrapes until fn(metrics) holds; the failure shows the series whose names contain
    one of the words in show."""
    deadline = time.time() + timeout
    m = {}
    while time.time() < deadline:
        m = scrape_metrics(d)
        if fn(m):
            return m
        time.sleep(0.1)
    raise Failure(f"metrics never showed {what}: " +
                  str({k: v for k, v in m.items() if any(w in k for w in show)}))


def run_tests(tests):
    """Runs test functions; prints each result; exits non-zero if any failed."""
    failed = 0
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__ not in only:
            continue
        start = time.time()
        try:
            t()
            print(f"ok   {t.__name__} ({time.time() - start:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - report every kind of failure
            failed += 1
            print(f"FAIL {t.__name__}: {type(e).__name__}: {e}", flush=True)
    sys.exit(1 if failed else 0)
