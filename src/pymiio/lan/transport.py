"""The asyncio UDP layer: one socket that many device sessions share.

Datagrams are routed to a session by their source address; several sessions for one address
(two device objects for one device) each get every datagram from it and keep what answers their
own request ids. Whatever comes from an address no session owns goes to an optional listener
(discovery) or is dropped with a debug line. A fleet of a thousand devices therefore costs one
file descriptor, not a thousand.

The endpoint registers its non-blocking socket with the event loop directly. A wake-up reads
as many datagrams as calls are waiting for replies (``awaiting``; all that are queued when a
listener takes whatever comes), so a fleet's burst of replies costs one wake-up while a single
device's round trip makes no read that finds the socket empty: on this path such a read, a
system call ending in an exception, costs more than the rest of the round trip's Python code.
Stopping early loses nothing, as the loop wakes the endpoint again while datagrams are queued.

UDP sends never wait: a datagram the kernel cannot take now is dropped and logged, and the
session's retry covers it as it covers loss; any other refusal is raised as the ``OSError`` it
is, for the session to judge (``Session.send_failed``). A handler that raises is logged and
the drain goes on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from pymiio.address import check_host, is_ipv4
from pymiio.errors import ClosedError, UnreachableError
from pymiio.protocol.dump import log_datagram

log = logging.getLogger("pymiio.lan.transport")

Address = tuple[str, int]
Handler = Callable[[bytes], None]
Listener = Callable[[bytes, Address], None]

_RECV_BUFFER = 4 * 1024 * 1024
_DRAIN_LIMIT = 512  # datagrams per wake-up, so one busy socket cannot starve the loop


class _FanOut:
    """Several handlers for one address: each sees every datagram from it."""

    __slots__ = ("handlers",)

    def __init__(self, handlers: list[Handler]) -> None:
        self.handlers = handlers

    def __call__(self, data: bytes) -> None:
        for handler in list(self.handlers):
            _call_safely(handler, data)


def _call_safely(handler: Handler, data: bytes) -> None:
    try:
        handler(data)
    except Exception:
        log.exception("a datagram handler failed (the datagram is dropped)")


class UdpEndpoint:
    """An open UDP socket with a routing table from source address to handler."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.routes: dict[Address, Handler] = {}
        self.listener: Listener | None = None
        self._sock: socket.socket | None = sock
        self._loop = loop
        self._users = 0
        self.awaiting = 0  # calls waiting for a reply through this endpoint (see the module)
        loop.add_reader(sock.fileno(), self._drain)

    @classmethod
    async def open(cls, local_addr: Address = ("0.0.0.0", 0), *,
                   broadcast: bool = False) -> UdpEndpoint:
        """Bind a new endpoint; ``broadcast`` allows sending to broadcast addresses."""
        return cls.bind(asyncio.get_running_loop(), local_addr, broadcast=broadcast)

    @classmethod
    def bind(cls, loop: asyncio.AbstractEventLoop, local_addr: Address | None = ("0.0.0.0", 0),
             *, broadcast: bool = False) -> UdpEndpoint:
        """:meth:`open` without a coroutine: binding a UDP socket never waits, and doing it in
        one step means no other task can run between looking for an endpoint and making one.

        ``local_addr=None`` makes a small endpoint for a single exchange: no explicit bind (the
        first send picks the port) and the default receive buffer, since no burst is coming."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if local_addr is not None:
                _enlarge_receive_buffer(sock)
                sock.bind(local_addr)
            if broadcast:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return cls(sock, loop)

    def add_route(self, address: Address, handler: Handler) -> None:
        """Send datagrams from ``address`` to ``handler`` (as well as to earlier ones)."""
        current = self.routes.get(address)
        if current is None:
            self.routes[address] = handler
        elif isinstance(current, _FanOut):
            current.handlers.append(handler)
        else:
            self.routes[address] = _FanOut([current, handler])

    def remove_route(self, address: Address, handler: Handler) -> None:
        """Undo :meth:`add_route` for this handler; other handlers of the address stay."""
        current = self.routes.get(address)
        if current == handler:
            del self.routes[address]
        elif isinstance(current, _FanOut):
            if handler in current.handlers:
                current.handlers.remove(handler)
            if len(current.handlers) == 1:
                self.routes[address] = current.handlers[0]

    @property
    def is_closed(self) -> bool:
        return self._sock is None

    @property
    def local_address(self) -> Address:
        if self._sock is None:
            raise ClosedError("the UDP endpoint is closed")
        host, port = self._sock.getsockname()[:2]
        return host, port

    def _drain(self) -> None:
        sock = self._sock
        limit = _DRAIN_LIMIT  # a listener (discovery) takes whatever comes
        if self.listener is None:
            limit = min(limit, self.awaiting or 1)
        for _ in range(limit):
            if sock is None:
                return
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("socket error (ignored, the session will time out): %s", exc)
                return
            self.datagram_received(data, addr)
            sock = self._sock  # a handler may have closed the endpoint

    def datagram_received(self, data: bytes, addr: Address) -> None:
        log_datagram(log, "recv", addr, data)
        handler = self.routes.get(addr[:2])
        if handler is not None:
            _call_safely(handler, data)
        elif self.listener is not None:
            try:
                self.listener(data, addr[:2])
            except Exception:
                log.exception("the datagram listener failed (the datagram is dropped)")
        else:
            log.debug("dropped a datagram from %s:%d, no session expects it", *addr[:2])

    def send(self, data: bytes, addr: Address) -> None:
        """Send one datagram; raises ClosedError when closed and ``OSError`` when refused."""
        if self._sock is None:
            raise ClosedError("the UDP endpoint is closed")
        log_datagram(log, "send", addr, data)
        try:
            self._sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            log.debug("send buffer full: dropped a datagram to %s:%d", *addr)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            self._loop.remove_reader(sock.fileno())
            sock.close()

    async def wait_closed(self) -> None:
        """Closing is immediate; kept so callers can treat endpoints like other transports."""

    # -- sharing ------------------------------------------------------------------------

    def acquire(self) -> UdpEndpoint:
        self._users += 1
        return self

    def release(self) -> None:
        """Drop one user; a shared endpoint closes when its last user leaves."""
        self._users -= 1
        if self._users <= 0:
            global _SHARED
            if _SHARED is not None and _SHARED[1] is self:
                _SHARED = None
            self.close()


# The running loop's shared endpoint. It is made synchronously on first use, so devices started
# together with asyncio.gather all find the same one instead of each opening a socket.
_SHARED: tuple[asyncio.AbstractEventLoop, UdpEndpoint] | None = None


def shared_endpoint() -> UdpEndpoint:
    """The running loop's shared client endpoint, opened on first use; call ``release`` after.
    A plain function: opening a UDP socket never waits."""
    global _SHARED
    loop = asyncio.get_running_loop()
    endpoint = _open_shared(loop)
    if endpoint is None:
        endpoint = UdpEndpoint.bind(loop)
        _SHARED = (loop, endpoint)
    return endpoint.acquire()


def _open_shared(loop: asyncio.AbstractEventLoop) -> UdpEndpoint | None:
    """The loop's shared endpoint if one is open."""
    if _SHARED is None or _SHARED[0] is not loop or _SHARED[1].is_closed:
        return None
    return _SHARED[1]


def exchange_endpoint() -> UdpEndpoint:
    """An endpoint for one short exchange (a hello to one address): the loop's shared endpoint
    when something already holds it open, else a small private one. Either way it costs no
    lasting socket; call ``release`` after."""
    loop = asyncio.get_running_loop()
    shared = _open_shared(loop)
    if shared is not None:
        return shared.acquire()
    return UdpEndpoint.bind(loop, None).acquire()


def _enlarge_receive_buffer(sock: socket.socket) -> None:
    """A burst of replies from a fleet overflows the default buffer; ask for more."""
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    for option in (force, socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, _RECV_BUFFER)
            return
        except OSError:
            continue


async def resolve(host: str, port: int) -> Address:
    """An IPv4 address for ``host`` (miIO is IPv4 only); names are looked up once.

    Malformed addresses are refused before anything is sent (see :func:`pymiio.address.check`).
    """
    if is_ipv4(host):
        return host, port
    check_host(host)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnreachableError(f"cannot resolve {host!r}: {getattr(exc, 'strerror', exc)}"
                               ) from None
    address = infos[0][4]
    return str(address[0]), int(address[1])
