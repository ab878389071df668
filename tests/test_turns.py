"""Turns: asyncio.Lock's rules (FIFO, cancellation-safe) with a free turn taken synchronously."""

from __future__ import annotations

import asyncio

import pytest

from pymiio.lan.turns import Turns


async def _holder(turns: Turns, name: str, log: list[str], release: asyncio.Event) -> None:
    await turns.take()
    try:
        log.append(name)
        await release.wait()
    finally:
        turns.give()


async def test_a_free_turn_is_taken_at_once_and_a_busy_one_is_not() -> None:
    turns = Turns()
    assert turns.take_now() and turns.busy
    assert not turns.take_now()
    turns.give()
    assert not turns.busy and turns.take_now()


async def test_waiters_get_the_turn_in_arrival_order() -> None:
    turns, log, release = Turns(), [], asyncio.Event()
    assert turns.take_now()
    tasks = [asyncio.create_task(_holder(turns, name, log, release)) for name in "abc"]
    await asyncio.sleep(0)  # all three queue up
    assert not turns.take_now()  # a newcomer does not overtake the queue
    release.set()
    turns.give()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert log == ["a", "b", "c"] and not turns.busy


async def _two_waiting(turns: Turns, log: list[str]) -> tuple[asyncio.Task[None], ...]:
    """The turn taken, and two callers queued behind it."""
    release = asyncio.Event()
    release.set()
    assert turns.take_now()
    first = asyncio.create_task(_holder(turns, "first", log, release))
    second = asyncio.create_task(_holder(turns, "second", log, release))
    await asyncio.sleep(0)
    return first, second


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    turns, log = Turns(), []
    first, second = await _two_waiting(turns, log)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    turns.give()
    await asyncio.wait_for(second, 5)
    assert log == ["second"] and not turns.busy


async def test_a_waiter_cancelled_after_being_handed_the_turn_passes_it_on() -> None:
    turns, log = Turns(), []
    first, second = await _two_waiting(turns, log)
    turns.give()  # the turn goes to ``first`` ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 5)
    assert log == ["second"] and not turns.busy


async def test_cancelled_waiters_cost_constant_time_and_are_swept() -> None:
    """Issue 26: a long queue whose waiters are cancelled (a flood of commands given up)
    neither scans the queue per waiter nor keeps the dead waiters; the live ones keep their
    order."""
    turns, log, release = Turns(), [], asyncio.Event()
    release.set()
    assert turns.take_now()
    tasks = [asyncio.create_task(_holder(turns, str(i), log, release)) for i in range(3000)]
    await asyncio.sleep(0)
    assert turns.waiting == 3000
    for index, task in enumerate(tasks):
        if index % 100:
            task.cancel()
    await asyncio.gather(*tasks[1::2], return_exceptions=True)
    await asyncio.sleep(0)
    assert turns.waiting == 30
    assert len(turns._queue) <= 2 * 30 + 33  # swept: the cancelled do not pile up
    turns.give()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    assert log == [str(i) for i in range(0, 3000, 100)] and not turns.busy
    assert turns.waiting == 0 and not turns._queue


async def test_a_waiter_cancelled_while_the_turn_is_passed_keeps_the_count() -> None:
    """The cancellation lands after the queue was already swept or popped: the count of
    cancelled waiters stays exact."""
    turns, log, release = Turns(), [], asyncio.Event()
    release.set()
    assert turns.take_now()
    tasks = [asyncio.create_task(_holder(turns, str(i), log, release)) for i in range(3)]
    await asyncio.sleep(0)
    tasks[0].cancel()  # its future is cancelled at once, its handler runs later
    turns.give()  # pops the cancelled waiter before that handler ran, hands "1" the turn
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    assert log == ["1", "2"] and turns.waiting == 0 and not turns.busy
