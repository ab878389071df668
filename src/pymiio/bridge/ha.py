"""Home Assistant MQTT discovery payloads for one served device. Pure.

One config per entity under ``<prefix>/<component>/<unique_id>/config``. Components by kind:
``switch`` (writable bool), ``binary_sensor`` (read-only bool), ``select`` (writable list),
``number`` (writable range), ``sensor`` (other readings), ``button`` (an action without
arguments), and one main entity where the device has one: ``light`` for lamps, ``fan`` for
purifiers and fans, ``vacuum`` for vacuums. ``unique_id`` is built from the bridge's base
topic and the device id, so it survives renames and differs between bridges.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pymiio import __version__
from pymiio.knowledge.model import Action, DeviceModel, Property

UNITS = {"percentage": "%", "celsius": "°C", "kelvin": "K", "seconds": "s", "minutes": "min",
         "hours": "h", "hour": "h", "days": "d", "watt": "W", "lux": "lx", "μg/m3": "µg/m³",
         "mg/m3": "mg/m³", "pascal": "Pa", "rpm": "rpm", "mm²": "mm²"}
DEVICE_CLASSES = {"temperature": "temperature", "relative-humidity": "humidity",
                  "humidity": "humidity", "battery": "battery", "battery-level": "battery",
                  "pm2.5-density": "pm25", "aqi": "pm25", "electric-power": "power",
                  "illumination": "illuminance"}
VACUUM_STATES = {5: "cleaning", 11: "cleaning", 16: "cleaning", 17: "cleaning",
                 18: "cleaning", 7: "cleaning", 4: "cleaning", 6: "returning", 15: "returning",
                 8: "docked", 100: "docked", 14: "docked", 22: "docked", 10: "paused",
                 9: "error", 12: "error", 101: "error", 1: "idle", 2: "idle", 3: "idle",
                 13: "idle"}


@dataclass
class Identity:
    name: str
    device_id: int
    model: str
    firmware: str | None
    base: str
    prefix: str


def slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", text).strip("_")[:64] or "x"


def kind_of(model: DeviceModel) -> str | None:
    """The main entity a device gets: light, fan or vacuum (None: only per-property ones)."""
    family = model.services[0].name if model.kind == "classic" and model.services else ""
    services = {p.service for p in model.properties}
    if family == "vacuum" or "vacuum" in services:
        return "vacuum"
    if family in ("philips-bulb", "philips-eyecare", "yeelight") or "light" in services:
        return "light"
    if family == "airpurifier" or services & {"air-purifier", "fan"}:
        return "fan"
    return None


def configs(model: DeviceModel, who: Identity) -> list[tuple[str, dict[str, Any]]]:
    """Every (topic, payload) of the device's discovery."""
    base = f"{who.base}/{who.name}"
    shared = _shared(who, base)
    out: list[tuple[str, dict[str, Any]]] = []
    used: set[str] = set()
    main = kind_of(model)
    if main is not None:
        entity, used = _main(main, model, base)
        if entity is not None:
            out.append(_config(who, main, "main", {**shared, "name": None, **entity}))
    for prop in model.properties:
        if prop.name in used or not (prop.readable or prop.writable):
            continue
        component, entity = _property(prop, base)
        out.append(_config(who, component, prop.name, {**shared, **entity}))
    for action in model.actions:
        if not action.inputs:
            out.append(_config(who, "button", f"action-{action.name}",
                               {**shared, **_button(action, base)}))
    return out


