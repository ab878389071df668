"""HTTP with servers pymiio does not control (miot-spec.org, Xiaomi's account and app API).

Three bounds hold for every request, whatever the server does:

- **an overall deadline**: connecting, the headers and the whole body together, so a server
  that dribbles one byte a second ends at the deadline (per-read timeouts never would);
- **a cap on the decoded body**: ``Content-Encoding`` (gzip, deflate, stacked as
  ``gzip, gzip``) is undone here chunk by chunk, each step's output bounded, so a 1,832-byte
  gzip bomb stops at the cap instead of expanding to gigabytes;
- **no automatic redirects**: a 3xx comes back to the caller, who decides whether to follow
  it and with what (a login form is never re-posted to another host).

:class:`Fetcher` is a synchronous face: one ``httpx.AsyncClient`` (whose cookie jar persists
between requests) on a private event loop in a thread of its own, so it works from any thread,
one inside a running event loop included (that loop is blocked while it waits: call it from a
worker thread there). Failures are raised as the caller's error class, one line each.
"""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from pymiio.errors import MiioError

T = TypeVar("T")
CHUNK = 64 * 1024
MAX_ENCODINGS = 3
ACCEPT_ENCODING = "gzip, deflate"


@dataclass
class Answer:
    """A whole, decoded, bounded answer."""

    status: int
    url: httpx.URL
    headers: httpx.Headers
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def location(self) -> str | None:
        """Where a redirect points (absolute), or None when this is not a redirect."""
        if self.status not in (301, 302, 303, 307, 308):
            return None
        target = self.headers.get("location")
        return str(self.url.join(target)) if target else None


