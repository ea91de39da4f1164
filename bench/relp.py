#!/usr/bin/python3
"""RELP ingest rate (issue 8): messages per second from rsyslog's omrelp into stored
records, beside the same rsyslog relaying to gatelog's plain TCP listener, in one run.

  GATELOG=build/cli/gatelog /usr/bin/python3 bench/relp.py [N] [tls]

N messages (default 3000, ~90 bytes each) go to an rsyslogd relay (imtcp) with util-linux
logger, and from there to gatelog: once with omrelp (window 128: rsyslog pipelines up to 128
unacknowledged messages), once with omfwd octet-counted TCP (no acknowledgements at all).
With "tls", the RELP run is RELP over TLS with a client certificate. The clock starts
when logger starts and stops when the store holds all N (gatelog epochs' open count). RELP
acknowledges a message only after its commit, and librelp hands over one message at a time
(ingest/relp.c), so the RELP rate is about one SQLite commit (an fsync) per message."""
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "tls"))
from harness import GATELOG, logger  # noqa: E402
from peers import TEMPLATE, ListenDaemon, free_port, start_rsyslog, stop  # noqa: E402
from procstat import quiet, stored_count  # noqa: E402


def run(n, listen, action, module=""):
    """Starts gatelog with listen (YAML list items), rsyslog with action(port); returns
    seconds from the first logger line to all n stored."""
    d = ListenDaemon(listen["yaml"])
    quiet(d)
    work = tempfile.mkdtemp(prefix="gatelog-bench-relp-")
    relay = None
    try:
        d.start(timeout=60)
        port = listen["port"] or d.ports["tcp"]

        def conf(inport):
            return (f'global(workDirectory="{work}")\nmodule(load="imtcp")\n{module}'
                    f'input(type="imtcp" address="127.0.0.1" port="{inport}")\n' + TEMPLATE +
                    action(port))
        relay, inport = start_rsyslog(work, conf)
        lines = [f"bench {i:07d}: user=bench{i % 97} action=login outcome=success"
                 for i in range(n)]
        t0 = time.monotonic()
        for i in range(0, n, 1000):
            logger(inport, lines[i:i + 1000], "-T", "--octet-count", "--rfc5424=notq",
                   "-t", "bench")
        while stored_count(GATELOG, d.db) < n:
            time.sleep(0.05)
        return time.monotonic() - t0
    finally:
        stop(relay)
        d.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    tls = len(sys.argv) > 2 and sys.argv[2] == "tls"
    rport = free_port()
    listen = {"yaml": f"    - relp: 127.0.0.1:{rport}\n", "port": rport}
    tls_action = module = ""
    pki_dir = None
    if tls:
        from certs import make_pki
        pki_dir = tempfile.mkdtemp(prefix="gatelog-bench-pki-")
        pki = make_pki(pki_dir)
        listen["yaml"] += (f"      tls: true\n      cert: {pki['server'][0]}\n"
                           f"      key: {pki['server'][1]}\n      ca: {pki['ca'][0]}\n"
                           "      allowed_names: [relay1.test]\n")
        tls_action = ('       tls="on" tls.authmode="name" tls.permittedpeer=["localhost"]\n'
                      f'       tls.cacert="{pki["ca"][0]}" tls.mycert="{pki["relay1"][0]}"\n'
                      f'       tls.myprivkey="{pki["relay1"][1]}"\n')
        module = 'module(load="omrelp" tls.tlslib="openssl")\n'
    else:
        module = 'module(load="omrelp")\n'
    try:
        t_relp = run(n, listen, lambda p: (
            f'action(type="omrelp" target="127.0.0.1" port="{p}" template="gl"\n' +
            tls_action + '       queue.type="LinkedList" queue.size="200000")\n'), module)
        t_tcp = run(n, {"yaml": "", "port": None}, lambda p: (
            f'action(type="omfwd" target="127.0.0.1" port="{p}" protocol="tcp"\n'
            '       tcp_framing="octet-counted" template="gl"\n'
            '       queue.type="LinkedList" queue.size="200000")\n'))
    finally:
        if pki_dir:
            shutil.rmtree(pki_dir, ignore_errors=True)
    print(f"messages:                     {n}")
    print(f"rsyslog omrelp{' (TLS)' if tls else '      '} -> gatelog: {t_relp:8.2f} s  "
          f"{n / t_relp:10.0f} msg/s")
    print(f"rsyslog omfwd TCP -> gatelog:  {t_tcp:8.2f} s  {n / t_tcp:10.0f} msg/s")
    print(f"ratio RELP / TCP:             {t_tcp / t_relp:8.3f}")


if __name__ == "__main__":
    main()
