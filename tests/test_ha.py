"""Home Assistant discovery from the device model (issue 27, issue 26 item 13): expected
mappings written by hand for real specs, and checks over the whole real corpus in
../shared/miot-specs/corpus (skipped with a reason when it is not there)."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from pymiio.bridge import ha
from pymiio.bridge import ha_tables as T
from pymiio.knowledge.catalogue import lookup
from pymiio.knowledge.miot_spec import parse_spec_text
from pymiio.knowledge.model import Choice, DeviceModel, Property, Service

from .ha_schema import problems, reads, writes

SHARED = Path(__file__).resolve().parents[2] / "shared" / "miot-specs"
CORPUS = SHARED / "corpus"
WHO = ha.Identity("dev", 4242, "x", "1.0", "pymiio", "homeassistant")
BASE = "pymiio/dev"


def spec(name: str) -> DeviceModel:
    """A real spec: a file of ../shared/miot-specs, or a corpus file by its vendor-product."""
    path = SHARED / f"{name}.json"
    if not path.exists():
        found = sorted(CORPUS.glob(f"*.{name}.*json")) if CORPUS.is_dir() else []
        if not found:
            pytest.skip(f"the real spec {name} is not in ../shared/miot-specs")
        path = found[0]
    return parse_spec_text(path.read_bytes(), name)


def config(model: DeviceModel) -> dict[str, Any]:
    _, payload = ha.discovery(model, WHO)
    assert payload is not None
    return payload


def components(model: DeviceModel) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = config(model)["components"]
    return found


def by_property(model: DeviceModel, name: str) -> dict[str, Any]:
    """The entity of one property (its command or state names it)."""
    for entity in components(model).values():
        if f"/set/{name}" in entity.get("command_topic", "") or reads(entity) == {name}:
            return entity
    raise AssertionError(f"no entity for {name}")


# -- expected mappings, by hand, for real specs ------------------------------------------

def test_purifier_3h_fan_is_bound_inside_its_own_service() -> None:
    model = spec("zhimi.airpurifier.mb3")
    fan = components(model)["main"]
    assert fan["platform"] == "fan" and fan["name"] is None and fan["retain"] is False
    assert fan["command_topic"] == f"{BASE}/set/air-purifier:on"  # not indicator-light:on
    assert fan["percentage_command_topic"] == f"{BASE}/set/air-purifier:fan-level"
    assert (fan["speed_range_min"], fan["speed_range_max"]) == (1, 3)
    assert fan["preset_modes"] == ["Auto", "Sleep", "Favorite", "None"]
    assert fan["preset_mode_command_topic"] == f"{BASE}/set/air-purifier:mode"
    assert writes(fan) == {"air-purifier:on", "air-purifier:fan-level", "air-purifier:mode"}
    assert reads(fan) == writes(fan)
    light = by_property(model, "indicator-light:on")
    assert (light["platform"], light["name"], light["entity_category"]) == (
        "switch", "Indicator Light", "config")
    lock = by_property(model, "physical-controls-locked:physical-controls-locked")
    assert lock["entity_category"] == "config"
    pm = by_property(model, "environment:pm2.5-density")
    assert (pm["device_class"], pm["unit_of_measurement"], pm["state_class"]) == (
        "pm25", "µg/m³", "measurement")
    used = by_property(model, "filter:filter-used-time")
    assert (used["device_class"], used["unit_of_measurement"], used["state_class"],
            used["entity_category"]) == ("duration", "h", "total_increasing", "diagnostic")
    fault = by_property(model, "air-purifier:fault")
    assert (fault["platform"], fault["device_class"], fault["entity_category"]) == (
        "sensor", "enum", "diagnostic")
    events = [e for e in components(model).values() if e["platform"] == "event"]
    assert {e["event_types"][0] for e in events} == {e.name for e in model.events}
    assert all(e["state_topic"] == f"{BASE}/event" for e in events)


def test_dreame_vacuum_uses_miot_semantics() -> None:
    model = spec("dreame.vacuum.mc1808")
    vacuum = components(model)["main"]
    assert vacuum["platform"] == "vacuum" and vacuum["state_topic"] == f"{BASE}/vacuum"
    assert (vacuum["payload_start"], vacuum["payload_stop"], vacuum["payload_return_to_base"],
            vacuum["payload_locate"]) == ("vacuum:start-sweep", "vacuum:stop-sweeping",
                                          "battery:start-charge", "identify:identify")
    assert vacuum["set_fan_speed_topic"] == f"{BASE}/set/clean:mode"
    assert vacuum["fan_speed_list"] == ["安静", "标准", "中档", "强力"]
    assert set(vacuum["supported_features"]) == {"start", "stop", "return_home", "locate",
                                                 "status", "fan_speed", "send_command"}
    assert vacuum["send_command_topic"] == vacuum["command_topic"] == f"{BASE}/action"
    states = {code: ha.derived_states(model, {"vacuum:status": code, "clean:mode": 2})
              for code in (1, 2, 3, 4, 5, 6)}
    assert {code: s["vacuum"]["state"] for code, s in states.items()} == {
        1: "cleaning", 2: "idle", 3: "paused", 4: "error", 5: "returning", 6: "docked"}
    assert states[1]["vacuum"]["fan_speed"] == "中档"
    assert ha.derived_states(model, {}) == {"vacuum": {"state": None, "fan_speed": None}}
    charging = by_property(model, "battery:charging-state")
    assert charging["options"] == ["Charging", "Not Charging", "Charging (4)", "Go Charging"]


def test_classic_vacuum_keeps_the_roborock_codes() -> None:
    model = lookup("roborock.vacuum.s5")
    assert model is not None
    vacuum = components(model)["main"]
    assert (vacuum["payload_start"], vacuum["payload_return_to_base"],
            vacuum["payload_clean_spot"], vacuum["payload_locate"]) == (
        "start", "home", "spot", "find")
    assert vacuum["fan_speed_list"] == ["Quiet", "Balanced", "Turbo", "Max", "Mop"]
    assert [ha.derived_states(model, {"state": s, "fan-speed": 60})["vacuum"]["state"]
            for s in (5, 6, 8, 10, 12, 3)] == [
        "cleaning", "returning", "docked", "paused", "error", "idle"]


def test_three_gang_wall_switch_gets_a_switch_per_gang() -> None:
    model = spec("gran-msw1")
    gangs = {cid: e for cid, e in components(model).items() if cid.startswith("switch-")}
    assert sorted(gangs) == ["switch-2", "switch-3", "switch-4"]
    for cid, gang in gangs.items():
        assert gang["platform"] == "switch" and gang["name"]
        assert gang["command_topic"] == f"{BASE}/set/{cid}:on" and reads(gang) == {
            f"{cid}:on"}
    assert len({g["name"] for g in gangs.values()}) == 3
    single = components(spec("zimi.switch.dhkg01"))["main"]
    assert single["name"] is None and single["command_topic"] == f"{BASE}/set/switch:on"


def test_outlet_lamp_and_fan() -> None:
    plug = components(spec("lumi.plug.v1"))["main"]
    assert (plug["platform"], plug["device_class"], plug["command_topic"]) == (
        "switch", "outlet", f"{BASE}/set/switch:on")
    lamp = components(spec("philips.light.moonlight"))["main"]
    assert lamp["platform"] == "light" and lamp["brightness_scale"] == 100
    assert (lamp["min_kelvin"], lamp["max_kelvin"], lamp["color_temp_kelvin"]) == (
        1700, 6500, True)
    assert lamp["rgb_command_topic"] == f"{BASE}/set/light:color"
    fan = components(spec("dmaker.fan.p9"))["main"]
    assert fan["oscillation_command_topic"] == f"{BASE}/set/fan:horizontal-swing"
    assert fan["preset_modes"] == ["Straight Wind", "Natural Wind", "Sleep"]
    assert (fan["speed_range_min"], fan["speed_range_max"]) == (1, 4)


def test_heater_air_conditioner_humidifier_kettle_curtain() -> None:
    heater = components(spec("leshow-nfj5lx"))["main"]
    assert heater["platform"] == "climate" and heater["modes"] == ["off", "auto"]
    assert heater["power_command_topic"] == f"{BASE}/set/heater:on"
    assert (heater["min_temp"], heater["max_temp"], heater["temperature_unit"],
            heater["temp_step"]) == (16, 32, "C", 1)
    assert reads(heater) >= {"heater:on", "heater:mode", "heater:target-temperature",
                              "heater:temperature"}
    conditioner = components(spec("viomi-y16"))["main"]
    assert conditioner["platform"] == "climate"
    assert writes(conditioner) <= {p.name for p in spec("viomi-y16").properties
                                    if p.name.startswith("air-conditioner:")}
    humidifier = components(spec("leshow-jsq1"))["main"]
    assert (humidifier["platform"], humidifier["device_class"], humidifier["min_humidity"],
            humidifier["max_humidity"]) == ("humidifier", "humidifier", 40, 70)
    assert humidifier["modes"] == ["Const Humidity", "Strong", "Sleep"]
    kettle = components(spec("yunmi-r5"))["main"]
    assert kettle["platform"] == "water_heater" and kettle["max_temp"] == 100
    assert kettle["current_temperature_template"] == '{{ value_json["kettle:temperature"] }}'
    curtain = components(spec("lumi-acn012"))["main"]
    assert (curtain["platform"], curtain["device_class"]) == ("cover", "curtain")
    assert curtain["set_position_topic"] == f"{BASE}/set/curtain:target-position"
    assert (curtain["payload_open"], curtain["payload_close"], curtain["payload_stop"]) == (
        None, None, "0")


def test_airer_water_heater_and_a_fallback() -> None:
    airer = components(spec("mrbond-m33a"))
    cover = airer["main"]
    assert (cover["platform"], cover["device_class"], cover["payload_open"],
            cover["payload_close"], cover["payload_stop"]) == ("cover", "shade", "1", "2", "0")
    # its current-position-3 counts 0..2, its target 10..100: HA reads and sets one scale
    assert (cover["position_closed"], cover["position_open"]) == (10, 100)
    assert reads({"position_template": cover["position_template"]}) == {
        "airer:target-position"}
    light = airer["light"]  # the airer's own lamp: a light of its own, named after its service
    assert (light["platform"], light["name"], light["command_topic"]) == (
        "light", "Light", f"{BASE}/set/light:on")
    heater = components(spec("viomi-u10"))["main"]
    assert (heater["platform"], heater["modes"], heater["min_temp"], heater["max_temp"]) == (
        "water_heater", ["off", "electric"], 30, 65)
    assert json.loads(render(heater["mode_command_template"], value="electric")) == {
        "water-heater:on": True}
    assert render(heater["mode_state_template"], value_json={"water-heater:on": True}) == \
        "electric"
    # a dehumidifier whose target humidity is a list cannot be HA's humidifier: a switch
    dry = components(spec("nwt-312en"))["main"]
    assert (dry["platform"], dry["name"], dry["command_topic"]) == (
        "switch", None, f"{BASE}/set/dehumidifier:on")
    assert by_property(spec("nwt-312en"), "dehumidifier:target-humidity")["platform"] == \
        "select"


def test_climate_mode_templates_switch_power_and_mode_together() -> None:
    model = DeviceModel("test.heater.x", "miot", urn="urn:miot-spec-v2:device:heater:0:t:1",
                        services=[Service(2, "heater", "Heater", "heater")])
    model.properties = [
        Property("heater:on", 2, 1, "bool", frozenset({"read", "write"}), service="heater"),
        Property("heater:mode", 2, 2, "uint8", frozenset({"read", "write"}), service="heater",
                 choices=(Choice(0, "Heat"), Choice(1, "Fan"), Choice(2, "Sleep"),
                          Choice(3, "None")))]
    model.__post_init__()
    climate = components(model)["main"]
    assert climate["modes"] == ["off", "heat", "fan_only"]
    assert climate["preset_modes"] == ["Sleep"]  # "None" is HA's own word: left out
    command = climate["mode_command_template"]
    assert json.loads(render(command, value="off")) == {"heater:on": False}
    assert json.loads(render(command, value="fan_only")) == {"heater:on": True,
                                                             "heater:mode": 1}
    state = climate["mode_state_template"]
    assert render(state, value_json={"heater:on": False, "heater:mode": 1}) == "off"
    assert render(state, value_json={"heater:on": True, "heater:mode": 1}) == "fan_only"
    assert render(state, value_json={"heater:on": None, "heater:mode": None}) == "None"
    assert render(climate["preset_mode_value_template"],
                  value_json={"heater:mode": 2}) == "Sleep"
    assert render(climate["preset_mode_value_template"],
                  value_json={"heater:mode": 0}) == "none"


_JINJA = ImmutableSandboxedEnvironment()  # what Home Assistant renders templates with


@cache
def _compiled(template: str) -> Any:
    return _JINJA.from_string(template)


def render(template: str, **names: Any) -> str:
    return str(_compiled(template).render(**names))


def _sample(prop: Property) -> Any:
    if prop.format == "bool":
        return True
    if prop.choices:
        return prop.choices[-1].value
    if prop.range is not None:
        return prop.range[1]
    return 7 if prop.format != "string" else "text"


def _arrives(text: str) -> Any:
    """A rendered command as the bridge takes it (bridge/core.py: JSON, else plain text)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


