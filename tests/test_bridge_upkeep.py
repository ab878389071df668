"""Loose ends of the reworked bridge: its own start-up traffic never costs a user's command, a
broker that dies is one warning and no asyncio noise, Home Assistant's vacuum ``send_command``,
the state published once a device is described, and ``miIO.info`` (Wi-Fi signal, firmware)
refreshed at a slow bounded rate. Real Mosquitto, simulated devices, fake clocks."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
from typing import Any

import pytest

from pymiio.bridge import core, ha
from pymiio.bridge.core import Bridge, Settings
from pymiio.bridge.options import parse_broker
from pymiio.inventory import Entry
from pymiio.knowledge.lookup import describe
from pymiio.simulator import Simulator, make_devices

from .addresses import NET
from .conftest import TOKEN
from .helpers import running
from .mqtt_broker import Broker
from .test_bridge import _values, watching


def _settings(broker: Broker, **more: Any) -> Settings:
    return Settings(parse_broker(broker.url), describe=describe,
                    client_id=f"test-upkeep-{id(more)}", **more)


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.02)


# -- 2. the broker dies: one warning, no "Future exception was never retrieved" ---------------

async def test_a_broker_dying_under_the_bridge_is_one_warning_and_no_asyncio_noise(
        broker: Broker, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The broker is killed as the bridge starts subscribing (aiomqtt's disconnection future
    then has nobody iterating messages to retrieve it), stays away for several attempts, and
    comes back: one warning, the attempts in between at debug level, nothing reported to the
    loop's exception handler once the dead clients are collected."""
    unhandled: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    real_on_connect = Bridge._on_connect
    killed = asyncio.Event()

    async def dying(self: Bridge, client: Any) -> None:
        if not killed.is_set():
            killed.set()
            assert broker.process is not None
            broker.process.kill()
            broker.process.wait()
            await _until(lambda: client._disconnected.done())  # aiomqtt saw it go
        await real_on_connect(self, client)

    monkeypatch.setattr(Bridge, "_on_connect", dying)
    caplog.set_level(logging.DEBUG, logger="pymiio.bridge")
    plug = f"{NET}.160.1"
    async with Simulator(make_devices(plug, token=TOKEN)):
        async with running(Bridge(_settings(broker, interval=1.0),
                                  [Entry("plug", plug, TOKEN)])) as bridge:
            def attempts() -> list[logging.LogRecord]:
                return [r for r in caplog.records if "MQTT connection lost" in r.getMessage()]

            await asyncio.wait_for(_until(lambda: len(attempts()) >= 3), 30)
            broker.start()
            await asyncio.wait_for(bridge.connected.wait(), 30)
            gc.collect()
            await asyncio.sleep(0)  # the loop reports what the collection found
            async with watching(broker, "pymiio/plug/response") as mqtt:
                await mqtt.client.publish("pymiio/plug/set/power", "off")
                assert await mqtt.wait(lambda s: s.get("pymiio/plug/response") == {
                    "status": "ok"})
    loop.set_exception_handler(None)
    lost = attempts()
    assert [r.levelno for r in lost][:3] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert sum(r.levelno >= logging.WARNING for r in lost) == 1
    assert any(r.getMessage().endswith(" again") for r in caplog.records
               if r.getMessage().startswith("connected to the broker"))
    assert not [c for c in unhandled if "never retrieved" in str(c.get("message"))], unhandled


# -- 4. the state of a described device, before anything could be read ---------------------

def _failing_reads(failing: list[bool]) -> Any:
    """A firmware fault: while ``failing[0]``, every reply but miIO.info's is nonsense (a
    result that is not a list: the read fails as a whole)."""
    def quirk(text: str) -> str:
        if not failing[0] or '"model"' in text:
            return text
        return json.dumps({"id": json.loads(text.rstrip("\x00"))["id"], "result": "nonsense"})
    return quirk


def _unreadable_properties(text: str) -> str:
    """A firmware fault: every property read answers -4001 (not readable)."""
    return re.sub(r'"code":\s*0,\s*"value":\s*[^,}]*', '"code": -4001', text)


