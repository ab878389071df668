"""Sans-I/O client session with one device: handshake, stamps, request ids, retries.

The session never touches a socket or a clock. A driver (asyncio in ``pymiio.client``, blocking
sockets in ``pymiio.sync``) feeds it datagrams and the current monotonic time and sends what it
returns; ``timer`` says when to call :meth:`Session.expire` next. Keeping every rule here means
both drivers behave identically and the rules are testable with a fake clock.

Rules (PROTOCOL.md §4-5):
- handshake before the first command, after a timeout and after a long silence; the stamp sent is
  the device's stamp plus the time elapsed since it was heard, refreshed from every packet;
- a reply counts only when its id is one this call sent; anything else is dropped;
- every attempt carries a fresh id (a device may ignore ids it has seen), and a reply to any
  attempt of the call completes it, so a short first timeout costs nothing on a slow device;
- attempt timeouts adapt to the measured round trip (TCP-style), back off, and stop at the
  caller's deadline; -9999 and -30001 are retried with a new id, other device errors end the call.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from pymiio.errors import (
    ChecksumError,
    MiioError,
    MiioTimeoutError,
    PayloadError,
    ProtocolError,
    TokenError,
    UnreachableError,
    WrongTokenError,
)
from pymiio.protocol.message import RETRYABLE_CODES, decode_reply, encode_json, error_code
from pymiio.protocol.packet import (
    HEADER_SIZE,
    HELLO,
    DeviceIdHalves,
    build_packet,
    parse_packet,
)
from pymiio.protocol.token import Token

log = logging.getLogger("pymiio.session")

MAX_ID: Final = 9999


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long and how often a call tries. ``timeout`` is the whole call's deadline."""

    timeout: float = 5.0
    retries: int = 10
    first_attempt: float = 0.5
    min_attempt: float = 0.1
    max_attempt: float = 1.0
    backoff: float = 1.5
    silence: float = 120.0
    id_jump: int = 100


class IdSource(Protocol):
    """Hands out request ids per device id; ``skip`` jumps ahead (after a timeout)."""

    def next_id(self, device_id: int, skip: int = 0) -> int: ...


def advance_id(current: int, step: int) -> int:
    """``current + step`` wrapped into 1..9999, as both peers keep ids below 10000."""
    return (current - 1 + step) % MAX_ID + 1


class MemoryIds:
    """Per-device id counters held in memory only (tests, simulators, throwaway scripts)."""

    def __init__(self, start: int = 1) -> None:
        self._start = start
        self._next: dict[int, int] = {}

    def next_id(self, device_id: int, skip: int = 0) -> int:
        value = advance_id(self._next.get(device_id, self._start), skip)
        self._next[device_id] = advance_id(value, 1)
        return value


@dataclass(frozen=True, slots=True)
class Hello(DeviceIdHalves):
    """What a hello reply told us."""

    device_id: int
    stamp: int
    token: Token | None


@dataclass(slots=True)
class Call:
    """One request from start to outcome. ``request`` None means a bare handshake.

    ``request`` holds the JSON object to send; with ``fixed_id`` its own id is kept on every
    attempt (``send_raw``), otherwise the session stamps a fresh id into each attempt.
    """

    request: dict[str, Any] | None = None
    fixed_id: bool = False
    reply: dict[str, Any] | None = None
    hello: Hello | None = None
    error: MiioError | None = None
    done: bool = False
    attempts: int = 0
    started: float = 0.0
    hello_sent: float = 0.0
    deadline: float = 0.0
    timer: float = 0.0
    handshaking: bool = False
    hello_answered: bool = False
    checksum_failures: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)


