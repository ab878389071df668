"""One stream of what a device sends by itself (MIoT pushes), for any number of followers.

A device that was asked with ``miIO.sub`` sends requests of its own: ``properties_changed``
and ``event_occured``. The session acknowledges each (once per id) and publishes it here; each
follower turns a message into items with its own ``decode`` (a :class:`Tracker`'s ``push``)
at once, and keeps them in its own bounded queue: when a follower is slower than the device,
its oldest items go and are counted in ``dropped``. Pure: no I/O, no clock. The device faces
wake their consumers through ``wake`` (an asyncio event, a polling thread).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final, Generic, TypeVar

log = logging.getLogger("pymiio.session")
T = TypeVar("T")
FOLLOWER_QUEUE: Final = 1024  # items each follower keeps; the same on both device faces


class Follower(Generic[T]):
    """One consumer's view of the stream: ``pop`` what came, ``close`` when done."""

    def __init__(self, stream: PushStream, decode: Callable[[dict[str, Any]], Iterable[T]],
                 limit: int) -> None:
        self._stream = stream
        self._decode = decode
        self.items: deque[T] = deque()
        self.limit = max(1, limit)
        self.dropped = 0  # items lost to a full queue (the oldest go first)
        self.failures = 0  # messages its decode failed on
        self.wake: Callable[[], None] | None = None

    def offer(self, message: dict[str, Any]) -> None:
        try:
            decoded = list(self._decode(message))
        except Exception:  # one consumer's bug never breaks the session or the others
            self.failures += 1
            if self.failures == 1:  # once: a flood must not flood the log too
                log.exception("a push consumer failed on %.200r (later failures are only "
                              "counted)", message)
            return
        if not decoded:
            return
        items = self.items
        for item in decoded:
            if len(items) >= self.limit:
                items.popleft()
                self.dropped += 1
                self._stream.dropped += 1
            items.append(item)
        if self.wake is not None:
            self.wake()

    def pop(self) -> T | None:
        """The oldest item not yet taken, None when there is none."""
        return self.items.popleft() if self.items else None

    def close(self) -> None:
        """Stop following; idempotent."""
        self._stream.remove(self)

    def __enter__(self) -> Follower[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PushStream:
    """The device's own messages, fanned out to every follower."""

    def __init__(self) -> None:
        self._followers: list[Follower[Any]] = []
        self.received = 0  # messages published (repeats left out)
        self.dropped = 0  # items any follower lost to its full queue

    def follow(self, decode: Callable[[dict[str, Any]], Iterable[T]],
               limit: int = FOLLOWER_QUEUE) -> Follower[T]:
        follower: Follower[T] = Follower(self, decode, limit)
        self._followers.append(follower)
        return follower

    def remove(self, follower: Follower[Any]) -> None:
        if follower in self._followers:
            self._followers.remove(follower)

    @property
    def followers(self) -> int:
        return len(self._followers)

    def publish(self, message: dict[str, Any]) -> None:
        self.received += 1
        for follower in list(self._followers):
            follower.offer(message)
