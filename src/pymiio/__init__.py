"""pymiio: Xiaomi's miIO LAN protocol for Python.

The public names load on first use, so ``import pymiio`` (and the CLIs' ``--help``) stays fast.
"""

from __future__ import annotations

from pymiio.errors import (
    AddressError,
    BackupError,
    CaptureError,
    ChecksumError,
    ClosedError,
    DeviceError,
    InventoryError,
    MiioError,
    MiioTimeoutError,
    PayloadError,
    ProtocolError,
    TokenError,
    UnreachableError,
    WrongPasswordError,
    WrongTokenError,
)

__version__ = "0.1.0"
TYPE_CHECKING = False  # not typing's: importing typing costs more than the rest of --help

_LAZY = {
    "Token": "pymiio.protocol.token",
    "AsyncDevice": "pymiio.lan.client",
    "Device": "pymiio.lan.sync",
    "RetryPolicy": "pymiio.protocol.session",
    "Hello": "pymiio.protocol.session",
    "discover": "pymiio.lan.discovery",
    "discover_all": "pymiio.lan.discovery",
    "DiscoveredDevice": "pymiio.lan.discovery",
}

if TYPE_CHECKING:
    from typing import Any

    from pymiio.lan.client import AsyncDevice
    from pymiio.lan.discovery import DiscoveredDevice, discover, discover_all
    from pymiio.lan.sync import Device
    from pymiio.protocol.session import Hello, RetryPolicy
    from pymiio.protocol.token import Token


def load_lazily(package: str, table: dict[str, str], namespace: dict[str, Any],
                name: str) -> Any:
    """``name`` from the module ``table`` names, kept in the package's ``namespace`` (the
    ``__getattr__`` of packages whose public names load on first use: pymiio, pymiio.lan)."""
    import importlib

    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    namespace[name] = value
    return value


def __getattr__(name: str) -> Any:
    return load_lazily(__name__, _LAZY, globals(), name)


__all__ = [
    "AddressError",
    "AsyncDevice",
    "BackupError",
    "CaptureError",
    "ChecksumError",
    "ClosedError",
    "Device",
    "DeviceError",
    "DiscoveredDevice",
    "Hello",
    "InventoryError",
    "MiioError",
    "MiioTimeoutError",
    "PayloadError",
    "ProtocolError",
    "RetryPolicy",
    "Token",
    "TokenError",
    "UnreachableError",
    "WrongPasswordError",
    "WrongTokenError",
    "__version__",
    "discover",
    "discover_all",
]
