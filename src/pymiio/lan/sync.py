"""``Device``: the synchronous face, for scripts and the CLI.

It drives the same sans-I/O :class:`Session` as ``AsyncDevice`` with a plain blocking socket,
so it needs no event loop of its own and works the same from a thread that already runs one.
It follows the same life (NEW → OPEN → CLOSED, a closed device refuses calls), serialises
calls from several threads, and whatever interrupts a call (Ctrl-C, a socket error) aborts the
session's call in ``finally``, so the next call starts clean.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

from pymiio.address import check_host, is_ipv4
from pymiio.errors import ClosedError, MiioError, MiioTimeoutError, UnreachableError
from pymiio.knowledge import operations as ops
from pymiio.knowledge.model import DeviceModel
from pymiio.lan.faces import DeviceState, SessionView, make_session
from pymiio.protocol import rpc
from pymiio.protocol.dump import log_datagram
from pymiio.protocol.packet import PORT
from pymiio.protocol.pushes import Follower
from pymiio.protocol.session import Call, Hello, IdSource, RetryPolicy
from pymiio.protocol.token import Token

log = logging.getLogger("pymiio.lan.transport")
PUMP_WAIT = 0.5  # seconds a waiting changes() holds the device at a time


class Device(SessionView):
    """One miIO device, synchronously: ``Device(host, token).send("get_prop", ["power"])``."""

    def __init__(self, host: str, token: Token | str | None = None, *, port: int = PORT,
                 timeout: float | None = None, retries: int | None = None,
                 policy: RetryPolicy | None = None, ids: IdSource | None = None) -> None:
        self.host = host
        self.port = port
        self.session = make_session(host, port, token, timeout, retries, policy, ids)
        self._state = DeviceState.NEW
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Let go of the socket; later calls are refused. Idempotent."""
        self._state = DeviceState.CLOSED
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def handshake(self) -> Hello:
        return rpc.hello_of(self._run(rpc.handshake()))

    def send(self, method: str, params: Any = None) -> Any:
        return rpc.result(self._run(rpc.command(method, params)))

    def send_raw(self, message: dict[str, Any] | str | bytes) -> dict[str, Any]:
        return rpc.reply_of(self._run(rpc.raw(message)))

    def info(self) -> dict[str, Any]:
        return rpc.info_of(self.send("miIO.info"))

    def get_properties(self, props: Sequence[dict[str, Any]], *,
                       batch: int = rpc.MIOT_BATCH) -> list[Any]:
        return self._batched("get_properties", props, batch)

    def set_properties(self, props: Sequence[dict[str, Any]], *,
                       batch: int = rpc.MIOT_BATCH) -> list[Any]:
        return self._batched("set_properties", props, batch)

    def _batched(self, method: str, props: Sequence[dict[str, Any]], batch: int) -> list[Any]:
        out: list[Any] = []
        for chunk in rpc.batches(props, batch):
            out.extend(rpc.miot_items(self.send(method, chunk), len(chunk)))
        return out

    def action(self, siid: int, aiid: int, args: Sequence[Any] = (), did: str = "call") -> Any:
        return self.send("action", rpc.action_params(did, siid, aiid, args))

    # -- named control (device knowledge): the same operations as AsyncDevice --------------

    def status(self, model: DeviceModel) -> list[ops.Reading]:
        return ops.drive_sync(self.send, ops.status(model))

    def get(self, model: DeviceModel, names: Iterable[str]) -> list[ops.Reading]:
        return ops.drive_sync(self.send, ops.get(model, names))

    def set(self, model: DeviceModel, values: dict[str, Any]) -> list[ops.Outcome]:
        return ops.drive_sync(self.send, ops.write(model, values))

    def run(self, model: DeviceModel, action: str, args: Sequence[Any] = ()) -> dict[str, Any]:
        return ops.drive_sync(self.send, ops.act(model, action, args))

    def changes(self, model: DeviceModel, *, interval: float = 10.0,
                start: Iterable[ops.Reading] = ()) -> Iterator[ops.Change]:
        """As ``AsyncDevice.changes``: pushes at once, polling every ``interval`` seconds,
        the subscription renewed, each consumer (several threads may follow one device) with
        its own bounded queue."""
        tracker = ops.Tracker(model)
        tracker.readings(start)
        with self.session.pushes.follow(tracker.push) as follower:
            if not tracker.values:
                tracker.readings(self.status(model))
            subscription = ops.Subscription()
            clock = time.monotonic
            next_poll = clock() + interval
            while True:
                if model.kind == "miot" and subscription.due(clock(),
                                                             self.session.device_stamp):
                    subscription.done(clock(), self._subscribe())
                while (change := follower.pop()) is not None:
                    yield change
                wake_at = min(next_poll, subscription.at or next_poll)
                if clock() < wake_at:
                    self._pump(wake_at, follower)
                    continue
                if clock() < next_poll:
                    continue  # a renewal is due, not a poll
                next_poll = clock() + interval
                try:
                    yield from tracker.readings(self.status(model))
                except MiioTimeoutError:
                    continue

    def _subscribe(self) -> bool:
        """``miIO.sub``; False when the device did not take it."""
        try:
            self.send(*ops.subscribe_request(time.time()))
        except MiioError:
            return False
        return True

    def _pump(self, until: float, follower: Follower[Any]) -> None:
        """Take a datagram the device sends between calls (a push), waiting until ``until``
        at most, and at most ``PUMP_WAIT`` seconds at a time: the lock is held while waiting,
        and other threads' calls on this device (or their pumps) must get their turn. Returns
        at once when ``follower`` has something (another thread's pump may have fed it)."""
        with self._lock:
            self._refuse_if_closed()
            sock = self._socket()
            wait = min(until - time.monotonic(), PUMP_WAIT)
            if wait <= 0 or follower.items:
                return
            sock.settimeout(wait)
            try:
                data = sock.recv(65535)
            except (TimeoutError, OSError):
                return
            log_datagram(log, "recv", (self.host, self.port), data)
            self._transmit(sock, self.session.receive(data, time.monotonic()))

    # -- driving the session ------------------------------------------------------------

    def _socket(self) -> socket.socket:
        if self._sock is None:
            address = self._resolve()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                # A connected UDP socket only receives from the device: foreign datagrams
                # never reach the session.
                sock.connect(address)
            except OSError as exc:
                sock.close()
                raise UnreachableError(f"cannot send to {self.session.label}: "
                                       f"{exc.strerror or exc}") from None
            self._sock = sock
            self._state = DeviceState.OPEN
        return self._sock

    def _resolve(self) -> tuple[str, int]:
        """The same rules as ``transport.resolve``: strict addresses, names looked up once."""
        if is_ipv4(self.host):
            return self.host, self.port
        check_host(self.host)
        try:
            infos = socket.getaddrinfo(self.host, self.port, socket.AF_INET, socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnreachableError(f"cannot resolve {self.host!r}: "
                                   f"{getattr(exc, 'strerror', exc)}") from None
        return str(infos[0][4][0]), int(infos[0][4][1])

    def _run(self, call: Call) -> Call:
        with self._lock:
            self._refuse_if_closed()
            sock = self._socket()
            try:
                self._drive(sock, call)
            finally:
                if not call.done:  # only an interrupted call needs an error built
                    self.session.abort(MiioError(f"{self.session.label}: the call was "
                                                 "interrupted"))
        return call

    def _drive(self, sock: socket.socket, call: Call) -> None:
        session = self.session
        clock = time.monotonic
        self._transmit(sock, session.start(call, clock()))
        while not call.done:
            if self._state is DeviceState.CLOSED:
                session.abort(ClosedError(f"{session.label}: closed while a call was in flight"))
                return
            timer = session.timer
            wait = 0.0 if timer is None else timer - clock()
            if wait <= 0:
                self._transmit(sock, session.expire(clock()))
                continue
            sock.settimeout(wait)
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            except OSError as exc:  # ICMP refused / unreachable: loss, named if it gives up
                session.send_failed(exc, clock())
                continue
            log_datagram(log, "recv", (self.host, self.port), data)
            self._transmit(sock, session.receive(data, clock()))

    def _transmit(self, sock: socket.socket, datagrams: list[bytes]) -> None:
        for data in datagrams:
            log_datagram(log, "send", (self.host, self.port), data)
            try:
                sock.send(data)
            except OSError as exc:
                self.session.send_failed(exc, time.monotonic())
