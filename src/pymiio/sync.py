"""``Device``: the synchronous face, for scripts and the CLI.

It drives the same sans-I/O :class:`Session` as ``AsyncDevice`` with a plain blocking socket,
so it needs no event loop of its own and works the same from a thread that already runs one.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from pymiio.client import SessionView, make_session
from pymiio.errors import UnreachableError
from pymiio.protocol import rpc
from pymiio.protocol.dump import log_datagram
from pymiio.protocol.packet import PORT
from pymiio.protocol.session import Call, Hello, IdSource, RetryPolicy
from pymiio.protocol.token import Token

log = logging.getLogger("pymiio.transport")


class Device(SessionView):
    """One miIO device, synchronously: ``Device(host, token).send("get_prop", ["power"])``."""

    def __init__(self, host: str, token: Token | str | None = None, *, port: int = PORT,
                 timeout: float | None = None, retries: int | None = None,
                 policy: RetryPolicy | None = None, ids: IdSource | None = None) -> None:
        self.host = host
        self.port = port
        self.session = make_session(host, port, token, timeout, retries, policy, ids)
        self._sock: socket.socket | None = None

    def __enter__(self) -> Device:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def handshake(self) -> Hello:
        return rpc.hello_of(self._run(rpc.handshake()))

    def send(self, method: str, params: Any = None) -> Any:
        return rpc.result(self._run(rpc.command(method, params)))

    def send_raw(self, message: dict[str, Any] | str | bytes) -> dict[str, Any]:
        return rpc.reply_of(self._run(rpc.raw(message)))

    def info(self) -> dict[str, Any]:
        result = self.send("miIO.info")
        return result if isinstance(result, dict) else {"result": result}

    def get_properties(self, props: Sequence[dict[str, Any]], *,
                       batch: int = rpc.MIOT_BATCH) -> list[Any]:
        return self._batched("get_properties", props, batch)

    def set_properties(self, props: Sequence[dict[str, Any]], *,
                       batch: int = rpc.MIOT_BATCH) -> list[Any]:
        return self._batched("set_properties", props, batch)

    def _batched(self, method: str, props: Sequence[dict[str, Any]], batch: int) -> list[Any]:
        out: list[Any] = []
        for chunk in rpc.batches(props, batch):
            out.extend(self.send(method, chunk))
        return out

    def action(self, siid: int, aiid: int, args: Sequence[Any] = (), did: str = "call") -> Any:
        return self.send("action", rpc.action_params(did, siid, aiid, args))

    # -- driving the session ------------------------------------------------------------

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                # A connected UDP socket only receives from the device: foreign datagrams
                # never reach the session.
                sock.connect((self.host, self.port))
            except OSError as exc:
                sock.close()
                raise UnreachableError(f"cannot reach {self.host}: {exc.strerror or exc}") from None
            self._sock = sock
        return self._sock

    def _run(self, call: Call) -> Call:
        sock = self._socket()
        session = self.session
        clock = time.monotonic
        address = (self.host, self.port)
        for data in session.start(call, clock()):
            log_datagram(log, "send", address, data)
            sock.send(data)
        while not call.done:
            timer = session.timer
            wait = 0.0 if timer is None else timer - clock()
            if wait <= 0:
                out = session.expire(clock())
            else:
                sock.settimeout(wait)
                try:
                    data = sock.recv(65535)
                except (TimeoutError, ConnectionRefusedError):
                    continue  # nobody listening yet: the session decides when to give up
                log_datagram(log, "recv", address, data)
                out = session.receive(data, clock())
            for data in out:
                log_datagram(log, "send", address, data)
                sock.send(data)
        return call
