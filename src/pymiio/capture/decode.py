"""Decoding captured miIO traffic: one packet (hex) or a whole pcap / pcapng file.

Returns plain data (dicts with stable keys) for the CLIs and for scripts. A capture is read
frame by frame; anything that is not a well-formed miIO datagram on port 54321 becomes a
reported record, never an exception, so one bad frame cannot hide the rest.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymiio.capture.files import Note, read_frames
from pymiio.errors import CaptureError, MiioError, PayloadError, ProtocolError
from pymiio.paths import check_regular
from pymiio.protocol.message import decode_reply
from pymiio.protocol.packet import PORT, Packet, parse_packet
from pymiio.protocol.token import Token


def parse_hex(text: str) -> bytes:
    """Hex as people paste it: spaces, colons and a 0x prefix allowed."""
    cleaned = "".join(text.split()).replace(":", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ProtocolError("the packet is not valid hexadecimal") from None


def uptime_text(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}"


def decode_packet(data: bytes, tokens: Sequence[Token] = ()) -> dict[str, Any]:
    """Every header field, the packet's kind, and the decrypted JSON when a token fits.

    Raises ProtocolError for bytes that are not a miIO packet at all.
    """
    packet = parse_packet(data)
    record: dict[str, Any] = {
        "kind": _kind(packet),
        "magic": f"0x{packet.magic:04x}",
        "length": packet.length,
        "unknown": f"0x{packet.unknown:08x}",
        "device_id": packet.device_id,
        "device_type": packet.type_hex,
        "serial": packet.serial_hex,
        "stamp": packet.stamp,
        "uptime": uptime_text(packet.stamp),
        "checksum": packet.checksum.hex(),
        "checksum_ok": None,
        "token": None,
        "revealed_token": packet.revealed_token.hex if packet.revealed_token else None,
        "payload": None,
        "payload_error": None,
    }
    if packet.is_hello:
        return record
    record["checksum_ok"] = False
    for token in tokens:
        checked = parse_packet(data, token, verify=False)
        if checked.checksum_ok:
            record.update(checksum_ok=True, token=token.masked)
            _add_payload(record, checked)
            break
    return record


def _kind(packet: Packet) -> str:
    if packet.is_hello_request:
        return "hello"
    if packet.is_hello:
        return "hello-reply"
    return "command"


def _add_payload(record: dict[str, Any], packet: Packet) -> None:
    assert packet.payload is not None
    try:
        record["payload"] = decode_reply(packet.payload)
    except PayloadError as exc:
        record["payload"] = packet.payload.decode("utf-8", "replace")
        record["payload_error"] = str(exc)


# -- pcap / pcapng ------------------------------------------------------------------------

@dataclass
class DeviceSummary:
    ip: str
    device_id: int | None = None
    packets: int = 0
    decoded: int = 0
    token: Token | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"ip": self.ip, "device_id": self.device_id, "packets": self.packets,
                "decoded": self.decoded, "token_found": self.decoded > 0}


@dataclass
class CaptureReport:
    records: list[dict[str, Any]]
    devices: list[DeviceSummary]

    def as_list(self) -> list[dict[str, Any]]:
        """The packets in order, closed by a ``{"kind": "summary", "devices": [...]}`` record."""
        return [*self.records, summary_record(self.devices)]


def summary_record(devices: Iterable[DeviceSummary]) -> dict[str, Any]:
    return {"kind": "summary", "devices": [d.as_dict() for d in devices]}


def decode_capture(path: Path, tokens: Iterable[Token] = ()) -> CaptureReport:
    """Decode every UDP datagram to or from port 54321 in a pcap or pcapng file, in order."""
    devices: list[DeviceSummary] = []
    records = list(iter_capture(path, tokens, devices))
    return CaptureReport(records, devices)


def iter_capture(path: Path, tokens: Iterable[Token] = (),
                 devices: list[DeviceSummary] | None = None) -> Iterator[dict[str, Any]]:
    """:func:`decode_capture` as a stream: one record at a time, so a large capture costs
    memory per device, not per packet. ``devices`` is filled with the summaries at the end."""
    reading = _Reading(list(dict.fromkeys(tokens)))
    try:
        size = check_regular(path).st_size
        handle = path.open("rb")
    except OSError as exc:
        raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from None
    except MiioError as exc:
        raise CaptureError(str(exc)) from None
    with handle:
        for item in read_frames(handle, size, str(path)):
            if isinstance(item, Note):
                yield {"time": 0.0, "kind": item.kind, "note": str(item)}
                continue
            record = _datagram_record(item[0], (item[1], item[2]), reading)
            if record is not None:
                yield record
    if devices is not None:
        devices.extend(reading.devices.values())


def _ip_payload(link: int, frame: bytes) -> bytes | None:
    """The IPv4 packet inside a link-layer frame, for the link types captures use."""
    if link == 1:  # Ethernet
        if len(frame) < 14:
            return None
        ethertype = int.from_bytes(frame[12:14], "big")
        offset = 14
        if ethertype == 0x8100 and len(frame) >= 18:  # VLAN
            ethertype, offset = int.from_bytes(frame[16:18], "big"), 18
        return frame[offset:] if ethertype == 0x0800 else None
    if link == 113:  # Linux cooked (SLL)
        return frame[16:] if frame[14:16] == b"\x08\x00" else None
    if link == 276:  # Linux cooked v2
        return frame[20:] if frame[0:2] == b"\x08\x00" else None
    if link == 0:  # BSD loopback
        return frame[4:]
    if link in (12, 14, 101, 228):  # raw IP
        return frame
    return None


@dataclass
class _Reading:
    """What decoding a capture accumulates: tokens, devices, and fragmented miIO datagrams."""

    tokens: list[Token]
    devices: dict[str, DeviceSummary] = field(default_factory=dict)
    # (source, destination, IP id) of a first fragment on port 54321 -> its addressing fields
    fragments: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)


def _datagram_record(timestamp: float, item: tuple[int, bytes],
                     reading: _Reading) -> dict[str, Any] | None:
    link, frame = item
    ip = _ip_payload(link, frame)
    if ip is None or len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    header_len = (ip[0] & 0x0F) * 4
    source, destination = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
    flags_offset = int.from_bytes(ip[6:8], "big")
    key = (source, destination, int.from_bytes(ip[4:6], "big"))
    if flags_offset & 0x1FFF:
        # A later fragment has no UDP header: it is ours only if its first fragment was.
        first = reading.fragments.get(key)
        return None if first is None else first | {"time": timestamp}
    if len(ip) < header_len + 8:
        return None
    sport = int.from_bytes(ip[header_len:header_len + 2], "big")
    dport = int.from_bytes(ip[header_len + 2:header_len + 4], "big")
    if PORT not in (sport, dport):
        return None
    to_device = dport == PORT
    device_ip = destination if to_device else source
    base: dict[str, Any] = {
        "time": timestamp, "source": f"{source}:{sport}", "destination": f"{destination}:{dport}",
        "direction": "to device" if to_device else "from device"}
    if flags_offset & 0x2000:
        reading.fragments[key] = base | {"kind": "fragment",
                                         "note": "IPv4 fragment (not reassembled)"}
        return reading.fragments[key]
    udp_len = int.from_bytes(ip[header_len + 4:header_len + 6], "big")
    data = ip[header_len + 8:header_len + max(udp_len, 8)]
    if len(data) < udp_len - 8:
        return base | {"kind": "truncated", "note": f"frame truncated: {len(data)} of "
                                                    f"{udp_len - 8} bytes captured"}
    devices, tokens = reading.devices, reading.tokens
    summary = devices.setdefault(device_ip, DeviceSummary(device_ip))
    summary.packets += 1
    candidates = ([summary.token] if summary.token else []) + tokens
    try:
        record = decode_packet(data, candidates)
    except MiioError as exc:
        return base | {"kind": "not-miio", "note": str(exc)}
    if record["kind"] != "hello":
        summary.device_id = record["device_id"]
    if record["revealed_token"]:
        summary.token = Token(record["revealed_token"])
    if record["checksum_ok"]:
        summary.decoded += 1
    return base | record


def pretty_payload(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
