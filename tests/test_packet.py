import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymiio import ChecksumError, ProtocolError, Token
from pymiio.protocol import HELLO, build_packet, hello_packet, hello_reply, parse_packet

from .conftest import OTHER_TOKEN, TOKEN

tokens = st.binary(min_size=16, max_size=16).map(Token)
u32 = st.integers(min_value=0, max_value=0xFFFFFFFF)


def test_hello_is_the_documented_bytes() -> None:
    assert hello_packet().hex() == "21310020" + "f" * 56
    packet = parse_packet(HELLO)
    assert packet.is_hello and packet.is_hello_request and packet.revealed_token is None


@given(tokens, u32, u32, st.binary(max_size=1200))
def test_build_parse_round_trip(token: Token, did: int, stamp: int, payload: bytes) -> None:
    data = build_packet(token, did, stamp, payload)
    packet = parse_packet(data, token)
    assert (packet.magic, packet.length, packet.unknown) == (0x2131, len(data), 0)
    assert (packet.device_id, packet.stamp, packet.payload) == (did, stamp, payload)
    assert packet.device_type == did >> 16 and packet.serial == did & 0xFFFF
    assert packet.checksum_ok is True and not packet.is_hello


def test_checksum_is_md5_with_token_in_the_slot() -> None:
    token = Token(TOKEN)
    data = build_packet(token, 0x035AFE12, 7, b'{"id":1}')
    assert data[16:32] == hashlib.md5(data[:16] + token.raw + data[32:]).digest()


def test_wrong_token_says_so() -> None:
    data = build_packet(Token(TOKEN), 1, 2, b"{}")
    with pytest.raises(ChecksumError, match="token is probably wrong"):
        parse_packet(data, Token(OTHER_TOKEN))
    report = parse_packet(data, Token(OTHER_TOKEN), verify=False)
    assert report.checksum_ok is False and report.payload is None


def test_hello_reply_reveals_or_hides() -> None:
    token = Token(TOKEN)
    revealed = parse_packet(hello_reply(0x12345678, 99, token))
    assert revealed.revealed_token == token and revealed.stamp == 99
    assert (revealed.device_type, revealed.serial) == (0x1234, 0x5678)
    assert parse_packet(hello_reply(1, 2, None)).revealed_token is None
    zeros = bytearray(hello_reply(1, 2, None))
    zeros[16:] = bytes(16)
    assert parse_packet(bytes(zeros)).revealed_token is None


@pytest.mark.parametrize(("data", "fragment"), [
    (b"", "too short: 0 bytes"),
    (b"\x21\x31\x00\x20", "too short: 4 bytes"),
    (b"\x12\x34" + HELLO[2:], "magic is 0x1234"),
    (HELLO + b"\x00", "length field says 32 bytes but the packet has 33"),
    (struct.pack(">HH", 0x2131, 64) + HELLO[4:], "length field says 64"),
])
def test_malformed_packets_are_protocol_errors(data: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment):
        parse_packet(data, Token(TOKEN))
