"""The sans-I/O session paired in memory with the sans-I/O simulated device under a fake clock
(as h11's tests pair two connections): loss, delay, duplicates and late replies, tested
deterministically without sockets or sleeping."""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from pymiio import Token, UnreachableError, WrongTokenError
from pymiio.errors import PayloadError
from pymiio.protocol import HELLO, build_packet, parse_packet
from pymiio.protocol.session import Call, MemoryIds, RetryPolicy, Session
from pymiio.simulator import make_devices
from pymiio.simulator.device import SimulatedDevice

from .conftest import TOKEN

TOK = Token(TOKEN)
# fate(direction, index, data) -> delays: [] drops it, [0.1, 0.3] delivers it twice.
Fate = Callable[[str, int, bytes], list[float]]


def _on_time(direction: str, index: int, data: bytes) -> list[float]:
    return [0.001]


class Link:
    """One session, one device, a fake clock and a programmable network between them."""

    def __init__(self, device: SimulatedDevice, session: Session, fate: Fate = _on_time) -> None:
        self.device, self.session, self.fate = device, session, fate
        self.now = 0.0
        self._queue: list[tuple[float, int, str, bytes]] = []
        self._order = itertools.count()
        self._sent = {"to-device": 0, "to-client": 0}
        self.delivered_to_client: list[bytes] = []

    def send(self, direction: str, datagrams: list[bytes]) -> None:
        for data in datagrams:
            index = self._sent[direction]
            self._sent[direction] += 1
            for delay in self.fate(direction, index, data):
                heapq.heappush(self._queue, (self.now + delay, next(self._order), direction,
                                             data))

    def run(self, call: Call) -> Call:
        self.send("to-device", self.session.start(call, self.now))
        while not call.done:
            timer = self.session.timer
            arrival = self._queue[0][0] if self._queue else None
            if arrival is not None and (timer is None or arrival <= timer):
                self.now, _, direction, data = heapq.heappop(self._queue)
                if direction == "to-device":
                    self.send("to-client", self.device.handle(data, self.now))
                else:
                    self.delivered_to_client.append(data)
                    self.send("to-device", self.session.receive(data, self.now))
            else:
                assert timer is not None
                self.now = max(self.now, timer)
                self.send("to-device", self.session.expire(self.now))
        return call


def _pair(profile: str = "plug", fate: Fate = _on_time,
          policy: RetryPolicy | None = None) -> Link:
    [device] = make_devices("127.0.0.2", token=TOKEN, profile=profile, seed=1)
    return Link(device, Session(TOK, MemoryIds(), policy), fate)


def _command(method: str, params: Any = None) -> Call:
    return Call({"method": method, "params": [] if params is None else params})


def test_stamp_is_the_device_uptime_in_seconds() -> None:
    [device] = make_devices("127.0.0.2", token=TOKEN)
    [first] = device.handle(HELLO, 0.0)
    [later] = device.handle(HELLO, 1.05)
    assert parse_packet(later).stamp == parse_packet(first).stamp + 1


def test_a_delayed_reply_completes_the_call_when_it_arrives() -> None:
    link = _pair(fate=lambda d, i, data: [0.2] if d == "to-client" else [0.001])
    call = link.run(_command("get_prop", ["power"]))
    assert call.reply is not None and call.reply["result"] == ["on"]
    assert link.now >= 0.4  # hello reply and command reply, each 0.2 s late


def test_duplicated_replies_are_dropped_and_results_stay_with_their_requests() -> None:
    link = _pair(fate=lambda d, i, data: [0.001, 0.002] if d == "to-client" else [0.001])
    for name, value in [("power", "on"), ("temperature", 42), ("wifi_led", "off")] * 5:
        call = link.run(_command("get_prop", [name]))
        assert call.reply is not None and call.reply["result"] == [value]


def test_late_replies_to_an_earlier_attempt_still_count() -> None:
    # Every reply arrives after the first attempt's timeout; the reply to attempt one wins.
    link = _pair(fate=lambda d, i, data: [0.7] if d == "to-client" and i > 0 else [0.001])
    call = link.run(_command("get_prop", ["power"]))
    assert call.reply is not None and call.reply["result"] == ["on"] and call.attempts >= 1


