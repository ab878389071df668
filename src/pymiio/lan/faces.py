"""What both device faces share (``AsyncDevice`` in ``lan/client.py``, ``Device`` in
``lan/sync.py``): the session they start from, the token parsed once, their life's states.
Kept apart from the asyncio face, so the blocking face (and the CLI) never imports asyncio.
"""

from __future__ import annotations

import enum
import functools
from typing import Any

from pymiio.errors import ClosedError
from pymiio.lan.ids import default_ids
from pymiio.protocol.packet import PORT
from pymiio.protocol.session import Hello, IdSource, RetryPolicy, Session
from pymiio.protocol.token import Token


def make_session(host: str, port: int, token: Token | str | None, timeout: float | None,
                 retries: int | None, policy: RetryPolicy | None,
                 ids: IdSource | None) -> Session:
    """The session both device faces start from: token checked, policy from the arguments."""
    base = policy or DEFAULT_POLICY
    overrides: dict[str, Any] = {}
    if timeout is not None:
        overrides["timeout"] = timeout
    if retries is not None:
        overrides["retries"] = retries
    if overrides:
        base = RetryPolicy(**{**_policy_fields(base), **overrides})
    label = host if port == PORT else f"{host}:{port}"
    return Session(None if token is None else token_of(token), ids or default_ids(), base, label)


DEFAULT_POLICY = RetryPolicy()


@functools.lru_cache(maxsize=4096)
def _token_from_text(text: str) -> Token:
    return Token(text)


def token_of(value: Token | str) -> Token:
    """A Token; strings are parsed once (key and cipher derivation is the costly part), so
    re-creating device objects for a fleet every poll costs no new derivations."""
    return value if isinstance(value, Token) else _token_from_text(value)


def _policy_fields(policy: RetryPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in policy.__slots__}


class DeviceState(enum.Enum):
    """Where a device object is in its life (httpx's ``ClientState``, aioesphomeapi's
    ``ConnectionState``): calls open a NEW device, and a CLOSED one refuses all work."""

    NEW = "new"
    OPENING = "opening"
    OPEN = "open"
    CLOSED = "closed"


class SessionView:
    """What both device faces tell about their session and their state."""

    session: Session
    _state: DeviceState

    @property
    def state(self) -> DeviceState:
        return self._state

    def _refuse_if_closed(self) -> None:
        if self._state is DeviceState.CLOSED:
            raise ClosedError(f"{self.session.label}: the device object is closed; "
                              "create a new one to talk to the device again")

    @property
    def token(self) -> Token | None:
        """The token in use: the caller's, or the one the device revealed."""
        session = self.session
        return session.token or session.revealed

    @property
    def hello(self) -> Hello | None:
        """The last hello reply (device id, stamp, revealed token), None before the handshake."""
        return self.session.hello
