"""What every loopback server of the tests shares: 127.0.0.1, port 0, and an end of its own.

A server serves from ``__enter__`` until ``close()``, and closes by itself after ``idle_timeout_s`` without a
call (handlers set ``_last_seen``), so a forgotten one never outlives the test run.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    def _listen(self, handler: type[BaseHTTPRequestHandler], idle_timeout_s: float) -> None:
        self.idle_timeout_s = idle_timeout_s
        self._last_seen = time.monotonic()
        self._closed = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True

    def __enter__(self) -> Self:
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        threading.Thread(target=self._watchdog, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _before_close(self) -> None:
        """Let go of whatever the server holds back (requests, answers), so that its threads can end."""

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._before_close()
            self.httpd.shutdown()
            self.httpd.server_close()

    def _watchdog(self) -> None:
        while not self._closed.wait(0.5):
            if time.monotonic() - self._last_seen > self.idle_timeout_s:
                self.close()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"
