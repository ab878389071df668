"""The sans-I/O session's rules, driven with a fake clock (no sockets, no sleeping)."""

from __future__ import annotations

import json

import pytest

from pymiio import MiioTimeoutError, Token, TokenError, UnreachableError, WrongTokenError
from pymiio.protocol import HELLO, build_packet, hello_reply, parse_packet
from pymiio.protocol.session import Call, MemoryIds, RetryPolicy, Session, advance_id

from .conftest import TOKEN

TOK = Token(TOKEN)
DID = 0x0A0B0C0D


def _request(data: bytes) -> dict[str, object]:
    packet = parse_packet(data, TOK)
    assert packet.payload is not None
    return json.loads(packet.payload)


def _reply(request_id: object, stamp: int = 500, result: object = ("ok",)) -> bytes:
    body = json.dumps({"id": request_id, "result": list(result)}).encode()
    return build_packet(TOK, DID, stamp, body)


def _connected(policy: RetryPolicy | None = None) -> Session:
    session = Session(TOK, MemoryIds(), policy)
    call = Call()
    assert session.start(call, 0.0) == [HELLO]
    session.receive(hello_reply(DID, 1000, None), 0.01)
    assert call.done and call.hello is not None and call.hello.device_id == DID
    return session


def test_first_command_waits_for_the_handshake_and_stamps_with_elapsed_time() -> None:
    session = Session(TOK, MemoryIds())
    call = Call({"method": "get_prop", "params": ["power"]})
    assert session.start(call, 10.0) == [HELLO]
    [command] = session.receive(hello_reply(DID, 1000, None), 10.2)
    packet = parse_packet(command, TOK)
    assert packet.device_id == DID and packet.stamp == 1000
    assert _request(command)["method"] == "get_prop"
    assert session.receive(_reply(_request(command)["id"], stamp=1000), 10.3) == []
    assert call.done and call.reply is not None
    # Five and a half seconds later the stamp has moved on by five.
    next_call = Call({"method": "x", "params": []})
    [command] = session.start(next_call, 15.8)
    assert parse_packet(command, TOK).stamp == 1005


def test_a_first_call_pauses_after_the_hello_until_ids_are_ready() -> None:
    """Issue 19: with ``ids_ready`` set, hello and command share one exchange when the ids are
    ready, and otherwise the call stops after the hello (no id taken) until ``resume``."""
    ready: set[int] = set()
    session = Session(TOK, MemoryIds())
    session.ids_ready = ready.__contains__
    call = Call({"method": "get_prop", "params": ["power"]})
    assert session.start(call, 0.0) == [HELLO]
    assert session.receive(hello_reply(DID, 1000, None), 0.01) == []
    assert call.done and call.waiting_for_ids and call.reply is None and not call.sent_at
    with pytest.raises(RuntimeError):
        session.resume(Call(), 0.02)  # only a paused call continues
    ready.add(DID)
    [command] = session.resume(call, 0.5)
    assert not call.done and _request(command)["method"] == "get_prop"
    session.receive(_reply(_request(command)["id"]), 0.51)
    assert call.done and call.reply is not None and call.error is None
    again = Session(TOK, MemoryIds())  # ids ready at once: hello answered by the command
    again.ids_ready = ready.__contains__
    second = Call({"method": "get_prop", "params": ["power"]})
    again.start(second, 0.0)
    [command] = again.receive(hello_reply(DID, 1000, None), 0.01)
    assert not second.waiting_for_ids and _request(command)["method"] == "get_prop"


def test_replies_are_matched_by_id_and_strays_dropped() -> None:
    session = _connected()
    call = Call({"method": "get_prop", "params": []})
    [command] = session.start(call, 1.0)
    request_id = _request(command)["id"]
    assert session.receive(_reply(9999), 1.01) == [] and not call.done   # foreign id
    assert session.receive(b"garbage", 1.02) == [] and not call.done     # malformed
    session.receive(_reply(request_id), 1.03)
    assert call.done and call.reply == {"id": request_id, "result": ["ok"]}
    session.receive(_reply(request_id), 1.04)  # the duplicate changes nothing
    assert call.reply == {"id": request_id, "result": ["ok"]}


def test_timeout_rehandshakes_with_a_jumped_id_and_accepts_any_attempts_reply() -> None:
    session = _connected()
    call = Call({"method": "get_prop", "params": []})
    [first] = session.start(call, 1.0)
    first_id = _request(first)["id"]
    assert isinstance(first_id, int)
    timer = session.timer
    assert timer is not None
    hello, retry = session.expire(timer)
    assert hello == HELLO
    assert _request(retry)["id"] == advance_id(first_id, 101)  # next id, jumped by 100
    session.receive(_reply(first_id), timer + 0.01)  # the first attempt's late reply counts
    assert call.done and call.error is None


def test_long_silence_sends_a_hello_ahead_of_the_command() -> None:
    session = _connected(RetryPolicy(silence=120))
    out = session.start(Call({"method": "a", "params": []}), 200.0)
    assert out[0] == HELLO and len(out) == 2


