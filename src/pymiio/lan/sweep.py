"""Sweeps: one task drives the calls of many devices at once.

``asyncio.gather`` over :class:`~pymiio.lan.client.AsyncDevice` calls costs, per device and
call, a task, a future, a timer and a coroutine frame or two, and a wake-up of the loop for
each of them. A sweep drives the same sans-I/O :class:`~pymiio.protocol.session.Session` of
each device (handshake, ids from the id store, retries with fresh ids, Karn's rule: every
rule stays where it is) from one task:

- a reply is matched by its device's session as the endpoint reads it (the device's route),
  and a call that ends is only noted; the sweep wakes once for all that ended in one read of
  the socket and starts their next calls (or ends their jobs) in one pass;
- the sweep keeps one timer for all its calls, set for the earliest deadline; when it fires,
  every call that is due is expired by its session and the timer is set for the next
  earliest (a call answered in time costs no timer work at all);
- each device's calls still take its turn (:class:`~pymiio.lan.turns.Turns`), so commands sent
  through the device object meanwhile (the bridge's ``/set``) wait for, and interleave with,
  the sweep's calls exactly as they do with one another.

A job is an operation (``knowledge/operations.py``: a generator of ``(method, params)``
requests) on one device; :func:`run` drives any of them, :func:`poll` one command per device
and :func:`status` every readable property of each. Outcomes come back in order, one per job:
the operation's value, or the exception that ended it (never raised, as one device's fault
must not cost the others their results). ``limit`` bounds the jobs in flight.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from pymiio.errors import ClosedError, MiioError
from pymiio.knowledge import operations as ops
from pymiio.knowledge.model import DeviceModel
from pymiio.lan.client import AsyncDevice
from pymiio.lan.faces import DeviceState
from pymiio.lan.transport import UdpEndpoint
from pymiio.protocol import rpc
from pymiio.protocol.session import Call

T = TypeVar("T")
Job = tuple[AsyncDevice, ops.Step[Any]]
LIMIT = 1024  # jobs in flight by default: a burst of replies this large fits the socket buffer


class _Slot:
    """One job: its device, its operation, the call it waits for and what it holds."""

    __slots__ = ("call", "device", "endpoint", "index", "step", "turn", "waiting")

    def __init__(self, index: int, device: AsyncDevice, step: ops.Step[Any]) -> None:
        self.index, self.device, self.step = index, device, step
        self.call: Call | None = None  # the call in flight (registered with the sweep)
        self.endpoint: UdpEndpoint | None = None  # whose ``awaiting`` counts the call
        self.turn = False  # holds the device's turn
        self.waiting: tuple[asyncio.Future[Any], str] | None = None  # and what for


class Sweep:
    """The engine behind :func:`run`: one per sweep, driven by one task."""

    def __init__(self, jobs: Sequence[Job], limit: int = LIMIT) -> None:
        self._loop = asyncio.get_running_loop()
        self._slots = [_Slot(index, device, step) for index, (device, step) in enumerate(jobs)]
        self._queue = self._slots[::-1]  # popped from the end: first job first
        self.outcomes: list[Any] = [None] * len(jobs)
        self._limit = max(1, limit)
        self._active: dict[AsyncDevice, _Slot] = {}  # devices with a call of this sweep running
        self._running = 0  # jobs started and not ended
        self._ended: list[_Slot] = []  # calls that ended since the last pass
        self._wake: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._stopped = False
        self._reservations: list[tuple[_Slot, Call, int]] = []

    async def run(self) -> list[Any]:
        try:
            self._fill()
            while self._running:
                if self._reservations:  # asked for while starting or resuming calls
                    self._reserve_now()
                ended = self._ended
                if not ended:
                    self._wake = self._loop.create_future()
                    await self._wake
                    ended = self._ended
                self._ended = []
                for slot in ended:
                    self._advance(slot)
                self._fill()
            return self.outcomes
        finally:
            self._stop()

    # -- jobs -----------------------------------------------------------------------------

    def _fill(self) -> None:
        """Start queued jobs up to the limit."""
        queue = self._queue
        while queue and self._running < self._limit:
            slot = queue.pop()
            self._running += 1
            try:
                call = rpc.command(*next(slot.step))
            except StopIteration as stop:
                self._end(slot, stop.value)
            except Exception as exc:  # the operation's own error (or a malformed request)
                self._end(slot, exc)
            else:
                self._next(slot, call)

    def _advance(self, slot: _Slot) -> None:
        """The slot's call ended: give its outcome to the operation, start what it asks next."""
        call = slot.call
        assert call is not None
        self._untrack(slot)
        if call.waiting_for_ids:  # a first hello named a device whose ids need the disk
            assert call.hello is not None
            self._reserve(slot, call, call.hello.device_id)
            return
        self._give_turn(slot)
        error: BaseException | None = call.error
        value: Any = None
        if error is None:
            try:
                value = rpc.result(call)
            except MiioError as exc:
                error = exc
        self._feed(slot, value, error)

    def _feed(self, slot: _Slot, value: Any, error: BaseException | None) -> None:
        """Hand a call's value or error to the operation and start what it asks next."""
        step = slot.step
        try:
            if error is None:
                call = rpc.command(*step.send(value))
            elif isinstance(error, Exception):
                call = rpc.command(*step.throw(error))
            else:
                raise error
        except StopIteration as stop:
            self._end(slot, stop.value)
        except Exception as exc:
            self._end(slot, exc)
        else:
            self._next(slot, call)

    def _next(self, slot: _Slot, call: Call) -> None:
        """Start ``call`` once the device is open and its turn is free (at once, mostly)."""
        device = slot.device
        if device._state is not DeviceState.OPEN and not _opens_now(device):
            self._after(slot, asyncio.ensure_future(device.open()), "open",
                        lambda: self._next(slot, call))
        elif device._turns.take_now():
            slot.turn = True
            self._begin(slot, call)
        else:
            def taken() -> None:
                slot.turn = True
                self._begin(slot, call)

            self._after(slot, asyncio.ensure_future(device._turns.take()), "turn", taken)

    def _begin(self, slot: _Slot, call: Call, resume: bool = False) -> None:
        """The device's turn is held: send the call's first datagrams."""
        device = slot.device
        try:
            device._refuse_if_closed()
            if not resume:
                device_id = device._ids_to_wait_for(call)
                if device_id is not None:  # ids must come from the disk first, off the loop
                    self._reserve(slot, call, device_id)
                    return
                now = self._loop.time()
                self._track(slot, call)
                datagrams = device.session.start(call, now)
            else:
                now = self._loop.time()
                self._track(slot, call)
                datagrams = device.session.resume(call, now) if call.waiting_for_ids \
                    else device.session.start(call, now)
            device._transmit(datagrams)
        except Exception as exc:
            self._untrack(slot)
            self._give_turn(slot)
            self._feed(slot, None, exc)
            return
        self.settled(device)

    def _reserve(self, slot: _Slot, call: Call, device_id: int) -> None:
        """Request ids from the disk for ``call``'s device (the turn stays held): reserved
        together with those of every device that needs them in the same pass, in one job
        of a worker thread rather than one each (a fleet's first sweep needs a thousand)."""
        self._reservations.append((slot, call, device_id))
        self._poke()

    def _reserve_now(self) -> None:
        batch, self._reservations = self._reservations, []
        work = [(slot.device.session.ids, device_id) for slot, _, device_id in batch]
        reserved = self._loop.run_in_executor(None, _prepare_all, work)
        for slot, call, _ in batch:
            self._after(slot, reserved, "ids", functools.partial(self._begin, slot, call, True))

    def _after(self, slot: _Slot, waiting: asyncio.Future[Any], kind: str,
               then: Callable[[], None]) -> None:
        """Run ``then`` once ``waiting`` is done (``kind``: the device opened, its turn came,
        its ids were reserved); an error goes to the operation instead."""
        slot.waiting = (waiting, kind)

        def done(future: asyncio.Future[Any]) -> None:
            if self._stopped:
                return  # _stop has undone what this future brought
            slot.waiting = None
            error = None if future.cancelled() else future.exception()
            if future.cancelled():
                error = ClosedError(f"{slot.device.session.label}: the call was cancelled")
            if error is not None:
                self._give_turn(slot)
                self._feed(slot, None, error)
            else:
                then()
            self._poke()

        waiting.add_done_callback(done)

    def _end(self, slot: _Slot, outcome: Any) -> None:
        self.outcomes[slot.index] = outcome
        self._running -= 1

    def _track(self, slot: _Slot, call: Call) -> None:
        """Register ``call`` as in flight: its replies and timeouts come to this sweep."""
        device = slot.device
        endpoint = device._endpoint
        assert endpoint is not None
        endpoint.awaiting += 1  # the endpoint reads one more reply per wake-up
        slot.call, slot.endpoint = call, endpoint
        self._active[device] = slot
        device._sweep = self

    def _untrack(self, slot: _Slot) -> None:
        endpoint = slot.endpoint
        if endpoint is not None:
            endpoint.awaiting -= 1
            slot.endpoint = None
        slot.call = None
        device = slot.device
        if self._active.get(device) is slot:
            del self._active[device]
            device._sweep = None

    def _give_turn(self, slot: _Slot) -> None:
        if slot.turn:
            slot.turn = False
            slot.device._turns.give()

    # -- what the devices report ----------------------------------------------------------

    def settled(self, device: AsyncDevice) -> None:
        """A datagram or a timer moved ``device``'s call on (``AsyncDevice._settle``)."""
        slot = self._active.get(device)
        if slot is None or slot.call is None:
            return
        call = slot.call
        if call.done:  # reported once: later datagrams of the device are not this sweep's
            del self._active[device]
            device._sweep = None
            self._ended.append(slot)
            self._poke()
            return
        if self._timer is None or call.timer < self._timer_at:
            self._arm(call.timer)

    def _poke(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._expire)
        self._timer_at = when

    def _expire(self) -> None:
        """The one timer: each call that is due is expired by its session (which retries or
        gives up); the timer is then set for the earliest deadline left."""
        self._timer = None
        now = self._loop.time()
        earliest = math.inf
        for device, slot in list(self._active.items()):
            call = slot.call
            if call is None or call.done:
                continue
            if call.timer <= now + 0.001:
                try:
                    device._transmit(device.session.expire(now))
                except Exception as exc:
                    device._crash(exc)
                if call.done:
                    self.settled(device)
                    continue
            earliest = min(earliest, call.timer)
        if earliest < math.inf and (self._timer is None or earliest < self._timer_at):
            self._arm(earliest)

    # -- stopping -------------------------------------------------------------------------

    def _stop(self) -> None:
        """Undo what is left: after a normal end only the timer; after a cancellation, the
        calls in flight end, waits are cancelled and turns given back."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for slot in self._slots:
            if slot.waiting is not None:
                future, kind = slot.waiting
                slot.waiting = None
                if kind == "ids":
                    continue  # the device's own reservation: it goes on, nobody waits for it
                if not future.done():
                    future.cancel()  # Turns.take gives a turn it was handed meanwhile
                elif kind == "turn" and not future.cancelled() and future.exception() is None:
                    slot.turn = True  # handed the turn, its callback not run yet
            if slot.call is not None:
                slot.device.session.abort(ClosedError(
                    f"{slot.device.session.label}: the call was cancelled"))
                self._untrack(slot)
            self._give_turn(slot)
            slot.step.close()


def _prepare_all(work: list[tuple[Any, int]]) -> None:
    """Reserve ids for each (id store, device id): in a worker thread, one after another."""
    for ids, device_id in work:
        ids.prepare(device_id)


def _opens_now(device: AsyncDevice) -> bool:
    """Open a device whose host is an address without waiting (``AsyncDevice.open``'s own
    shortcut); False when a name must be looked up first."""
    from pymiio.address import is_ipv4

    if device._state is DeviceState.NEW and is_ipv4(device.host) \
            and not device._open_lock.locked():
        device._attach((device.host, device.port))
        return True
    return False


async def run(jobs: Iterable[tuple[AsyncDevice, ops.Step[T]]], *,
              limit: int = LIMIT) -> list[T | Exception]:
    """Drive each job's operation on its device, all from this task; the outcomes in order
    (a value, or the exception that ended that job). At most ``limit`` jobs run at once."""
    listed = list(jobs)
    if not listed:
        return []
    return await Sweep(listed, limit).run()


def _one(method: str, params: Any) -> ops.Step[Any]:
    return (yield method, params)


async def poll(devices: Iterable[AsyncDevice], method: str, params: Any = None, *,
               limit: int = LIMIT) -> list[Any]:
    """``method`` on every device at once: each device's ``result``, or the MiioError (or
    other exception) that ended its call, in the order of ``devices``::

        results = await poll(devices, "get_prop", ["power"])
    """
    return await run(((device, _one(method, params)) for device in devices), limit=limit)


async def status(pairs: Iterable[tuple[AsyncDevice, DeviceModel]], *,
                 limit: int = LIMIT) -> list[list[ops.Reading] | Exception]:
    """Every readable property of each device by name (``AsyncDevice.status`` for many)."""
    return await run(((device, ops.status(model)) for device, model in pairs), limit=limit)


class Batch:
    """Operations asked for by many tasks in one pass of the event loop run as one sweep.

    Tasks that wake together (the bridge's pollers: one timer per tick of the poll grid) each
    ``await batch.run(device, operation)`` and get their own outcome, raised or returned as
    the device's own method would; the sweep behind them drives all their devices from one
    task. A caller that is cancelled only stops waiting: its device's call ends as usual."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._jobs: list[tuple[AsyncDevice, ops.Step[Any], asyncio.Future[Any]]] = []
        self._sweeps: set[asyncio.Task[None]] = set()

    async def run(self, device: AsyncDevice, step: ops.Step[T]) -> T:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = loop.create_future()
        if not self._jobs:
            loop.call_soon(self._start)  # after every task woken in this pass has asked
        self._jobs.append((device, step, outcome))
        return await outcome

    async def send(self, device: AsyncDevice, method: str, params: Any = None) -> Any:
        """``device.send(method, params)``, in this pass's sweep."""
        return await self.run(device, _one(method, params))

    async def status(self, device: AsyncDevice, model: DeviceModel) -> list[ops.Reading]:
        """``device.status(model)``, in this pass's sweep."""
        return await self.run(device, ops.status(model))

    def _start(self) -> None:
        jobs, self._jobs = self._jobs, []
        sweep = asyncio.ensure_future(self._sweep(jobs))
        self._sweeps.add(sweep)
        sweep.add_done_callback(self._sweeps.discard)

    async def _sweep(self, jobs: list[tuple[AsyncDevice, ops.Step[Any],
                                            asyncio.Future[Any]]]) -> None:
        try:
            outcomes = await run([(device, step) for device, step, _ in jobs],
                                 limit=self._limit)
        except BaseException:  # the sweep itself was cancelled: so are its callers
            for _, _, waiting in jobs:
                waiting.cancel()
            raise
        for (_, _, waiting), outcome in zip(jobs, outcomes, strict=True):
            if waiting.done():
                continue
            if isinstance(outcome, Exception):
                waiting.set_exception(outcome)
            else:
                waiting.set_result(outcome)

    async def aclose(self) -> None:
        """Cancel the sweeps in flight (their callers see CancelledError)."""
        sweeps = list(self._sweeps)
        for sweep in sweeps:
            sweep.cancel()
        await asyncio.gather(*sweeps, return_exceptions=True)


__all__ = ["LIMIT", "Batch", "MiioError", "Sweep", "poll", "run", "status"]
