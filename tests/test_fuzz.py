"""Random and mutated bytes: the parser and decoder raise pymiio's own errors, nothing else.

The default run uses a few thousand examples; ``make fuzz`` sets PYMIIO_FUZZ_EXAMPLES.
"""

import contextlib
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymiio import MiioError, Token
from pymiio.protocol import build_packet, decode_reply, parse_packet
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


@fuzz
@given(st.lists(st.binary(max_size=120) | mutated(), max_size=5))
def test_session_survives_any_datagrams(datagrams: list[bytes]) -> None:
    session = Session(TOK, MemoryIds())
    call = Call({"method": "get_prop", "params": []})
    session.start(call, 0.0)
    for data in datagrams:
        session.receive(data, 0.1)
    assert call.error is None or isinstance(call.error, MiioError)
