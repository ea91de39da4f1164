#!/usr/bin/python3
"""ops (issue 9): running gatelog as a sidecar.

What an infra team checks: /metrics counts what was sent and kept and parses as Prometheus
text (promtool, Debian's `prometheus` package); /readyz goes false when exports fall behind
and true again when they drain; a daemon started as root drops to its configured user (seen
in /proc) or refuses to run as root; systemd hears READY, WATCHDOG and STOPPING; the unit file
passes `systemd-analyze verify`; `gatelog config check|dump` and GATELOG_ environment
overrides; `--version` names the commit and the libraries.
"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import GATELOG, Daemon, Failure, check, gatelog, logger, run_tests  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = pwd.getpwnam("nobody")


def http_get(port, path):
    """Returns (status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(what, fn, timeout=30):
    """Polls fn until it returns a true value; fails naming what when it never does."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise Failure(f"never happened: {what} (last: {last!r})")


def parse_metrics(text):
    """{'name{labels}': value} from Prometheus text (comments skipped)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        out[series] = float(value)
    return out


def scrape(port):
    status, body = http_get(port, "/metrics")
    check(status == 200, f"/metrics answered {status}")
    return body, parse_metrics(body)


def promtool_check(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode()
    check(p.returncode == 0 and not out.strip(), f"promtool check metrics: {p.returncode} {out}")


class Env:
    """Sets environment variables for a block (the daemon inherits them)."""

    def __init__(self, **kv):
        self.kv, self.old = kv, {}

    def __enter__(self):
        for k, v in self.kv.items():
            self.old[k] = os.environ.get(k)
            os.environ[k] = v

    def __exit__(self, *exc):
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_metrics_count_what_was_sent_and_kept():
    d = Daemon(unix=False)
    d.clear_of_boundary(60)  # one epoch sealed (by the test) with the 10 records
    try:
        d.start()
        port = d.ports["http"]
        logger(d.ports["udp"], [f"udp message {i}" for i in range(5)], "-d", "--rfc5424=notq")
        logger(d.ports["tcp"], [f"tcp message {i}" for i in range(3)], "-T", "--octet-count",
               "--rfc5424=notq")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(2):
                s.sendto(b"no header at all %d" % i, ("127.0.0.1", d.ports["udp"]))
        recs = d.wait_records(10)
        malformed = sum(1 for r in recs if "malformed" in r["flags"])
        check(malformed >= 2, f"the headerless datagrams are not flagged: {malformed}")

        want = {'gatelog_events_received_total{source="syslog/udp"}': 7,
                'gatelog_events_received_total{source="syslog/tcp"}': 3,
                'gatelog_events_kept_total{source="syslog/udp"}': 7,
                'gatelog_events_kept_total{source="syslog/tcp"}': 3}

        def counted():
            text, m = scrape(port)
            kept_malformed = sum(v for k, v in m.items()
                                 if k.startswith("gatelog_events_malformed_total"))
            return (text, m) if all(m.get(k) == v for k, v in want.items()) and \
                kept_malformed == malformed else None
        text, m = wait_for("metrics equal to what was sent and stored", counted)
        promtool_check(text)
        check(m['gatelog_events_dropped_total{reason="queue_full"}'] == 0, "drops counted")
        check(m["gatelog_batch_commit_seconds_count"] >= 1, "no commit latency observed")
        check(m["gatelog_queue_depth"] == 0 and m["gatelog_ready"] == 1, "depth/ready gauges")
        check(re.search(r'gatelog_build_info\{version="[^"]+",commit="[^"]+"\} 1', text),
              "no build info")

        d.seal()
        def sealed():
            _, m = scrape(port)
            return m.get("gatelog_epochs_sealed_total") == 1 and \
                m.get('gatelog_exports_total{output="local"}') == 1 and \
                m.get('gatelog_export_backlog_epochs{output="local"}') == 0
        wait_for("seal and export counted", sealed)
        text, m = scrape(port)
        promtool_check(text)
        check(m["gatelog_last_sealed_epoch_records"] == 10, "sealed count")
        # The endpoint answers only what it serves.
        check(http_get(port, "/nothing")[0] == 404, "unknown path not 404")
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", data=b"x", method="POST")
        try:
            urllib.request.urlopen(req, timeout=10)
            raise Failure("POST accepted")
        except urllib.error.HTTPError as e:
            check(e.code == 405, f"POST answered {e.code}")
        check(d.stop() == 0, "daemon did not exit 0")
    finally:
        d.cleanup()


def test_readiness_follows_export_backlog():
    d = Daemon(unix=False)
    d.clear_of_boundary(60)  # a backlog of exactly the one epoch the test seals
    blocker = os.path.join(d.dir, "blocker")
    try:
        # The export folder lies under a regular file: every export fails (ENOTDIR, even
        # for root) until the file is removed.
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace(f"path: {d.exports}", f"path: {blocker}/exports"))
        with open(blocker, "w") as f:
            f.write("in the way\n")
        with Env(GATELOG_HTTP_READY_MAX_BACKLOG="0"):
            d.start()
        port = d.ports["http"]
        check(http_get(port, "/readyz") == (200, "ready\n"), "not ready at start")
        logger(d.ports["udp"], ["one record"], "-d")
        d.wait_records(1)
        d.proc.send_signal(signal.SIGUSR1)  # seal now; its export fails
        status, body = wait_for("readyz 503", lambda: (lambda r: r if r[0] == 503 else None)(
            http_get(port, "/readyz")))
        check("output local" in body and "backlog 1" in body, f"reason not named: {body}")
        check(http_get(port, "/healthz")[0] == 200, "liveness must not follow readiness")
        text, m = scrape(port)
        promtool_check(text)
        check(m["gatelog_ready"] == 0, "gatelog_ready not 0")
        check(m['gatelog_export_backlog_epochs{output="local"}'] == 1, "backlog gauge")
        # The backlog shows from the seal on; the failed attempt is counted when it ends
        # (a moment later on a slow or sanitized build): wait for it rather than race it.
        wait_for("export failure counted", lambda: scrape(port)[1].get(
            'gatelog_export_failures_total{output="local"}', 0) >= 1)

        os.remove(blocker)  # the exporter's next retry (backoff 0.5-1 s) drains it
        wait_for("readyz 200 again", lambda: http_get(port, "/readyz")[0] == 200)
        _, m = scrape(port)
        check(m['gatelog_exports_total{output="local"}'] == 1, "export not counted")
        check(os.path.isdir(os.path.join(blocker, "exports")), "export not written")
        check(d.stop() == 0, "daemon did not exit 0")
    finally:
        d.cleanup()


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)


