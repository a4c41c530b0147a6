"""Reads the inspector's event feed over a socket, as a page does, for the tests."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx


class FeedReader:
    """Reads `/__admin/feed` over a socket in a thread; `wait` for an event that satisfies
    a test; `close` leaves as a page does (the socket closes)."""

    def __init__(self, url: str) -> None:
        self.events: list[tuple[str, Any]] = []
        self.changed = threading.Condition()
        parts = httpx.URL(url)
        self.sock = socket.create_connection((parts.host, parts.port))
        # HTTP/1.0: the body is not chunked, and ends when the server closes.
        self.sock.sendall(
            f"GET {parts.raw_path.decode()} HTTP/1.0\r\nHost: {parts.host}\r\n\r\n".encode()
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buffer = b""
        event = None
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    line = raw.decode()
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event is not None:
                        with self.changed:
                            self.events.append((event, json.loads(line[6:])))
                            self.changed.notify_all()
        except OSError:
            pass
        with self.changed:
            self.events.append(("closed", None))
            self.changed.notify_all()

    def wait(self, test: Callable[[str, Any], bool], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        with self.changed:
            seen = 0
            while True:
                for name, data in self.events[seen:]:
                    if test(name, data):
                        return data
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such event in {timeout} s: {self.events}")
                self.changed.wait(left)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(5)
