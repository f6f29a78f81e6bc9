"""An HTTP proxy in front of a real server that can keep the server's answer to itself: a network cut at the worst time.

Everything passes through (and is listed in `seen`), except that while `holding` is set, the answer to a
request matching `hold` (method and path prefix) is taken from the server and never passed on: the server
has done the work (a ticket exists), and the client hears nothing. The test can then kill the client at
exactly that moment, between the system's 201 and our record of it. Runs on its own thread; stdlib only.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "host"}


class HoldingProxy:
    def __init__(self, upstream: str, hold: tuple[str, str] | None = None) -> None:
        self.upstream = urlsplit(upstream)
        self.hold = hold
        self.holding = threading.Event()
        self.held = threading.Semaphore(0)  # released once per answer kept back
        self.seen: list[tuple[str, str]] = []  # (method, path with query) of every request, in order
        self._release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="holding-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> HoldingProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=120)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                proxy.seen.append((self.command, self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                status, answer_headers, answer = proxy._forward(self.command, self.path, headers, body)
                method, prefix = proxy.hold or ("", "")
                if proxy.holding.is_set() and self.command == method and self.path.startswith(prefix):
                    proxy.held.release()
                    proxy._release.wait(300)
                    self.close_connection = True
                    return  # the answer is dropped: the connection closes without one
                self.send_response(status)
                for k, v in answer_headers:
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler
