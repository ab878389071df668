"""``AsyncDevice``: the asyncio face of one device, driving a sans-I/O :class:`Session`.

Requests to one device run one after another (a device handles one at a time); different
devices run in parallel over one shared UDP endpoint, so polling a fleet is a plain
``asyncio.gather``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from pymiio.ids import default_ids
from pymiio.protocol import rpc
from pymiio.protocol.packet import PORT
from pymiio.protocol.session import Call, Hello, IdSource, RetryPolicy, Session
from pymiio.protocol.token import Token
from pymiio.transport import Address, UdpEndpoint, resolve, shared_endpoint


def make_session(host: str, port: int, token: Token | str | None, timeout: float | None,
                 retries: int | None, policy: RetryPolicy | None,
                 ids: IdSource | None) -> Session:
    """The session both device faces start from: token checked, policy from the arguments."""
    base = policy or DEFAULT_POLICY
    overrides: dict[str, Any] = {}
    if timeout is not None:
        overrides["timeout"] = timeout
    if retries is not None:
        overrides["retries"] = retries
    if overrides:
        base = RetryPolicy(**{**_policy_fields(base), **overrides})
    label = host if port == PORT else f"{host}:{port}"
    return Session(None if token is None else token_of(token), ids or default_ids(), base, label)


DEFAULT_POLICY = RetryPolicy()


@functools.lru_cache(maxsize=4096)
def _token_from_text(text: str) -> Token:
    return Token(text)


def token_of(value: Token | str) -> Token:
    """A Token; strings are parsed once (key and cipher derivation is the costly part), so
    re-creating device objects for a fleet every poll costs no new derivations."""
    return value if isinstance(value, Token) else _token_from_text(value)


def _policy_fields(policy: RetryPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in policy.__slots__}


class SessionView:
    """What both device faces tell about their session."""

    session: Session

    @property
    def token(self) -> Token | None:
        """The token in use: the caller's, or the one the device revealed."""
        session = self.session
        return session.token or (session.hello.token if session.hello else None)

    @property
    def hello(self) -> Hello | None:
        """The last hello reply (device id, stamp, revealed token), None before the handshake."""
        return self.session.hello


class AsyncDevice(SessionView):
    """One miIO device. Use as ``async with AsyncDevice(host, token) as dev: ...``.

    ``timeout`` bounds each call as a whole (retries included); ``retries`` caps how many times
    a call is sent again. Without a token, the token a device reveals in its hello is used.
    """

    def __init__(self, host: str, token: Token | str | None = None, *, port: int = PORT,
                 timeout: float | None = None, retries: int | None = None,
                 policy: RetryPolicy | None = None, ids: IdSource | None = None,
                 endpoint: UdpEndpoint | None = None) -> None:
        self.host = host
        self.port = port
        self.session = make_session(host, port, token, timeout, retries, policy, ids)
        self._endpoint = endpoint
        self._owns_endpoint = endpoint is None
        self._address: Address | None = None
        self._lock = asyncio.Lock()
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    async def __aenter__(self) -> AsyncDevice:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        """Resolve the host and register with the endpoint (done on first use otherwise)."""
        if self._address is not None:
            return
        self._address = await resolve(self.host, self.port)
        if self._endpoint is None:
            self._endpoint = await shared_endpoint()
        self._endpoint.routes[self._address] = self._datagram

    async def close(self) -> None:
        if self._address is None or self._endpoint is None:
            return
        if self._endpoint.routes.get(self._address) == self._datagram:
            del self._endpoint.routes[self._address]
        if self._owns_endpoint:
            self._endpoint.release()
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
        result = await self.send("miIO.info")
        return result if isinstance(result, dict) else {"result": result}

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
            out.extend(await self.send(method, chunk))
        return out

    async def action(self, siid: int, aiid: int, args: Sequence[Any] = (),
                     did: str = "call") -> Any:
        """MIoT ``action``: returns ``{"code": .., "out": [..]}``."""
        return await self.send("action", rpc.action_params(did, siid, aiid, args))

    # -- driving the session ------------------------------------------------------------

    async def _run(self, call: Call) -> Call:
        if self._address is None:
            await self.open()
        async with self._lock:
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            try:
                self._transmit(self.session.start(call, loop.time()))
                self._settle()
                await self._waiter
            finally:
                if not call.done:
                    call.done = True  # cancelled: late replies must not complete it
                self._cancel_timer()
                self._waiter = None
        return call

    def _datagram(self, data: bytes) -> None:
        self._transmit(self.session.receive(data, asyncio.get_running_loop().time()))
        self._settle()

    def _expire(self) -> None:
        self._timer = self._timer_at = None
        self._transmit(self.session.expire(asyncio.get_running_loop().time()))
        self._settle()

    def _transmit(self, datagrams: list[bytes]) -> None:
        endpoint, address = self._endpoint, self._address
        assert endpoint is not None and address is not None
        for data in datagrams:
            endpoint.send(data, address)

    def _settle(self) -> None:
        """Wake the caller when the call is over, else keep the timer where the session wants."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        call = self.session.call
        if call is None or call.done:
            waiter.set_result(None)
            return
        when = self.session.timer
        if when != self._timer_at:
            self._cancel_timer()
            if when is not None:
                self._timer = asyncio.get_running_loop().call_at(when, self._expire)
                self._timer_at = when

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None
