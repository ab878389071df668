"""Issue 25 items 2-4: one stream of pushes per device that any number of consumers follow,
subscriptions made at once and renewed (every ten minutes, after a reboot), and events from a
simulated device through ``changes()``, ``miio watch`` and the bridge (real sockets, a real
Mosquitto of the test's own)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from pymiio import AsyncDevice, Device
from pymiio.bridge.core import Bridge, Settings
from pymiio.bridge.options import parse_broker
from pymiio.errors import UsageError
from pymiio.inventory import Entry
from pymiio.knowledge.miot_spec import parse_spec_text
from pymiio.knowledge.model import DeviceModel
from pymiio.knowledge.operations import Change, Subscription, Tracker
from pymiio.protocol import HELLO, build_packet, hello_reply, parse_packet
from pymiio.protocol.pushes import PushStream
from pymiio.protocol.session import Call, MemoryIds, Session
from pymiio.protocol.token import Token
from pymiio.simulator import Simulator, make_devices
from pymiio.simulator.device import SimulatedDevice
from pymiio.simulator.profiles import spec_profile

from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .helpers import running, simulator_thread
from .mqtt_broker import Broker
from .test_bridge import watching

TRAPS_FILE = Path(__file__).with_name("specs") / "traps.json"
TRAPS = parse_spec_text(TRAPS_FILE.read_bytes(), "pymiio.traps.v1")


def _thing(host: str) -> SimulatedDevice:
    [device] = make_devices(host, token=TOKEN, profile=spec_profile(TRAPS))
    return device


async def _until(check: Any, timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not check():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(loop(), timeout)


# -- one stream, many consumers ------------------------------------------------------------

def test_a_stream_fans_out_with_a_bounded_queue_per_follower() -> None:
    stream = PushStream()
    tracker = Tracker(TRAPS)
    fast = stream.follow(tracker.push)
    slow = stream.follow(Tracker(TRAPS).push, limit=3)
    woken: list[int] = []
    fast.wake = lambda: woken.append(1)
    for speed in range(10, 60, 5):
        stream.publish({"id": speed, "method": "properties_changed",
                        "params": [{"siid": 2, "piid": 5, "value": speed}]})
    assert [c.value for c in fast.items] == list(range(10, 60, 5)) and len(woken) == 10
    assert [c.value for c in slow.items] == [45, 50, 55] and slow.dropped == 7  # oldest gone
    slow.close()
    slow.close()  # idempotent
    assert stream.followers == 1

    def broken(message: dict[str, Any]) -> list[Change]:
        raise RuntimeError("a consumer's bug")

    failing = stream.follow(broken)
    for value in (95, 100):
        stream.publish({"id": value, "method": "properties_changed",
                        "params": [{"siid": 2, "piid": 5, "value": value}]})
    assert [c.value for c in fast.items][-2:] == [95, 100]  # the others still get it
    assert failing.failures == 2 and not failing.items


async def test_two_consumers_of_one_device_each_see_every_change() -> None:
    thing = _thing(f"{NET}.131.1")
    async with Simulator([thing]), AsyncDevice(thing.host, TOKEN) as watcher, \
            AsyncDevice(thing.host, TOKEN) as writer:
        first = watcher.changes(TRAPS, interval=3600)
        second = watcher.changes(TRAPS, interval=3600)
        pending = [asyncio.ensure_future(anext(first)), asyncio.ensure_future(anext(second))]
        await _until(lambda: watcher.session.pushes.followers == 2 and thing.subscribers)
        speeds = [15, 20, 25, 30, 35]
        for speed in speeds:
            await writer.set(TRAPS, {"speed": speed})
        seen: list[list[Any]] = [[], []]
        for index, changes in enumerate((first, second)):
            seen[index].append((await asyncio.wait_for(pending[index], 10)).value)
            while len(seen[index]) < len(speeds):
                seen[index].append((await asyncio.wait_for(anext(changes), 10)).value)
        assert seen == [speeds, speeds]
        await first.aclose()
        assert watcher.session.pushes.followers == 1  # the other still follows
        await writer.set(TRAPS, {"speed": 40})
        assert (await asyncio.wait_for(anext(second), 10)).value == 40
        await second.aclose()
        assert watcher.session.pushes.followers == 0


def test_two_threads_following_one_sync_device_each_see_every_change() -> None:
    thing = _thing(f"{NET}.131.2")
    speeds = [50, 55, 60, 65]
    with simulator_thread([thing]), Device(thing.host, TOKEN) as watcher:
        seen: dict[int, list[Any]] = {0: [], 1: []}
        started = threading.Barrier(3)

        def follow(index: int) -> None:
            changes = watcher.changes(TRAPS, interval=3600)
            started.wait(10)
            for change in changes:
                seen[index].append(change.value)
                if len(seen[index]) == len(speeds):
                    changes.close()
                    return

        threads = [threading.Thread(target=follow, args=(i,), daemon=True) for i in (0, 1)]
        for thread in threads:
            thread.start()
        started.wait(10)
        deadline = time.monotonic() + 10
        while (watcher.session.pushes.followers < 2 or not thing.subscribers) and \
                time.monotonic() < deadline:
            time.sleep(0.01)
        with Device(thing.host, TOKEN) as writer:
            for speed in speeds:
                writer.set(TRAPS, {"speed": speed})
        for thread in threads:
            thread.join(20)
        assert seen == {0: speeds, 1: speeds}


# -- subscriptions --------------------------------------------------------------------------

def test_a_subscription_is_due_at_once_every_ten_minutes_and_after_a_reboot() -> None:
    subscription = Subscription()
    assert subscription.due(3.0, 1000)  # a clock near zero (the machine just booted)
    subscription.done(3.0)
    assert not subscription.due(300.0, 1297)
    assert subscription.due(603.0, 1600)  # ten minutes later
    subscription.done(603.0)
    assert subscription.due(604.0, 12)  # the device rebooted: its uptime went back
    assert subscription.due(605.0, 13)  # still due until it is done
    subscription.done(605.0, ok=False)
    assert not subscription.due(606.0, 14) and subscription.due(665.0, 73)  # retried


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def _bridge(broker: Broker, entries: list[Entry], clock: FakeClock,
                  model: DeviceModel = TRAPS) -> AsyncIterator[Bridge]:
    settings = Settings(parse_broker(broker.url), interval=0.5, describe=lambda name: model,
                        client_id="test-push")
    async with running(Bridge(settings, entries, clock=clock)) as bridge:
        yield bridge


async def test_the_bridge_subscribes_at_once_renews_and_resubscribes_after_a_reboot(
        broker: Broker) -> None:
    """A bridge started by systemd at boot: the monotonic clock is near zero."""
    thing = _thing(f"{NET}.131.3")
    clock = FakeClock(4.0)
    entry = Entry("thing", thing.host, TOKEN, "pymiio.traps.v1")
    async with Simulator([thing]) as simulator, watching(broker) as mqtt, \
            _bridge(broker, [entry], clock):
        await _until(lambda: thing.subscribers)  # at the first poll, not ten minutes later
        thing.set_value(2, 5, 75)
        simulator.flush(thing)
        assert await mqtt.wait(lambda s: (s.get("pymiio/thing") or {}).get(
            "thing:speed") == 75)

        thing.subscribers.clear()  # the subscription lapsed on the device
        clock.now += 601  # ten minutes on: renewed at the next poll
        await _until(lambda: thing.subscribers)

        thing.subscribers.clear()  # a reboot: subscribers forgotten, uptime from zero
        thing.clock_start, thing.boot_uptime = asyncio.get_running_loop().time(), 0
        await _until(lambda: thing.subscribers)  # the clock did not move: the stamp told
        thing.set_value(2, 5, 80)
        simulator.flush(thing)
        assert await mqtt.wait(lambda s: (s.get("pymiio/thing") or {}).get(
            "thing:speed") == 80)


async def test_changes_renews_the_subscription_after_a_reboot() -> None:
    thing = _thing(f"{NET}.131.4")
    async with Simulator([thing]) as simulator, AsyncDevice(thing.host, TOKEN) as watcher:
        changes = watcher.changes(TRAPS, interval=0.2)
        first = asyncio.ensure_future(anext(changes))
        await _until(lambda: thing.subscribers)
        thing.subscribers.clear()
        thing.clock_start, thing.boot_uptime = asyncio.get_running_loop().time(), 0
        await _until(lambda: thing.subscribers)  # the next poll saw the stamp go back
        thing.set_value(2, 5, 85)
        simulator.flush(thing)
        change = await asyncio.wait_for(first, 10)
        assert (change.name, change.value, change.source) == ("thing:speed", 85, "push")
        await changes.aclose()


# -- events ---------------------------------------------------------------------------------

def test_the_simulator_raises_a_spec_event_with_checked_arguments() -> None:
    thing = _thing(f"{NET}.131.5")
    thing.subscribers.append(("127.0.0.1", 9))
    pushed = thing.raise_event("alert", {"mode": "Charging"})
    assert pushed["arguments"] == [{"piid": 3, "value": 1}] and len(thing.outbox) == 1
    assert thing.raise_event("2.1")["arguments"] == [{"piid": 3, "value": 0}]  # current value
    with pytest.raises(UsageError, match="no event named 'alarm'"):
        thing.raise_event("alarm")
    with pytest.raises(UsageError, match="no argument named 'speed'"):
        thing.raise_event("alert", {"speed": 10})
    with pytest.raises(UsageError, match="takes one of"):
        thing.raise_event("alert", {"mode": 3})
    [plug] = make_devices(f"{NET}.131.6", token=TOKEN)
    with pytest.raises(UsageError, match="no spec"):
        plug.raise_event("alert")


async def test_an_event_reaches_changes_named_and_is_acknowledged() -> None:
    thing = _thing(f"{NET}.131.7")
    async with Simulator([thing]), AsyncDevice(thing.host, TOKEN) as watcher, \
            AsyncDevice(thing.host, TOKEN) as control:
        changes = watcher.changes(TRAPS, interval=3600)
        first = asyncio.ensure_future(anext(changes))
        await _until(lambda: thing.subscribers)
        answer = await control.send("simulator.raise_event",
                                    {"event": "thing:alert", "arguments": {"mode": 4}})
        assert answer["code"] == 0 and answer["subscribers"] == 1
        event = await asyncio.wait_for(first, 10)
        assert event.as_dict() == {"name": "thing:alert", "siid": 2, "eiid": 1,
                                   "arguments": {"mode": 4}, "source": "event"}
        await changes.aclose()
        with pytest.raises(Exception, match="no event named"):
            await control.send("simulator.raise_event", {"event": "nothing"})


def test_miio_watch_shows_events_with_named_arguments() -> None:
    thing = _thing(f"{NET}.131.8")
    with simulator_thread([thing]):
        process = subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "watch", thing.host, "--token", TOKEN,
             "--spec", str(TRAPS_FILE), "--json", "--count", "1", "--interval", "3600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        text = subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "watch", thing.host, "--token", TOKEN,
             "--spec", str(TRAPS_FILE), "--count", "1", "--interval", "3600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None and text.stdout is not None
            for _ in TRAPS.status_properties():
                process.stdout.readline()
            deadline = time.monotonic() + 15
            while len(thing.subscribers) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            raised = miio("send", thing.host, "simulator.raise_event",
                          '{"event": "alert", "arguments": {"mode": "charging"}}',
                          "--token", TOKEN, "--json")  # the CLI way, for demos
            assert raised.json() == {"code": 0, "siid": 2, "eiid": 1, "subscribers": 2}
            out, err = process.communicate(timeout=30)
            shown, _ = text.communicate(timeout=30)
        finally:
            for child in (process, text):
                if child.poll() is None:
                    child.kill()
                    child.wait()
    assert process.returncode == 0, err
    assert json.loads(out) == {"name": "thing:alert", "siid": 2, "eiid": 1,
                               "arguments": {"mode": 1}, "source": "event"}
    assert shown.splitlines()[-1] == 'thing:alert: {"mode": 1}  [event]'


async def test_the_bridge_publishes_events_not_retained(broker: Broker) -> None:
    thing = _thing(f"{NET}.131.9")
    entry = Entry("thing", thing.host, TOKEN, "pymiio.traps.v1")
    async with Simulator([thing]) as simulator, watching(broker) as mqtt, \
            _bridge(broker, [entry], FakeClock(1.0)):
        await _until(lambda: thing.subscribers)
        thing.raise_event("alert", {"mode": 2})
        simulator.flush(thing)
        event = await mqtt.wait(lambda s: s.get("pymiio/thing/event"))
        assert event == {"event_type": "thing:alert", "mode": 2}
        [(_, _raw, retained)] = [m for m in mqtt.log if m[0] == "pymiio/thing/event"]
        assert not retained
        state = await mqtt.wait(lambda s: s.get("pymiio/thing"))
        assert "thing:alert" not in state  # an event is not state


def test_a_waiting_sync_consumer_does_not_lock_other_threads_out() -> None:
    """While one thread waits for pushes (an hour between polls), another thread's calls on
    the same Device still get their turn."""
    thing = _thing(f"{NET}.131.10")
    with simulator_thread([thing]), Device(thing.host, TOKEN) as device:
        changes = device.changes(TRAPS, interval=3600)
        first: list[Change] = []
        waiting = threading.Thread(target=lambda: first.append(next(changes)), daemon=True)
        waiting.start()
        deadline = time.monotonic() + 10
        while not thing.subscribers and time.monotonic() < deadline:
            time.sleep(0.01)
        answered: list[Any] = []
        other = threading.Thread(target=lambda: answered.append(
            device.send("miIO.info")), daemon=True)
        other.start()
        other.join(10)
        assert answered and answered[0]["model"] == "pymiio.traps.v1"
        device.set(TRAPS, {"speed": 45})  # and its own push reaches the waiting consumer
        waiting.join(10)
        assert [(c.name, c.value) for c in first] == [("thing:speed", 45)]


def test_the_session_acknowledges_every_push_and_publishes_each_id_once() -> None:
    """Sans-I/O: a push while idle and one while a call waits are acknowledged with
    ``{"id", "result": {"code": 0}}`` (to the device's 8-byte id), a repeated id is
    acknowledged again but not published twice, and a 64-bit device id is carried back."""
    token, did = Token(TOKEN), 2**40 + 7
    session = Session(token, MemoryIds())
    handshake = Call()
    assert session.start(handshake, 0.0) == [HELLO]
    session.receive(hello_reply(did, 1000, None), 0.01)
    seen: list[dict[str, Any]] = []
    follower = session.pushes.follow(lambda message: [message])
    follower.wake = lambda: seen.append(follower.items.popleft())

    def push(push_id: int, stamp: int) -> bytes:
        body = json.dumps({"id": push_id, "method": "properties_changed", "params": [
            {"siid": 2, "piid": 5, "value": push_id}]}).encode()
        return build_packet(token, did, stamp, body)

    def acks(datagrams: list[bytes]) -> list[Any]:
        parsed = [parse_packet(data, token) for data in datagrams]
        assert all(p.device_id == did for p in parsed)
        return [json.loads(p.payload or b"") for p in parsed]

    assert acks(session.receive(push(7, 1001), 1.0)) == [{"id": 7, "result": {"code": 0}}]
    assert acks(session.receive(push(7, 1001), 1.1)) == [{"id": 7, "result": {"code": 0}}]
    waiting = Call({"method": "get_prop", "params": ["power"]})
    session.start(waiting, 2.0)
    assert acks(session.receive(push(8, 1002), 2.1)) == [{"id": 8, "result": {"code": 0}}]
    assert not waiting.done  # a push is not the reply
    assert [m["id"] for m in seen] == [7, 8] and session.pushes.received == 2
    assert session.device_stamp == 1002
