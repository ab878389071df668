"""One caller at a time, first come, first served, for the calls to one device."""

from __future__ import annotations

import asyncio
import collections

_COMPACT_AT = 32  # cancelled waiters tolerated in the queue before it is swept


class Turns:
    """Calls to one device, one at a time and first come, first served: ``asyncio.Lock``'s
    rules, but a free turn is taken by a plain method call. ``Lock.acquire`` is a coroutine
    even when the lock is free, and every call of every device takes a turn.

    The turn passes straight from one caller to the next waiting one, so no newcomer can
    overtake the queue; a waiter cancelled after being handed the turn passes it on.

    Every step is constant time (amortised): a cancelled waiter stays in the queue, counted,
    and :meth:`give` skips it; when the cancelled ones outnumber the live ones the queue is
    swept once. (``Lock`` removes a cancelled waiter by a linear search of its queue, which
    makes a long queue quadratic.) Invariant: a non-empty queue means the turn is taken."""

    __slots__ = ("_busy", "_cancelled", "_queue")

    def __init__(self) -> None:
        self._busy = False
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()
        self._cancelled = 0  # cancelled waiters still in ``_queue``

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def waiting(self) -> int:
        """How many callers wait for the turn (the cancelled ones not counted)."""
        return len(self._queue) - self._cancelled

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
            else:  # still queued: left for give() to skip, or for a sweep
                waiter.cancel()
                self._cancelled += 1
                if self._cancelled > _COMPACT_AT and self._cancelled * 2 > len(self._queue):
                    self._sweep()
            raise

    def give(self) -> None:
        """End the holder's turn: the first live waiter gets it, else it is free."""
        queue = self._queue
        while queue:
            waiter = queue.popleft()
            if waiter.done():  # cancelled while it waited
                self._cancelled -= 1
                continue
            waiter.set_result(None)
            return
        self._busy = False

    def _sweep(self) -> None:
        # Counted down by what it removes, not reset: a waiter cancelled whose task has not
        # yet run its handler is removed here and counted there.
        before = len(self._queue)
        self._queue = collections.deque(w for w in self._queue if not w.done())
        self._cancelled -= before - len(self._queue)
