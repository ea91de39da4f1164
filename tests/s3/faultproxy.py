"""A small fault-injecting HTTP proxy in front of the S3 server, for the S3 export tests.

It forwards each request as received (method, path, headers, body: the SigV4 signature stays
valid since the Host header is passed on unchanged) and can, on command:
  fail(n, status)  answer the next n requests itself with that status (a 5xx storm);
  corrupt(n)       flip one byte of the next n PUT bodies on the way (the server must refuse);
  hold()           keep PUT requests waiting (never answered) until release(): a stalled
                   upload to kill the daemon in the middle of.
It counts PUTs per key (`puts`). Listens on 127.0.0.1, port chosen by the kernel.
"""
import http.client
import http.server
import threading
import urllib.parse


class FaultProxy:
    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.fail_left = 0
        self.fail_status = 503
        self.corrupt_left = 0
        self.holding = False
        self.held = 0
        self.release_event = threading.Event()
        self.puts = {}
        self.failed = 0
        self.hold_after = None   # hold PUTs once this many went through
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                proxy._handle(self)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def fail(self, n, status=503):
        with self.lock:
            self.fail_left, self.fail_status = n, status

    def corrupt(self, n):
        with self.lock:
            self.corrupt_left = n

    def hold(self):
        with self.lock:
            self.holding = True
            self.release_event.clear()

    def release(self):
        with self.lock:
            self.holding = False
            self.hold_after = None
        self.release_event.set()

    def close(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        key = urllib.parse.unquote(h.path.split("?")[0])
        with self.lock:
            fail = self.fail_left > 0
            if fail:
                self.fail_left -= 1
                self.failed += 1
            corrupt = h.command == "PUT" and self.corrupt_left > 0 and len(body) > 0
            if corrupt:
                self.corrupt_left -= 1
            if self.hold_after is not None and sum(self.puts.values()) >= self.hold_after:
                if not self.holding:
                    self.holding = True
                    self.release_event.clear()
            hold = h.command == "PUT" and self.holding
            if hold:
                self.held += 1
            if h.command == "PUT" and not fail and not hold:
                self.puts[key] = self.puts.get(key, 0) + 1
        if hold:
            while self.holding and not self.release_event.wait(0.1):
                pass
            h.close_connection = True
            return
        if fail:
            msg = (b"<?xml version=\"1.0\"?><Error><Code>ServiceUnavailable</Code>"
                   b"<Message>injected by the test proxy</Message></Error>")
            h.send_response(self.fail_status)
            h.send_header("Content-Length", str(len(msg)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(msg)
            return
        if corrupt:
            body = bytes([body[0] ^ 0x01]) + body[1:]
        up = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            up.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
            for k, v in h.headers.items():
                up.putheader(k, v)
            up.endheaders(body if body else None)
            r = up.getresponse()
            data = r.read()
        except OSError:
            h.send_response(502)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        finally:
            up.close()
        h.send_response_only(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() in ("transfer-encoding", "connection"):
                continue
            if k.lower() == "content-length" and h.command != "HEAD":
                continue
            h.send_header(k, v)
        if h.command != "HEAD":
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
