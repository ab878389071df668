"""An event loop on a virtual clock, for tests through real sockets where time matters.

Whenever the loop would wait and no socket is ready, its clock jumps to the next timer instead.
On loopback a datagram is queued at its receiver before ``sendto`` returns, and the simulator
runs on the same loop, so "nothing ready" means nothing is on its way: a device that never
answers, or a lost datagram, costs no real time, and how long a call took (in the loop's time)
is the same on an idle and on a loaded machine. Work in other threads (the id store's disk
reservations) would let the clock run ahead of it: tests on this loop keep ids in memory.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualClockLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:  # no timer at all: only a socket or another thread can wake us
            return super().select(None)
        assert self.loop is not None
        self.loop.offset += timeout
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """``time()`` is the monotonic clock plus every wait that was skipped."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        self.offset = 0.0
        super().__init__(selector)
        selector.loop = self

    def time(self) -> float:
        return super().time() + self.offset


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a :class:`VirtualClockLoop`."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(main)