def free_low_port():
    for port in range(900, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise Failure("no free port below 1024")


def test_privilege_drop_to_nobody():
    d = Daemon(unix=False)
    try:
        for root, dirs, files in os.walk(d.dir):
            for n in [root] + [os.path.join(root, x) for x in files]:
                os.chown(n, NOBODY.pw_uid, NOBODY.pw_gid)
        low = free_low_port()
        # ASan's leak check cannot attach to a non-dumpable process: off for this daemon.
        with Env(GATELOG_RUN_USER="nobody", GATELOG_HTTP_LISTEN=f"127.0.0.1:{low}",
                 ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"):
            d.start()
        st = proc_status(d.proc.pid)
        want_uid, want_gid = str(NOBODY.pw_uid), str(NOBODY.pw_gid)
        check(st["Uid"].split() == [want_uid] * 4, f"Uid: {st['Uid']}")
        check(st["Gid"].split() == [want_gid] * 4, f"Gid: {st['Gid']}")
        check(int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0,
              f"capabilities left: {st['CapEff']} {st['CapPrm']}")
        check(st["NoNewPrivs"].strip() == "1", "NoNewPrivs not set")
        log = d.read_log()
        check("kept=cap_net_bind_service" in log and "dropped capabilities" in log,
              "the low port's capability was not kept then dropped:\n" + log)
        # The low port works, the files are nobody's, and the daemon still stores.
        check(d.ports["http"] == low and http_get(low, "/readyz")[0] == 200, "low http port")
        for path in (d.db, d.key):
            check(os.stat(path).st_uid == NOBODY.pw_uid, f"{path} not owned by nobody")
        logger(d.ports["udp"], ["after the drop"], "-d")
        d.wait_records(1)
        check(d.stop() == 0, "daemon did not exit 0")
    finally:
        d.cleanup()


def test_refuses_root_and_unknown_users():
    d = Daemon(unix=False)
    try:
        with Env(GATELOG_RUN_ALLOW_ROOT="false"):
            rc, out, err = gatelog("run", "-c", d.config, timeout=20)
        check(rc != 0 and "refusing to run as root" in err, f"ran as root: {rc} {err}")
        check(not os.path.exists(d.db) and not os.path.exists(d.key),
              "files were created before refusing")
        with Env(GATELOG_RUN_USER="no-such-user-gl"):
            rc, out, err = gatelog("run", "-c", d.config, timeout=20)
            check(rc != 0 and "no user 'no-such-user-gl'" in err, f"unknown user: {rc} {err}")
            rc, out, err = gatelog("config", "check", d.config)
            check(rc == 2 and "no-such-user-gl" in err, f"config check: {rc} {err}")
    finally:
        d.cleanup()


def test_sd_notify_ready_watchdog_stopping():
    d = Daemon(unix=False)
    sock_path = os.path.join(d.dir, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind(sock_path)
        s.settimeout(10)
        with Env(NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="1000000"):
            d.start()
        got = []

        def until(word):
            while not any(word in m for m in got):
                got.append(s.recv(4096).decode())
            return True
        until("READY=1")
        ready = next(m for m in got if "READY=1" in m)
        check("STATUS=" in ready, f"no status with READY: {ready}")
        n = len([m for m in got if "WATCHDOG=1" in m])
        while n < 3:  # pinged at half the 1 s period, by the main loop's timer
            m = s.recv(4096).decode()
            got.append(m)
            n += "WATCHDOG=1" in m
        d.proc.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        check(d.proc.wait(timeout=30) == 0, "daemon did not exit 0")
        d.proc = None
        d.log.close()
    finally:
        s.close()
        d.cleanup()


def test_unit_file_verifies():
    unit = os.path.join(ROOT, "dist", "gatelog.service")
    with open(unit) as f:
        text = f.read()
    for directive in ("Type=notify", "WatchdogSec=", "DynamicUser=yes", "ProtectSystem=strict",
                      "NoNewPrivileges=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
                      "SystemCallFilter=@system-service"):
        check(directive in text, f"unit lacks {directive}")
    tmp = tempfile.mkdtemp(prefix="gatelog-unit-")
    try:
        def verify(body):
            path = os.path.join(tmp, "gatelog.service")
            with open(path, "w") as f:
                f.write(body.replace("/usr/bin/gatelog", GATELOG))
            p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True,
                               timeout=60, cwd=tmp)
            return p.returncode, (p.stdout + p.stderr).decode()
        rc, out = verify(text)
        check(rc == 0 and not out.strip(), f"systemd-analyze verify: {rc}\n{out}")
        # The check bites: a misspelt value is reported.
        rc, out = verify(text.replace("ProtectSystem=strict", "ProtectSystem=strictly"))
        check(out.strip(), "systemd-analyze did not notice a bad value")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_kubernetes_example():
    """The example Pod's probes point at the endpoint, and its configuration is valid."""
    path = os.path.join(ROOT, "dist", "kubernetes", "gatelog-sidecar.yaml")
    with open(path) as f:
        text = f.read()
    for want in ("path: /healthz", "path: /readyz", "containerPort: 9514",
                 "runAsNonRoot: true", 'drop: ["ALL"]', "readOnlyRootFilesystem: true"):
        check(want in text, f"example lacks {want}")
    m = re.search(r"gatelog\.yaml: \|\n((?:    .*\n)+)", text)
    check(m, "no gatelog.yaml in the ConfigMap")
    tmp = tempfile.mkdtemp(prefix="gatelog-k8s-")
    try:
        cfg = os.path.join(tmp, "gatelog.yaml")
        with open(cfg, "w") as f:
            f.write("".join(line[4:] + "\n" for line in m.group(1).splitlines()))
        rc, out, err = gatelog("config", "check", cfg)
        check(rc == 0, f"the example's configuration: {err}")
        rc, out, err = gatelog("config", "dump", "-c", cfg)
        check(rc == 0 and "listen: 0.0.0.0:9514" in out, f"dump: {err}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_config_check_and_dump():
    d = Daemon(unix=False)
    try:
        rc, out, err = gatelog("config", "check", d.config)
        check(rc == 0 and "ok" in out, f"check of a good file: {rc} {out} {err}")
        bad = os.path.join(d.dir, "bad.yaml")
        with open(bad, "w") as f:
            f.write("chain: x\nhttp:\n  listen: nowhere\n")
        rc, out, err = gatelog("config", "check", bad)
        check(rc == 2 and f"{bad}:3:11: http.listen" in err, f"bad file: {rc} {err}")
        secret = "s3cr3t-VALUE-never-printed"
        withsecret = os.path.join(d.dir, "s3.yaml")
        with open(withsecret, "w") as f:
            f.write(f"""chain: dumped
outputs:
  - name: archive
    type: s3
    s3:
      bucket: evidence
      endpoint: http://127.0.0.1:9
      access_key: AKIDEXAMPLE
      secret_key: {secret}
      session_token: {secret}-token
""")
        with Env(GATELOG_LOG_LEVEL="debug", GATELOG_HTTP_LISTEN="0.0.0.0:9600"):
            rc, out, err = gatelog("config", "dump", "-c", withsecret)
        check(rc == 0, f"dump: {rc} {err}")
        check(secret not in out, "a secret was printed:\n" + out)
        check(out.count("********") == 2, "secrets not masked:\n" + out)
        for line in ("chain: dumped", "bucket: evidence", "access_key: AKIDEXAMPLE",
                     "  level: debug", "  listen: 0.0.0.0:9600", "  max_events: 8192"):
            check(line in out, f"dump lacks '{line}':\n{out}")
        # The dump is itself a valid configuration that gives the same dump.
        again = os.path.join(d.dir, "again.yaml")
        with open(again, "w") as f:
            f.write(out.replace("********", "masked"))
        rc, out2, err = gatelog("config", "dump", "-c", again)
        check(rc == 0 and out2.replace("********", "masked").splitlines()[1:] ==
              out.replace("********", "masked").splitlines()[1:], f"dump not stable: {err}")
        # A bad environment value names the variable.
        with Env(GATELOG_SEAL_EPOCH="3 fortnights"):
            rc, out, err = gatelog("config", "check", d.config)
        check(rc == 2 and "GATELOG_SEAL_EPOCH: seal.epoch" in err, f"env error: {rc} {err}")
    finally:
        d.cleanup()


def test_environment_overrides_reach_the_daemon():
    d = Daemon(unix=False)
    try:
        with Env(GATELOG_CHAIN="env-chain", GATELOG_HTTP_ENABLED="false"):
            d.start()
        log = d.read_log()
        check("chain=env-chain" in log, "GATELOG_CHAIN ignored:\n" + log)
        check("http" not in d.ports and "http endpoint disabled" in log,
              "GATELOG_HTTP_ENABLED=false ignored")
        check(d.stop() == 0, "daemon did not exit 0")
    finally:
        d.cleanup()


def test_version_names_commit_and_libraries():
    rc, out, err = gatelog("--version")
    check(rc == 0, f"--version: {rc}")
    check(re.match(r"gatelog \S+ \(commit [0-9a-f]{7,}(-dirty)?\)\n", out) or
          "(commit unknown)" in out, f"no commit: {out}")
    for lib in ("libsodium", "SQLite", "OpenSSL", "libyaml", "libmicrohttpd"):
        check(re.search(lib + r" \d", out), f"--version lacks {lib}: {out}")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_socket_activation():
    """Launched by systemd-socket-activate (package systemd), the daemon takes the passed TCP
    socket for the syslog listener with that address instead of binding it: the message whose
    connection started the daemon is stored, the log says where the socket came from, and a
    passed socket no listener wants is named in a warning."""
    activate = "/usr/bin/systemd-socket-activate"
    check(os.access(activate, os.X_OK), f"{activate} is missing (package systemd)")
    d = Daemon(unix=False)
    port, spare = free_port(), free_port()
    try:
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace("- tcp: 127.0.0.1:0", f"- tcp: 127.0.0.1:{port}", 1))
        # systemd-socket-activate gives the program a fresh environment: pass on what the
        # sanitizer builds need.
        env = [f"-E{k}={v}" for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")]
        d.log = open(d.stderr_path, "ab")
        d.log_offset = d.log.tell()
        d.proc = subprocess.Popen(
            [activate, "-l", f"127.0.0.1:{port}", "-l", f"127.0.0.1:{spare}",
             "--fdname=syslog-tcp:spare", *env, GATELOG, "run", "-c", d.config],
            stdout=d.log, stderr=d.log, cwd=d.dir)
        # systemd-socket-activate listens first and starts gatelog on the first connection:
        # the one that carries this message.
        wait_for("systemd-socket-activate listening",
                 lambda: "Listening on" in d.read_log() or d.proc.poll() is not None)
        check(d.proc.poll() is None, "systemd-socket-activate exited:\n" + d.read_log())
        logger(port, ["activated hello"], "-T", "--octet-count", "--rfc5424=notq")
        wait_for("ready", lambda: re.search(r'msg="?ready\b', d.read_log()) or
                 d.proc.poll() is not None)
        log = d.read_log()
        check(d.proc.poll() is None, "daemon exited:\n" + log)
        check(re.search(r'listener socket from systemd"? transport=tcp addr=127\.0\.0\.1:%d fd=3'
                        % port, log), "the TCP listener did not take fd 3:\n" + log)
        check(re.search(r'matches no syslog listener.* fd=4 name=spare', log),
              "the unused socket is not named:\n" + log)
        d._parse_ports(log)
        check(d.ports["tcp"] == port, f"tcp port {d.ports}")
        recs = d.wait_records(1)
        check(recs[0]["message"] == "activated hello" and
              recs[0]["source"]["transport"] == "tcp", f"record {recs[0]}")
        # The same socket goes on serving after the first connection.
        logger(port, ["activated again"], "-T", "--octet-count", "--rfc5424=notq")
        recs = d.wait_records(2)
        check(sorted(r["message"] for r in recs) == ["activated again", "activated hello"],
              f"records {[r['message'] for r in recs]}")
        check(d.stop() == 0, "daemon did not exit 0")
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests([
        test_metrics_count_what_was_sent_and_kept,
        test_readiness_follows_export_backlog,
        test_privilege_drop_to_nobody,
        test_refuses_root_and_unknown_users,
        test_sd_notify_ready_watchdog_stopping,
        test_unit_file_verifies,
        test_kubernetes_example,
        test_config_check_and_dump,
        test_environment_overrides_reach_the_daemon,
        test_version_names_commit_and_libraries,
        test_socket_activation,
    ])