def _config(who: Identity, component: str, key: str,
            entity: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    unique = f"pymiio_{slug(who.base)}_{who.device_id}_{slug(key)}"
    entity = {"unique_id": unique, "object_id": slug(f"{who.name}_{key}"), **entity}
    return f"{who.prefix}/{component}/{unique}/config", entity


def _shared(who: Identity, base: str) -> dict[str, Any]:
    device: dict[str, Any] = {"identifiers": [f"pymiio_{slug(who.base)}_{who.device_id}"],
                              "name": who.name, "model": who.model, "manufacturer":
                              who.model.split(".", 1)[0].capitalize()}
    if who.firmware:
        device["sw_version"] = who.firmware
    return {
        "device": device,
        "origin": {"name": "pymiio", "sw_version": __version__,
                   "support_url": "https://pypi.org/project/pymiio/"},
        "availability": [
            {"topic": f"{who.base}/bridge/state", "value_template": "{{ value_json.state }}"},
            {"topic": f"{base}/availability", "value_template": "{{ value_json.state }}"}],
        "availability_mode": "all",
    }


def _value(prop: Property) -> str:
    return f"value_json[{json.dumps(prop.name)}]"


def _property(prop: Property, base: str) -> tuple[str, dict[str, Any]]:
    state = {"name": prop.description or prop.name, "state_topic": base}
    command = f"{base}/set/{prop.name}"
    if prop.format == "bool":
        template = f"{{{{ 'ON' if {_value(prop)} else 'OFF' }}}}"
        if prop.writable:
            return "switch", {**state, "command_topic": command, "value_template": template,
                              "payload_on": "ON", "payload_off": "OFF"}
        return "binary_sensor", {**state, "value_template": template}
    if prop.choices and prop.writable:
        labels = _labels(prop)
        return "select", {**state, "command_topic": command, "options": list(labels.values()),
                          "value_template": _label_template(prop, labels)}
    if prop.range is not None and prop.writable:
        low, high, step = prop.range
        entity = {**state, "command_topic": command, "min": low, "max": high,
                  "step": step or 1, "value_template": f"{{{{ {_value(prop)} }}}}"}
        if prop.unit in UNITS:
            entity["unit_of_measurement"] = UNITS[prop.unit]
        return "number", entity
    entity = {**state, "value_template": f"{{{{ {_value(prop)} }}}}"}
    if prop.choices:
        labels = _labels(prop)
        entity["value_template"] = _label_template(prop, labels)
    elif prop.format not in ("string", "json"):
        entity["state_class"] = "measurement"
        if prop.unit in UNITS:
            entity["unit_of_measurement"] = UNITS[prop.unit]
        bare = prop.name.split(":", 1)[-1]
        if bare in DEVICE_CLASSES and (prop.unit is None or prop.unit in UNITS):
            entity["device_class"] = DEVICE_CLASSES[bare]
    return "sensor", entity


def _labels(prop: Property) -> dict[str, str]:
    """Each list value (as text, as templates see it) with its label."""
    return {str(c.value): c.description or str(c.value) for c in prop.choices}


def _label_template(prop: Property, labels: dict[str, str]) -> str:
    mapping = json.dumps(labels, ensure_ascii=False)
    return f"{{{{ {mapping}.get({_value(prop)} | string, {_value(prop)}) }}}}"


def _button(action: Action, base: str) -> dict[str, Any]:
    return {"name": action.description or action.name, "command_topic": f"{base}/action",
            "payload_press": action.name}


def _main(kind: str, model: DeviceModel,
          base: str) -> tuple[dict[str, Any] | None, set[str]]:
    props = {p.name.split(":", 1)[-1]: p for p in model.properties}
    if kind == "vacuum":
        names = {a.name.split(":", 1)[-1] for a in model.actions}
        return {"state_topic": f"{base}/vacuum", "command_topic": f"{base}/action",
                "payload_return_to_base": "home", "payload_clean_spot": "spot",
                "payload_locate": "find", "payload_start": "start", "payload_pause": "pause",
                "payload_stop": "stop",
                "supported_features": [f for f, a in (
                    ("start", "start"), ("stop", "stop"), ("pause", "pause"),
                    ("return_home", "home"), ("locate", "find"), ("clean_spot", "spot"))
                    if a in names] + ["status"]}, set()
    power = props.get("power") or props.get("on")
    if power is None or not power.writable:
        return None, set()
    entity: dict[str, Any] = {"state_topic": base, "command_topic": f"{base}/set/{power.name}",
                              "state_value_template":
                                  f"{{{{ 'ON' if {_value(power)} else 'OFF' }}}}",
                              "payload_on": "ON", "payload_off": "OFF"}
    used = {power.name}
    if kind == "light":
        bright = props.get("brightness")
        if bright is not None and bright.writable:
            entity.update(brightness_command_topic=f"{base}/set/{bright.name}",
                          brightness_state_topic=base,
                          brightness_value_template=f"{{{{ {_value(bright)} }}}}",
                          brightness_scale=100)
            used.add(bright.name)
        ct = props.get("color-temperature")
        if ct is not None and ct.writable and ct.unit == "kelvin" and ct.range:
            entity.update(color_temp_command_topic=f"{base}/set/{ct.name}",
                          color_temp_state_topic=base, color_temp_kelvin=True,
                          color_temp_value_template=f"{{{{ {_value(ct)} }}}}",
                          min_kelvin=ct.range[0], max_kelvin=ct.range[1])
            used.add(ct.name)
        return entity, used
    mode = props.get("mode")
    if mode is not None and mode.writable and mode.choices:
        labels = _labels(mode)
        entity.update(preset_modes=list(labels.values()),
                      preset_mode_command_topic=f"{base}/set/{mode.name}",
                      preset_mode_state_topic=base,
                      preset_mode_value_template=_label_template(mode, labels))
        used.add(mode.name)
    return entity, used


def vacuum_state(values: dict[str, Any], model: DeviceModel) -> dict[str, Any]:
    """The JSON Home Assistant's vacuum state schema wants, from the device's values."""
    state = values.get("state") if "state" in values else values.get("vacuum:status")
    fan = values.get("fan-speed")
    label = model.property("fan-speed").label(fan) if fan is not None and any(
        p.name == "fan-speed" for p in model.properties) else None
    return {"state": VACUUM_STATES.get(state, "idle") if isinstance(state, int) else None,
            "fan_speed": label or fan}
