"""Frames from pcap and pcapng files, read record by record with every length checked.

A capture file is user input of unknown origin: a record length is trusted only when it fits
the snap length, a sane maximum and what is left of the file, so a length of 0xFFFFFFF0 cannot
swallow the records after it or ask for gigabytes of memory. A record that does not check out
ends the reading with a note (``unreadable`` / ``truncated``); what came before stands.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO, Final

from pymiio.errors import CaptureError

MAX_RECORD: Final = 262_144  # tcpdump's largest snap length
MAX_BLOCK: Final = 16 * 1024 * 1024
PCAPNG_MAGIC: Final = b"\x0a\x0d\x0d\x0a"
_PCAP_MAGICS: Final = {  # magic -> (byte order, timestamp divisor)
    b"\xd4\xc3\xb2\xa1": ("<", 1e6), b"\xa1\xb2\xc3\xd4": (">", 1e6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e9), b"\xa1\xb2\x3c\x4d": (">", 1e9),
}

Frame = tuple[float, int, bytes]  # time, link type, frame bytes


class Note(str):
    """Why reading stopped; ``kind`` is ``truncated`` (a record's data runs past the end of the
    file) or ``unreadable`` (a header that makes no sense, or the file ends inside one)."""

    kind: str

    def __new__(cls, text: str, kind: str = "unreadable") -> Note:
        note = super().__new__(cls, text)
        note.kind = kind
        return note


def read_frames(handle: BinaryIO, size: int, label: str) -> Iterator[Frame | Note]:
    """Each frame of the capture in ``handle`` (``size`` bytes), or a note that ends it."""
    magic = handle.read(4)
    if magic == PCAPNG_MAGIC:
        yield from _pcapng(handle, size, label)
    elif magic in _PCAP_MAGICS:
        yield from _pcap(handle, size, *_PCAP_MAGICS[magic], label)
    else:
        raise CaptureError(f"{label} is not a pcap or pcapng file (unknown magic "
                           f"{magic.hex() or 'in an empty file'})")


def _pcap(handle: BinaryIO, size: int, order: str, divisor: float,
          label: str) -> Iterator[Frame | Note]:
    header = handle.read(20)
    if len(header) < 20:
        raise CaptureError(f"{label} is not a pcap file (its header is cut short)")
    _major, _minor, _zone, _sigfigs, snaplen, link = struct.unpack(order + "HHiIII", header)
    limit = min(snaplen or MAX_RECORD, MAX_RECORD)
    record = struct.Struct(order + "IIII")
    position = 24
    while True:
        head = handle.read(16)
        if not head:
            return
        if len(head) < 16:
            yield Note("the file ends inside a record header (truncated)")
            return
        seconds, fraction, captured, _original = record.unpack(head)
        position += 16
        if captured > limit:
            yield Note(f"unreadable record at byte {position - 16}: it claims {captured} "
                       f"bytes, more than the snap length {limit}")
            return
        if captured > size - position:
            yield Note(f"truncated record at byte {position - 16}: it claims {captured} bytes, "
                       f"the file has {max(size - position, 0)} left", "truncated")
            return
        frame = handle.read(captured)
        position += captured
        yield seconds + fraction / divisor, link, frame


def _pcapng(handle: BinaryIO, size: int, label: str) -> Iterator[Frame | Note]:
    """Section header, interface descriptions, enhanced / simple / obsolete packet blocks."""
    order = "<"
    interfaces: list[tuple[int, int, float]] = []  # link type, snap length, ticks per second
    start = 0
    kind_bytes = PCAPNG_MAGIC  # read by the caller
    while True:
        head = handle.read(4)
        prefix = b""
        if kind_bytes == PCAPNG_MAGIC and len(head) == 4:
            prefix = handle.read(4)  # the byte-order magic decides how to read the length
            order = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}.get(prefix, "")
            if not order:
                if start == 0:
                    raise CaptureError(f"{label} is not a pcapng file (bad byte-order magic)")
                yield Note(f"unreadable section header at byte {start}")
                return
        if len(head) < 4:
            yield Note(f"the file ends inside a block header at byte {start} (truncated)")
            return
        kind = struct.unpack(order + "I", kind_bytes)[0]
        length = struct.unpack(order + "I", head)[0]
        if length < 12 + len(prefix) or length % 4 or length > MAX_BLOCK:
            yield Note(f"unreadable block at byte {start}: a length of {length}")
            return
        if length > size - start:
            yield Note(f"truncated block at byte {start}: it claims {length} bytes, the file "
                       f"has {size - start} left", "truncated")
            return
        body = prefix + handle.read(length - 12 - len(prefix))
        if len(handle.read(4)) < 4:
            yield Note(f"the file ends inside the block at byte {start} (truncated)")
            return
        if kind == 0x0A0D0D0A:
            interfaces = []
        elif kind == 1 and len(body) >= 8:
            link, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
            interfaces.append((link, snaplen, _ticks(body[8:], order)))
        elif kind in (6, 2):
            frame = _packet_block(kind, body, order, interfaces, start)
            if isinstance(frame, str):
                yield Note(frame)
                return
            yield frame
        elif kind == 3 and interfaces:
            yield 0.0, interfaces[0][0], body[4:4 + min(interfaces[0][1] or MAX_RECORD,
                                                         MAX_RECORD)]
        start += length
        kind_bytes = handle.read(4)
        if not kind_bytes:
            return
        if len(kind_bytes) < 4:
            yield Note(f"the file ends inside a block header at byte {start} (truncated)")
            return


def _packet_block(kind: int, body: bytes, order: str, interfaces: list[tuple[int, int, float]],
                  start: int) -> Frame | str:
    """The frame of an enhanced (6) or obsolete (2) packet block, or a note if it is broken."""
    if len(body) < 20:
        return f"unreadable packet block at byte {start}"
    if kind == 6:
        interface, high, low, captured, _original = struct.unpack_from(order + "IIIII", body)
    else:
        interface, _drops, high, low, captured, _original = struct.unpack_from(
            order + "HHIIII", body)
        body = body[4:]
    if interface >= len(interfaces):
        return f"packet block at byte {start} names interface {interface}, which is not described"
    link, snaplen, ticks = interfaces[interface]
    limit = min(snaplen or MAX_RECORD, MAX_RECORD)
    if captured > limit or captured > len(body) - 20:
        return (f"unreadable packet block at byte {start}: it claims {captured} bytes "
                f"(snap length {limit}, block holds {len(body) - 20})")
    return ((high << 32) | low) / ticks, link, body[20:20 + captured]


def _ticks(options: bytes, order: str) -> float:
    """Timestamp resolution from an interface's if_tsresol option (default microseconds)."""
    position = 0
    while position + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, position)
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[position + 4]
            return float(2 ** (value & 0x7F) if value & 0x80 else 10 ** value)
        position += 4 + length + (-length % 4)
    return 1e6