_OPTIONS = {"options": "command_template", "preset_modes": "preset_mode_command_template",
            "effect_list": "effect_command_template", "fan_modes": "fan_mode_command_template",
            "modes": "mode_command_template"}
_TOPICS = {"command_template": "command_topic",
           "preset_mode_command_template": "preset_mode_command_topic",
           "effect_command_template": "effect_command_topic",
           "fan_mode_command_template": "fan_mode_command_topic",
           "mode_command_template": "mode_command_topic"}


def _template_violations(model: DeviceModel, cid: str, entity: dict[str, Any]) -> list[str]:
    """Templates rendered as HA renders them: on a state of nulls and on one of real values
    every state template works; every option a command template sends back arrives at the
    bridge as a value its property accepts, the option's own value."""
    found = []
    blank = ha.blank_state(model)
    full = {**blank, **{p.name: _sample(p) for p in model.properties if p.name in blank}}
    for key, text in entity.items():
        if key.endswith("template") and "command" not in key and isinstance(text, str):
            for state in (blank, full):
                try:
                    shown = render(text, value_json=state, value=json.dumps(state))
                except Exception as exc:
                    found.append(f"{cid}: {key} fails on {(state is blank and 'nulls') or 'values'}"
                                 f": {exc}")
                    continue
                options = entity.get("options") if key == "value_template" else None
                if options and state is full and shown not in (*options, "None"):
                    found.append(f"{cid}: {key} shows {shown!r}, not an option")
    for listing, key in _OPTIONS.items():
        if listing not in entity or key not in entity:
            continue
        topic = entity[_TOPICS[key]]
        for option in entity[listing]:
            sent = _arrives(render(entity[key], value=option))
            values = sent if topic == f"{BASE}/set" else {topic.split("/set/", 1)[1]: sent}
            if not isinstance(values, dict):
                found.append(f"{cid}: {option!r} sends {sent!r} to {topic}")
                continue
            for name, value in values.items():
                prop = model.property(name)
                try:
                    converted = prop.convert(value)
                except Exception as exc:
                    found.append(f"{cid}: {option!r} sends {value!r} to {name}: {exc}")
                    continue
                if listing != "modes" and prop.choices and prop.label(converted) not in (
                        option, None):
                    found.append(f"{cid}: {option!r} arrives as {prop.label(converted)!r}")
    return found


