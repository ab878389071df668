"""Finding devices: broadcast hellos, one address, an address range, and mDNS.

Every mode is a bounded exchange of hellos over one UDP endpoint: a fixed number of sends in a
fixed window, replies de-duplicated by device id and yielded as they arrive.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pymiio.errors import MiioError, ProtocolError, UnreachableError
from pymiio.protocol.packet import HELLO, PORT, DeviceIdHalves, parse_packet
from pymiio.protocol.token import Token
from pymiio.transport import Address, UdpEndpoint

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
        return {"ip": self.ip, "device_id": self.device_id, "device_type": self.device_type,
                "serial": self.serial, "stamp": self.stamp, "token": token,
                "model": self.model, "sources": list(self.sources)}


def hello_target(bind: str | None = None, broadcast: str | None = None) -> str:
    """Where a broadcast hello goes: the explicit address, else the bind address's subnet
    broadcast (127.0.0.1 gives 127.255.255.255), else 255.255.255.255."""
    if broadcast:
        _ipv4(broadcast)
        return broadcast
    if bind:
        return subnet_broadcast(bind)
    return LIMITED_BROADCAST


def subnet_broadcast(address: str) -> str:
    """The directed broadcast of the interface that owns ``address`` (found with ifaddr)."""
    import ifaddr

    ip = _ipv4(address)
    for adapter in ifaddr.get_adapters():
        for entry in adapter.ips:
            if isinstance(entry.ip, str) and entry.ip == str(ip):
                network = ipaddress.IPv4Network(f"{entry.ip}/{entry.network_prefix}",
                                                strict=False)
                return str(network.broadcast_address)
    raise UnreachableError(f"no local interface has the address {address} (check --bind)")


def _ipv4(text: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise MiioError(f"not an IPv4 address: {text!r}") from None


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
                   port: int = PORT, concurrency: int = 256) -> AsyncIterator[DiscoveredDevice]:
    """Yield devices as they answer; one mode per call:

    - ``address``: unicast hellos to one host; yields it or raises UnreachableError;
    - ``network`` (CIDR): unicast hellos to every host, ``concurrency`` at a time;
    - ``mdns``: browse ``_miio._udp.local.`` and handshake each device found;
    - otherwise: broadcast hellos to :func:`hello_target` (``bind`` / ``broadcast``).
    """
    if address is not None:
        yield await discover_one(address, timeout=timeout, port=port, bind=bind)
        return
    if mdns:
        async for device in _discover_mdns(timeout=timeout, port=port):
            yield device
        return
    if network is not None:
        targets = _network_hosts(network)
        endpoint = await UdpEndpoint.open((bind or "0.0.0.0", 0))
    else:
        targets = [hello_target(bind, broadcast)]
        endpoint = await UdpEndpoint.open((bind or "0.0.0.0", 0), broadcast=True)
    try:
        async for device in _collect(endpoint, targets, port, timeout, repeats, concurrency):
            yield device
    finally:
        endpoint.close()


async def discover_all(**options: Any) -> list[DiscoveredDevice]:
    """Every device :func:`discover` finds with these options, once the window closes."""
    return [device async for device in discover(**options)]


async def discover_one(address: str, *, timeout: float = 3.0, port: int = PORT,
                       bind: str | None = None) -> DiscoveredDevice:
    """Hello one address; return as soon as it answers, UnreachableError after ``timeout``."""
    _ipv4(address)
    endpoint = await UdpEndpoint.open((bind or "0.0.0.0", 0))
    try:
        async for device in _collect(endpoint, [address], port, timeout, 5, 1, first_only=True):
            return device
    finally:
        endpoint.close()
    raise UnreachableError(f"{address} did not answer the hello within {timeout:g} s")


def _network_hosts(network: str) -> list[str]:
    try:
        net = ipaddress.IPv4Network(network, strict=False)
    except ValueError:
        raise MiioError(f"not an IPv4 network: {network!r} (use a form like 192.168.1.0/24)"
                        ) from None
    if net.num_addresses > MAX_RANGE:
        raise MiioError(f"{network} has {net.num_addresses} addresses; scan at most /16")
    hosts = [str(host) for host in (net.hosts() if net.prefixlen < 31 else net)]
    return hosts


async def _collect(endpoint: UdpEndpoint, targets: list[str], port: int, timeout: float,
                   repeats: int, concurrency: int,
                   first_only: bool = False) -> AsyncIterator[DiscoveredDevice]:
    """Send hellos to ``targets`` in up to ``repeats`` rounds over ``timeout``; yield answers."""
    queue: asyncio.Queue[DiscoveredDevice] = asyncio.Queue()
    seen: set[int] = set()
    answered: set[str] = set()

    def on_datagram(data: bytes, source: Address) -> None:
        device = _parse_hello(data, source[0])
        if device is not None and device.device_id not in seen:
            seen.add(device.device_id)
            answered.add(source[0])
            queue.put_nowait(device)

    endpoint.listener = on_datagram
    sender = asyncio.create_task(_send_rounds(
        endpoint, targets, port, timeout, repeats, concurrency, answered))
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                device = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                break
            yield device
            if first_only:
                break
    finally:
        sender.cancel()
        endpoint.listener = None


async def _send_rounds(endpoint: UdpEndpoint, targets: list[str], port: int, timeout: float,
                       repeats: int, concurrency: int, answered: set[str]) -> None:
    """``repeats`` rounds spread over the first half of the window; answered hosts are skipped
    (for unicast) and at most ``concurrency`` hellos go out between pauses."""
    interval = min(0.5, timeout / (2 * max(repeats, 1)))
    for _ in range(max(repeats, 1)):
        for index, host in enumerate(targets):
            if host in answered:
                continue
            try:
                endpoint.send(HELLO, (host, port))
            except OSError:
                continue
            if (index + 1) % max(concurrency, 1) == 0:
                await asyncio.sleep(0.01)
        await asyncio.sleep(interval)


# -- mDNS ---------------------------------------------------------------------------------

def parse_mdns_name(name: str) -> tuple[str, int] | None:
    """``zhimi-airpurifier-m1_miio12345678._miio._udp.local.`` -> (model, device id)."""
    match = _MDNS_NAME.match(name)
    if match is None:
        return None
    return match.group("model").replace("-", "."), int(match.group("did"))


async def _discover_mdns(timeout: float, port: int) -> AsyncIterator[DiscoveredDevice]:
    """Browse for miIO services, then confirm each with a unicast hello (stamp, token)."""
    from zeroconf import ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    found: asyncio.Queue[DiscoveredDevice] = asyncio.Queue()
    names: set[str] = set()
    azc = AsyncZeroconf()

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
            hello = await discover_one(device.ip, timeout=min(timeout, 1.5), port=port)
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
