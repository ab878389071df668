"""Talking to devices on the LAN: one UDP endpoint, sessions, request ids, discovery,
provisioning, and the async (``AsyncDevice``) and sync (``Device``) faces.

The faces are re-exported here and load on first use (``pymiio.lan.AsyncDevice``), so importing
one module of the wing does not import the others.
"""

from __future__ import annotations

from pymiio import load_lazily

TYPE_CHECKING = False  # not typing's: pymiio's --help must stay light
if TYPE_CHECKING:
    from typing import Any

    from pymiio.lan.client import AsyncDevice
    from pymiio.lan.discovery import DiscoveredDevice, discover, discover_all
    from pymiio.lan.provisioning import NotAcknowledged, Revealed, provision, provision_async
    from pymiio.lan.sweep import Sweep
    from pymiio.lan.sync import Device

_LAZY = {
    "AsyncDevice": "pymiio.lan.client",
    "Device": "pymiio.lan.sync",
    "Sweep": "pymiio.lan.sweep",
    "discover": "pymiio.lan.discovery",
    "discover_all": "pymiio.lan.discovery",
    "DiscoveredDevice": "pymiio.lan.discovery",
    "provision": "pymiio.lan.provisioning",
    "provision_async": "pymiio.lan.provisioning",
    "Revealed": "pymiio.lan.provisioning",
    "NotAcknowledged": "pymiio.lan.provisioning",
}


def __getattr__(name: str) -> Any:
    return load_lazily(__name__, _LAZY, globals(), name)


__all__ = ["AsyncDevice", "Device", "DiscoveredDevice", "NotAcknowledged", "Revealed", "Sweep",
           "discover", "discover_all", "provision", "provision_async"]