# -- ids (issue 26 item 13) ----------------------------------------------------------------

def test_ids_never_collide_after_cleaning_up() -> None:
    names = ["a_b:x", "a:b_x", "température", "tempèrature", "x" * 70, "x" * 70 + "y",
             "ok-name", "ok_name", "a.b", "a_b"]
    ids = [ha.ident(n) for n in names]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids)
    assert ha.ident("ok-name") == "ok-name"  # clean names stay as they are
    model = DeviceModel("test.collide.x", "miot", services=[
        Service(2, "a_b", "", "a_b"), Service(3, "a", "", "a")])
    model.properties = [
        Property("a_b:x", 2, 1, "bool", frozenset({"read", "write"})),
        Property("a:b_x", 3, 1, "bool", frozenset({"read", "write"})),
        Property("a:température", 3, 2, "uint8", frozenset({"read"})),
        Property("a:tempèrature", 3, 3, "uint8", frozenset({"read"})),
        Property("a:" + "z" * 70, 3, 4, "uint8", frozenset({"read"})),
        Property("a:" + "z" * 70 + "q", 3, 5, "uint8", frozenset({"read"}))]
    model.__post_init__()
    found = components(model)
    assert len(found) == 6
    assert len({e["unique_id"] for e in found.values()}) == 6
    assert problems(config(model)) == []
    assert ha.device_object_id("a/b", 1) != ha.device_object_id("a_b", 1)
    # the first of a pair keeps the id earlier versions gave it; the second is told apart
    assert found["a_b_x"]["unique_id"] == "pymiio_pymiio_4242_a_b_x"
    assert sum(cid.startswith("a_b_x_") for cid in found) == 1


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/miot-specs is not here")
def test_unique_ids_stay_those_of_per_entity_discovery() -> None:
    """Upgrading from per-entity discovery keeps Home Assistant's entities: a property's
    entity keeps the unique_id ``pymiio_<base>_<device id>_<its name cleaned up>``."""
    model = spec("zhimi.airpurifier.mb3")
    found = components(model)
    for name in ("motor-speed:motor-speed", "indicator-light:on", "filter:filter-used-time",
                 "physical-controls-locked:physical-controls-locked"):
        old = f"pymiio_pymiio_4242_{ha.legacy_id(name)}"
        assert by_property(model, name)["unique_id"] == old
    assert found["main"]["unique_id"] == "pymiio_pymiio_4242_main"


