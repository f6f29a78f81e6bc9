"""A TCP proxy in front of a real server that can go silent: the connections open now stay open, but nothing
more passes either way (a NAT or firewall that forgot them). New connections pass normally. Threads, stdlib only."""

from __future__ import annotations

import contextlib
import socket
import threading


class SilentProxy:
    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.host = "127.0.0.1"
        self._silenced: set[int] = set()  # ids of the connections that went silent
        self._open: list[tuple[int, socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._next = 0
        self._stopping = threading.Event()
        self.accepted = 0

    def start(self) -> SilentProxy:
        threading.Thread(target=self._accept, name="silent-proxy", daemon=True).start()
        return self

    def silence(self) -> None:
        """From now on, every connection open at this moment passes nothing, and is never closed by us."""
        with self._lock:
            self._silenced.update(cid for cid, _, _ in self._open)

    def stop(self) -> None:
        self._stopping.set()
        self.listener.close()
        with self._lock:
            for _, a, b in self._open:
                for s in (a, b):
                    with contextlib.suppress(OSError):
                        s.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                cid = self._next
                self._next += 1
                self.accepted += 1
                self._open.append((cid, client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(cid, src, dst), daemon=True).start()

    def _pump(self, cid: int, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    silent = cid in self._silenced
                if not silent:
                    dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            silent = cid in self._silenced
        if not silent:  # a real close passes on; a silenced connection is never closed by us
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
