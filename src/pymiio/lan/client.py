"""``AsyncDevice``: the asyncio face of one device, driving a sans-I/O :class:`Session`.

Requests to one device run one after another (a device handles one at a time); different
devices run in parallel over one shared UDP endpoint, so polling a fleet is a plain
``asyncio.gather``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any, Protocol

from pymiio.address import is_ipv4
from pymiio.errors import ClosedError, MiioError, MiioTimeoutError
from pymiio.knowledge import operations as ops
from pymiio.knowledge.model import DeviceModel
from pymiio.lan.faces import DeviceState as DeviceState  # its home was here
from pymiio.lan.faces import SessionView, make_session
from pymiio.lan.transport import Address, UdpEndpoint, resolve, shared_endpoint
from pymiio.lan.turns import Turns
from pymiio.protocol import rpc
from pymiio.protocol.packet import PORT
from pymiio.protocol.session import Call, Hello, IdSource, RetryPolicy
from pymiio.protocol.token import Token


class Driver(Protocol):
    """Something that drives this device's calls from outside (lan/sweep.py's Sweep): told
    whenever a datagram or a timer moved the device's call on."""

    def settled(self, device: AsyncDevice) -> None: ...


class AsyncDevice(SessionView):
    """One miIO device. Use as ``async with AsyncDevice(host, token) as dev: ...``.

    ``timeout`` bounds each call as a whole (retries included); ``retries`` caps how many times
    a call is sent again. Without a token, the token a device reveals in its hello is used.

    Life: NEW → (first call or :meth:`open`) OPENING → OPEN → (:meth:`close`) CLOSED. Opening
    is serialised, closing is idempotent and ends a call in flight at once with ClosedError,
    and a closed device refuses every call.
    """

    _loop: asyncio.AbstractEventLoop  # the loop it was opened on (set by ``_attach``)

    def __init__(self, host: str, token: Token | str | None = None, *, port: int = PORT,
                 timeout: float | None = None, retries: int | None = None,
                 policy: RetryPolicy | None = None, ids: IdSource | None = None,
                 endpoint: UdpEndpoint | None = None) -> None:
        self.host = host
        self.port = port
        self.session = make_session(host, port, token, timeout, retries, policy, ids)
        self._state = DeviceState.NEW
        self._endpoint = endpoint
        self._owns_endpoint = endpoint is None
        self._acquired = False
        self._address: Address | None = None
        self._open_lock = asyncio.Lock()
        self._turns = Turns()  # one call at a time
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        prepare = getattr(self.session.ids, "prepare", None)
        self._ids_ready = getattr(self.session.ids, "ready", None) if prepare else None
        self._ids_short = getattr(self.session.ids, "short", None) if prepare else None
        self._refill: asyncio.Future[None] | None = None
        self.session.ids_ready = self._ids_ready
        self._sweep: Driver | None = None  # the sweep driving a call (lan/sweep.py), if one is

    async def __aenter__(self) -> AsyncDevice:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        """Resolve the host and register with the endpoint (done on first use otherwise)."""
        if self._state is DeviceState.OPEN:
            return
        self._refuse_if_closed()
        if is_ipv4(self.host) and not self._open_lock.locked():
            self._attach((self.host, self.port))  # nothing to wait for: one step, no lock
            return
        async with self._open_lock:
            if self._is_open():  # another task opened it while we waited
                return
            self._refuse_if_closed()
            self._state = DeviceState.OPENING
            try:
                address = await resolve(self.host, self.port)
            except BaseException:
                if self._state is DeviceState.OPENING:
                    self._state = DeviceState.NEW
                raise
            self._refuse_if_closed()  # closed while the name was being looked up
            self._attach(address)

    def _attach(self, address: Address) -> None:
        endpoint = self._endpoint
        if endpoint is None:
            endpoint = shared_endpoint()
            self._acquired = True
        self._endpoint, self._address = endpoint, address
        self._loop = asyncio.get_running_loop()
        endpoint.add_route(address, self._datagram)
        self._state = DeviceState.OPEN

    def _is_open(self) -> bool:
        return self._state is DeviceState.OPEN

    async def close(self) -> None:
        """End any call in flight with ClosedError and let go of the endpoint; idempotent."""
        self._cleanup()

    def _cleanup(self) -> None:
        """aioesphomeapi's ``_cleanup``: safe to call twice, fails what is pending."""
        if self._state is DeviceState.CLOSED:
            return
        self._state = DeviceState.CLOSED
        self.session.abort(ClosedError(f"{self.session.label}: closed while a call was in flight"))
        self._cancel_timer()
        if self._sweep is not None:
            self._sweep.settled(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._release()

    def _release(self) -> None:
        endpoint, address = self._endpoint, self._address
        if endpoint is not None and address is not None:
            endpoint.remove_route(address, self._datagram)
        if endpoint is not None and self._acquired:
            self._acquired = False
            endpoint.release()
            self._endpoint = None
        self._address = None

    # -- the API ------------------------------------------------------------------------

    async def handshake(self) -> Hello:
        """Send a hello and return what the device said (its id, stamp, maybe its token)."""
        return rpc.hello_of(await self._run(rpc.handshake()))

    async def send(self, method: str, params: Any = None) -> Any:
        """Call ``method`` and return the reply's ``result``; device errors raise DeviceError."""
        return rpc.result(await self._run(rpc.command(method, params)))

    async def send_raw(self, message: dict[str, Any] | str | bytes) -> dict[str, Any]:
        """Send the caller's JSON (its id kept) and return the whole reply object."""
        return rpc.reply_of(await self._run(rpc.raw(message)))

    async def info(self) -> dict[str, Any]:
        """``miIO.info``: model, firmware, network details."""
        return rpc.info_of(await self.send("miIO.info"))

    async def get_properties(self, props: Sequence[dict[str, Any]], *,
                             batch: int = rpc.MIOT_BATCH) -> list[Any]:
        """MIoT ``get_properties``, split into batches the device accepts."""
        return await self._batched("get_properties", props, batch)

    async def set_properties(self, props: Sequence[dict[str, Any]], *,
                             batch: int = rpc.MIOT_BATCH) -> list[Any]:
        """MIoT ``set_properties``, batched like :meth:`get_properties`."""
        return await self._batched("set_properties", props, batch)

    async def _batched(self, method: str, props: Sequence[dict[str, Any]],
                       batch: int) -> list[Any]:
        out: list[Any] = []
        for chunk in rpc.batches(props, batch):
            out.extend(rpc.miot_items(await self.send(method, chunk), len(chunk)))
        return out

    async def action(self, siid: int, aiid: int, args: Sequence[Any] = (),
                     did: str = "call") -> Any:
        """MIoT ``action``: returns ``{"code": .., "out": [..]}``."""
        return await self.send("action", rpc.action_params(did, siid, aiid, args))

    # -- named control (device knowledge) ----------------------------------------------

    async def status(self, model: DeviceModel) -> list[ops.Reading]:
        """Every readable property of ``model``, by name (see ``knowledge/operations.py``)."""
        return await ops.drive_async(self.send, ops.status(model))

    async def get(self, model: DeviceModel, names: Iterable[str]) -> list[ops.Reading]:
        return await ops.drive_async(self.send, ops.get(model, names))

    async def set(self, model: DeviceModel, values: dict[str, Any]) -> list[ops.Outcome]:
        """Write named values, each checked against the model before anything is sent."""
        return await ops.drive_async(self.send, ops.write(model, values))

    async def run(self, model: DeviceModel, action: str,
                  args: Sequence[Any] = ()) -> dict[str, Any]:
        """Run a named action with checked arguments; its ``out`` values come back by name."""
        return await ops.drive_async(self.send, ops.act(model, action, args))

    async def changes(self, model: DeviceModel, *, interval: float = 10.0,
                      start: Iterable[ops.Reading] = ()) -> AsyncIterator[ops.Change]:
        """Changes as they happen: pushed by the device (after ``miIO.sub``, renewed every ten
        minutes and when the device reboots) at once, and found by polling every
        ``interval`` seconds for devices that do not push. ``start`` is the state already
        known (a status just printed). Any number of ``changes`` (and other followers of
        ``session.pushes``) can run on one device: each sees every push, and keeps at most
        ``FOLLOWER_QUEUE`` changes when it falls behind (the oldest go, counted)."""
        tracker = ops.Tracker(model)
        tracker.readings(start)
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        with self.session.pushes.follow(tracker.push) as follower:
            follower.wake = ready.set
            if not tracker.values:
                tracker.readings(await self.status(model))
            subscription = ops.Subscription()
            next_poll = loop.time() + interval
            while True:
                if model.kind == "miot" and subscription.due(loop.time(),
                                                             self.session.device_stamp):
                    subscription.done(loop.time(), await self._subscribe())
                while (change := follower.pop()) is not None:
                    yield change
                ready.clear()
                wake_at = min(next_poll, subscription.at or next_poll)
                try:
                    await asyncio.wait_for(ready.wait(), max(0.0, wake_at - loop.time()))
                    continue
                except TimeoutError:
                    pass
                if loop.time() < next_poll:
                    continue  # a renewal is due, not a poll
                next_poll = loop.time() + interval
                try:
                    changes = tracker.readings(await self.status(model))
                except MiioTimeoutError:
                    continue  # the next poll tries again
                for change in changes:
                    yield change

    async def _subscribe(self) -> bool:
        """``miIO.sub``; False when the device did not take it."""
        try:
            await self.send(*ops.subscribe_request(time.time()))
        except MiioError:
            return False
        return True

    # -- driving the session ------------------------------------------------------------

    async def _run(self, call: Call) -> Call:
        """Drive ``call`` to its end: one call at a time per device, ids made ready off the
        loop. A free turn costs no coroutine (:class:`Turns`) and the exchange is awaited
        here, not in a nested coroutine: every call passes this way, and each coroutine it
        saves is time a fleet poll no longer spends."""
        if self._state is not DeviceState.OPEN:
            await self.open()
        turns = self._turns
        if not turns.take_now():
            await turns.take()
        try:
            self._refuse_if_closed()
            device_id = self._ids_to_wait_for(call)
            if device_id is not None:
                await self._prepare_ids(device_id)
            endpoint = self._endpoint
            assert endpoint is not None
            endpoint.awaiting += 1  # tells the endpoint how many replies to read per wake-up
            try:
                await self._begin(call, resume=False)
                if call.waiting_for_ids:  # a first hello named a device whose ids need the disk
                    assert call.hello is not None
                    await self._prepare_ids(call.hello.device_id)
                    await self._begin(call, resume=True)
            finally:
                endpoint.awaiting -= 1
            return call
        finally:
            self._waiter = None  # the timer stays armed for the next call (see _settle)
            if not call.done:  # only an interrupted call needs an error built
                self.session.abort(ClosedError(f"{self.session.label}: the call was cancelled"))
            turns.give()

    def _ids_to_wait_for(self, call: Call) -> int | None:
        """The device id whose request ids ``call`` must wait for, None when they are in
        memory. A reservation ahead of need (half a block used) is started here and not
        waited for."""
        ready, hello = self._ids_ready, self.session.hello
        if ready is None or call.request is None or hello is None:
            return None  # no disk behind the ids, or the first hello decides (Session.ids_ready)
        if not ready(hello.device_id):
            return hello.device_id
        if self._ids_short is not None and self._ids_short(hello.device_id):
            self._reserve_ids(hello.device_id)
        return None

    async def _prepare_ids(self, device_id: int) -> None:
        """Wait until request ids are reserved. A first call sends hello and command in one
        exchange when the ids are ready, and otherwise pauses between them for this
        (``Session.ids_ready``)."""
        await self._reserve_ids(device_id)
        self._refuse_if_closed()

    def _reserve_ids(self, device_id: int) -> asyncio.Future[None]:
        """Reserve ids in a thread, so no call does file I/O on the event loop; one
        reservation at a time per device (a call that needs the ids waits for it)."""
        refill = self._refill
        if refill is None or refill.done():
            ids: Any = self.session.ids
            refill = self._refill = self._loop.run_in_executor(None, ids.prepare, device_id)
        return refill

    def _begin(self, call: Call, resume: bool) -> asyncio.Future[None]:
        """Send the call's first datagrams; the future resolves when the call is over."""
        loop = self._loop
        self._waiter = waiter = loop.create_future()
        now = loop.time()
        self._transmit(self.session.resume(call, now) if resume else self.session.start(call, now))
        self._settle()
        return waiter

    def _datagram(self, data: bytes) -> None:
        try:
            answer = self.session.receive(data, self._loop.time())
            if answer:
                self._transmit(answer)
        except Exception as exc:  # a bug or a failing id store: the caller gets it, not the loop
            self._crash(exc)
        self._settle()

    def _expire(self) -> None:
        self._timer = self._timer_at = None
        try:
            self._transmit(self.session.expire(self._loop.time()))
        except Exception as exc:
            self._crash(exc)
        self._settle()

    def _crash(self, exc: Exception) -> None:
        """End the call with an exception raised while driving it (as the sync face would)."""
        self.session.abort(MiioError(f"{self.session.label}: {exc}"))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _transmit(self, datagrams: list[bytes]) -> None:
        endpoint, address = self._endpoint, self._address
        if endpoint is None or address is None:
            return
        for data in datagrams:
            try:
                endpoint.send(data, address)
            except OSError as exc:
                self.session.send_failed(exc, self._loop.time())
            except ClosedError as exc:
                self.session.abort(exc)

    def _settle(self) -> None:
        """Wake the caller when the call is over, else keep the timer where the session wants."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            if self._sweep is not None:  # a sweep drives the call: it keeps the timer
                self._sweep.settled(self)
            return
        call = self.session.call
        if call is None or call.done:
            waiter.set_result(None)
            return
        when = call.timer  # the session's timer while its call runs
        armed = self._timer_at
        if armed is None or armed > when:
            if self._timer is not None:
                self._timer.cancel()
            if call.handshaking and call.request is not None and not call.attempts:
                when = self._hello_timer(call, when)
            self._timer = self._loop.call_at(when, self._expire)
            self._timer_at = when
        # An earlier timer is left as it is: it fires, the session finds nothing due yet
        # (``expire`` before ``timer`` is allowed) and the timer is set again. So a call that
        # is answered leaves its timer for the next ones instead of cancelling it: one timer
        # per device per attempt timeout (100 ms or more), not one per call.

    def _hello_timer(self, call: Call, when: float) -> float:
        """A first call's hello waits up to half a second (no round trip measured yet), while
        the command it sends once the hello is answered waits at least ``min_attempt``. A
        timer set ``min_attempt`` after the hello therefore serves the command too, where one
        set for the hello would be moved for the command: a fleet of new device objects sets
        one timer each, not two. If the hello is still unanswered then, the timer finds
        nothing due and is set for the hello's own timeout."""
        early = call.hello_sent + self.session.policy.min_attempt
        return early if self._loop.time() < early < when else when

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None
