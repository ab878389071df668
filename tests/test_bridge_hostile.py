"""Issue 26: hostile MQTT clients and devices against `miio bridge`, through a real Mosquitto of
the test's own: retained commands, command floods, birth-message floods, huge payloads, a device
answering NaN. Floods are bounded in count and time; the only time limits are generous ones
that only a hang would exceed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from pymiio.inventory import Entry
from pymiio.simulator import Simulator, make_devices

from .addresses import NET
from .conftest import TOKEN
from .mqtt_broker import PASSWORD, USER, Broker
from .test_bridge import bridging, watching

PLUG = f"{NET}.126.1"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    server = Broker(tmp_path).start()
    try:
        yield server
    finally:
        server.remove()


def _responses(log: list[tuple[str, bytes, bool]], topic: str) -> list[Any]:
    return [json.loads(raw) for seen, raw, _ in log if seen == topic]


async def _publisher(broker: Broker, **options: Any) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", broker.port, username=USER, password=PASSWORD,
                          **options)


async def test_retained_commands_are_not_executed_at_start_nor_on_reconnect(
        mosquitto: Broker) -> None:
    """Item 1: a retained `set`/`action`/`get` left on the broker (a retained `power off`)
    is never carried out, neither when the bridge starts nor when it reconnects."""
    async with await _publisher(mosquitto) as other:
        await other.publish("pymiio/plug/set/power", "off", qos=1, retain=True)
        await other.publish("pymiio/plug/set", json.dumps({"power": False,
                                                           "transaction": "old"}),
                            qos=1, retain=True)
        await other.publish("pymiio/plug/action", "toggle", qos=1, retain=True)
    async with Simulator(make_devices(PLUG, token=TOKEN)), \
            watching(mosquitto, "pymiio/#") as mqtt, \
            bridging(mosquitto, entries=[Entry("plug", PLUG, TOKEN)]) as bridge:
        await mqtt.wait(lambda s: (s.get("pymiio/plug") or {}).get("power") is True)
        for round_ in ("start", "reconnect"):
            # the bridge's commands for one device run in order: an executed retained
            # command would answer (and switch the plug off) before this one does
            await mqtt.client.publish("pymiio/plug/set", json.dumps({
                "wifi-led": False, "transaction": round_}))
            await mqtt.wait(lambda s, r=round_: s.get("pymiio/plug/response") == {
                "status": "ok", "transaction": r})
            assert _responses(mqtt.log, "pymiio/plug/response")[-1] == {
                "status": "ok", "transaction": round_}
            assert all(answer.get("transaction") in ("start", "reconnect")
                       for answer in _responses(mqtt.log, "pymiio/plug/response"))
            assert mqtt.seen["pymiio/plug"]["power"] is True
            if round_ == "start":  # take the bridge's client id: the broker drops it
                onlines = _onlines(mqtt.log)
                async with aiomqtt.Client("127.0.0.1", mosquitto.port, username=USER,
                                          password=PASSWORD, identifier="test-pymiio"):
                    await asyncio.wait_for(_until(lambda: not bridge.connected.is_set()), 15)
                await asyncio.wait_for(bridge.connected.wait(), 30)
                await mqtt.wait(lambda _, before=onlines: _onlines(mqtt.log) > before)
        assert len(_responses(mqtt.log, "pymiio/plug/response")) == 2


def _onlines(log: list[tuple[str, bytes, bool]]) -> int:
    """How often the bridge said it is online (once per connection)."""
    return sum(1 for topic, raw, _ in log
               if topic == "pymiio/bridge/state" and json.loads(raw) == {"state": "online"})


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.02)
