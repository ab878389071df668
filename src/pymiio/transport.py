"""The asyncio UDP layer: one socket that many device sessions share.

Datagrams are routed to a session by their source address; whatever comes from an address no
session owns goes to an optional listener (discovery) or is dropped with a debug line. A fleet
of a thousand devices therefore costs one file descriptor, not a thousand.

The endpoint registers its non-blocking socket with the event loop directly and drains every
queued datagram on each wake-up (asyncio's datagram transport reads one per wake-up), which is
what keeps a fleet poll close to a plain socket loop. UDP sends never wait: a datagram the
kernel refuses is dropped and logged, and the session's retry covers it as it covers loss.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from pymiio.errors import UnreachableError
from pymiio.protocol.dump import log_datagram

log = logging.getLogger("pymiio.transport")

Address = tuple[str, int]
Handler = Callable[[bytes], None]
Listener = Callable[[bytes, Address], None]

_RECV_BUFFER = 4 * 1024 * 1024
_DRAIN_LIMIT = 512  # datagrams per wake-up, so one busy socket cannot starve the loop


class UdpEndpoint:
    """An open UDP socket with a routing table from source address to handler."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.routes: dict[Address, Handler] = {}
        self.listener: Listener | None = None
        self._sock: socket.socket | None = sock
        self._loop = loop
        self._users = 0
        loop.add_reader(sock.fileno(), self._drain)

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
        return cls(sock, asyncio.get_running_loop())

    @property
    def is_closed(self) -> bool:
        return self._sock is None

    @property
    def local_address(self) -> Address:
        if self._sock is None:
            raise ConnectionError("the UDP endpoint is closed")
        host, port = self._sock.getsockname()[:2]
        return host, port

    def _drain(self) -> None:
        sock = self._sock
        for _ in range(_DRAIN_LIMIT):
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
            handler(data)
        elif self.listener is not None:
            self.listener(data, addr[:2])
        else:
            log.debug("dropped a datagram from %s:%d, no session expects it", *addr[:2])

    def send(self, data: bytes, addr: Address) -> None:
        if self._sock is None:
            raise ConnectionError("the UDP endpoint is closed")
        log_datagram(log, "send", addr, data)
        try:
            self._sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            log.debug("send buffer full: dropped a datagram to %s:%d", *addr)
        except PermissionError:
            raise
        except OSError as exc:
            log.debug("could not send to %s:%d (the session will time out): %s",
                      addr[0], addr[1], exc)

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
            if _SHARED is not None and _SHARED[0] is self._loop:
                _SHARED = None
            self.close()


# The running loop's shared endpoint, as a pending or finished creation: devices started
# together with asyncio.gather all await the same creation instead of each opening a socket.
_SHARED: tuple[asyncio.AbstractEventLoop, asyncio.Task[UdpEndpoint]] | None = None


async def shared_endpoint() -> UdpEndpoint:
    """The running loop's shared client endpoint, opened on first use; call ``release`` after."""
    global _SHARED
    loop = asyncio.get_running_loop()
    creation = _SHARED[1] if _SHARED is not None and _SHARED[0] is loop else None
    if creation is None or _unusable(creation):
        creation = loop.create_task(UdpEndpoint.open())
        _SHARED = (loop, creation)
    endpoint = creation.result() if creation.done() else await asyncio.shield(creation)
    return endpoint.acquire()


def _unusable(creation: asyncio.Task[UdpEndpoint]) -> bool:
    if not creation.done():
        return False
    if creation.cancelled() or creation.exception() is not None:
        return True
    return creation.result().is_closed


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
