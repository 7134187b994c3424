"""An S3-compatible server on loopback for tests: moto's server as a subprocess, and an HTTP proxy in front of it
that answers S3 errors on demand (the next N requests, or every request for a time window).

Without moto the tests skip, except under CI=true, where a server that does not start fails them."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
CREDS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def unavailable(reason: str):
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"moto S3 server unavailable under CI: {reason}")
    pytest.skip(f"moto S3 server unavailable: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """`python -m moto.server` on a free loopback port; yields its http://127.0.0.1:<port> URL. Its output goes to
    `log` (a file: nobody drains a pipe, it would fill)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        try:
            proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                    stdout=out, stderr=subprocess.STDOUT)
        except OSError as err:
            unavailable(f"cannot run moto.server: {err}")
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                unavailable(f"moto.server exited {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    unavailable("moto.server did not answer within 60s")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class FlakyProxy:
    """Forwards HTTP to `upstream` (moto), but answers with an S3 error document (`status`) the next N requests
    (`fail_next`) or every request for a while (`fail_for`). `injected` counts the errors answered since the last
    `fail_*` call, `forwarded` the requests passed on. Use as a context manager (starts and stops its thread)."""

    def __init__(self, upstream: str):
        self.upstream = upstream.removeprefix("http://")
        self.failures, self.until, self.status, self.injected, self.forwarded = 0, 0.0, 500, 0, 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy._should_fail():
                    self._error(proxy.status)
                else:
                    self._forward(body)

            def _error(self, status: int):
                code = {500: "InternalError", 503: "SlowDown"}.get(status, "ServiceUnavailable")
                payload = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                           f"<Message>injected</Message><RequestId>proxy</RequestId></Error>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _forward(self, body: bytes):
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in {"connection", "keep-alive"}}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    payload = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in {"connection", "keep-alive", "transfer-encoding", "content-length",
                                             "server", "date"}:
                            self.send_header(k, v)
                    length = resp.getheader("Content-Length") if self.command == "HEAD" else len(payload)
                    self.send_header("Content-Length", str(length or 0))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _should_fail(self) -> bool:
        with self.lock:
            fail = self.failures > 0 or time.monotonic() < self.until
            if self.failures > 0:
                self.failures -= 1
            if fail:
                self.injected += 1
            else:
                self.forwarded += 1
            return fail

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next `n` requests with `status`."""
        with self.lock:
            self.failures, self.until, self.status, self.injected = n, 0.0, status, 0

    def fail_for(self, seconds: float, status: int = 503) -> None:
        """Answer every request with `status` for the next `seconds`."""
        with self.lock:
            self.failures, self.until, self.status, self.injected = 0, time.monotonic() + seconds, status, 0

    def start(self) -> FlakyProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FlakyProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
