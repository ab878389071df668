"""Issue 26 item 10 on the log's face: a command the bridge refuses after reading it (a value
out of range, an unknown property) was logged with the whole error, which echoes the input:
a 60 KB value made a 60 KB log line, once per command. The log says what /response says
(cut to 200 characters), and a stream of such refusals is throttled like the other refusals
(a real Mosquitto, a simulated plug, the stream bounded in count)."""

from __future__ import annotations

import json
import logging

import pytest

from pymiio.inventory import Entry
from pymiio.simulator import Simulator, make_devices

from .addresses import NET
from .conftest import TOKEN
from .mqtt_broker import Broker
from .test_bridge import bridging, watching

PLUG = f"{NET}.176.1"
COMMANDS = 60


async def test_refused_commands_are_logged_short_and_throttled(
        broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pymiio.bridge")
    huge = "y" * 60_000
    async with Simulator(make_devices(PLUG, token=TOKEN)), watching(broker) as mqtt, \
            bridging(broker, entries=[Entry("plug", PLUG, TOKEN)]):
        await mqtt.wait(lambda s: isinstance(s.get("pymiio/plug"), dict) and s["pymiio/plug"])
        for index in range(COMMANDS):  # one at a time: each is read and refused, none busy
            await mqtt.client.publish("pymiio/plug/set", json.dumps(
                {"power": huge, "transaction": index}))
            await mqtt.wait(lambda s, i=index: (s.get("pymiio/plug/response") or {}).get(
                "transaction") == i)
        answer = mqtt.seen["pymiio/plug/response"]
        assert answer["status"] == "error" and len(answer["error"]) <= 201
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused and max(len(line) for line in refused) < 600, max(map(len, refused))
    assert len(refused) < COMMANDS / 2  # throttled: at most a burst a minute
