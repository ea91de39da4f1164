"""Peers for the TLS and RELP tests: a gatelog daemon with extra listeners, rsyslogd as an
unprivileged relay (PEERS.md recipe), Python TLS clients and a raw RELP client."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Daemon, Failure, check, logger  # noqa: E402

# Under LeakSanitizer: librelp's own leak at exit is not ours (lsan.supp says which).
os.environ["LSAN_OPTIONS"] = (os.environ.get("LSAN_OPTIONS", "") +
                              ":suppressions=" + os.path.join(HERE, "lsan.supp")).lstrip(":")
# librelp's leaks come through libcrypto, which has no frame pointers: the fast unwinder
# stops there and the librelp frame the suppression names is never seen.
os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                              ":fast_unwind_on_malloc=0").lstrip(":")

# RFC 5424 without the built-in template's trailing newline (PEERS.md).
TEMPLATE = ('template(name="gl" type="string" string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% '
            '%HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%")\n')


class ListenDaemon(Daemon):
    """A Daemon whose syslog.listen list also has the given YAML items."""

    def __init__(self, listeners, max_message="64KiB", **kw):
        kw.setdefault("unix", False)
        super().__init__(**kw)
        with open(self.config) as f:
            text = f.read()
        anchor = "    - tcp: 127.0.0.1:0\n"
        check(anchor in text, "harness config changed shape")
        text = text.replace(anchor, anchor + listeners, 1)
        text = text.replace("  max_message: 64KiB\n", f"  max_message: {max_message}\n", 1)
        with open(self.config, "w") as f:
            f.write(text)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.log.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_rsyslog(work, body):
    """Starts rsyslogd -n with the config body(inport); returns (proc, inport)."""
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    check(os.path.exists(rsyslogd), "rsyslogd is not installed")
    for _ in range(5):
        inport = free_port()
        conf = os.path.join(work, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write(body(inport))
        p = subprocess.run([rsyslogd, "-N1", "-f", conf], capture_output=True, timeout=30)
        check(p.returncode == 0, "rsyslogd -N1 refused the config:\n" + p.stderr.decode() +
              p.stdout.decode())
        relay = subprocess.Popen([rsyslogd, "-n", "-f", conf, "-i",
                                  os.path.join(work, "rsyslogd.pid")],
                                 stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(work, "rsyslogd.err"), "ab"))
        deadline = time.time() + 10
        while time.time() < deadline and relay.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", inport), timeout=1).close()
                return relay, inport
            except OSError:
                time.sleep(0.1)
        relay.kill()
        relay.wait()
    raise Failure("rsyslogd did not start")


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Relay:
    """rsyslogd as the relay the TCP, TLS and RELP tests put between logger and gatelog: imtcp
    on a free port, the template above, and one forwarding `action` (its modules and global
    options given too). start() runs it in a temporary folder (or `work`, which is then the
    caller's); close() stops it and removes the folder it made, so a test's finally needs one
    call whatever state the relay is in."""

    def __init__(self, action, modules="", imtcp="", global_opts="", work=None,
                 prefix="gatelog-relay-"):
        self.action, self.modules, self.imtcp, self.global_opts = action, modules, imtcp, \
            global_opts
        self.work, self.own_work, self.prefix = work, work is None, prefix
        self.proc, self.inport = None, None

    def conf(self, inport):
        return (f'global(workDirectory="{self.work}"{self.global_opts})\n'
                f'module(load="imtcp"{self.imtcp})\n' + self.modules +
                f'input(type="imtcp" address="127.0.0.1" port="{inport}")\n' + TEMPLATE +
                self.action)

    def start(self):
        if self.work is None:
            self.work = tempfile.mkdtemp(prefix=self.prefix)
        self.proc, self.inport = start_rsyslog(self.work, self.conf)
        return self

    def send(self, lines, app="app"):
        """logger into the relay: TCP octet-counted RFC 5424 without timeQuality (PEERS.md)."""
        logger(self.inport, lines, "-T", "--octet-count", "--rfc5424=notq", "-t", app)

    def nudger(self, app="app"):
        """rsyslog retries a suspended action only when a new message reaches its queue
        (PEERS.md): a function sending one more ("nudge N") each time it is called."""
        sent = []

        def nudge():
            sent.append(f"nudge {len(sent)}")
            self.send([sent[-1]], app)
        return nudge

    def stop(self):
        stop(self.proc)
        self.proc = None

    def close(self):
        self.stop()
        if self.own_work and self.work:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None


def tls_client(port, pki, cert=None, src="127.0.0.1", ca="ca"):
    """A TLS connection to gatelog (client certificate `cert` of pki, or none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki[ca][0])
    ctx.check_hostname = True
    if cert:
        ctx.load_cert_chain(*pki[cert])
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
    return ctx.wrap_socket(s, server_hostname="localhost")


def frame(msg):
    """RFC 5425 octet-counted frame of an RFC 5424 message text."""
    m = msg.encode()
    return b"%d %s" % (len(m), m)


def syslog_line(text, app="gate"):
    return f"<38>1 2026-01-02T03:04:05.000006Z relay {app} - - - {text}"


def wait_closed(sock, timeout=20):
    """Waits until the server closes sock (EOF or reset); False on timeout."""
    deadline = time.time() + timeout
    sock.settimeout(0.2)
    while time.time() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
    return False


class RelpClient:
    """A minimal RELP client (rsyslog's protocol: TXNR SP COMMAND SP DATALEN [SP DATA] LF)."""

    def __init__(self, port, pki=None, cert=None, src="127.0.0.1"):
        """Plain RELP, or RELP over TLS when pki is given (client certificate `cert`)."""
        if pki is not None:
            self.s = tls_client(port, pki, cert, src=src)
            self.s.settimeout(20)
        else:
            self.s = socket.create_connection(("127.0.0.1", port), timeout=20,
                                              source_address=(src, 0))
        self.txnr = 0
        self.buf = b""
        rsp = self.command("open", b"relp_version=0\nrelp_software=gatelog-test\n"
                                   b"commands=syslog")
        check(rsp.startswith(b"200 OK"), f"relp open refused: {rsp!r}")

    def _read_frame(self):
        while True:
            m = re.match(rb"(\d+) ([a-z]+) (\d+)", self.buf)
            if m and len(self.buf) > m.end():
                n = int(m.group(3))
                total = m.end() + (1 + n if n else 0) + 1
                if len(self.buf) >= total:
                    data = self.buf[m.end() + 1: m.end() + 1 + n] if n else b""
                    self.buf = self.buf[total:]
                    return int(m.group(1)), m.group(2), data
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("relp server closed the session")
            self.buf += chunk

    def command(self, cmd, data):
        self.txnr += 1
        head = b"%d %s %d" % (self.txnr, cmd.encode(), len(data))
        self.s.sendall(head + (b" " + data if data else b"") + b"\n")
        while True:
            txnr, c, d = self._read_frame()
            if c == b"rsp" and txnr == self.txnr:
                return d

    def syslog(self, msg):
        """Sends one message and returns the server's response ("200 OK" = stored)."""
        return self.command("syslog", msg.encode())

    def close(self):
        try:
            self.command("close", b"")
        except (OSError, ConnectionError):
            pass
        self.s.close()