class Fetcher:
    """Bounded requests (see the module) with one cookie jar; raises ``error`` on failure."""

    def __init__(self, error: type[MiioError], *, timeout: float, limit: int,
                 headers: Mapping[str, str] | None = None, what: str = "the server",
                 late: type[MiioError] | None = None) -> None:
        """``late``: the error raised when a deadline passes (else ``error``)."""
        self.error, self.timeout, self.limit, self.what = error, timeout, limit, what
        self.late = late or error
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="pymiio-http")
        self._thread.start()
        self.client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False,
            headers={"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})})

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._run(self.client.aclose())
            self._run(self._loop.shutdown_asyncgens())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result()
        except BaseException:  # Ctrl-C while waiting: the request stops too
            future.cancel()
            raise

    @property
    def cookies(self) -> httpx.Cookies:
        return self.client.cookies

    def request(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                data: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None, timeout: float | None = None,
                limit: int | None = None, budget: float | None = None) -> Answer:
        """One request, its answer read whole (up to ``limit`` decoded bytes) within
        ``timeout`` seconds overall (``budget``: the whole deadline it is part of, for the
        error message)."""
        seconds = self.timeout if timeout is None else timeout
        return self._run(self._request(method, url, params, data, headers, seconds,
                                              self.limit if limit is None else limit,
                                              seconds if budget is None else budget))

    def get(self, url: str, **options: Any) -> Answer:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> Answer:
        return self.request("POST", url, **options)

    def get_following(self, url: str, hops: int, *, timeout: float | None = None,
                      params: Mapping[str, str] | None = None,
                      on_hop: Callable[[Answer], None] | None = None) -> Answer:
        """GET ``url`` and follow up to ``hops`` redirects (GETs only, nothing but cookies
        carried), all within ``timeout`` overall; the last answer. ``on_hop`` sees each
        redirect answer (its headers) before it is followed."""
        budget = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        answer = self.get(url, params=params, timeout=deadline - time.monotonic(),
                          budget=budget)
        for _ in range(hops):
            target = answer.location
            if target is None:
                return answer
            if on_hop is not None:
                on_hop(answer)
            answer = self.get(target, timeout=deadline - time.monotonic(), budget=budget)
        if answer.location is not None:
            raise self.error(f"{self.what} redirected more than {hops} times")
        return answer

    async def _request(self, method: str, url: str, params: Mapping[str, str] | None,
                       data: Mapping[str, str] | None, headers: Mapping[str, str] | None,
                       seconds: float, limit: int, budget: float) -> Answer:
        quoted = shown(url)
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise self.error(f"{self.what} gave an address that is not one: {quoted}") from None
        if target.scheme not in ("http", "https") or not target.host:
            raise self.error(f"{self.what} gave an address pymiio does not fetch: {quoted}")
        try:
            async with asyncio.timeout(max(seconds, 0.001)):
                async with self.client.stream(method, target, params=params, data=data,
                                              headers=headers,
                                              timeout=max(seconds, 0.001)) as response:
                    body = await read_body(response, limit, self.error, self.what)
                    return Answer(response.status_code, response.url, response.headers, body)
        except (TimeoutError, httpx.TimeoutException):
            raise self.late(f"{self.what} did not answer within {budget:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict) as exc:
            raise self.error(f"cannot fetch {quoted}: "
                             f"{shown(str(exc) or type(exc).__name__)}") from None


async def read_body(response: httpx.Response, limit: int, error: type[MiioError],
                    what: str) -> bytes:
    """The decoded body, raising ``error`` as soon as it passes ``limit`` bytes."""
    body = bytearray()

    def sink(data: bytes) -> None:
        body.extend(data)
        if len(body) > limit:
            raise error(f"{what} sent more than {limit} bytes")

    decoders = _decoders(response.headers.get("content-encoding", ""), error, what)
    chunks = response.aiter_raw()
    try:
        async for chunk in chunks:
            _push(decoders, 0, chunk, sink, error, what)
    finally:  # closed here, even when refused (not left for the loop to finalize)
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    _push(decoders, 0, b"", sink, error, what)
    return bytes(body)


class _Inflate:
    """One layer of gzip or deflate, its output bounded per call."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.started = False
        self.obj = zlib.decompressobj(zlib.MAX_WBITS | 16 if kind == "gzip" else zlib.MAX_WBITS)

    def step(self, data: bytes) -> bytes:
        if self.kind == "deflate" and not self.started and data:
            self.started = True
            try:  # zlib-wrapped, as the standard says; raw deflate, as some servers send
                return self.obj.decompress(data, CHUNK)
            except zlib.error:
                self.obj = zlib.decompressobj(-zlib.MAX_WBITS)
        self.started = self.started or bool(data)
        return self.obj.decompress(data, CHUNK)


def _decoders(header: str, error: type[MiioError], what: str) -> list[_Inflate]:
    names = [n.strip().lower() for n in header.split(",") if n.strip()]
    names = [n for n in names if n != "identity"]
    if len(names) > MAX_ENCODINGS:
        raise error(f"{what} stacked {len(names)} content encodings")
    layers = []
    for name in reversed(names):  # the last encoding applied is undone first
        kind = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}.get(name)
        if kind is None:
            raise error(f"{what} sent a content encoding pymiio did not ask for: {name[:40]}")
        layers.append(_Inflate(kind))
    return layers


def _push(layers: list[_Inflate], level: int, data: bytes, sink: Any,
          error: type[MiioError], what: str) -> None:
    """Feed ``data`` to layer ``level`` and everything it yields onward, CHUNK at a time.
    Empty ``data`` drains what the layers still hold (the end of the body)."""
    if level == len(layers):
        if data:
            sink(data)
        return
    layer = layers[level]
    pending = data
    try:
        while True:
            out = layer.step(pending)
            pending = layer.obj.unconsumed_tail
            if out:
                _push(layers, level + 1, out, sink, error, what)
            if not pending and len(out) < CHUNK:
                break
    except zlib.error:
        raise error(f"{what} sent a body that does not decompress") from None
    if not data:
        _push(layers, level + 1, b"", sink, error, what)


def shown(text: str, size: int = 120) -> str:
    """Server-given text for one error line: printable (others as \\xNN), bounded."""
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:size])
    return shown + ("…" if len(text) > size else "")