# -- the whole corpus ---------------------------------------------------------------------

@cache
def _corpus() -> list[tuple[str, DeviceModel]]:
    return [(path.name, parse_spec_text(path.read_bytes(), path.stem))
            for path in sorted(CORPUS.glob("*.json"))]


def _bound_services(model: DeviceModel) -> dict[str, set[str]]:
    """Component id of each main entity → the service(s) it may touch."""
    kind = ha.device_type(model)
    if kind not in T.DEVICES:
        return {}
    for wanted in T.DEVICES[kind][1]:
        names = [s.name for s in model.services if (s.type or s.name) == wanted]
        if names:
            return {"main": {names[0]}} if len(names) == 1 else {n: {n} for n in names}
    return {}


def _violations(model: DeviceModel) -> list[str]:
    """What in one device's discovery breaks the rules of issue 27."""
    topic, payload = ha.discovery(model, WHO)
    if payload is None:
        return [] if not any(p.readable or p.writable for p in model.properties if p.service
                             != "device-information") and \
            not any(not a.inputs for a in model.actions) and \
            not model.events else ["entities but no config"]
    found = problems(payload)
    keys = set(ha.state_keys(model))
    services = {p.name: ha.service_of(p, model) for p in model.properties}
    for cid, entity in payload["components"].items():
        platform = entity["platform"]
        read_topics = {v for k, v in entity.items() if k.endswith("_topic") and
                       "command" not in k and k not in ("set_position_topic",
                                                        "set_fan_speed_topic")}
        if platform not in ("event", "vacuum") and read_topics - {BASE}:
            found.append(f"{cid}: reads {read_topics - {BASE}}")
        missing = reads(entity) - keys
        if missing:
            found.append(f"{cid}: reads keys the state never publishes: {sorted(missing)}")
        found += _template_violations(model, cid, entity)
        unit, cls = entity.get("unit_of_measurement"), entity.get("device_class")
        if platform in ("sensor", "number") and cls not in (None, "enum") and \
                unit not in T.CLASS_UNITS[cls]:
            found.append(f"{cid}: device_class {cls} with unit {unit!r}")
    for cid, allowed in _bound_services(model).items():
        entity = payload["components"].get(cid)
        if entity is None:
            continue
        bound = allowed | ({s.name for s in model.services if (s.type or s.name) in
                           T.VACUUM_FAN_SERVICES} if entity["platform"] == "vacuum" else set())
        outside = {n for n in writes(entity) if services.get(n) not in bound}
        outside |= {n for n in reads({k: v for k, v in entity.items()
                                      if not k.startswith("current_")})
                    if services.get(n) not in bound}
        if outside:
            found.append(f"{cid}: bound outside its service: {sorted(outside)}")
        if entity.get("name", "") is not None and cid == "main":
            found.append("the main entity has a name")
    ids = [e["unique_id"] for e in payload["components"].values()]
    if len(set(ids)) != len(ids):
        found.append("repeated unique_id")
    assert topic == "homeassistant/device/pymiio_pymiio_4242/config"
    return found


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/miot-specs/corpus is not here")
def test_every_real_spec_maps_within_the_rules() -> None:
    bad = {name: found for name, model in _corpus() if (found := _violations(model))}
    assert not bad, f"{len(bad)} specs break the rules, e.g. {next(iter(bad.items()))}"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/miot-specs/corpus is not here")
