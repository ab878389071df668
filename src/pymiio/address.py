"""What counts as a device address: a strict dotted quad or a host name, nothing else.

``socket.inet_aton`` reads ``10.0.0`` as 10.0.0.0 and ``127.0.48`` as 127.0.0.48, so a typo
would send traffic to a host nobody meant; URLs and out-of-range octets would be saved to the
inventory. Both device faces, discovery and the CLIs check hosts here before anything is sent.
"""

from __future__ import annotations

import re
from typing import Final

from pymiio.errors import AddressError

_NUMERIC: Final = re.compile(r"[0-9.]+")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD: Final = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_LABEL: Final = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def is_ipv4(host: str) -> bool:
    """True for a strict dotted quad (four decimal octets, no leading zeros), the same strings
    ``ipaddress.IPv4Address`` accepts, checked by one regular expression (it runs per call)."""
    return _DOTTED_QUAD.fullmatch(host) is not None


def check_host(host: str) -> str:
    """``host`` if it is a dotted quad or a well-formed host name, else AddressError."""
    if is_ipv4(host):
        return host
    shown = host if len(host) <= 80 else host[:80] + "…"
    if not host:
        raise AddressError("no address given")
    if _NUMERIC.fullmatch(host):
        raise AddressError(f"not a valid IPv4 address: {shown!r} (four numbers from 0 to 255, "
                           "like 192.168.1.20)")
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise AddressError(f"not an address or host name: {shown!r} (give an address like "
                           "192.168.1.20 or a host name, without a scheme or port)")
    return host


def check_ipv4(text: str, what: str = "address") -> str:
    """``text`` if it is a dotted quad, else AddressError naming ``what`` (bind, broadcast)."""
    if not is_ipv4(text):
        shown = text if len(text) <= 80 else text[:80] + "…"
        raise AddressError(f"not an IPv4 {what}: {shown!r}")
    return text
