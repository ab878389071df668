"""The pure miIO protocol layer: bytes in, values out; no sockets, no clocks, no globals."""

from pymiio.protocol.message import (
    ERROR_MEANINGS,
    decode_reply,
    device_error,
    encode_json,
    encode_request,
    result_of,
)
from pymiio.protocol.packet import (
    HEADER_SIZE,
    HELLO,
    MAGIC,
    PORT,
    Packet,
    build_packet,
    hello_packet,
    hello_reply,
    parse_packet,
)
from pymiio.protocol.session import Call, Hello, IdSource, MemoryIds, RetryPolicy, Session
from pymiio.protocol.token import Token

__all__ = [
    "ERROR_MEANINGS",
    "HEADER_SIZE",
    "HELLO",
    "MAGIC",
    "PORT",
    "Call",
    "Hello",
    "IdSource",
    "MemoryIds",
    "Packet",
    "RetryPolicy",
    "Session",
    "Token",
    "build_packet",
    "decode_reply",
    "device_error",
    "encode_json",
    "encode_request",
    "hello_packet",
    "hello_reply",
    "parse_packet",
    "result_of",
]