def test_main_entities_across_the_corpus() -> None:
    """What each device type becomes, measured over the corpus (docs/bridge.md's table)."""
    mains: dict[str | None, Counter[str | None]] = {}
    for _, model in _corpus():
        mains.setdefault(model.device_type, Counter())[ha.main_platform(model)] += 1
    expected = {  # device type: (platform, how many of its real specs get it)
        "air-purifier": ("fan", 12), "air-fresh": ("fan", 12), "fan": ("fan", 11),
        "ceiling-fan": ("fan", 11), "light": ("light", 11), "outlet": ("switch", 11),
        "switch": ("switch", 9), "relay": ("switch", 12), "humidifier": ("humidifier", 11),
        "dehumidifier": ("humidifier", 10), "heater": ("climate", 11),
        "air-conditioner": ("climate", 12), "thermostat": ("climate", 12),
        "bath-heater": ("climate", 10), "kettle": ("water_heater", 9),
        "water-heater": ("water_heater", 12), "curtain": ("cover", 12),
        "airer": ("cover", 11), "window-opener": ("cover", 11), "vacuum": ("vacuum", 11),
        "mopping-machine": ("vacuum", 12)}
    measured = {kind: (platform, mains[kind][platform])
                for kind, (platform, _) in expected.items()}
    assert measured == expected
    for kind, counts in mains.items():
        if kind not in T.DEVICES:
            assert set(counts) == {None}, kind  # no device type borrows another's entity


def test_classic_families_map_through_the_same_tables() -> None:
    from pymiio.knowledge.catalogue import families

    expected = {"airpurifier": "fan", "philips-bulb": "light", "philips-eyecare": "light",
                "yeelight": "light", "plug": "switch", "vacuum": "vacuum"}
    for family, document in families().items():
        model = lookup(document["models"][0].replace("*", "x"))
        assert model is not None
        assert ha.main_platform(model) == expected[family], family
        assert _violations(model) == [], family
    bulb = lookup("yeelink.light.color1")
    assert bulb is not None
    light = components(bulb)["main"]
    assert (light["min_kelvin"], light["max_kelvin"], light["rgb_command_topic"]) == (
        1700, 6500, f"{BASE}/set/rgb")