async def test_a_described_device_publishes_every_key_before_anything_is_read(
        broker: Broker) -> None:
    """Two purifiers answer miIO.info (so they are described and announced) but not their
    properties: one's reads fail outright, the other's answer an error for each property.
    Each gets its state, every key Home Assistant reads present and null, at the end of its
    first poll (before the availability that poll decides); values follow once it reads."""
    failing = [True]
    first, second = f"{NET}.161.1", f"{NET}.161.2"
    devices = (make_devices(first, token=TOKEN, profile="airpurifier")
               + make_devices(second, token=TOKEN, profile="airpurifier"))
    devices[0].quirk = _failing_reads(failing)
    devices[1].quirk = _unreadable_properties
    entries = [Entry("failing", first, TOKEN), Entry("unreadable", second, TOKEN)]
    async with Simulator(devices), watching(broker, "pymiio/#") as mqtt:
        bridge = Bridge(_settings(broker, interval=3600.0, offline_after=1), entries)
        async with running(bridge):
            await mqtt.wait(lambda s: "pymiio/failing/availability" in s and
                            "pymiio/unreadable/availability" in s)
            model = bridge.devices["failing"].model
            assert model is not None
            keys = set(ha.state_keys(model))
            assert len(keys) > 5
            for name in ("failing", "unreadable"):
                state = mqtt.seen.get(f"pymiio/{name}")
                assert isinstance(state, dict) and set(state) == keys, name
                assert all(value is None for value in state.values()), name
            assert mqtt.seen["pymiio/failing/availability"] == {"state": "offline"}
            assert mqtt.seen["pymiio/unreadable/availability"] == {"state": "online"}
            topics = [topic for topic, _, _ in mqtt.log]
            for name in ("failing", "unreadable"):
                assert topics.index(f"pymiio/{name}") < topics.index(
                    f"pymiio/{name}/availability")
            failing[0] = False
            await mqtt.client.publish("pymiio/failing/get", "")
            state = await mqtt.wait(lambda s: (_values(s, "pymiio/failing") or {}).get(
                "air-purifier:mode") == 1 and s["pymiio/failing"])
            assert set(state) == keys


# -- 5. miIO.info (Wi-Fi signal, firmware) refreshed, slowly, one at a time ------------------

async def test_wifi_signal_and_firmware_are_refreshed_every_period_one_at_a_time(
        broker: Broker) -> None:
    """A plug's signal and firmware change; the bridge (on a fake clock) asks miIO.info again
    only once the period is over, with one request in flight however many polls find it due,
    then republishes the discovery config with the new firmware and waits a period again."""
    now = [0.0]
    plug = f"{NET}.162.1"
    devices = make_devices(plug, token=TOKEN)
    asked: list[str] = []  # the device's miIO.info answers

    def counting(text: str) -> str:
        if '"model"' in text:
            asked.append(text)
        return text

    devices[0].quirk = counting
    bridge = Bridge(_settings(broker, interval=0.5), [Entry("plug", plug, TOKEN)],
                    clock=lambda: now[0])
    polls: list[Any] = []
    bridge.feed.subscribe(lambda happening: polls.append(happening)
                          if happening.kind == "poll" else None)

    async def polled(more: int) -> None:
        count = len(polls)
        await asyncio.wait_for(_until(lambda: len(polls) >= count + more), 30)

    async with Simulator(devices), watching(broker, "homeassistant/device/#") as mqtt, \
            running(bridge):
        served = bridge.devices["plug"]
        await polled(1)
        firmware = devices[0].profile.fw_ver
        assert (served.rssi, served.firmware, len(asked)) == (-42, firmware, 1)
        devices[0].rssi, devices[0].profile.fw_ver = -71, "9.9.9_0001"
        await polled(3)  # not due yet: polls only
        assert (served.rssi, len(asked)) == (-42, 1)

        gate = asyncio.Event()
        real_send = bridge._reads.send
        flying = [0, 0]  # miIO.info requests in flight now, and started

        async def held(device: Any, method: str, params: Any = None) -> Any:
            if method != "miIO.info":
                return await real_send(device, method, params)
            flying[0] += 1
            flying[1] += 1
            try:
                await gate.wait()
                return await real_send(device, method, params)
            finally:
                flying[0] -= 1

        bridge._reads.send = held  # type: ignore[method-assign]
        now[0] = 600.0  # the period is over (the first refresh comes after 300 to 600 s)
        await polled(4)
        assert flying == [1, 1]  # four polls found it due: one request
        gate.set()
        await asyncio.wait_for(_until(lambda: served.rssi == -71), 30)
        assert served.firmware == "9.9.9_0001" and len(asked) == 2
        await mqtt.wait(lambda s: any(isinstance(v, dict) and v.get("device", {}).get(
            "sw_version") == "9.9.9_0001" for v in s.values()))
        await polled(3)  # the next refresh is a period away
        assert len(asked) == 2
        devices[0].rssi = -55
        now[0] += 600.0
        await asyncio.wait_for(_until(lambda: served.rssi == -55), 30)
        assert len(asked) == 3 and flying == [0, 2]


# -- 3. Home Assistant's vacuum send_command ----------------------------------------------------

