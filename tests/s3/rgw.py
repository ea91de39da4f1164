"""A throwaway one-node Ceph cluster serving S3 (RADOS Gateway) on 127.0.0.1, for the tests.

One monitor, one memstore OSD and radosgw, all in a temporary folder, started in a few
seconds (recipe and traps: ../shared/PEERS.md). Used as the real S3 server of the S3 export
tests: it checks SigV4 signatures, refuses a wrong Content-MD5, stores tags and enforces
Object Lock. boto3 (Debian's python3-boto3) is the independent client.

    rgw = Rgw().start()          # raises Unavailable when Ceph is not installed
    s3 = rgw.client()            # a boto3 client with the test user's keys
    rgw.stop_gateway(); rgw.start_gateway()   # an outage of the S3 endpoint only
    rgw.stop()
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

ACCESS_KEY = "GATELOGTESTKEY000001"
SECRET_KEY = "gatelogtestsecret0000000000000000000001"
REGION = "us-east-1"
BINARIES = ["monmaptool", "ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph"]


class Unavailable(Exception):
    """Ceph is not installed: the caller skips with this message."""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def available():
    missing = [b for b in BINARIES if not shutil.which(b)]
    if missing:
        return "Ceph is not installed (missing %s; apt-get install ceph-mon ceph-osd " \
               "radosgw ceph-common)" % ", ".join(missing)
    try:
        import boto3  # noqa: F401
    except ImportError:
        return "boto3 is not installed (apt-get install python3-boto3; run /usr/bin/python3)"
    return None


class Rgw:
    def __init__(self):
        self.dir = None
        self.port = None
        self.conf = None

    # ---- setup ----

    def _run(self, *args, timeout=60):
        p = subprocess.run(list(args), capture_output=True, timeout=timeout, cwd=self.dir)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s %s" % (" ".join(args), p.returncode,
                                                          p.stdout.decode(errors="replace"),
                                                          p.stderr.decode(errors="replace")))
        return p.stdout.decode(errors="replace")

    def _write_conf(self, mon_port):
        d = self.dir
        with open("/proc/sys/kernel/random/uuid") as f:
            self.fsid = f.read().strip()
        self.conf = os.path.join(d, "ceph.conf")
        with open(self.conf, "w") as f:
            f.write(f"""[global]
fsid = {self.fsid}
mon_host = v2:127.0.0.1:{mon_port}
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
client_mount_timeout = 30
run_dir = {d}/run
pid_file = {d}/run/$name.pid
crash_dir = {d}/crash
log_file = {d}/log/$name.log
mon_cluster_log_to_file = false
mon_data = {d}/mon
osd_data = {d}/osd
rgw_data = {d}/rgw
osd_objectstore = memstore
memstore_device_bytes = 536870912
osd_pool_default_size = 1
osd_pool_default_pg_num = 8
paxos_propose_interval = 0.01
mon_data_avail_warn = 1
mon_data_avail_crit = 0
[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:{self.port}
rgw_lc_max_worker = 1
rgw_thread_pool_size = 16
""")

    def start(self, attempts=3):
        why = available()
        if why:
            raise Unavailable(why)
        last = None
        for _ in range(attempts):
            self.dir = tempfile.mkdtemp(prefix="gatelog-rgw-")
            for sub in ("run", "crash", "log", "mon", "osd", "rgw"):
                os.makedirs(os.path.join(self.dir, sub))
            self.port = free_port()
            try:
                self._start_cluster(free_port())
                return self
            except Exception as e:  # noqa: BLE001 - a port taken in between: retry
                last = e
                self.stop()
        raise RuntimeError("the Ceph cluster did not start: %s" % last)

    def _start_cluster(self, mon_port):
        self._write_conf(mon_port)
        c, d = self.conf, self.dir
        self._run("monmaptool", "--create", "--fsid", self.fsid, "--addv", "a",
                  f"[v2:127.0.0.1:{mon_port}]", f"{d}/monmap")
        self._run("ceph-mon", "-c", c, "-i", "a", "--mkfs", "--monmap", f"{d}/monmap")
        self._run("ceph-mon", "-c", c, "-i", "a")
        with open("/proc/sys/kernel/random/uuid") as f:
            osd_uuid = f.read().strip()
        self._run("ceph", "-c", c, "osd", "new", osd_uuid)
        self._run("ceph-osd", "-c", c, "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
        self._run("ceph-osd", "-c", c, "-i", "0")
        self.start_gateway()
        self._run("radosgw-admin", "-c", c, "user", "create", "--uid=test",
                  "--display-name=test", f"--access-key={ACCESS_KEY}",
                  f"--secret-key={SECRET_KEY}")

    def start_gateway(self, timeout=60):
        self._run("radosgw", "-c", self.conf, "-n", "client.rgw")
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("radosgw did not answer in time:\n" + self.log("client.rgw"))

    # ---- stopping ----

    def _pid(self, name):
        try:
            with open(os.path.join(self.dir, "run", name + ".pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if self.conf.encode() not in f.read():
                    return None  # not ours
            return pid
        except (OSError, ValueError):
            return None

    def _stop_daemon(self, name, timeout=10):
        pid = self._pid(name)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not os.path.exists(f"/proc/{pid}") or self._zombie(pid):
                return
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    @staticmethod
    def _zombie(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(")")[-1].split()[0] == "Z"
        except OSError:
            return True

    def stop_gateway(self):
        self._stop_daemon("client.rgw")
        # Wait until the port is closed, so that the outage is real.
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                time.sleep(0.05)
            except OSError:
                return

    def stop(self):
        if not self.dir:
            return
        if self.conf and os.path.exists(self.conf):
            # Order matters: a monitor stopped first makes the others hang.
            for name in ("client.rgw", "osd.0", "mon.a"):
                self._stop_daemon(name)
        if os.environ.get("KEEP_TMP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    # ---- use ----

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self, name):
        try:
            with open(os.path.join(self.dir, "log", name + ".log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def client(self, endpoint=None):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=endpoint or self.endpoint,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            region_name=REGION,
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1}))

    def create_bucket(self, name, lock=False):
        kw = {"ObjectLockEnabledForBucket": True} if lock else {}
        self.client().create_bucket(Bucket=name, **kw)

    def env(self):
        """Environment for `gatelog verify|query --export s3://...`."""
        e = dict(os.environ)
        e.update(AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID=ACCESS_KEY,
                 AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION=REGION)
        return e


if __name__ == "__main__":
    # Manual check: start, create a bucket, list it, stop.
    r = Rgw().start()
    t = time.time()
    r.create_bucket("probe")
    print("buckets:", [b["Name"] for b in r.client().list_buckets()["Buckets"]])
    r.stop()
