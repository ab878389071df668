"""Discovery on loopback: broadcast to 127.255.255.255, single addresses and range scans."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from pymiio import AddressError, AsyncDevice, MiioError, Token, UnreachableError
from pymiio.errors import UsageError
from pymiio.lan.discovery import discover, discover_all, discover_one, hello_target, parse_mdns_name
from pymiio.simulator import Faults, Simulator, make_devices
from pymiio.simulator.mdns import service_name

from .addresses import NET
from .conftest import TOKEN
from .helpers import open_udp_sockets


def test_where_the_hello_goes() -> None:
    assert hello_target(broadcast="127.255.255.255") == "127.255.255.255"
    assert hello_target(bind="127.0.0.1") == "127.255.255.255"
    assert hello_target() == "255.255.255.255"
    with pytest.raises(AddressError, match="no local interface"):
        hello_target(bind="127.0.0.77")  # loopback /8 is owned by 127.0.0.1 only
    with pytest.raises(AddressError, match="not an IPv4 broadcast address"):
        hello_target(broadcast="nowhere")
    with pytest.raises(AddressError, match="not an IPv4 bind address"):
        hello_target(bind="10.0.0")


async def test_broadcast_finds_every_device_and_tells_revealed_from_hidden() -> None:
    hidden = make_devices(f"{NET}.40.1", 3, token=TOKEN)
    revealing = make_devices(f"{NET}.41.1", 2, token=TOKEN, unprovisioned=True)
    async with Simulator(hidden + revealing):
        found = await discover_all(bind="127.0.0.1", timeout=1.0)
    by_ip = {d.ip: d for d in found}
    assert set(by_ip) >= {d.host for d in hidden + revealing}
    assert len(found) == len({d.device_id for d in found})  # de-duplicated by device id
    for device in hidden:
        assert by_ip[device.host].token is None
        assert by_ip[device.host].device_id == device.device_id
    for device in revealing:
        assert by_ip[device.host].token == Token(TOKEN)


async def test_broadcast_yields_devices_as_they_answer() -> None:
    """A 60 s window, yet the first device arrives well inside the 10 s bound: discovery
    yields each answer as it comes instead of waiting for the window to close."""
    async with Simulator(make_devices(f"{NET}.42.1", 2, token=TOKEN)):
        answers = discover(broadcast="127.255.255.255", timeout=60)

        async def first_of_ours() -> object:
            async for device in answers:  # another test run's devices may answer too
                if device.ip.startswith(f"{NET}.42."):
                    return device
            return None

        first = await asyncio.wait_for(first_of_ours(), 10)
        await answers.aclose()
    assert first is not None


async def test_one_address_returns_at_once_or_times_out_clearly() -> None:
    devices = make_devices(f"{NET}.43.1", token=TOKEN)
    async with Simulator(devices):
        device = await asyncio.wait_for(discover_one(f"{NET}.43.1", timeout=60), 10)
        assert (device.device_id, device.device_type, device.serial) == (
            devices[0].device_id, devices[0].device_id >> 16, devices[0].device_id & 0xFFFF)
        assert device.stamp is not None and device.token is None
    with pytest.raises(UnreachableError, match=rf"{NET}\.43\.2 did not answer"):
        await discover_one(f"{NET}.43.2", timeout=0.4)


async def _sockets_during(call: asyncio.Task[object]) -> int:
    """The most UDP sockets this process had open while ``call`` ran."""
    most = open_udp_sockets()
    while not call.done():
        most = max(most, open_udp_sockets())
        await asyncio.sleep(0)
    await call
    return most


async def test_one_address_costs_one_short_lived_socket_or_none() -> None:
    """Issue 19: a lone discover_one opens one small socket and closes it; with a device open
    it borrows that device's endpoint and opens none. Replies are delayed so the call is
    in flight long enough to be watched."""
    async with Simulator(make_devices(f"{NET}.47.1", 2, token=TOKEN), faults=Faults(delay=0.1)):
        before = open_udp_sockets()
        alone = asyncio.create_task(discover_one(f"{NET}.47.1", timeout=5))
        assert await _sockets_during(alone) == before + 1
        assert open_udp_sockets() == before
        async with AsyncDevice(f"{NET}.47.2", TOKEN) as device:
            await device.handshake()
            held = open_udp_sockets()
            borrowing = asyncio.create_task(discover_one(f"{NET}.47.1", timeout=5))
            assert await _sockets_during(borrowing) == held
        assert open_udp_sockets() == before


async def test_one_address_ends_when_its_endpoint_is_closed_under_it() -> None:
    """A hello whose socket is closed by someone else ends with ClosedError at the next
    repeat; it never waits out its window (or forever)."""
    from pymiio.errors import ClosedError
    from pymiio.lan.transport import shared_endpoint

    held = shared_endpoint()
    call = asyncio.create_task(discover_one(f"{NET}.47.9", timeout=30))  # nobody answers
    await asyncio.sleep(0)
    held.close()
    with pytest.raises(ClosedError):
        await asyncio.wait_for(call, 10)
    held.release()


async def test_discovery_leaves_no_sender_running() -> None:
    """Item 13.10: nothing keeps sending hellos once a caller has its answer or stops."""
    devices = make_devices(f"{NET}.45.1", 3, token=TOKEN)
    async with Simulator(devices):
        mine = asyncio.current_task()
        await discover_one(f"{NET}.45.1", timeout=30)
        assert asyncio.all_tasks() == {mine}
        async for _ in discover(network=f"{NET}.45.0/29", timeout=30):
            break  # a caller that stops early
        assert asyncio.all_tasks() == {mine}
        hellos = sum(d.stats.hellos for d in devices)
        for _ in range(20):
            await asyncio.sleep(0)
        assert sum(d.stats.hellos for d in devices) == hellos


async def test_bind_to_an_address_this_host_lacks_is_a_clear_error() -> None:
    with pytest.raises(AddressError, match="cannot send from 10.1.2.3"):
        await discover_one("127.0.0.1", bind="10.1.2.3", timeout=0.2)
    with pytest.raises(AddressError, match="not an IPv4 bind address"):
        await discover_all(network=f"{NET}.46.0/30", bind="notanip", timeout=0.2)
    with pytest.raises(UsageError, match="between 0 and 3600"):
        await discover_one("127.0.0.1", timeout=float("nan"))
    with pytest.raises(AddressError, match="not a valid IPv4|not an IPv4"):
        await discover_one("10.0.0", timeout=0.2)


async def test_range_scan_finds_devices_without_broadcast() -> None:
    devices = make_devices(f"{NET}.44.10", 5, token=TOKEN, unprovisioned=True)
    async with Simulator(devices, broadcast=False):
        found = await discover_all(network=f"{NET}.44.0/24", timeout=1.5, concurrency=64)
    assert sorted(d.ip for d in found) == [d.host for d in devices]
    assert all(d.token == Token(TOKEN) for d in found)


async def test_bad_ranges_are_clear_errors() -> None:
    with pytest.raises(AddressError, match="not an IPv4 network"):
        await discover_all(network="banana")
    with pytest.raises(MiioError, match="at most /16"):
        await discover_all(network="127.0.0.0/8")


def test_mdns_names() -> None:
    assert parse_mdns_name("zhimi-airpurifier-m1_miio12345678._miio._udp.local.") == (
        "zhimi.airpurifier.m1", 12345678)
    assert parse_mdns_name("printer._ipp._tcp.local.") is None
    assert parse_mdns_name(service_name("zhimi.airpurifier.ma4", 42)) == (
        "zhimi.airpurifier.ma4", 42)


class _RecordingZeroconf:
    """Stands in for AsyncZeroconf and records which interfaces it was asked to use."""

    seen: ClassVar[list[object]] = []

    def __init__(self, interfaces: object = None, **kwargs: object) -> None:
        _RecordingZeroconf.seen.append(interfaces)
        raise RuntimeError("recorded")


async def test_mdns_stays_on_the_bound_interface(monkeypatch: pytest.MonkeyPatch) -> None:  # 13.24
    import zeroconf.asyncio

    from pymiio.simulator.mdns import announce

    monkeypatch.setattr(zeroconf.asyncio, "AsyncZeroconf", _RecordingZeroconf)
    _RecordingZeroconf.seen.clear()
    with pytest.raises(RuntimeError, match="recorded"):
        await discover_all(mdns=True, bind="127.0.0.1", timeout=0.2)
    with pytest.raises(RuntimeError, match="recorded"):
        await announce(Simulator(make_devices(f"{NET}.47.1", 2, token=TOKEN)))
    assert _RecordingZeroconf.seen == [["127.0.0.1"], [f"{NET}.47.1", f"{NET}.47.2"]]


async def test_range_scans_report_progress() -> None:  # 13.22
    seen: list[tuple[int, int]] = []
    async with Simulator(make_devices(f"{NET}.48.1", token=TOKEN), broadcast=False):
        found = await discover_all(network=f"{NET}.48.0/24", timeout=1.0, concurrency=100,
                                   progress=lambda sent, total: seen.append((sent, total)))
    assert [d.ip for d in found] == [f"{NET}.48.1"]
    assert seen == [(100, 254), (200, 254), (254, 254)]