def test_loss_is_covered_by_retries() -> None:
    lost = {0, 1, 3}
    link = _pair(fate=lambda d, i, data: [] if d == "to-device" and i in lost else [0.001])
    call = link.run(_command("get_prop", ["power"]))
    assert call.error is None and call.reply is not None and call.attempts >= 2


def test_twenty_percent_loss_each_way_a_thousand_calls_succeed() -> None:
    import random

    rng = random.Random(20)
    link = _pair(fate=lambda d, i, data: [] if rng.random() < 0.2 else [0.002])
    failures = sum(link.run(_command("get_prop", ["power"])).error is not None
                   for _ in range(1000))
    assert failures == 0


def test_total_loss_is_unreachable_within_the_deadline() -> None:
    link = _pair(fate=lambda d, i, data: [], policy=RetryPolicy(timeout=1.0))
    call = link.run(_command("miIO.info"))
    assert isinstance(call.error, UnreachableError) and link.now <= 1.0 + 1e-9


def test_round_trip_samples_follow_karns_rule() -> None:  # 13.9
    """A 0.55 s device: the hello is resent at 0.5 s and the reply to the first hello lands
    at 0.55 s. Timing it against the resend would measure 0.05 s and shrink the next timeout."""
    link = _pair(fate=lambda d, i, data: [0.275])
    policy = link.session.policy
    link.run(Call())  # handshake only
    assert link.session.attempt_timeout(0) == policy.first_attempt  # no sample taken
    call = link.run(_command("get_prop", ["power"]))  # one attempt, unambiguous: 0.55 s
    assert call.attempts == 0 or link.session.attempt_timeout(0) >= 0.55


def test_a_reply_that_does_not_decode_does_not_end_the_call() -> None:  # 14.12
    link = _pair()
    link.run(Call())
    hello = link.session.hello
    assert hello is not None

    def garbled(request_id: int) -> bytes:
        return build_packet(TOK, hello.device_id, 2000, b'{"id": ' + str(request_id).encode()
                            + b', "result": [')

    original = link.device.handle

    def handle(data: bytes, now: float) -> list[bytes]:
        replies = original(data, now)
        if len(data) > 32 and replies:
            request = json.loads(parse_packet(data, TOK).payload or b"{}")
            return [garbled(request["id"]), *replies]  # junk first, then the real reply
        return replies

    link.device.handle = handle  # type: ignore[method-assign]
    call = link.run(_command("get_prop", ["power"]))
    assert call.error is None and call.reply is not None and call.reply["result"] == ["on"]

    link.device.handle = lambda data, now: (  # type: ignore[method-assign]
        [garbled(json.loads(parse_packet(data, TOK).payload or b"{}")["id"])]
        if len(data) > 32 else original(data, now))
    link.session.policy = RetryPolicy(timeout=1.0)
    failed = link.run(_command("get_prop", ["power"]))
    assert isinstance(failed.error, PayloadError) and not isinstance(failed.error, WrongTokenError)
    assert "not with a reply that decodes" in str(failed.error)


@pytest.mark.parametrize("reply_id", [[1], {"a": 1}, True, 1.5, None, "7"])
def test_replies_with_ids_of_any_json_type_are_dropped_not_crashed_on(reply_id: Any) -> None:
    link = _pair()
    link.run(Call())
    hello = link.session.hello
    assert hello is not None
    original = link.device.handle

    def handle(data: bytes, now: float) -> list[bytes]:
        stray = build_packet(TOK, hello.device_id, 1, json.dumps(
            {"id": reply_id, "error": {"code": 1e300}}).encode())
        return [stray, *original(data, now)]

    link.device.handle = handle  # type: ignore[method-assign]
    call = link.run(_command("get_prop", ["power"]))
    assert call.reply is not None and call.reply["result"] == ["on"]


def test_a_repeated_fixed_id_is_retried_with_a_fresh_one() -> None:  # 13.15
    link = _pair(profile="vacuum", policy=RetryPolicy(timeout=5.0))
    first = link.run(Call({"id": 1, "method": "get_status", "params": []}, fixed_id=True))
    assert first.reply is not None and first.reply["id"] == 1
    again = link.run(Call({"id": 1, "method": "get_status", "params": []}, fixed_id=True))
    assert again.error is None and again.reply is not None
    assert again.reply["id"] == 1 and again.fresh_ids  # the caller's id is given back
    assert link.device.stats.repeated_id_drops >= 1
