"""Provisioning: telling an unprovisioned device (its own Wi-Fi access point) to join a network.

The rule: the token the device reveals is kept *before* ``miIO.config_router`` is sent. Once
provisioned, a device hides its token in hello replies, so a lost acknowledgement must not lose
it: ``keep`` runs first, and whatever it returns is kept by the caller even when the command is
not acknowledged (a :class:`NotAcknowledged` then carries it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pymiio.errors import MiioTimeoutError, TokenError, UnreachableError
from pymiio.protocol.session import Hello
from pymiio.protocol.token import Token

if TYPE_CHECKING:
    from pymiio.lan.client import AsyncDevice
    from pymiio.lan.sync import Device

T = TypeVar("T")
CONFIG_ROUTER = "miIO.config_router"


@dataclass(frozen=True)
class Revealed:
    """What to keep of a device about to be provisioned."""

    host: str
    token: Token
    device_id: int
    model: str | None  # as miIO.info reports it (None when it does not answer)


class NotAcknowledged(UnreachableError, Generic[T]):
    """``miIO.config_router`` got no answer; ``kept`` is what ``keep`` returned (the token is
    safe: the device may have joined the network all the same)."""

    def __init__(self, message: str, kept: T) -> None:
        super().__init__(message)
        self.kept = kept


def router_params(ssid: str, password: str, uid: int = 0) -> dict[str, Any]:
    return {"ssid": ssid, "passwd": password, "uid": uid}


def _revealed(host: str, token: Token | None, hello: Hello, info: dict[str, Any] | None,
              ) -> Revealed:
    if token is None:
        raise TokenError(f"{host} does not reveal its token: it is provisioned already "
                         "(reset it, or give --token)")
    model = info.get("model") if info is not None else None
    return Revealed(host, token, hello.device_id, model if isinstance(model, str) else None)


def _unacknowledged(host: str, ssid: str, kept: T) -> NotAcknowledged[T]:
    return NotAcknowledged(f"{host} did not acknowledge {CONFIG_ROUTER}; its token is kept: "
                           f"check whether it joined {ssid!r}", kept)


def provision(device: Device, ssid: str, password: str, uid: int = 0, *,
              keep: Callable[[Revealed], T]) -> T:
    """Provision ``device`` (the sync face): hello, ``keep`` the revealed token, then send
    ``miIO.config_router``. TokenError when the device hides its token and none was given."""
    hello = device.handshake()
    info = None
    with contextlib.suppress(MiioTimeoutError):
        if device.token is not None:
            info = device.info()
    kept = keep(_revealed(device.host, device.token, hello, info))
    try:
        device.send(CONFIG_ROUTER, router_params(ssid, password, uid))
    except MiioTimeoutError:
        raise _unacknowledged(device.host, ssid, kept) from None
    return kept


async def provision_async(device: AsyncDevice, ssid: str, password: str, uid: int = 0, *,
                          keep: Callable[[Revealed], T]) -> T:
    """:func:`provision` for the async face."""
    hello = await device.handshake()
    info = None
    with contextlib.suppress(MiioTimeoutError):
        if device.token is not None:
            info = await device.info()
    kept = keep(_revealed(device.host, device.token, hello, info))
    try:
        await device.send(CONFIG_ROUTER, router_params(ssid, password, uid))
    except MiioTimeoutError:
        raise _unacknowledged(device.host, ssid, kept) from None
    return kept
