"""Random and mutated bytes: the parser and decoder raise pymiio's own errors, nothing else.

The default run uses a few thousand examples; ``make fuzz`` sets PYMIIO_FUZZ_EXAMPLES.
"""

import contextlib
import ipaddress
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymiio import MiioError, Token
from pymiio.address import is_ipv4
from pymiio.capture.decode import decode_packet
from pymiio.protocol import build_packet, decode_reply, hello_reply, parse_packet, rpc
from pymiio.protocol.session import Call, MemoryIds, Session

from .conftest import TOKEN

EXAMPLES = int(os.environ.get("PYMIIO_FUZZ_EXAMPLES", "3000"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
TOK = Token(TOKEN)
VALID = build_packet(TOK, 0x0102, 5, b'{"id":1,"result":["on"]}')


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "grow", "length"]))
        if op == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[draw(st.integers(0, len(data))):]
        elif op == "grow":
            data += draw(st.binary(max_size=40))
        elif len(data) >= 4:
            data[2:4] = len(data).to_bytes(2, "big")
    return bytes(data)


@fuzz
@given(st.binary(max_size=200) | mutated())
def test_parser_raises_only_miio_errors(data: bytes) -> None:
    for token in (None, TOK):
        with contextlib.suppress(MiioError):
            parse_packet(data, token)


@fuzz
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_decoder_raises_only_miio_errors(data: bytes) -> None:
    with contextlib.suppress(MiioError):
        decode_reply(data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                               max_size=4),
    max_leaves=12)
HUGE = st.sampled_from(["1e999", "-1e999", "1e308", "123456789012345678901234567890"])


@st.composite
def hostile_reply(draw: st.DrawFn, request_id: int) -> bytes:
    """A reply that verifies (right token, right checksum) with hostile JSON inside: ids of
    every JSON type, codes beyond float range, results of any shape and depth, cut-offs."""
    reply_id = draw(st.sampled_from(["ID", "null", "[1]", '{"a":1}', "true", "1.5", '"7"']))
    body = draw(st.sampled_from([
        '{"id":%s,"result":%s}', '{"id":%s,"error":{"code":%s,"message":"x"}}',
        '{"id":%s,"error":%s}', '{"id":%s,,"result":%s}', '{"id":%s,"result":%s']))
    value = draw(HUGE | JSON.map(lambda v: json.dumps(v)))
    text = body % (str(request_id) if reply_id == "ID" else reply_id, value)
    return build_packet(TOK, DID, 7, text.encode())


DID = 0x0102


@fuzz
@given(st.lists(st.binary(max_size=120) | mutated(), max_size=5), st.data())
def test_session_survives_any_datagrams(datagrams: list[bytes], data: st.DataObject) -> None:
    """Random bytes, mutated packets and verified hostile replies: the session raises
    nothing, and a finished call has a reply object or a pymiio error, and reading its
    outcome (result, MIoT items) raises pymiio errors only."""
    session = Session(TOK, MemoryIds())
    call = Call({"method": "get_properties", "params": [{"siid": 2, "piid": 1}]})
    session.start(call, 0.0)
    [command] = session.receive(hello_reply(DID, 5, None), 0.01)
    request_id = json.loads(parse_packet(command, TOK).payload or b"{}")["id"]
    hostile = data.draw(st.lists(hostile_reply(request_id), max_size=4))
    for datagram in [*datagrams, *hostile]:
        session.receive(datagram, 0.1)
        with contextlib.suppress(MiioError):  # the capture decoder reads the same datagrams
            decode_packet(datagram, [TOK])
    while not call.done:
        session.expire(session.timer or 0.0)
    assert isinstance(call.reply, dict) or isinstance(call.error, MiioError)
    with contextlib.suppress(MiioError):
        rpc.miot_items(rpc.result(call), 1)


_PARTS = st.sampled_from(["0", "00", "1", "01", "9", "10", "99", "100", "199", "200", "249",
                          "250", "255", "256", "300", "1000", "", " 1", "1 ", "٣", "+1", "0x1"])


@fuzz
@given(st.one_of(st.lists(_PARTS, min_size=1, max_size=6).map(".".join), st.text(max_size=20)))
def test_the_fast_address_check_agrees_with_ipaddress(text: str) -> None:
    """is_ipv4 is a regular expression for speed; it must accept exactly what ipaddress does."""
    try:
        ipaddress.IPv4Address(text)
        expected = True
    except ValueError:
        expected = False
    assert is_ipv4(text) is expected
