"""Human-readable one-line dumps of datagrams for ``--debug``, with tokens masked.

A hello reply carries the token in its checksum slot and ``miIO.info`` replies carry it in
JSON, so every dump goes through here rather than printing raw hex.
"""

from __future__ import annotations

import logging

from pymiio.errors import ProtocolError
from pymiio.protocol.packet import HEADER_SIZE, parse_packet
from pymiio.protocol.token import mask_tokens

__all__ = ["describe", "log_datagram", "log_json", "mask_tokens", "masked_hex"]


def masked_hex(data: bytes) -> str:
    """The datagram as hex, with a hello reply's token slot masked."""
    text = data.hex()
    if len(data) == HEADER_SIZE and data[16:] not in (b"\xff" * 16, bytes(16)):
        slot = data[16:].hex()
        text = text[:32] + f"{slot[:4]}…{slot[-4:]}"
    return text


def describe(data: bytes) -> str:
    """``hello`` / ``hello-reply`` / ``packet`` with the header fields, for debug logs."""
    try:
        packet = parse_packet(data)
    except ProtocolError as exc:
        return f"malformed ({exc})"
    if packet.is_hello_request:
        kind = "hello"
    elif packet.is_hello:
        kind = "hello-reply" + (" (token revealed)" if packet.revealed_token else "")
    else:
        kind = "packet"
    return (f"{kind} len={packet.length} did={packet.device_id} "
            f"(type {packet.device_type:#06x} serial {packet.serial:#06x}) stamp={packet.stamp}")


def log_datagram(logger: logging.Logger, direction: str, addr: tuple[str, int],
                 data: bytes) -> None:
    """One debug line per datagram sent or received (only formatted when debug is on)."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s %s:%d %s %s", direction, addr[0], addr[1], describe(data),
                     masked_hex(data))


def log_json(logger: logging.Logger, direction: str, label: str, payload: bytes) -> None:
    """The decrypted JSON of a request or reply, tokens masked (``--debug``)."""
    if logger.isEnabledFor(logging.DEBUG):
        text = payload.decode("utf-8", "replace")
        if len(text) > 2000:
            text = text[:2000] + "…"
        logger.debug("%s %s %s", direction, label, mask_tokens(text))
