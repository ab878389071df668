"""pymiio.bounded_http against a loopback server answering in every encoding and shape a
foreign server might: each answer decoded exactly, or refused in one line."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from pymiio.bounded_http import Fetcher, shown
from pymiio.errors import SpecError

from .hostile_http import HostileServer

TEXT = b'{"hello": "world"}' * 1000


def _encoded(body: bytes, encoding: str, status: int = 200,
             extra: list[tuple[str, str]] | None = None):  # type: ignore[no-untyped-def]
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        if encoding:
            handler.send_header("Content-Encoding", encoding)
        for name, value in extra or []:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return answer


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


ROUTES = {
    "/plain": _encoded(TEXT, ""),
    "/gzip": _encoded(gzip.compress(TEXT), "gzip"),
    "/x-gzip": _encoded(gzip.compress(TEXT), "x-gzip"),
    "/deflate": _encoded(zlib.compress(TEXT), "deflate"),
    "/raw-deflate": _encoded(_raw_deflate(TEXT), "deflate"),
    "/twice": _encoded(gzip.compress(gzip.compress(TEXT)), "gzip, gzip"),
    "/identity": _encoded(TEXT, "identity"),
    "/brotli": _encoded(b"\x00\x01", "br"),
    "/stacked": _encoded(TEXT, "gzip, gzip, gzip, gzip"),
    "/broken": _encoded(b"\x1f\x8b\x08\x00garbage-not-gzip", "gzip"),
    "/moved": _encoded(b"", "", 302, [("Location", "/plain")]),
    "/loop": _encoded(b"", "", 302, [("Location", "/loop")]),
}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = HostileServer(ROUTES)
    with server.running() as url:
        yield url


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(SpecError, timeout=10, limit=len(TEXT), what="the test server") as client:
        yield client


@pytest.mark.parametrize("path", ["/plain", "/gzip", "/x-gzip", "/deflate", "/raw-deflate",
                                  "/twice", "/identity"])
def test_every_encoding_asked_for_is_decoded(base: str, fetcher: Fetcher, path: str) -> None:
    answer = fetcher.get(base + path)
    assert (answer.status, answer.body, answer.location) == (200, TEXT, None)
    assert answer.text == TEXT.decode()


@pytest.mark.parametrize(("path", "message"), [
    ("/brotli", "content encoding pymiio did not ask for: br"),
    ("/stacked", "stacked 4 content encodings"),
    ("/broken", "does not decompress"),
])
def test_encodings_refused_in_one_line(base: str, fetcher: Fetcher, path: str,
                                       message: str) -> None:
    with pytest.raises(SpecError, match=message):
        fetcher.get(base + path)


def test_the_cap_counts_decoded_bytes(base: str) -> None:
    with Fetcher(SpecError, timeout=10, limit=len(TEXT) - 1, what="the test server") as small, \
            pytest.raises(SpecError, match=f"sent more than {len(TEXT) - 1} bytes"):
        small.get(base + "/gzip")


def test_redirects_come_back_unless_followed(base: str, fetcher: Fetcher) -> None:
    moved = fetcher.get(base + "/moved")
    assert moved.status == 302 and moved.location == base + "/plain"
    seen: list[int] = []
    assert fetcher.get_following(base + "/moved", 2,
                                 on_hop=lambda a: seen.append(a.status)).body == TEXT
    assert seen == [302]
    with pytest.raises(SpecError, match="redirected more than 3 times"):
        fetcher.get_following(base + "/loop", 3)


@pytest.mark.parametrize(("url", "message"), [
    ("http://[::1", "an address that is not one: http://\\[::1"),
    ("file:///etc/passwd", "an address pymiio does not fetch: file:///etc/passwd"),
    ("ftp://127.0.0.1/x", "an address pymiio does not fetch"),
])
def test_addresses_that_are_not_http_are_refused(fetcher: Fetcher, url: str,
                                                 message: str) -> None:
    with pytest.raises(SpecError, match=message):
        fetcher.get(url)


def test_a_closed_port_is_one_line(fetcher: Fetcher) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SpecError, match=f"cannot fetch http://127.0.0.1:{port}/"):
        fetcher.get(f"http://127.0.0.1:{port}/")


def test_server_text_in_errors_is_printable_and_short() -> None:
    assert shown("a\x1b[2Jb\x07") == "a\\x1b[2Jb\\x07"
    assert shown("x" * 200, 10) == "x" * 10 + "…"
