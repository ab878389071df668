"""Issue 25 item 8: the 8 bytes after the length are one 64-bit device id on newer firmware
(Xiaomi's own LAN code reads ``>HHQI16s``); ids above 2**32 are accepted, shown and sent back,
and the older layout (4 zero bytes, a 32-bit id) reads as the same number."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymiio import Device, Token
from pymiio.knowledge.miot_spec import parse_spec_text
from pymiio.protocol import HELLO, build_packet, hello_reply, parse_packet
from pymiio.simulator import make_devices
from pymiio.simulator.device import SimulatedDevice
from pymiio.simulator.profiles import spec_profile

from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .helpers import simulator_thread
from .test_push import TRAPS_FILE

BIG = 0x0000_0012_3456_789A  # above 2**32, as newer firmware's ids are
HOST = f"{NET}.133.1"
tokens = st.binary(min_size=16, max_size=16).map(Token)
u64 = st.integers(min_value=0, max_value=2**64 - 2**32 - 1)  # ffffffff… is a client's hello


@given(tokens, u64, st.integers(0, 0xFFFFFFFF), st.binary(max_size=300))
def test_the_device_id_is_eight_bytes(token: Token, did: int, stamp: int,
                                      payload: bytes) -> None:
    data = build_packet(token, did, stamp, payload)
    assert data[4:12] == did.to_bytes(8, "big")
    packet = parse_packet(data, token)
    assert (packet.device_id, packet.stamp, packet.payload) == (did, stamp, payload)
    assert packet.unknown == did >> 32
    reply = parse_packet(hello_reply(did, stamp, None))
    assert reply.device_id == did and not reply.is_hello_request


def test_the_old_layout_reads_as_the_same_number() -> None:
    token = Token(TOKEN)
    head = struct.pack(">HHIII", 0x2131, 32, 0, 0x04A1B2C3, 77)
    old = parse_packet(head + b"\xff" * 16)
    assert (old.device_id, old.unknown, old.device_type, old.serial) == (
        0x04A1B2C3, 0, 0x04A1, 0xB2C3)
    assert parse_packet(build_packet(token, 0x04A1B2C3, 5, b"{}"), token).device_id == 0x04A1B2C3
    hello = parse_packet(HELLO)
    assert hello.is_hello_request and hello.unknown == 0xFFFFFFFF


@pytest.fixture
def big_device() -> Iterator[SimulatedDevice]:
    spec = parse_spec_text(TRAPS_FILE.read_bytes(), "pymiio.traps.v1")
    [device] = make_devices(HOST, token=TOKEN, profile=spec_profile(spec))
    device.device_id = BIG
    with simulator_thread([device]):
        yield device


def test_an_id_above_2_32_is_shown_and_sent_back(big_device: SimulatedDevice,
                                                 private_dirs: object) -> None:
    [found] = miio("discover", HOST, "--json").json()
    assert found["device_id"] == BIG
    # the original tool's type/serial halves mean nothing in a 64-bit id: not made up
    assert (found["device_type"], found["serial"]) == (None, None)
    table = miio("discover", HOST)
    assert table.code == 0 and f"{BIG}" in table.out and "789a" not in table.out
    info = miio("info", HOST, "--token", TOKEN, "--json").json()
    assert info["device_id"] == BIG and info["model"] == "pymiio.traps.v1"
    # the simulator drops a request whose 8 id bytes are not its own: an answer proves them
    status = miio("status", HOST, "--token", TOKEN, "--spec", str(TRAPS_FILE), "--json")
    assert status.code == 0, status.err
    with Device(HOST, TOKEN) as device:
        assert device.handshake().device_id == BIG
        assert device.send("miIO.info")["model"] == "pymiio.traps.v1"
    assert big_device.stats.malformed_drops == 0
    added = miio("devices", "add", "big", "--host", HOST, "--token", TOKEN)
    assert added.code == 0, added.err
    listed = miio("devices", "list", "--json").json()
    assert [e["device_id"] for e in listed if e["name"] == "big"] == [BIG]
