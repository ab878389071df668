"""Discovery on loopback: broadcast to 127.255.255.255, single addresses and range scans."""

from __future__ import annotations

import time

import pytest

from pymiio import MiioError, Token, UnreachableError
from pymiio.discovery import discover, discover_all, discover_one, hello_target, parse_mdns_name
from pymiio.simulator import Simulator, make_devices
from pymiio.simulator.mdns import service_name

from .conftest import TOKEN


def test_where_the_hello_goes() -> None:
    assert hello_target(broadcast="127.255.255.255") == "127.255.255.255"
    assert hello_target(bind="127.0.0.1") == "127.255.255.255"
    assert hello_target() == "255.255.255.255"
    with pytest.raises(UnreachableError, match="no local interface"):
        hello_target(bind="127.0.0.77")  # loopback /8 is owned by 127.0.0.1 only
    with pytest.raises(MiioError, match="not an IPv4 address"):
        hello_target(broadcast="nowhere")


async def test_broadcast_finds_every_device_and_tells_revealed_from_hidden() -> None:
    hidden = make_devices("127.0.40.1", 3, token=TOKEN)
    revealing = make_devices("127.0.41.1", 2, token=TOKEN, unprovisioned=True)
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
    async with Simulator(make_devices("127.0.42.1", 2, token=TOKEN)):
        start = time.monotonic()
        first = None
        async for device in discover(broadcast="127.255.255.255", timeout=1.5):
            first = first or (device, time.monotonic() - start)
        assert first is not None and first[1] < 0.5


async def test_one_address_returns_at_once_or_times_out_clearly() -> None:
    devices = make_devices("127.0.43.1", token=TOKEN)
    async with Simulator(devices):
        start = time.monotonic()
        device = await discover_one("127.0.43.1", timeout=3)
        assert time.monotonic() - start < 0.5
        assert (device.device_id, device.device_type, device.serial) == (
            devices[0].device_id, devices[0].device_id >> 16, devices[0].device_id & 0xFFFF)
        assert device.stamp is not None and device.token is None
    with pytest.raises(UnreachableError, match=r"127\.0\.43\.2 did not answer"):
        await discover_one("127.0.43.2", timeout=0.4)


async def test_range_scan_finds_devices_without_broadcast() -> None:
    devices = make_devices("127.0.44.10", 5, token=TOKEN, unprovisioned=True)
    async with Simulator(devices, broadcast=False):
        found = await discover_all(network="127.0.44.0/24", timeout=1.5, concurrency=64)
    assert sorted(d.ip for d in found) == [d.host for d in devices]
    assert all(d.token == Token(TOKEN) for d in found)


async def test_bad_ranges_are_clear_errors() -> None:
    with pytest.raises(MiioError, match="not an IPv4 network"):
        await discover_all(network="banana")
    with pytest.raises(MiioError, match="at most /16"):
        await discover_all(network="127.0.0.0/8")


def test_mdns_names() -> None:
    assert parse_mdns_name("zhimi-airpurifier-m1_miio12345678._miio._udp.local.") == (
        "zhimi.airpurifier.m1", 12345678)
    assert parse_mdns_name("printer._ipp._tcp.local.") is None
    assert parse_mdns_name(service_name("zhimi.airpurifier.ma4", 42)) == (
        "zhimi.airpurifier.ma4", 42)
