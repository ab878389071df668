"""One caller at a time, first come, first served, for the calls to one device."""

from __future__ import annotations

import asyncio
import collections


class Turns:
    """Calls to one device, one at a time and first come, first served: ``asyncio.Lock``'s
    rules, but a free turn is taken by a plain method call. ``Lock.acquire`` is a coroutine
    even when the lock is free, and every call of every device takes a turn.

    The turn passes straight from one caller to the next waiting one, so no newcomer can
    overtake the queue; a waiter cancelled after being handed the turn passes it on."""

    __slots__ = ("_busy", "_queue")

    def __init__(self) -> None:
        self._busy = False
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def busy(self) -> bool:
        return self._busy

    def take_now(self) -> bool:
        """Take the turn if it is free and nobody is queued; False otherwise."""
        if self._busy or self._queue:
            return False
        self._busy = True
        return True

    async def take(self) -> None:
        """Wait for the turn (FIFO)."""
        if self.take_now():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed the turn, then cancelled
                self.give()
            raise
        finally:
            if waiter in self._queue:
                self._queue.remove(waiter)

    def give(self) -> None:
        """End the holder's turn: the first live waiter gets it, else it is free."""
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._busy = False
