"""The bridge coming up with many devices (issue 29): every device's state from the first round
of reads, which runs as the devices answer rather than spread over the interval, and one
description per model however many devices share it. Real Mosquitto, simulated devices."""

from __future__ import annotations

import asyncio
from typing import Any

from pymiio.bridge.core import Bridge, Settings
from pymiio.bridge.options import parse_broker
from pymiio.inventory import Entry
from pymiio.knowledge.lookup import describe
from pymiio.knowledge.model import DeviceModel
from pymiio.simulator import Simulator, make_devices

from .addresses import NET
from .conftest import TOKEN
from .mqtt_broker import Broker
from .test_bridge import _values, watching

COUNT = 40


async def test_first_round_reads_every_device_at_once_and_describes_a_model_once(
        broker: Broker) -> None:
    """With an interval of an hour, polls spread over the interval would reach the last of
    forty devices after some 58 minutes; the first round reaches all of them at once, and the
    forty plugs are described once."""
    simulated = make_devices(f"{NET}.150.1", COUNT, token=TOKEN)
    described: list[str] = []

    def counted(model: str) -> DeviceModel:
        described.append(model)
        return describe(model)

    entries = [Entry(f"plug{index}", device.host, TOKEN)
               for index, device in enumerate(simulated)]
    settings = Settings(parse_broker(broker.url), interval=3600.0, describe=counted,
                        client_id="test-start")
    async with Simulator(simulated), watching(broker, "pymiio/+") as mqtt:
        bridge = Bridge(settings, entries)
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        try:
            def everyone(seen: dict[str, Any]) -> bool:
                return all(_values(seen, f"pymiio/plug{index}") for index in range(COUNT))

            await mqtt.wait(everyone, timeout=60)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
    assert described == ["chuangmi.plug.m1"]
    assert all(mqtt.seen[f"pymiio/plug{index}"] == {"power": True, "temperature": 42,
                                                    "wifi-led": False}
               for index in range(COUNT))
    assert all(device.stats.requests >= 2 for device in simulated)  # miIO.info and a read