def test_retries_back_off_and_stop_at_the_deadline() -> None:
    policy = RetryPolicy(timeout=2.0, retries=50, min_attempt=0.1, backoff=2.0)
    session = Session(TOK, MemoryIds(), policy)
    call = Call()
    session.start(call, 0.0)
    times = []
    while not call.done:
        timer = session.timer
        assert timer is not None
        times.append(timer)
        session.expire(timer)
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert gaps[1] == pytest.approx(gaps[0] * 2) and times[-1] == pytest.approx(2.0)
    assert isinstance(call.error, UnreachableError)


def test_hello_answered_but_command_not_means_wrong_token() -> None:
    """The device answers every handshake, including those sent after a command: it read the
    command and dropped it, which devices do with a wrong token."""
    session = Session(TOK, MemoryIds(), RetryPolicy(timeout=3.0, retries=2))
    call = Call({"method": "a", "params": []})
    session.start(call, 0.0)
    session.receive(hello_reply(DID, 1, None), 0.01)
    while not call.done:
        timer = session.timer
        assert timer is not None
        for datagram in session.expire(timer):
            if datagram == HELLO:
                session.receive(hello_reply(DID, 1, None), timer + 0.01)
    assert call.attempts == 2 and isinstance(call.error, WrongTokenError)


def test_a_command_merely_unanswered_by_the_deadline_is_a_timeout_not_a_wrong_token() -> None:
    """A loaded machine or a slow network: the handshake was answered, the command's answer
    (and every later handshake's) had not come when the deadline passed. Nothing shows the
    device dropped the command, so the verdict is a timeout (exit 3), not 'wrong token' (4)."""
    session = Session(TOK, MemoryIds(), RetryPolicy(timeout=3.0, retries=5))
    call = Call({"method": "a", "params": []})
    session.start(call, 0.0)
    session.receive(hello_reply(DID, 1, None), 0.01)
    while not call.done:
        timer = session.timer
        assert timer is not None
        session.expire(timer)  # the retries' handshakes get no answer in time either
    assert call.attempts > 1 and call.hello_answered
    assert type(call.error) is MiioTimeoutError
    assert "does not show a wrong token" in str(call.error)


def test_a_first_call_resumed_after_its_deadline_is_a_timeout_not_a_wrong_token() -> None:
    """A thousand devices at once on a loaded machine: a first call waits for its ids (the disk)
    past its deadline; its command never had a chance to be answered."""
    ready: set[int] = set()
    session = Session(TOK, MemoryIds(), RetryPolicy(timeout=5.0))
    session.ids_ready = ready.__contains__
    call = Call({"method": "get_prop", "params": ["power"]})
    session.start(call, 0.0)
    session.receive(hello_reply(DID, 1000, None), 0.01)
    assert call.waiting_for_ids
    ready.add(DID)
    [command] = session.resume(call, 6.0)  # the ids came after the deadline
    assert _request(command)["method"] == "get_prop"
    timer = session.timer
    assert timer is not None
    assert session.expire(timer) == [] and call.done
    assert type(call.error) is MiioTimeoutError


def test_a_lost_reply_then_an_answered_handshake_still_names_the_token() -> None:
    """The device answered a handshake sent after the command, in the same call: it had the
    command. The verdict names the likely causes, the token among them."""
    session = _connected()
    call = Call({"method": "a", "params": []})
    session.start(call, 1.0)  # the command alone (the device was heard lately)
    timer = session.timer
    assert timer is not None
    hello, _retry = session.expire(timer)
    assert hello == HELLO
    session.receive(hello_reply(DID, 1, None), timer + 0.01)
    while not call.done:
        timer = session.timer
        assert timer is not None
        session.expire(timer)
    assert isinstance(call.error, WrongTokenError)


def test_hidden_token_without_a_token_is_a_clear_error() -> None:
    session = Session(None, MemoryIds())
    call = Call({"method": "a", "params": []})
    session.start(call, 0.0)
    session.receive(hello_reply(DID, 1, None), 0.01)
    assert isinstance(call.error, TokenError) and "hides its token" in str(call.error)
    revealing = Session(None, MemoryIds())
    call = Call({"method": "a", "params": []})
    revealing.start(call, 0.0)
    [command] = revealing.receive(hello_reply(DID, 1, TOK), 0.01)
    assert _request(command)["method"] == "a"


def test_retryable_device_errors_get_a_new_id() -> None:
    session = _connected()
    call = Call({"method": "a", "params": []})
    [command] = session.start(call, 1.0)
    first = _request(command)["id"]
    error = build_packet(TOK, DID, 1, json.dumps(
        {"id": first, "error": {"code": -9999, "message": "user ack timeout"}}).encode())
    [again] = session.receive(error, 1.01)
    assert _request(again)["id"] != first and not call.done


def test_ids_wrap_below_ten_thousand() -> None:
    ids = MemoryIds(start=9998)
    assert [ids.next_id(1) for _ in range(3)] == [9998, 9999, 1]
    assert advance_id(9950, 100) == 51