class Session:
    """The client side of one device's conversation; see the module docstring."""

    def __init__(self, token: Token | None, ids: IdSource,
                 policy: RetryPolicy | None = None, label: str = "device") -> None:
        self.token = token
        self.ids = ids
        self.policy = policy or RetryPolicy()
        self.label = label
        self.hello: Hello | None = None
        self.call: Call | None = None
        self._stamp = 0
        self._stamp_at = 0.0
        self._last_heard = -math.inf
        self._srtt: float | None = None
        self._rttvar = 0.0

    # -- what the driver asks -------------------------------------------------------------

    @property
    def timer(self) -> float | None:
        """Monotonic time at which :meth:`expire` is due, None when idle."""
        call = self.call
        return call.timer if call is not None and not call.done else None

    def stamp(self, now: float) -> int:
        """The stamp to send now: the device's last stamp plus the seconds since."""
        return self._stamp + int(now - self._stamp_at)

    def attempt_timeout(self, attempt: int) -> float:
        """Timeout of attempt ``attempt`` (0-based): RTO from measured round trips, backed off."""
        p = self.policy
        base = p.first_attempt if self._srtt is None else 2 * self._srtt + 4 * self._rttvar
        return min(p.max_attempt, max(p.min_attempt, base) * p.backoff ** attempt)

    # -- driving a call -----------------------------------------------------------------

    def start(self, call: Call, now: float, deadline: float | None = None) -> list[bytes]:
        """Begin ``call``; returns the datagrams to send."""
        if self.call is not None and not self.call.done:
            raise RuntimeError("a session runs one call at a time")
        self.call = call
        call.started = now
        call.deadline = now + (self.policy.timeout if deadline is None else deadline)
        known = self.hello is not None and self._usable_token() is not None
        if call.request is None or not known:
            call.handshaking = True
            return self._arm(call, now, [HELLO])
        if now - self._last_heard > self.policy.silence:
            return self._arm(call, now, [HELLO, self._command(call, now, skip=0)])
        return self._arm(call, now, [self._command(call, now, skip=0)])

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """Feed a datagram from the device's address; returns datagrams to send in answer."""
        call = self.call
        if len(data) == HEADER_SIZE:
            return self._on_hello(data, now, call)
        if call is None or call.done or call.handshaking:
            log.debug("%s: dropped a reply with no request waiting for it", self.label)
            return []
        return self._on_reply(data, now, call)

    def expire(self, now: float) -> list[bytes]:
        """The attempt timer ran out: retry (with a fresh handshake) or give up."""
        call = self.call
        if call is None or call.done or now + 0.001 < call.timer:
            return []
        if call.attempts >= self.policy.retries or now >= call.deadline:
            self._finish(call, error=self._timeout_error(call, now))
            return []
        call.attempts += 1
        if call.handshaking:
            return self._arm(call, now, [HELLO])
        skip = 0 if call.fixed_id else self.policy.id_jump
        return self._arm(call, now, [HELLO, self._command(call, now, skip=skip)])

    # -- internals ----------------------------------------------------------------------

    def _arm(self, call: Call, now: float, datagrams: list[bytes]) -> list[bytes]:
        call.timer = min(now + self.attempt_timeout(call.attempts), call.deadline)
        if datagrams[0] is HELLO:
            call.hello_sent = now
        return datagrams

    def _usable_token(self) -> Token | None:
        if self.token is not None:
            return self.token
        return self.hello.token if self.hello is not None else None

    def _command(self, call: Call, now: float, skip: int) -> bytes:
        token = self._usable_token()
        hello = self.hello
        assert token is not None and hello is not None and call.request is not None
        request = call.request
        if not call.fixed_id:
            request = {"id": self.ids.next_id(hello.device_id, skip), **request}
        request_id = request.get("id")
        if isinstance(request_id, int):
            call.sent_at[request_id] = now
        return build_packet(token, hello.device_id, self.stamp(now), encode_json(request))

    def _heard(self, stamp: int, now: float) -> None:
        self._stamp, self._stamp_at, self._last_heard = stamp, now, now

    def _on_hello(self, data: bytes, now: float, call: Call | None) -> list[bytes]:
        try:
            packet = parse_packet(data)
        except ProtocolError as exc:
            log.debug("%s: dropped a malformed hello reply: %s", self.label, exc)
            return []
        if packet.is_hello_request:
            return []
        hello = Hello(packet.device_id, packet.stamp, packet.revealed_token)
        self.hello = hello
        self._heard(packet.stamp, now)
        if call is None or call.done:
            return []
        call.hello_answered = True
        call.hello = hello
        if not call.handshaking:
            return []
        self._sample_rtt(now - call.hello_sent)
        if call.request is None:
            self._finish(call)
            return []
        if self._usable_token() is None:
            self._finish(call, error=TokenError(
                f"{self.label} hides its token in the hello reply; give the token "
                "(--token, MIIO_TOKEN or the device inventory)"))
            return []
        call.handshaking = False
        return self._arm(call, now, [self._command(call, now, skip=0)])

    def _on_reply(self, data: bytes, now: float, call: Call) -> list[bytes]:
        try:
            packet = parse_packet(data, self._usable_token())
        except ChecksumError:
            call.checksum_failures += 1
            log.debug("%s: dropped a reply whose checksum does not match the token", self.label)
            return []
        except PayloadError as exc:
            self._finish(call, error=exc)
            return []
        except ProtocolError as exc:
            log.debug("%s: dropped a malformed datagram: %s", self.label, exc)
            return []
        self._heard(packet.stamp, now)
        assert packet.payload is not None
        try:
            reply = decode_reply(packet.payload)
        except PayloadError as exc:
            self._finish(call, error=exc)
            return []
        sent = call.sent_at.get(reply.get("id"))  # type: ignore[arg-type]
        if sent is None:
            log.debug("%s: dropped a reply to request id %r (late, duplicate or foreign)",
                      self.label, reply.get("id"))
            return []
        self._sample_rtt(now - sent)
        if (error_code(reply) in RETRYABLE_CODES and not call.fixed_id
                and call.attempts < self.policy.retries and now < call.deadline):
            call.attempts += 1
            return self._arm(call, now, [self._command(call, now, skip=1)])
        call.reply = reply
        self._finish(call)
        return []

    def _sample_rtt(self, rtt: float) -> None:
        """Jacobson/Karels smoothing; unique ids per attempt make every sample unambiguous."""
        if rtt < 0:
            return
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt

    def _timeout_error(self, call: Call, now: float) -> MiioError:
        waited = now - call.started
        tries = call.attempts + 1
        if not call.hello_answered:
            return UnreachableError(
                f"{self.label} did not answer the handshake ({tries} attempts, {waited:.1f} s): "
                "is it on and reachable from this network?")
        if call.checksum_failures:
            return WrongTokenError(
                f"{self.label} answered with a checksum that does not match the token: "
                "the token is wrong")
        if call.request is not None and self.token is not None:
            return WrongTokenError(
                f"{self.label} answered the handshake but not the command ({tries} attempts, "
                f"{waited:.1f} s): the token is probably wrong (devices drop such packets)")
        return MiioTimeoutError(f"{self.label} did not answer within {waited:.1f} s")

    def _finish(self, call: Call, error: MiioError | None = None) -> None:
        call.error = error
        call.done = True
