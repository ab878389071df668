"""The miIO packet: a 32-byte header and an encrypted payload.

``magic(2) length(2) device_id(8) stamp(4) checksum(16) data(n)``, big-endian.
The checksum is MD5 over the packet with the token in the checksum slot; a hello (and its reply)
is the bare 32-byte header, whose checksum slot carries a revealed token or a placeholder.

The 8 bytes after the length are one 64-bit device id, as Xiaomi's own LAN code reads them
(``>HHQI16s``); older firmware fills the first 4 with zeros (the "unknown" field of older
descriptions) and a 32-bit id, which is the same number. Requests carry the 8 bytes back as
the device sent them, so ids above 2**32 work.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Final

from pymiio.errors import ChecksumError, PayloadError, ProtocolError
from pymiio.protocol.token import Token, is_hidden_token

MAGIC: Final = 0x2131
HEADER_SIZE: Final = 32
PORT: Final = 54321
HELLO_UNKNOWN: Final = 0xFFFFFFFF
MAX_DEVICE_ID: Final = 2**64 - 1
_HEAD: Final = struct.Struct(">HHQI")
_HEADER: Final = struct.Struct(">HHQI16s")
HELLO: Final = bytes.fromhex("21310020" + "ff" * 28)
MAX_DATAGRAM: Final = 65507  # the largest UDP payload over IPv4


class DeviceIdHalves:
    """The two halves of a (32-bit) device id that the original tool shows as type and serial;
    of a 64-bit id, the halves of its low 32 bits."""

    __slots__ = ()
    device_id: int

    @property
    def device_type(self) -> int:
        return (self.device_id >> 16) & 0xFFFF

    @property
    def serial(self) -> int:
        return self.device_id & 0xFFFF

    @property
    def type_hex(self) -> str | None:
        """The type half as the original tool shows it (``0484``); None for a 64-bit id, whose
        halves mean nothing."""
        return f"{self.device_type:04x}" if self.device_id < 2**32 else None

    @property
    def serial_hex(self) -> str | None:
        return f"{self.serial:04x}" if self.device_id < 2**32 else None


@dataclass(slots=True)
class Packet(DeviceIdHalves):
    """One parsed datagram. ``payload`` is the decrypted data, or None without a token.

    Not frozen: a frozen dataclass sets each field through ``object.__setattr__``, which costs
    more than the rest of parsing a small packet.
    """

    magic: int
    length: int
    device_id: int  # all 8 bytes after the length
    stamp: int
    checksum: bytes
    data: bytes
    payload: bytes | None = None
    checksum_ok: bool | None = None

    @property
    def unknown(self) -> int:
        """The first 4 of the id's 8 bytes (0 from older firmware, ff in a client's hello)."""
        return self.device_id >> 32

    @property
    def is_hello(self) -> bool:
        """True for a hello or a hello reply (a bare header)."""
        return self.length == HEADER_SIZE

    @property
    def is_hello_request(self) -> bool:
        """True for a client's hello (all ff after the length)."""
        return self.is_hello and self.unknown == HELLO_UNKNOWN and self.checksum == b"\xff" * 16

    @property
    def revealed_token(self) -> Token | None:
        """The token a hello reply carries in its checksum slot, None when hidden or not a reply."""
        if not self.is_hello or self.is_hello_request or is_hidden_token(self.checksum):
            return None
        return Token(self.checksum)


def hello_packet() -> bytes:
    """The 32-byte hello a client sends to start a session or to discover devices."""
    return HELLO


def hello_reply(device_id: int, stamp: int, token: Token | None) -> bytes:
    """A device's answer to a hello; ``token=None`` hides it behind ff bytes."""
    slot = token.raw if token is not None else b"\xff" * 16
    return _HEADER.pack(MAGIC, HEADER_SIZE, device_id, stamp & 0xFFFFFFFF, slot)


def build_packet(token: Token, device_id: int, stamp: int, payload: bytes) -> bytes:
    """Encrypt ``payload`` and sign the packet with ``token``."""
    data = token.encrypt(payload)
    if HEADER_SIZE + len(data) > MAX_DATAGRAM:
        raise PayloadError(f"the command is too large for one datagram ({len(payload)} bytes of "
                           f"JSON; a miIO packet holds at most {MAX_DATAGRAM - HEADER_SIZE - 16})")
    head = _HEAD.pack(MAGIC, HEADER_SIZE + len(data), device_id, stamp & 0xFFFFFFFF)
    return head + hashlib.md5(head + token.raw + data).digest() + data


def parse_packet(data: bytes, token: Token | None = None, *, verify: bool = True) -> Packet:
    """Parse a datagram; with a token, verify the checksum and decrypt the payload.

    A checksum mismatch raises ChecksumError unless ``verify`` is False, in which case the
    packet is returned with ``checksum_ok=False`` and no payload (for decoders that report).
    """
    size = len(data)
    if size < HEADER_SIZE:
        raise ProtocolError(f"packet too short: {size} bytes, a miIO header alone is 32")
    magic, length, device_id, stamp, checksum = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError(f"not a miIO packet: magic is 0x{magic:04x}, expected 0x2131")
    if length != size:
        raise ProtocolError(f"length field says {length} bytes but the packet has {size}")
    body = bytes(data[HEADER_SIZE:])
    if token is None or length == HEADER_SIZE:
        return Packet(magic, length, device_id, stamp, checksum, body)
    expected = hashlib.md5(bytes(data[:16]) + token.raw + body).digest()
    if expected != checksum:
        if verify:
            raise ChecksumError(
                f"checksum mismatch for device {device_id}: the token is probably wrong")
        return Packet(magic, length, device_id, stamp, checksum, body, None, False)
    return Packet(magic, length, device_id, stamp, checksum, body,
                  token.decrypt(body), True)
