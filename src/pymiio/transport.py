"""The asyncio UDP layer: one socket that many device sessions share.

Datagrams are routed to a session by their source address; whatever comes from an address no
session owns goes to an optional listener (discovery) or is dropped with a debug line. A fleet
of a thousand devices therefore costs one file descriptor, not a thousand.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import Callable
from typing import cast

from pymiio.errors import UnreachableError
from pymiio.protocol.dump import log_datagram

log = logging.getLogger("pymiio.transport")

Address = tuple[str, int]
Handler = Callable[[bytes], None]
Listener = Callable[[bytes, Address], None]

_RECV_BUFFER = 4 * 1024 * 1024


class UdpEndpoint(asyncio.DatagramProtocol):
    """An open UDP socket with a routing table from source address to handler."""

    def __init__(self) -> None:
        self.routes: dict[Address, Handler] = {}
        self.listener: Listener | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._users = 0
        self._closed = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, local_addr: Address = ("0.0.0.0", 0), *,
                   broadcast: bool = False) -> UdpEndpoint:
        """Bind a new endpoint; ``broadcast`` allows sending to broadcast addresses."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            _enlarge_receive_buffer(sock)
            if broadcast:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.bind(local_addr)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        loop = asyncio.get_running_loop()
        _, endpoint = await loop.create_datagram_endpoint(cls, sock=sock)
        return endpoint

    @property
    def local_address(self) -> Address:
        assert self._transport is not None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        log_datagram(log, "recv", addr, data)
        handler = self.routes.get(addr[:2])
        if handler is not None:
            handler(data)
        elif self.listener is not None:
            self.listener(data, addr[:2])
        else:
            log.debug("dropped a datagram from %s:%d, no session expects it", *addr[:2])

    def error_received(self, exc: Exception) -> None:
        log.debug("socket error (ignored, the session will time out): %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed.done():
            self._closed.set_result(None)

    def send(self, data: bytes, addr: Address) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("the UDP endpoint is closed")
        log_datagram(log, "send", addr, data)
        self._transport.sendto(data, addr)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def wait_closed(self) -> None:
        await self._closed

    # -- sharing ------------------------------------------------------------------------

    def acquire(self) -> UdpEndpoint:
        self._users += 1
        return self

    def release(self) -> None:
        """Drop one user; a shared endpoint closes when its last user leaves."""
        self._users -= 1
        if self._users <= 0:
            _SHARED.pop(asyncio.get_running_loop(), None)
            self.close()


# The pending or finished creation of each loop's shared endpoint: devices started together with
# asyncio.gather all await the same creation instead of each opening a socket of its own.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[UdpEndpoint]] = (
    weakref.WeakKeyDictionary())


async def shared_endpoint() -> UdpEndpoint:
    """The running loop's shared client endpoint, opened on first use; call ``release`` after."""
    loop = asyncio.get_running_loop()
    creation = _SHARED.get(loop)
    if creation is None or _unusable(creation):
        creation = loop.create_task(UdpEndpoint.open())
        _SHARED[loop] = creation
    endpoint = await asyncio.shield(creation)
    return endpoint.acquire()


def _unusable(creation: asyncio.Task[UdpEndpoint]) -> bool:
    if not creation.done():
        return False
    if creation.cancelled() or creation.exception() is not None:
        return True
    transport = creation.result()._transport
    return transport is None or transport.is_closing()


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
    """An IPv4 address for ``host`` (miIO is IPv4 only); names are looked up once."""
    try:
        socket.inet_aton(host)
        return host, port
    except OSError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise UnreachableError(f"cannot resolve {host!r}: {exc.strerror}") from None
    address = infos[0][4]
    return str(address[0]), int(address[1])
