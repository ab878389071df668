"""Finding devices: broadcast hellos, one address, an address range, and mDNS.

Every mode is a bounded exchange of hellos over one UDP endpoint: a fixed number of sends in a
fixed window, replies de-duplicated by device id and yielded as they arrive.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from pymiio.address import check_ipv4
from pymiio.errors import AddressError, MiioError, ProtocolError, UnreachableError, UsageError
from pymiio.lan.transport import Address, UdpEndpoint, exchange_endpoint
from pymiio.lan.waiting import wake
from pymiio.protocol.packet import HELLO, PORT, DeviceIdHalves, parse_packet
from pymiio.protocol.token import Token

LIMITED_BROADCAST = "255.255.255.255"
MAX_RANGE = 65536
MDNS_SERVICE = "_miio._udp.local."
_MDNS_NAME = re.compile(r"^(?P<model>[A-Za-z0-9-]+)_miio(?P<did>\d+)\.")


@dataclass(frozen=True, slots=True)
class DiscoveredDevice(DeviceIdHalves):
    """One device that answered: where it is, who it is, and its token when it reveals it."""

    ip: str
    device_id: int
    stamp: int | None = None
    token: Token | None = None
    model: str | None = None
    sources: tuple[str, ...] = field(default=("hello",))

    def as_dict(self, show_token: bool = True) -> dict[str, Any]:
        """Plain data with stable keys (the CLI's ``--json``)."""
        token = None if self.token is None else (self.token.hex if show_token
                                                 else self.token.masked)
        return {"ip": self.ip, "device_id": self.device_id,
                "device_type": self.type_hex, "serial": self.serial_hex,
                "stamp": self.stamp, "token": token,
                "model": self.model, "sources": list(self.sources)}


def hello_target(bind: str | None = None, broadcast: str | None = None) -> str:
    """Where a broadcast hello goes: the explicit address, else the bind address's subnet
    broadcast (127.0.0.1 gives 127.255.255.255), else 255.255.255.255."""
    if broadcast:
        return check_ipv4(broadcast, "broadcast address")
    if bind:
        return subnet_broadcast(bind)
    return LIMITED_BROADCAST


def subnet_broadcast(address: str) -> str:
    """The directed broadcast of the interface that owns ``address`` (found with ifaddr)."""
    import ifaddr

    check_ipv4(address, "bind address")
    for adapter in ifaddr.get_adapters():
        for entry in adapter.ips:
            if isinstance(entry.ip, str) and entry.ip == address:
                network = ipaddress.IPv4Network(f"{entry.ip}/{entry.network_prefix}",
                                                strict=False)
                return str(network.broadcast_address)
    raise AddressError(f"no local interface has the address {address} (check --bind)")


def _parse_hello(data: bytes, ip: str) -> DiscoveredDevice | None:
    try:
        packet = parse_packet(data)
    except ProtocolError:
        return None
    if not packet.is_hello or packet.is_hello_request:
        return None
    return DiscoveredDevice(ip, packet.device_id, packet.stamp, packet.revealed_token)


async def discover(*, bind: str | None = None, broadcast: str | None = None,
                   address: str | None = None, network: str | None = None,
                   mdns: bool = False, timeout: float = 3.0, repeats: int = 3,
                   port: int = PORT, concurrency: int = 256,
                   progress: Callable[[int, int], None] | None = None,
                   ) -> AsyncIterator[DiscoveredDevice]:
    """Yield devices as they answer; one mode per call:

    - ``address``: unicast hellos to one host; yields it or raises UnreachableError;
    - ``network`` (CIDR): unicast hellos to every host, ``concurrency`` at a time;
      ``progress(sent, total)`` is called as the first round goes out;
    - ``mdns``: browse ``_miio._udp.local.`` (on ``bind``'s interface only, when given) and
      handshake each device found;
    - otherwise: broadcast hellos to :func:`hello_target` (``bind`` / ``broadcast``).

    Hellos are sent by this generator itself between answers, so a caller that stops
    iterating stops the sending too.
    """
    _check_window(timeout)
    if address is not None:
        yield await discover_one(address, timeout=timeout, port=port, bind=bind)
        return
    if mdns:
        async for device in _discover_mdns(timeout=timeout, port=port, bind=bind):
            yield device
        return
    if network is not None:
        schedule = HelloSchedule(_network_hosts(network), port, timeout, repeats, concurrency,
                                 progress=progress)
        endpoint = await open_endpoint(bind)
    else:
        schedule = HelloSchedule([hello_target(bind, broadcast)], port, timeout, repeats, 1,
                                 strict=True)
        endpoint = await open_endpoint(bind, broadcast=True)
    try:
        async with aclosing(_collect(endpoint, schedule, timeout)) as answers:
            async for device in answers:
                yield device
    finally:
        endpoint.close()


async def discover_all(**options: Any) -> list[DiscoveredDevice]:
    """Every device :func:`discover` finds with these options, once the window closes."""
    return [device async for device in discover(**options)]


async def discover_one(address: str, *, timeout: float = 3.0, port: int = PORT,
                       bind: str | None = None) -> DiscoveredDevice:
    """Hello one address; return as soon as it answers, UnreachableError after ``timeout``.

    Without ``bind`` it borrows the loop's shared endpoint (the one ``AsyncDevice`` uses) when
    that is open, else uses a small socket of its own for the one exchange: no task, no
    listener and no receive buffer sized for a fleet."""
    check_ipv4(address)
    _check_window(timeout)
    if bind is not None:
        endpoint = await open_endpoint(bind)
        schedule = HelloSchedule([address], port, timeout, 5, 1, strict=True)
        try:
            async with aclosing(_collect(endpoint, schedule, timeout, first_only=True)) as found:
                async for device in found:
                    return device
        finally:
            endpoint.close()
        raise UnreachableError(f"{address} did not answer the hello within {timeout:g} s")
    return await _hello_unicast(address, port, timeout)


async def _hello_unicast(address: str, port: int, timeout: float) -> DiscoveredDevice:
    """Hello ``address`` until it answers or ``timeout`` passes: one future and one timer, the
    timer's callback sending each repeat, so the caller's task wakes only for the answer."""
    loop = asyncio.get_running_loop()
    endpoint = exchange_endpoint()
    route = (address, port)
    answer: asyncio.Future[DiscoveredDevice | None] = loop.create_future()
    deadline = loop.time() + timeout
    interval = min(0.5, timeout / 10)
    timer: asyncio.TimerHandle | None = None

    def on_datagram(data: bytes) -> None:
        if not answer.done() and (device := _parse_hello(data, address)) is not None:
            answer.set_result(device)

    def send_hello() -> None:
        nonlocal timer
        now = loop.time()
        if answer.done():
            return
        if now >= deadline:
            answer.set_result(None)
            return
        try:
            endpoint.send(HELLO, route)
        except OSError as exc:
            answer.set_exception(UnreachableError(f"cannot send a hello to {address}: "
                                                  f"{exc.strerror or exc}"))
            return
        except MiioError as exc:  # the endpoint was closed under us: end, never hang
            answer.set_exception(exc)
            return
        timer = loop.call_at(min(now + interval, deadline), send_hello)

    endpoint.add_route(route, on_datagram)
    endpoint.awaiting += 1  # one reply: the endpoint reads no further (see transport)
    try:
        send_hello()
        found = await answer
    finally:
        endpoint.awaiting -= 1
        if timer is not None:
            timer.cancel()
        endpoint.remove_route(route, on_datagram)
        endpoint.release()
    if found is None:
        raise UnreachableError(f"{address} did not answer the hello within {timeout:g} s")
    return found


async def open_endpoint(bind: str | None, *, broadcast: bool = False) -> UdpEndpoint:
    """A discovery socket on ``bind`` (any address when None); a bind address this host does
    not have is an AddressError, not a traceback."""
    local = check_ipv4(bind, "bind address") if bind else "0.0.0.0"
    try:
        return await UdpEndpoint.open((local, 0), broadcast=broadcast)
    except OSError as exc:
        raise AddressError(f"cannot send from {local}: {exc.strerror or exc} "
                           "(is it an address of this host?)") from None


def _check_window(timeout: float) -> None:
    if not 0 < timeout <= 3600:  # also refuses NaN
        raise UsageError(f"the discovery window must be between 0 and 3600 s, not {timeout}")


def _network_hosts(network: str) -> list[str]:
    try:
        net = ipaddress.IPv4Network(network, strict=False)
    except ValueError:
        raise AddressError(f"not an IPv4 network: {network!r} (use a form like 192.168.1.0/24)"
                           ) from None
    if net.num_addresses > MAX_RANGE:
        raise AddressError(f"{network} has {net.num_addresses} addresses; scan at most /16")
    return [str(host) for host in (net.hosts() if net.prefixlen < 31 else net)]


class HelloSchedule:
    """When each hello goes out: ``repeats`` rounds spread over the first half of the window,
    at most ``concurrency`` hellos between 10 ms pauses, answered hosts skipped. Sending is
    bounded by construction: at most ``repeats × len(targets)`` datagrams."""

    def __init__(self, targets: list[str], port: int, timeout: float, repeats: int,
                 concurrency: int, *, strict: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.targets = targets
        self.port = port
        self.rounds = max(repeats, 1)
        self.interval = min(0.5, timeout / (2 * self.rounds))
        self.chunk = max(concurrency, 1)
        self.strict = strict  # a single target: a refused send ends discovery at once
        self.progress = progress
        self.answered: set[str] = set()
        self._round = 0
        self._position = 0
        self._due = 0.0

    def send_due(self, endpoint: UdpEndpoint, now: float) -> float | None:
        """Send what is due by ``now``; the time of the next sending, None when done."""
        while self._round < self.rounds and self._due <= now:
            self._send_chunk(endpoint)
            if self._position >= len(self.targets):
                self._round, self._position = self._round + 1, 0
                self._due = now + self.interval
            else:
                self._due = now + 0.01
        return self._due if self._round < self.rounds else None

    def _send_chunk(self, endpoint: UdpEndpoint) -> None:
        end = min(self._position + self.chunk, len(self.targets))
        for host in self.targets[self._position:end]:
            if host in self.answered:
                continue
            try:
                endpoint.send(HELLO, (host, self.port))
            except OSError as exc:
                if self.strict:
                    raise UnreachableError(f"cannot send a hello to {host}: "
                                           f"{exc.strerror or exc}") from None
        self._position = end
        if self.progress is not None and self._round == 0:
            self.progress(end, len(self.targets))


async def _collect(endpoint: UdpEndpoint, schedule: HelloSchedule, timeout: float,
                   first_only: bool = False) -> AsyncGenerator[DiscoveredDevice, None]:
    """Send hellos as ``schedule`` says until ``timeout``; yield each new device as it answers."""
    loop = asyncio.get_running_loop()
    pending: deque[DiscoveredDevice] = deque()
    seen: set[int] = set()
    sleeping: list[asyncio.Future[None] | None] = [None]

    def on_datagram(data: bytes, source: Address) -> None:
        device = _parse_hello(data, source[0])
        if device is None or device.device_id in seen:
            return
        seen.add(device.device_id)
        schedule.answered.add(source[0])
        pending.append(device)
        if sleeping[0] is not None:
            wake(sleeping[0])

    endpoint.listener = on_datagram
    deadline = loop.time() + timeout
    try:
        while True:
            if pending:
                yield pending.popleft()
                if first_only:
                    return
                continue
            now = loop.time()
            if now >= deadline:
                return
            due = schedule.send_due(endpoint, now)
            if pending:
                continue
            waiter = sleeping[0] = loop.create_future()
            timer = loop.call_at(deadline if due is None else min(due, deadline),
                                 wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                sleeping[0] = None
    finally:
        endpoint.listener = None


# -- mDNS ---------------------------------------------------------------------------------

def parse_mdns_name(name: str) -> tuple[str, int] | None:
    """``zhimi-airpurifier-m1_miio12345678._miio._udp.local.`` -> (model, device id)."""
    match = _MDNS_NAME.match(name)
    if match is None:
        return None
    return match.group("model").replace("-", "."), int(match.group("did"))


async def _discover_mdns(timeout: float, port: int,
                         bind: str | None = None) -> AsyncIterator[DiscoveredDevice]:
    """Browse for miIO services, then confirm each with a unicast hello (stamp, token).

    With ``bind``, zeroconf uses only that address's interface, so queries never leave on
    the host's other networks."""
    from zeroconf import InterfaceChoice, ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    found: asyncio.Queue[DiscoveredDevice] = asyncio.Queue()
    names: set[str] = set()
    azc = AsyncZeroconf(interfaces=[check_ipv4(bind, "bind address")] if bind else
                        InterfaceChoice.All)

    async def resolve(name: str) -> None:
        info = AsyncServiceInfo(MDNS_SERVICE, name)
        if not await info.async_request(azc.zeroconf, 1500):
            return
        parsed = parse_mdns_name(name)
        addresses = info.parsed_addresses()
        if parsed is None or not addresses:
            return
        model, did = parsed
        device = DiscoveredDevice(addresses[0], did, model=model, sources=("mdns",))
        try:
            hello = await discover_one(device.ip, timeout=min(timeout, 1.5), port=port,
                                       bind=bind)
            device = replace(hello, model=model, sources=("mdns", "hello"))
        except MiioError:
            pass
        found.put_nowait(device)

    tasks: set[asyncio.Task[None]] = set()

    def on_change(zeroconf: Any, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added and name not in names:
            names.add(name)
            task = asyncio.ensure_future(resolve(name))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    handlers: list[Callable[..., None]] = [on_change]
    browser = AsyncServiceBrowser(azc.zeroconf, MDNS_SERVICE, handlers=handlers)
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                yield await asyncio.wait_for(found.get(), left)
            except TimeoutError:
                break
    finally:
        await browser.async_cancel()
        for task in tasks:
            task.cancel()
        await azc.async_close()
