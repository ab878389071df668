"""The simulator's network side: one UDP socket per device plus the broadcast listener.

Each device owns ``host:port`` so that clients (and peers that hard-code port 54321) see real
source addresses. Broadcast hellos arrive on a listener bound to the broadcast address (with
SO_REUSEADDR, so several simulator processes can share it) and are answered from each
device's own socket, as real devices answer from their own address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from pymiio.errors import SimulatorError
from pymiio.protocol.packet import PORT
from pymiio.protocol.token import Token
from pymiio.simulator.device import SimulatedDevice
from pymiio.simulator.faults import Faults
from pymiio.simulator.profiles import Profile, profile_for

log = logging.getLogger("pymiio.simulator")

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
LOOPBACK_BROADCAST = "127.255.255.255"


def device_addresses(first: str, count: int) -> list[str]:
    """``count`` consecutive IPv4 addresses from ``first``, skipping .0 and .255 endings."""
    try:
        address = ipaddress.IPv4Address(first)
    except ValueError as exc:
        raise SimulatorError(f"not an IPv4 address: {first!r}") from exc
    out: list[str] = []
    while len(out) < count:
        if address.packed[-1] not in (0, 255):
            out.append(str(address))
        address += 1
    return out


def device_id_for(host: str) -> int:
    """A device id derived from the address, so devices of separate processes never collide."""
    return 0x04000000 | (int(ipaddress.IPv4Address(host)) & 0x00FFFFFF)


def make_devices(host: str, count: int = 1, *, token: str | None = None,
                 profile: str | Profile = "plug", unprovisioned: bool = False,
                 seed: int | None = None, clock_start: float = 0.0) -> list[SimulatedDevice]:
    """Devices on consecutive addresses; without ``token`` each gets its own random one."""
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    devices = []
    for index, address in enumerate(device_addresses(host, count)):
        base = profile.clone() if isinstance(profile, Profile) else profile_for(profile)
        devices.append(SimulatedDevice(
            host=address, device_id=device_id_for(address),
            token=Token(token) if token else Token(rng.randbytes(16)),
            profile=base, provisioned=not unprovisioned, clock_start=clock_start,
            boot_uptime=1000 + 37 * index))
    return devices


class _Endpoint:
    """One bound socket registered with the loop: a device's own, or a broadcast listener
    (``device`` None). Each wake-up reads one datagram and answers it with plain ``sendto``
    calls: no asyncio transport and no task. (Reading until the socket is empty costs a
    failed read per wake-up; the loop calls again while datagrams wait, and busy devices
    take turns.)"""

    __slots__ = ("device", "sock")

    def __init__(self, sock: socket.socket, device: SimulatedDevice | None) -> None:
        self.sock = sock
        self.device = device

    def send(self, data: bytes, client: tuple[str, int]) -> None:
        """Send one datagram; one the kernel cannot take now is lost, as on a real network."""
        try:
            self.sock.sendto(data, client)
        except OSError as exc:  # a full buffer, or the client's address went away
            log.debug("a reply to %s:%d was not sent: %s", *client, exc)


class Simulator:
    """Serve ``devices`` until stopped. ``async with Simulator(devices) as sim: ...``."""

    def __init__(self, devices: Iterable[SimulatedDevice], *, port: int = PORT,
                 faults: Faults | None = None, broadcast: bool = True,
                 allow_non_loopback: bool = False) -> None:
        self.devices = list(devices)
        self.port = port
        self.faults = faults or Faults()
        self.broadcast = broadcast
        self.allow_non_loopback = allow_non_loopback
        self._endpoints: list[_Endpoint] = []
        self._listeners: list[_Endpoint] = []
        self._endpoint_of: dict[int, _Endpoint] = {}  # id(device) -> its endpoint
        self._pending: set[asyncio.TimerHandle] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._faulty = self.faults.active  # read once: faults are fixed when serving starts
        if self.faults.quirk is not None:
            for device in self.devices:
                device.quirk = self.faults.apply_quirk
        self._check_addresses()

    def _check_addresses(self) -> None:
        if self.allow_non_loopback:
            return
        for device in self.devices:
            if ipaddress.IPv4Address(device.host) not in LOOPBACK:
                raise SimulatorError(
                    f"refusing to serve {device.host}: outside 127.0.0.0/8 "
                    "(use --allow-non-loopback only inside a test network namespace)")

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        _raise_file_limit(len(self.devices) + 64)
        self._loop = loop = asyncio.get_running_loop()
        clock = loop.time()
        try:
            for device in self.devices:
                device.clock_start = clock
                endpoint = self._bind(device.host, device)
                self._endpoints.append(endpoint)
                self._endpoint_of[id(device)] = endpoint
            if self.broadcast:
                for address in self._broadcast_addresses():
                    self._listeners.append(self._bind(address, None, reuse=True))
        except BaseException:
            await self.stop()
            raise

    def _bind(self, host: str, device: SimulatedDevice | None,
              reuse: bool = False) -> _Endpoint:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if reuse:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.bind((host, self.port))
        except OSError as exc:
            sock.close()
            raise SimulatorError(f"cannot bind {host}:{self.port}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        endpoint = _Endpoint(sock, device)
        serve = self._serve_device if device is not None else self._serve_listener
        asyncio.get_running_loop().add_reader(sock.fileno(), serve, endpoint)
        return endpoint

    def _broadcast_addresses(self) -> list[str]:
        """127.255.255.255 for loopback devices; the limited and subnet broadcasts otherwise."""
        addresses: set[str] = set()
        for device in self.devices:
            ip = ipaddress.IPv4Address(device.host)
            if ip in LOOPBACK:
                addresses.add(LOOPBACK_BROADCAST)
            else:
                addresses.add("255.255.255.255")
                addresses.update(_subnet_broadcasts(ip))
        return sorted(addresses)

    async def stop(self) -> None:
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        for endpoint in (*self._endpoints, *self._listeners):
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(endpoint.sock.fileno())
            endpoint.sock.close()
        self._endpoints.clear()
        self._listeners.clear()
        self._endpoint_of.clear()
        await asyncio.sleep(0)

    # -- serving ------------------------------------------------------------------------

    def _serve_device(self, endpoint: _Endpoint) -> None:
        """A device's socket is readable: answer one datagram."""
        try:
            data, client = endpoint.sock.recvfrom(65535)
        except OSError:  # nothing after all, or an ICMP error from an earlier send
            return
        self.answer(endpoint, data, client)

    def _serve_listener(self, endpoint: _Endpoint) -> None:
        try:
            data, client = endpoint.sock.recvfrom(65535)
        except OSError:
            return
        self.broadcast_hello(data, client)

    def answer(self, endpoint: _Endpoint, data: bytes, client: tuple[str, int]) -> None:
        device = endpoint.device
        assert device is not None and self._loop is not None
        if not self._faulty:  # no fault hook runs at all
            for reply in device.handle(data, self._loop.time(), client):
                endpoint.send(reply, client)
        elif not self.faults.chance(self.faults.drop):
            for reply in device.handle(data, self._loop.time(), client):
                self._send(endpoint, reply if len(reply) == 32 else
                           self.faults.corrupt_checksum(reply), client)
        if device.outbox:
            self.flush(device)

    def flush(self, device: SimulatedDevice) -> None:
        """Send what the device wants to send on its own (pushes to subscribers)."""
        if not device.outbox:
            return
        endpoint = self._endpoint_of.get(id(device))
        pending, device.outbox = device.outbox, []
        if endpoint is not None:
            for address, packet in pending:
                self._send(endpoint, packet, address)

    def broadcast_hello(self, data: bytes, client: tuple[str, int]) -> None:
        if len(data) != 32:
            return
        for endpoint in self._endpoints:
            self.answer(endpoint, data, client)

    def _send(self, endpoint: _Endpoint, packet: bytes, client: tuple[str, int]) -> None:
        if not self._faulty:
            endpoint.send(packet, client)
            return
        for delay, data in self.faults.schedule(packet):
            if delay <= 0:
                self._sendto(endpoint, data, client)
            else:
                self._send_later(delay, endpoint, data, client)

    def _send_later(self, delay: float, endpoint: _Endpoint, data: bytes,
                    client: tuple[str, int]) -> None:
        holder: list[asyncio.TimerHandle] = []

        def fire() -> None:
            self._pending.discard(holder[0])
            self._sendto(endpoint, data, client)

        holder.append(asyncio.get_running_loop().call_later(delay, fire))
        self._pending.add(holder[0])

    def _sendto(self, endpoint: _Endpoint, data: bytes, client: tuple[str, int]) -> None:
        if endpoint.sock.fileno() >= 0:  # not closed by stop() while a late reply waited
            endpoint.send(data, client)

    def describe(self, *, show_tokens: bool = True) -> list[dict[str, Any]]:
        """The devices as plain data (for ``--json`` and tests)."""
        return [{
            "host": device.host, "port": self.port, "device_id": device.device_id,
            "model": device.profile.model,
            "token": device.token.hex if show_tokens else device.token.masked,
            "provisioned": device.provisioned,
        } for device in self.devices]


def _subnet_broadcasts(ip: ipaddress.IPv4Address) -> set[str]:
    import ifaddr

    found: set[str] = set()
    for adapter in ifaddr.get_adapters():
        for entry in adapter.ips:
            if isinstance(entry.ip, str) and entry.ip == str(ip):
                network = ipaddress.IPv4Network(f"{entry.ip}/{entry.network_prefix}", strict=False)
                found.add(str(network.broadcast_address))
    return found


def _raise_file_limit(wanted: int) -> None:
    """A thousand devices need a thousand sockets: lift the soft limit toward the hard one."""
    try:
        import resource
    except ImportError:  # pragma: no cover
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