async def test_home_assistants_vacuum_send_command_reaches_the_device(broker: Broker) -> None:
    """What HA's MQTT vacuum publishes for ``vacuum.send_command`` (homeassistant/components/
    mqtt/vacuum.py: the command alone, or ``{"command": name, **params}`` when params is a
    dict), on the topic the discovery config names, carried out on a simulated Roborock."""
    host = f"{NET}.163.1"
    devices = make_devices(host, token=TOKEN, profile="vacuum")
    vacuum = devices[0]
    async with Simulator(devices), watching(broker) as mqtt, running(Bridge(
            _settings(broker, interval=3600.0), [Entry("vacuum", host, TOKEN)])):
        def main_entity(seen: dict[str, Any]) -> dict[str, Any] | None:
            return next((c for topic, config in seen.items()
                         if topic.startswith("homeassistant/device/") and isinstance(config, dict)
                         for c in config.get("components", {}).values()
                         if c["platform"] == "vacuum"), None)

        entity = await mqtt.wait(main_entity)
        assert "send_command" in entity["supported_features"]
        topic = entity["send_command_topic"]

        async def sent(payload: str) -> Any:
            mqtt.seen.pop("pymiio/vacuum/response", None)
            await mqtt.client.publish(topic, payload)
            return await mqtt.wait(lambda s: s.get("pymiio/vacuum/response"))

        # params as a dict: {"command": ..., <param>: value}, compact as HA's json_dumps
        assert await sent('{"command":"goto","x":25500,"y":26000}') == {"status": "ok"}
        assert vacuum.profile.props["state"] == 16  # going to the target
        assert await sent(json.dumps({"command": "reset-consumable",
                                      "name": "filter_work_time"})) == {"status": "ok"}
        assert vacuum.extra["consumables"]["filter_work_time"] < 60  # was 3600: reset
        assert await sent("find") == {"status": "ok"}  # no params: the command alone
        # params wrapped in "params" (a list in order, or by name) are taken too
        assert await sent(json.dumps({"command": "goto", "params": [25000, 25000],
                                      "transaction": 3})) == {"status": "ok", "transaction": 3}
        refused = await sent('{"command":"goto","x":25500}')
        assert refused["status"] == "error" and "needs y" in refused["error"]
        refused = await sent('{"command":"goto","x":1,"y":2,"z":3}')
        assert refused["status"] == "error" and "no argument 'z'" in refused["error"]


# -- 1. the bridge's own start-up traffic never takes a user's command's place --------------

async def test_retained_configs_at_start_never_crowd_out_commands(
        broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker holds more retained discovery configs than the bridge's backlog of received
    messages (a zigbee2mqtt neighbour's, and stale ones of this bridge); the bridge reads them
    all at start for its sweep while it publishes its own. They are handled as they arrive,
    never queued with the commands: every stale one of its own is cleared, nobody else's is
    touched, and a command sent as the bridge comes up is carried out."""
    import aiomqtt

    from .mqtt_broker import PASSWORD, USER

    monkeypatch.setattr(core, "INCOMING_BACKLOG", 20)  # the thousand of a real start, scaled
    ours = {"availability": [{"topic": "pymiio/bridge/state"}], "components": {}}
    theirs = {"availability": [{"topic": "zigbee2mqtt/bridge/state"}], "state_topic": "z/x"}
    stale = {f"homeassistant/switch/pymiio_pymiio_{n}_power/config": ours for n in range(60)}
    neighbours = {f"homeassistant/sensor/0x{n:016x}/config": theirs for n in range(140)}
    async with aiomqtt.Client("127.0.0.1", broker.port, username=USER,
                              password=PASSWORD) as client:
        for topic, payload in {**stale, **neighbours}.items():
            await client.publish(topic, json.dumps(payload), qos=1, retain=True)
    plug = f"{NET}.164.1"
    async with Simulator(make_devices(plug, token=TOKEN)), \
            watching(broker, "homeassistant/#", "pymiio/#") as mqtt:
        await mqtt.wait(lambda s: len(s) == 200)  # the retained configs, as they were
        async with running(Bridge(_settings(broker, interval=3600.0),
                                  [Entry("plug", plug, TOKEN)])):
            await mqtt.wait(lambda s: s.get("pymiio/bridge/state") == {"state": "online"})
            await mqtt.client.publish("pymiio/plug/set/power", "off")
            assert await mqtt.wait(lambda s: s.get("pymiio/plug/response")) == {"status": "ok"}
            await mqtt.wait(lambda s: all(s[t] is None for t in stale))  # every one cleared
            assert all(mqtt.seen[t] == theirs for t in neighbours)
            assert not [t for t, raw, _ in mqtt.log if not raw and t not in stale]
