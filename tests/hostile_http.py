"""Hostile HTTP servers on loopback for the fetch and cloud tests: gzip bombs, endless bodies,
dribbles, redirects to another host. Every answer is bounded in size and time (a dribble stops
after its byte count; a large body is streamed, never held, and stops when the client goes)."""

from __future__ import annotations

import gzip
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from http.server import BaseHTTPRequestHandler

from .http_standin import QuietHandler, serving

Behaviour = Callable[[BaseHTTPRequestHandler], None]


@lru_cache(maxsize=1)
def gzip_bomb(megabytes: int = 2100) -> bytes:
    """A body that is gzip twice (``Content-Encoding: gzip, gzip``): a few KB that expand to
    ``megabytes`` MiB of zeros. The inner layer is built from one full-flushed deflate block
    repeated, so making it takes well under a second."""
    zeros = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(zeros, crc)
    inner = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + block * megabytes + deflate.flush()
             + struct.pack("<II", crc, (megabytes << 20) & 0xFFFFFFFF))
    return gzip.compress(inner, 9)


def bomb(handler: BaseHTTPRequestHandler) -> None:
    body = gzip_bomb()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Encoding", "gzip, gzip")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def endless(megabytes: int, prefix: bytes = b"") -> Behaviour:
    """A body of ``megabytes`` MiB (a prefix, then spaces), streamed 64 KiB at a time."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        size = megabytes << 20
        handler.send_response(200)
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        chunk = b" " * 65536
        try:
            handler.wfile.write(prefix)
            for _ in range((size - len(prefix)) // len(chunk)):
                handler.wfile.write(chunk)
        except OSError:
            pass  # the client stopped reading: as it should
    return answer


def dribble(body: bytes, every: float = 0.2, release: threading.Event | None = None,
            in_headers: bool = False) -> Behaviour:
    """``body`` one byte every ``every`` seconds (or the headers so, with ``in_headers``);
    a client without an overall deadline would wait ``len(body) * every`` seconds."""
    stop = release or threading.Event()

    def answer(handler: BaseHTTPRequestHandler) -> None:
        try:
            if in_headers:
                head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * len(body) + b"\r\n"
                for byte in head:
                    handler.wfile.write(bytes([byte]))
                    handler.wfile.flush()
                    if stop.wait(every):
                        return
                handler.wfile.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
                return
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.flush()
            for byte in body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                if stop.wait(every):
                    return
        except OSError:
            pass
    return answer


class HostileServer:
    """Answers each path with its behaviour (a function of the handler); records requests
    (method, path, headers, body) for the tests to inspect."""

    def __init__(self, routes: dict[str, Behaviour]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.release = threading.Event()
        self.base = ""

    @contextmanager
    def running(self) -> Iterator[str]:
        owner = self

        class Handler(QuietHandler):  # HTTP/1.0: one request per connection
            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length", "0") or 0), 1 << 20)
                self._serve(self.rfile.read(length))

            def _serve(self, body: bytes) -> None:
                owner.requests.append((self.command, self.path, dict(self.headers), body))
                path = self.path.split("?", 1)[0]
                behaviour = owner.routes.get(path)
                if behaviour is None:
                    self.send_body(404, b"{}")
                else:
                    behaviour(self)
                self.close_connection = True

        with serving(Handler, self.release) as base:
            self.base = base
            yield base


def wait_for(predicate: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll ``predicate`` (a bound, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
