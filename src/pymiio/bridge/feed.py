"""What a running bridge does, as events for whoever watches it (the dashboard). Pure.

The bridge emits a :class:`Happening` at a few points: every message it publishes (whether or
not the broker is there: what would reach MQTT), each poll and push, a device's error, and the
broker connection coming and going. Watchers subscribe with a plain function; emitting with
nobody watching costs one attribute check. A watcher that raises is logged and kept out of
the bridge's way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger("pymiio.bridge")

Kind = Literal["publish", "poll", "push", "error", "broker", "served", "dropped"]


@dataclass(frozen=True)
class Happening:
    kind: Kind
    device: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Watcher = Callable[[Happening], None]


class Feed:
    """The bridge's events, fanned out to the functions subscribed."""

    def __init__(self) -> None:
        self._watchers: list[Watcher] = []

    def subscribe(self, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher`` for every event from now on; returns the unsubscribe function."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher) if watcher in self._watchers else None

    def emit(self, kind: Kind, device: str | None = None, **data: Any) -> None:
        if not self._watchers:
            return
        happening = Happening(kind, device, data)
        for watcher in list(self._watchers):
            try:
                watcher(happening)
            except Exception:  # a watcher's bug never reaches the bridge
                log.exception("a bridge watcher failed on %s", kind)
