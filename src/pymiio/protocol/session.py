"""Sans-I/O client session with one device: handshake, stamps, request ids, retries.

The session never touches a socket or a clock. A driver (asyncio in ``pymiio.lan.client``, blocking
sockets in ``pymiio.lan.sync``) feeds it datagrams and the current monotonic time and sends what it
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

import errno
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeGuard

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
from pymiio.protocol.dump import log_json
from pymiio.protocol.message import RETRYABLE_CODES, decode_reply, encode_json, error_code
from pymiio.protocol.packet import (
    HEADER_SIZE,
    HELLO,
    DeviceIdHalves,
    build_packet,
    parse_packet,
)
from pymiio.protocol.pushes import PushStream
from pymiio.protocol.token import Token

log = logging.getLogger("pymiio.session")

MAX_ID: Final = 9999
_FATAL_SEND_ERRNOS: Final = frozenset({errno.EACCES, errno.EPERM, errno.ENETUNREACH,
                                       errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT})


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


class Call:
    """One request from start to outcome. ``request`` None means a bare handshake.

    ``request`` holds the JSON object to send; with ``fixed_id`` its own id is kept on the first
    attempt (``send_raw``), and retries after a timeout use fresh ids (a device ignores an id it
    has seen, so repeating the caller's id could never succeed); the reply then carries the
    caller's id again. Otherwise the session stamps a fresh id into each attempt.

    A plain class, not a dataclass: the fields keep their class defaults until the session
    changes them, so making a call (one per request) sets three attributes instead of
    twenty-one, most of which an answered call never touches.
    """

    request: dict[str, Any] | None
    sent_at: dict[int, float]  # request id -> when it was sent
    fixed_id: bool = False
    reply: dict[str, Any] | None = None
    hello: Hello | None = None
    error: MiioError | None = None
    done: bool = False
    attempts: int = 0
    started: float = 0.0
    hello_sent: float = 0.0
    hellos: int = 0
    deadline: float = 0.0
    timer: float = 0.0
    handshaking: bool = False
    hello_answered: bool = False
    checksum_failures: int = 0
    commands: int = 0  # commands sent
    hello_marks: tuple[int, ...] = ()  # commands sent before each hello, in send order
    hello_replies: int = 0  # hello replies heard while the call waited
    bad_payload: PayloadError | None = None
    network_error: str | None = None
    fresh_ids: bool = False
    waiting_for_ids: bool = False  # paused after the hello; see Session.ids_ready
    resent: frozenset[int] = frozenset()  # ids sent more than once (Karn's rule)

    def __init__(self, request: dict[str, Any] | None = None, fixed_id: bool = False) -> None:
        self.request = request
        self.sent_at = {}
        if fixed_id:
            self.fixed_id = True

    def __repr__(self) -> str:
        method = None if self.request is None else self.request.get("method")
        return (f"Call(method={method!r}, done={self.done}, attempts={self.attempts}, "
                f"error={self.error!r})")


class Session:
    """The client side of one device's conversation; see the module docstring."""

    def __init__(self, token: Token | None, ids: IdSource,
                 policy: RetryPolicy | None = None, label: str = "device") -> None:
        self.token = token
        self.ids = ids
        self.policy = policy or RetryPolicy()
        self.label = label
        self.hello: Hello | None = None
        self.revealed: Token | None = None  # kept once seen: a device hides it when provisioned
        self.call: Call | None = None
        # Set by a driver that must not let the id source touch the disk on its thread: when
        # a first hello names a device for which this says False, the call ends as
        # ``waiting_for_ids`` instead of sending its command; the driver reserves the ids
        # elsewhere and continues with :meth:`resume`. None: the id source is always used.
        self.ids_ready: Callable[[int], bool] | None = None
        # Requests the device sends (MIoT push: properties_changed, event_occured) are
        # published here for any number of followers. Each is acknowledged; a repeat (an id
        # seen lately) is acknowledged again but not published twice.
        self.pushes = PushStream()
        self._pushes_seen: deque[int] = deque(maxlen=64)
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

    @property
    def device_stamp(self) -> int | None:
        """The stamp (the device's uptime) in the last packet heard; None before any. A stamp
        lower than an earlier one means the device rebooted."""
        return None if self._last_heard == -math.inf else self._stamp

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
            return self._attempt(call, now, skip=0, hello=True)
        return self._attempt(call, now, skip=0)

    def resume(self, call: Call, now: float) -> list[bytes]:
        """Continue a call that ended ``waiting_for_ids``: its command goes out now, within the
        call's original deadline."""
        if not call.waiting_for_ids or call.hello is None:
            raise RuntimeError("only a call waiting for ids can be resumed")
        if self.call is not None and not self.call.done:
            raise RuntimeError("a session runs one call at a time")
        self.call = call
        call.waiting_for_ids = call.done = False
        return self._attempt(call, now, skip=0)

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """Feed a datagram from the device's address; returns datagrams to send in answer."""
        call = self.call
        if len(data) == HEADER_SIZE:
            return self._on_hello(data, now, call)
        if call is None or call.done or call.handshaking:
            return self._on_idle_datagram(data, now)
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
        if call.fixed_id and not call.fresh_ids:
            call.fresh_ids = True
            log.debug("%s: no answer to the caller's id %r; retrying with fresh ids (a device "
                      "ignores an id it has seen)", self.label, _request_id(call))
        return self._attempt(call, now, skip=self.policy.id_jump, hello=True)

    def abort(self, error: MiioError) -> None:
        """End the call in progress with ``error`` (closed device, cancelled or interrupted
        caller). Both drivers call this in ``finally``, so a session is never left busy."""
        call = self.call
        if call is not None and not call.done:
            self._finish(call, error=error)

    def send_failed(self, exc: OSError, now: float) -> None:
        """The driver could not send a datagram (h11's ``send_failed``).

        A refusal that will not change (not permitted, no route, too large) ends the call at
        once; anything else (ICMP unreachable, a full buffer) counts as loss, which the retries
        cover, and is named if the call gives up.
        """
        call = self.call
        if call is None or call.done:
            return
        reason = exc.strerror or str(exc) or type(exc).__name__
        if exc.errno == errno.EMSGSIZE:
            self._finish(call, error=PayloadError(
                f"{self.label}: the command is too large for one datagram ({reason})"))
        elif exc.errno in _FATAL_SEND_ERRNOS:
            self._finish(call, error=UnreachableError(
                f"cannot send to {self.label}: {reason}"
                + (" (a broadcast address, or a firewall rule?)"
                   if exc.errno in (errno.EACCES, errno.EPERM) else "")))
        else:
            call.network_error = reason

    # -- internals ----------------------------------------------------------------------

    def _attempt(self, call: Call, now: float, skip: int, hello: bool = False) -> list[bytes]:
        """The datagrams of one attempt; a command that cannot be built ends the call at once
        (this runs inside a driver's datagram or timer callback, where raising would hang it)."""
        try:
            command = self._command(call, now, skip)
        except MiioError as exc:
            self._finish(call, error=exc)
            return []
        return self._arm(call, now, [HELLO, command] if hello else [command])

    def _arm(self, call: Call, now: float, datagrams: list[bytes]) -> list[bytes]:
        call.timer = min(now + self.attempt_timeout(call.attempts), call.deadline)
        if datagrams[0] is HELLO:
            call.hello_sent = now
            call.hellos += 1
            call.hello_marks += (call.commands,)
        call.commands += len(datagrams) - (datagrams[0] is HELLO)
        return datagrams

    def _usable_token(self) -> Token | None:
        return self.token if self.token is not None else self.revealed

    def _command(self, call: Call, now: float, skip: int) -> bytes:
        token = self._usable_token()
        hello = self.hello
        if token is None or hello is None or call.request is None:
            raise TokenError(f"{self.label}: no token to sign the command with")
        request = call.request
        if not call.fixed_id:
            request = {"id": self.ids.next_id(hello.device_id, skip), **request}
        elif call.fresh_ids:  # the id goes first, as firmware and other clients expect
            fresh = self.ids.next_id(hello.device_id, skip)
            request = {"id": fresh, **{k: v for k, v in request.items() if k != "id"}}
        request_id = request.get("id")
        if _is_id(request_id):
            if request_id in call.sent_at:
                call.resent |= {request_id}  # Karn: a reply to it no longer times the path
            call.sent_at[request_id] = now
        payload = encode_json(request)
        log_json(log, "request", self.label, payload)
        return build_packet(token, hello.device_id, self.stamp(now), payload)

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
        if hello.token is not None:
            self.revealed = hello.token
        self._heard(packet.stamp, now)
        if call is None or call.done:
            return []
        call.hello_answered = True
        call.hello_replies += 1
        call.hello = hello
        if not call.handshaking:
            return []
        if call.hellos == 1:  # Karn's rule: after a resend, whose reply is this?
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
        if self.ids_ready is not None and not self.ids_ready(hello.device_id):
            call.waiting_for_ids = True
            self._finish(call)
            return []
        return self._attempt(call, now, skip=0)

    def _on_reply(self, data: bytes, now: float, call: Call) -> list[bytes]:
        try:
            packet = parse_packet(data, self._usable_token())
        except ChecksumError:
            call.checksum_failures += 1
            log.debug("%s: dropped a reply whose checksum does not match the token", self.label)
            return []
        except PayloadError as exc:
            return self._bad_payload(call, exc)
        except ProtocolError as exc:
            log.debug("%s: dropped a malformed datagram: %s", self.label, exc)
            return []
        self._heard(packet.stamp, now)
        assert packet.payload is not None
        log_json(log, "reply", self.label, packet.payload)
        try:
            reply = decode_reply(packet.payload)
        except PayloadError as exc:
            return self._bad_payload(call, exc)
        if "method" in reply:
            return self._push(reply, packet.device_id, now)
        reply_id = reply.get("id")
        sent = call.sent_at.get(reply_id) if _is_id(reply_id) else None
        if sent is None:
            log.debug("%s: dropped a reply to request id %s (late, duplicate or foreign)",
                      self.label, _short(reply_id))
            return []
        if reply_id not in call.resent:
            self._sample_rtt(now - sent)
        if (error_code(reply) in RETRYABLE_CODES and not call.fixed_id
                and call.attempts < self.policy.retries and now < call.deadline):
            call.attempts += 1
            return self._attempt(call, now, skip=1)
        if call.fresh_ids and call.request is not None and "id" in call.request:
            reply = {**reply, "id": call.request["id"]}
        call.reply = reply
        self._finish(call)
        return []

    def _on_idle_datagram(self, data: bytes, now: float) -> list[bytes]:
        """A datagram while no call waits: only a device's own request (a push) matters."""
        token = self._usable_token()
        try:
            packet = parse_packet(data, token)
            message = decode_reply(packet.payload if packet.payload is not None else b"")
        except ProtocolError as exc:
            log.debug("%s: dropped a datagram while idle: %s", self.label, exc)
            return []
        self._heard(packet.stamp, now)
        if "method" not in message:
            log.debug("%s: dropped a reply with no request waiting for it", self.label)
            return []
        return self._push(message, packet.device_id, now)

    def _push(self, message: dict[str, Any], device_id: int, now: float) -> list[bytes]:
        """Publish a device's request to the push stream (once per id) and acknowledge it."""
        push_id = message.get("id")
        token = self._usable_token()
        if not _is_id(push_id) or token is None:
            return []
        if push_id not in self._pushes_seen:
            self._pushes_seen.append(push_id)
            log_json(log, "push", self.label, encode_json(message))
            self.pushes.publish(message)
        ack = encode_json({"id": push_id, "result": {"code": 0}})
        return [build_packet(token, device_id, self.stamp(now), ack)]

    def _bad_payload(self, call: Call, exc: PayloadError) -> list[bytes]:
        """A reply that verified but does not decode: keep waiting, as the right reply may
        follow; if none does, the call ends with this error rather than blaming the token."""
        call.bad_payload = exc
        log.debug("%s: dropped a reply that does not decode: %s", self.label, exc)
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
        network = f"; the network said: {call.network_error}" if call.network_error else ""
        if not call.hello_answered:
            return UnreachableError(
                f"{self.label} did not answer the handshake ({tries} attempts, {waited:.1f} s): "
                f"is it on and reachable from this network?{network}")
        if call.bad_payload is not None:
            return PayloadError(f"{self.label} answered, but not with a reply that decodes: "
                                f"{call.bad_payload}", call.bad_payload.raw)
        if call.checksum_failures:
            return WrongTokenError(
                f"{self.label} answered with a checksum that does not match the token: "
                "the token is wrong")
        if call.request is not None and self.token is not None:
            if not self._ignored_commands(call):
                return MiioTimeoutError(
                    f"{self.label} answered the handshake, but no answer to the command came "
                    f"within {waited:.1f} s ({tries} attempts): a slow device, network or "
                    "machine (try a longer --timeout); it answered no handshake sent after the "
                    "command, so this does not show a wrong token")
            return WrongTokenError(
                f"{self.label} answered the handshake but not the command ({tries} attempts, "
                f"{waited:.1f} s). Likely causes, in order: a request id the device has seen "
                "already (retried with fresh ids), a device too slow for the timeout (try a "
                "longer --timeout), a wrong token (devices drop such packets)")
        return MiioTimeoutError(f"{self.label} did not answer within {waited:.1f} s")

    @staticmethod
    def _ignored_commands(call: Call) -> int:
        """Commands the device evidently dropped: those sent before the latest handshake it
        answered. A device answers in order, so a command sent ahead of an answered hello was
        read and dropped (a wrong token, a seen id, a lost reply); one still unanswered with no
        later hello answered may merely be slow (a loaded machine, a late resume, a slow
        network), which is a timeout, not a verdict on the token."""
        if not call.hello_replies or not call.hello_marks:
            return 0
        return call.hello_marks[min(call.hello_replies, len(call.hello_marks)) - 1]

    def _finish(self, call: Call, error: MiioError | None = None) -> None:
        call.error = error
        call.done = True


def _is_id(value: object) -> TypeGuard[int]:
    """Request ids are integers (a bool is not one); any other JSON type is foreign."""
    return type(value) is int


def _request_id(call: Call) -> object:
    return None if call.request is None else call.request.get("id")


def _short(value: object) -> str:
    text = repr(value) if isinstance(value, int | str | None) else type(value).__name__
    return text[:40]
