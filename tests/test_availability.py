"""Issue 25 item 8: an offline device is probed with back-off (10 s doubling to 50 s, ±10 %),
and one that flips online/offline more than 10 times in 120 s is reported unstable for 300 s
instead of flooding MQTT with availability changes. Fake clocks throughout; the bridge test
runs against a simulated device and a real Mosquitto."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from pymiio.bridge.availability import Availability, Link
from pymiio.bridge.core import Bridge, Settings
from pymiio.bridge.options import parse_broker
from pymiio.inventory import Entry
from pymiio.protocol.token import Token
from pymiio.simulator import Simulator

from .addresses import NET
from .conftest import OTHER_TOKEN, TOKEN
from .mqtt_broker import Broker
from .test_bridge import watching
from .test_push import TRAPS, FakeClock, _thing, _until


class Extremes(random.Random):
    """A random source that always gives the low (or high) end of a range."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def test_an_offline_device_is_probed_with_back_off_and_jitter() -> None:
    availability = Availability(offline_after=2)
    availability.missed(0.0)
    assert availability.link is Link.UNKNOWN  # one miss is not offline yet
    availability.missed(1.0)
    assert availability.link is Link.OFFLINE
    low = [availability.next_probe(Extremes(False)) for _ in range(5)]
    assert low == pytest.approx([9.0, 18.0, 36.0, 45.0, 45.0])
    availability.answered(2.0)  # back: the next outage starts at 10 s again
    assert availability.next_probe(Extremes(True)) == pytest.approx(11.0)
    seeded = random.Random(7)
    spread = [Availability().next_probe(seeded) for _ in range(200)]
    assert all(9.0 <= delay <= 11.0 for delay in spread) and len(set(spread)) > 100


def _flip(availability: Availability, times: list[float]) -> list[Link | None]:
    published = []
    for index, now in enumerate(times):
        if index % 2:
            availability.answered(now)
        else:
            for _ in range(availability.offline_after):
                availability.missed(now)
        published.append(availability.to_publish(now))
    return published


def test_more_than_ten_flips_in_two_minutes_make_a_device_unstable_for_five_minutes() -> None:
    availability = Availability(offline_after=1)
    availability.answered(0.0)
    assert availability.to_publish(0.0) is Link.ONLINE and availability.state == "online"
    published = _flip(availability, [1.0 + n for n in range(12)])  # 12 flips in 12 s
    assert published[:10] == [Link.OFFLINE, Link.ONLINE] * 5  # ten published
    assert published[10:] == [None, None]  # then held back
    assert availability.state == "unstable" and availability.link is Link.ONLINE
    assert availability.unstable(100.0) and availability.to_publish(100.0) is None
    for _ in range(availability.offline_after):
        availability.missed(200.0)  # still flapping inside the period: nothing published
    assert availability.to_publish(200.0) is None
    # each flip beyond ten in two minutes (the last at 12 s) holds it for 300 s more; then
    # the current state is published once
    assert availability.to_publish(311.0) is None
    assert availability.to_publish(312.0) is Link.OFFLINE and availability.state == "offline"
    assert availability.to_publish(313.0) is None


def test_flips_spread_over_more_than_two_minutes_are_not_flapping() -> None:
    availability = Availability(offline_after=1)
    availability.answered(0.0)
    availability.to_publish(0.0)
    published = _flip(availability, [15.0 * (n + 1) for n in range(30)])  # one per 15 s
    assert None not in published and availability.state != "unstable"


async def test_the_bridge_holds_back_a_flapping_devices_availability(broker: Broker) -> None:
    thing = _thing(f"{NET}.134.1")
    clock = FakeClock(50.0)  # fake time stands still: every flip is within two minutes
    settings = Settings(parse_broker(broker.url), interval=0.5, offline_after=1,
                        describe=lambda name: TRAPS, client_id="test-flap", probe=(0.05, 0.2))
    bridge = Bridge(settings, [Entry("thing", thing.host, TOKEN, "pymiio.traps.v1")],
                    clock=clock)
    served = bridge.devices["thing"]
    stop = asyncio.Event()
    topic = "pymiio/thing/availability"

    def sent() -> list[Any]:
        return [raw for seen, raw, _ in mqtt.log if seen == topic]

    async with Simulator([thing]), watching(broker) as mqtt:
        task = asyncio.create_task(bridge.run(stop))
        try:
            await mqtt.wait(lambda s: s.get(topic) == {"state": "online"})
            for _ in range(6):  # 12 flips: a wrong token makes the device drop every command
                thing.token = Token(OTHER_TOKEN)
                await _until(lambda: served.availability.link is Link.OFFLINE)
                thing.token = Token(TOKEN)
                await _until(lambda: served.availability.link is Link.ONLINE)
            assert served.availability.state == "unstable"
            listing = await mqtt.wait(lambda s: [d for d in s.get("pymiio/bridge/devices") or []
                                                 if d["availability"] == "unstable"])
            assert [d["name"] for d in listing] == ["thing"]
            flips = sent()[sent().index(b'{"state": "offline"}'):]
            assert len(flips) == 10  # ten flips published; the 11th and 12th held back
            assert mqtt.seen[topic] == {"state": "online"}

            clock.now += 301  # the period is over: the state is said again
            await mqtt.wait(lambda s: [d for d in s.get("pymiio/bridge/devices") or []
                                       if d["availability"] == "online"])
            assert len(sent()[sent().index(b'{"state": "offline"}'):]) == 10  # online, as
            # last published: nothing to repeat
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
