"""pymiio's codec against python-miio's (construct-based) Message, both directions."""

import datetime
import json

from hypothesis import given
from hypothesis import strategies as st
from miio.protocol import Message

from pymiio import Token
from pymiio.protocol import build_packet, decode_reply, encode_json, parse_packet

raw_tokens = st.binary(min_size=16, max_size=16)
dids = st.integers(min_value=0, max_value=0xFFFFFFFF)
stamps = st.integers(min_value=0, max_value=0x7FFFFFFF)
objects = st.fixed_dictionaries({
    "id": st.integers(1, 9999),
    "method": st.text(min_size=1, max_size=20),
    "params": st.lists(st.integers() | st.text(max_size=10), max_size=5),
})


@given(raw_tokens, dids, stamps, objects)
def test_python_miio_parses_what_pymiio_builds(raw: bytes, did: int, stamp: int,
                                               obj: dict[str, object]) -> None:
    data = build_packet(Token(raw), did, stamp, encode_json(obj))
    message = Message.parse(data, token=raw)
    assert message.data.value == obj
    assert int.from_bytes(message.header.value.device_id, "big") == did
    assert message.header.value.length == len(data)
    # python-miio recomputes the checksum while parsing and exposes the one it read.
    assert message.checksum == data[16:32]


@given(raw_tokens, dids, stamps, objects)
def test_pymiio_parses_what_python_miio_builds(raw: bytes, did: int, stamp: int,
                                               obj: dict[str, object]) -> None:
    ts = datetime.datetime.fromtimestamp(stamp, datetime.UTC).replace(tzinfo=None)
    data = Message.build({
        "data": {"value": obj},
        "header": {"value": {"length": 0, "unknown": 0, "device_id": did.to_bytes(4, "big"),
                             "ts": ts}},
        "checksum": 0,
    }, token=raw)
    packet = parse_packet(data, Token(raw))  # verifies the checksum python-miio computed
    assert packet.checksum_ok and packet.device_id == did and packet.stamp == stamp
    assert packet.payload is not None and packet.payload.endswith(b"\x00")
    assert decode_reply(packet.payload) == json.loads(json.dumps(obj))
    # Same header and payload from both: byte-identical packets (python-miio adds a NUL).
    assert build_packet(Token(raw), did, stamp, packet.payload) == data


@given(raw_tokens, st.integers(min_value=2**32, max_value=2**63), stamps, objects)
def test_a_64_bit_device_id_is_the_same_eight_bytes_for_python_miio(
        raw: bytes, did: int, stamp: int, obj: dict[str, object]) -> None:
    """python-miio reads the 8 bytes as 'unknown' and a 4-byte id; both halves are pymiio's
    64-bit id, and what it builds from them parses back to the same id."""
    data = build_packet(Token(raw), did, stamp, encode_json(obj))
    header = Message.parse(data, token=raw).header.value
    assert (header.unknown << 32) | int.from_bytes(header.device_id, "big") == did
    ts = datetime.datetime.fromtimestamp(stamp, datetime.UTC).replace(tzinfo=None)
    back = Message.build({
        "data": {"value": obj},
        "header": {"value": {"length": 0, "unknown": did >> 32,
                             "device_id": (did & 0xFFFFFFFF).to_bytes(4, "big"), "ts": ts}},
        "checksum": 0}, token=raw)
    assert parse_packet(back, Token(raw)).device_id == did
