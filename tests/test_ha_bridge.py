"""Issue 27 end to end: the bridge serves simulated devices built from real MIoT specs through a
real Mosquitto; Home Assistant's side is played by the test's own MQTT client, which reads the
device configs, renders their templates as HA does and sends what HA would send."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from pymiio.bridge import ha
from pymiio.bridge.core import Bridge, Settings
from pymiio.bridge.options import parse_broker
from pymiio.inventory import Entry
from pymiio.knowledge.miot_spec import parse_spec_text
from pymiio.knowledge.model import DeviceModel
from pymiio.simulator import Simulator, make_devices
from pymiio.simulator.profiles import spec_profile
from pymiio.simulator.server import device_id_for

from .addresses import NET
from .conftest import TOKEN
from .ha_schema import problems, reads
from .mqtt_broker import PASSWORD, USER, Broker
from .test_bridge import _values, watching
from .test_ha import SHARED, render, spec

REAL = {"purifier": "zhimi.airpurifier.mb3", "vacuum": "dreame.vacuum.mc1808",
        "wall": "gran-msw1", "heater": "leshow-nfj5lx", "curtain": "lumi-acn012"}


def _served() -> tuple[dict[str, DeviceModel], dict[str, str]]:
    if not SHARED.is_dir():
        pytest.skip("../shared/miot-specs is not here")
    models = {name: spec(source) for name, source in REAL.items()}
    hosts = {name: f"{NET}.121.{index}" for index, name in enumerate(models, start=1)}
    return models, hosts


def _bridge(broker: Broker, models: dict[str, DeviceModel],
            hosts: dict[str, str], more: tuple[Entry, ...] = ()) -> Bridge:
    by_model = {m.model: m for m in models.values()}
    settings = Settings(parse_broker(broker.url), interval=1.0, client_id="test-ha",
                        describe=lambda model: by_model[model])
    return Bridge(settings, [Entry(name, hosts[name], TOKEN, model=models[name].model)
                             for name in models] + list(more))


async def test_real_devices_publish_configs_and_states_with_every_key(
        broker: Broker) -> None:
    models, hosts = _served()
    fleet = [device for name, model in models.items()
             for device in make_devices(hosts[name], token=TOKEN, profile=spec_profile(model))]
    async with Simulator(fleet), watching(broker) as mqtt:
        bridge = _bridge(broker, models, hosts)
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        try:
            configs = {}
            for name, model in models.items():
                object_id = ha.device_object_id("pymiio", device_id_for(hosts[name]))
                topic = f"homeassistant/device/{object_id}/config"
                configs[name] = await mqtt.wait(lambda s, t=topic: _values(s, t))
                state = await mqtt.wait(lambda s, n=name: _values(s, f"pymiio/{n}"))
                assert problems(configs[name]) == [], name
                assert set(ha.state_keys(model)) <= set(state), name  # every key, even null
                for entity in configs[name]["components"].values():
                    assert reads(entity) <= set(state), (name, entity)
                    for key, text in entity.items():  # HA renders them on this state
                        if key.endswith("template") and "command" not in key and \
                                entity["platform"] != "event":
                            render(text, value_json=state, value=json.dumps(state))
            hub = await mqtt.wait(lambda s: _values(
                s, "homeassistant/device/pymiio_pymiio_bridge/config"))
            assert {c["device"]["via_device"] for c in configs.values()} == {
                hub["device"]["identifiers"][0]}

            # what Home Assistant sends, rendered from the configs
            fan = configs["purifier"]["components"]["main"]
            assert fan["command_topic"] == "pymiio/purifier/set/air-purifier:on"
            await mqtt.client.publish(fan["preset_mode_command_topic"], render(
                fan["preset_mode_command_template"], value="Sleep"))
            shown = await mqtt.wait(lambda s: render(
                fan["preset_mode_value_template"], value_json=_values(s, "pymiio/purifier"))
                == "Sleep")
            assert shown
            screen = (_values(mqtt.seen, "pymiio/purifier") or {})["indicator-light:on"]
            assert screen is not None
            await mqtt.client.publish(fan["command_topic"], fan["payload_off"])
            await mqtt.wait(lambda s: (_values(s, "pymiio/purifier") or {}).get(
                "air-purifier:on") is False)
            assert (_values(mqtt.seen, "pymiio/purifier") or {})[
                "indicator-light:on"] == screen  # the screen is its own switch

            climate = configs["heater"]["components"]["main"]
            await mqtt.client.publish(climate["mode_command_topic"], render(
                climate["mode_command_template"], value="off"))
            await mqtt.wait(lambda s: render(climate["mode_state_template"], value_json=_values(
                s, "pymiio/heater")) == "off")
            await mqtt.client.publish(climate["temperature_command_topic"], "20")
            await mqtt.wait(lambda s: (_values(s, "pymiio/heater") or {}).get(
                "heater:target-temperature") == 20)

            gang = configs["wall"]["components"]["switch-4"]
            await mqtt.client.publish(gang["command_topic"], gang["payload_off"])
            await mqtt.wait(lambda s: render(gang["value_template"], value_json=_values(
                s, "pymiio/wall")) == "OFF")
            await mqtt.client.publish(gang["command_topic"], gang["payload_on"])
            await mqtt.wait(lambda s: render(gang["value_template"], value_json=_values(
                s, "pymiio/wall")) == "ON")

            vacuum = configs["vacuum"]["components"]["main"]
            derived = await mqtt.wait(lambda s: _values(s, "pymiio/vacuum/vacuum"))
            assert set(derived) == {"state", "fan_speed"}
            await mqtt.client.publish(vacuum["set_fan_speed_topic"], "强力")
            await mqtt.wait(lambda s: (_values(s, "pymiio/vacuum/vacuum") or {}).get(
                "fan_speed") == "强力")
            await mqtt.client.publish(vacuum["command_topic"], vacuum["payload_start"])
            assert await mqtt.wait(lambda s: s.get("pymiio/vacuum/response") == {
                "status": "ok"})

            cover = configs["curtain"]["components"]["main"]
            await mqtt.client.publish(cover["set_position_topic"], "40")
            await mqtt.wait(lambda s: (_values(s, "pymiio/curtain") or {}).get(
                "curtain:target-position") == 40)

            # a device dropped from the bridge: its config is cleared (HA removes it)
            curtain_topic = "homeassistant/device/" + ha.device_object_id(
                "pymiio", device_id_for(hosts["curtain"])) + "/config"
            await bridge.drop("curtain")
            await mqtt.wait(lambda s: s.get(curtain_topic, "") is None)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)


async def test_stale_configs_of_this_bridge_are_cleared_others_kept(
        broker: Broker) -> None:
    models, hosts = _served()
    models = {"wall": models["wall"]}
    fleet = make_devices(hosts["wall"], token=TOKEN, profile=spec_profile(models["wall"]))
    ours = {"availability": [{"topic": "pymiio/bridge/state"}], "device": {"identifiers": ["x"]},
            "origin": {"name": "pymiio"}, "components": {}}
    theirs = {**ours, "availability": [{"topic": "other/bridge/state"}]}
    stale = {
        "homeassistant/device/pymiio_pymiio_997/config": ours,  # a device no longer served
        "homeassistant/switch/pymiio_pymiio_999_power/config": ours,  # per-entity, old style
    }
    kept = {"homeassistant/device/pymiio_other_999/config": theirs,
            "homeassistant/sensor/someone_else/config": {"state_topic": "x"},
            # served, though away (its id is in the inventory): kept for when it answers
            "homeassistant/device/pymiio_pymiio_999/config": ours}
    async with aiomqtt.Client("127.0.0.1", broker.port, username=USER,
                              password=PASSWORD) as client:
        for topic, payload in {**stale, **kept}.items():
            await client.publish(topic, json.dumps(payload), qos=1, retain=True)
    async with Simulator(fleet), watching(broker, "homeassistant/#") as mqtt:
        await mqtt.wait(lambda s: len(s) == 5)  # the retained configs, as they were
        away = Entry("away", f"{NET}.121.99", TOKEN, model=models["wall"].model, device_id=999)
        bridge = _bridge(broker, models, hosts, (away,))
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        try:
            wall = "homeassistant/device/" + ha.device_object_id(
                "pymiio", device_id_for(hosts["wall"])) + "/config"
            await mqtt.wait(lambda s: _values(s, wall))
            await mqtt.wait(lambda s: all(s[t] is None for t in stale))  # cleared
            assert all(mqtt.seen[t] == payload for t, payload in kept.items())
            assert {t for t, raw, _ in mqtt.log if not raw} == set(stale)  # nothing else
            await asyncio.wait_for(_until(lambda: not bridge._sweeping), 10)  # and it ends
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.01)


def test_retained_owner_reads_only_this_bridges_configs() -> None:
    mine = json.dumps({"availability": [{"topic": "house/bridge/state"}]}).encode()
    assert ha.retained_owner("ha/device/pymiio_house_1/config", mine, "house", "ha") == \
        "device/pymiio_house_1"
    assert ha.retained_owner("ha/switch/pymiio_house_1_power/config", mine, "house", "ha") == \
        "switch/pymiio_house_1_power"
    for topic, payload in (("ha/device/x/config", b"{"), ("ha/device/x/config", b"[1]"),
                           ("ha/device/x/config", json.dumps({"availability": [
                               {"topic": "house-2/bridge/state"}]}).encode()),
                           ("ha/a/b/c/config", mine), ("other/device/x/config", mine),
                           ("ha/device/x/state", mine)):
        assert ha.retained_owner(topic, payload, "house", "ha") is None


def test_a_spec_of_device_information_only_announces_nothing() -> None:
    text = Path(SHARED / "zimi.switch.dhkg01.json").read_text() if SHARED.is_dir() else None
    if text is None:
        pytest.skip("../shared/miot-specs is not here")
    document = json.loads(text)
    document["services"] = [s for s in document["services"] if s["iid"] == 1]
    model = parse_spec_text(json.dumps(document), "x.y.z")
    who = ha.Identity("d", 1, "x.y.z", None, "pymiio", "homeassistant")
    assert ha.discovery(model, who) == ("homeassistant/device/pymiio_pymiio_1/config", None)
    assert ha.main_platform(model) is None and ha.derived_states(model, {}) == {}


async def test_a_device_config_is_kept_while_a_served_device_has_no_known_id(
        broker: Broker) -> None:
    models, hosts = _served()
    models = {"wall": models["wall"]}
    fleet = make_devices(hosts["wall"], token=TOKEN, profile=spec_profile(models["wall"]))
    ours = {"availability": [{"topic": "pymiio/bridge/state"}]}
    maybe = "homeassistant/device/pymiio_pymiio_997/config"  # could be the silent one's
    old = "homeassistant/switch/pymiio_pymiio_997_power/config"
    async with aiomqtt.Client("127.0.0.1", broker.port, username=USER,
                              password=PASSWORD) as client:
        for topic in (maybe, old):
            await client.publish(topic, json.dumps(ours), qos=1, retain=True)
    async with Simulator(fleet), watching(broker, "homeassistant/#") as mqtt:
        await mqtt.wait(lambda s: maybe in s and old in s)
        silent = Entry("silent", f"{NET}.121.98", TOKEN, model=models["wall"].model)
        bridge = _bridge(broker, models, hosts, (silent,))
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        try:
            await mqtt.wait(lambda s: s[old] is None)  # per-entity configs: always stale
            wall = "homeassistant/device/" + ha.device_object_id(
                "pymiio", device_id_for(hosts["wall"])) + "/config"
            await mqtt.wait(lambda s: _values(s, wall))
            before = sum(1 for topic, _, _ in mqtt.log if topic == wall)
            await mqtt.client.publish("homeassistant/status", "online")
            await mqtt.wait(lambda s: sum(1 for topic, _, _ in mqtt.log if topic == wall) >
                            before)  # the bridge has read past the retained configs
            assert mqtt.seen[maybe] == ours and bridge._stale  # kept, judged once ids are known
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
