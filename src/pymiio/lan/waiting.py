"""Small asyncio waiting helpers shared by discovery and the bridge."""

from __future__ import annotations

import asyncio


def wake(waiter: asyncio.Future[None]) -> None:
    """Resolve ``waiter`` unless it is already done (a timer callback racing an answer)."""
    if not waiter.done():
        waiter.set_result(None)


async def sleep_until(when: float) -> None:
    """Sleep until loop time ``when`` exactly: tasks waiting for the same ``when`` wake in one
    pass of the loop (``asyncio.sleep`` adds its delay to the time of each call, so theirs
    would differ by microseconds and each would cost a wake-up of its own)."""
    loop = asyncio.get_running_loop()
    if when <= loop.time():
        return
    waiter: asyncio.Future[None] = loop.create_future()
    timer = loop.call_at(when, wake, waiter)
    try:
        await waiter
    finally:
        timer.cancel()
