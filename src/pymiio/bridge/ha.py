"""Home Assistant MQTT discovery for the served devices. Pure: a device model in, payloads out.

Device-based discovery (HA 2024.12+): one retained config per device under
``<prefix>/device/<object id>/config`` holding a ``components`` map, one entry per entity, each
with its ``platform``. The tables in :mod:`pymiio.bridge.ha_tables` decide what each device
type becomes:

- one **main entity** per device type, named ``null`` so it takes the device's name, built only
  from properties of the service that holds it (``air-purifier:on``, never
  ``indicator-light:on``): ``fan``, ``light``, ``switch`` (one per gang of a wall switch),
  ``humidifier``, ``climate``, ``water_heater``, ``cover`` or ``vacuum``;
- every other property: ``switch``/``binary_sensor``, ``select``/enum ``sensor``,
  ``number``/``sensor``, ``text``/``sensor``, with ``entity_category``, ``device_class`` only
  with a unit HA accepts for it, ``state_class`` (``total_increasing`` for counters);
- an action without arguments: a ``button``; a spec event: an ``event`` entity reading
  ``BASE/<name>/event`` (``{"event_type": "<event name>", ...}``).

Every template reads the device's state topic ``BASE/<name>`` by key, and every key it reads is
one :func:`state_keys` lists (the bridge publishes them all, null until read). The vacuum's
state is the JSON :func:`derived_states` computes, on ``BASE/<name>/vacuum``.

Ids: ``<object id>`` is ``pymiio_<base>_<device id>``; an entity's ``unique_id`` is
``<object id>_<component id>``; ids are made of ``[A-Za-z0-9_-]`` and never collide, because
:func:`ident` adds a short hash wherever cleaning a name up would lose information.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pymiio import __version__
from pymiio.bridge import ha_tables as T
from pymiio.knowledge.model import INT_FORMATS, Action, DeviceModel, Event, Property

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_IID = re.compile(r"-\d+$")
NUMERIC = frozenset({*INT_FORMATS, "float"})


@dataclass(frozen=True)
class Identity:
    """Who the device is to Home Assistant."""

    name: str
    device_id: int
    model: str
    firmware: str | None
    base: str
    prefix: str


# -- ids ----------------------------------------------------------------------------------

def ident(text: str) -> str:
    """``text`` as an id of ``[A-Za-z0-9_-]``, at most 64 characters. Text that already is one
    stays as it is; anything else is cleaned up and gets 8 hex digits of its hash, so two
    texts never give one id (``a_b:x`` / ``a:b_x``, ``température`` / ``tempèrature``)."""
    if _ID.fullmatch(text):
        return text
    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:55]
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean}_{digest}" if clean else digest


def legacy_id(text: str) -> str:
    """``text`` cleaned up as pymiio's per-entity discovery did (the ``unique_id`` suffixes
    users' Home Assistant entities are registered under): not injective on its own."""
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", text).strip("_")[:64] or "x"


def _entity_slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def device_object_id(base: str, device_id: int) -> str:
    return f"pymiio_{ident(base)}_{device_id}"


def bridge_object_id(base: str) -> str:
    return f"pymiio_{ident(base)}_bridge"


def config_topic(prefix: str, object_id: str) -> str:
    return f"{prefix}/device/{object_id}/config"


# -- what the state publishes -------------------------------------------------------------

def state_keys(model: DeviceModel) -> list[str]:
    """The keys of the device's state JSON: what ``status`` reads."""
    return [p.name for p in model.status_properties()]


def blank_state(model: DeviceModel) -> dict[str, Any]:
    """Every state key, null: what is published before (or when) a value cannot be read."""
    return dict.fromkeys(state_keys(model))


def derived_states(model: DeviceModel, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Extra state topics (suffix → JSON) an entity needs in a shape of its own: the vacuum's
    ``{"state": …, "fan_speed": …}``."""
    plan = _vacuum_parts(model)
    if plan is None:
        return {}
    status, fan = plan
    if status is None and not _vacuum_actions(model):
        return {}
    state = None
    raw = values.get(status.name) if status is not None else None
    if status is not None and raw is not None and not isinstance(raw, bool):
        if model.kind == "classic" and isinstance(raw, int):
            state = T.CLASSIC_VACUUM_STATES.get(raw)
        else:
            state = _word(status.label(raw) or "", T.VACUUM_WORDS)
    speed = values.get(fan.name) if fan is not None else None
    return {"vacuum": {"state": state,
                       "fan_speed": (fan.label(speed) or speed) if fan is not None and
                       speed is not None else None}}


# -- discovery ------------------------------------------------------------------------------

def discovery(model: DeviceModel, who: Identity) -> tuple[str, dict[str, Any] | None]:
    """The device's discovery config: (topic, payload); None: the device has no entity (a
    spec of device information only), so nothing is announced."""
    object_id = device_object_id(who.base, who.device_id)
    base = f"{who.base}/{who.name}"
    components = _Components(model, who, object_id, base).build()
    if not components:
        return config_topic(who.prefix, object_id), None
    device: dict[str, Any] = {
        "identifiers": [object_id], "name": who.name, "model": model.description or who.model,
        "model_id": who.model, "manufacturer": who.model.split(".", 1)[0].capitalize(),
        "via_device": bridge_object_id(who.base)}
    if who.firmware:
        device["sw_version"] = who.firmware
    payload = {
        "device": device, "origin": _origin(),
        "availability": [
            {"topic": f"{who.base}/bridge/state", "value_template": "{{ value_json.state }}"},
            {"topic": f"{base}/availability", "value_template": "{{ value_json.state }}"}],
        "availability_mode": "all",
        "components": components,
    }
    return config_topic(who.prefix, object_id), payload


def bridge_discovery(base: str, prefix: str) -> tuple[str, dict[str, Any]]:
    """The bridge itself as a device (served devices name it in ``via_device``), with one
    diagnostic entity: whether it is connected."""
    object_id = bridge_object_id(base)
    return config_topic(prefix, object_id), {
        "device": {"identifiers": [object_id], "name": f"pymiio bridge ({base})",
                   "model": "MQTT bridge", "manufacturer": "pymiio", "sw_version": __version__},
        "origin": _origin(),
        "components": {"connection": {
            "platform": "binary_sensor", "unique_id": f"{object_id}_connection",
            "default_entity_id": f"binary_sensor.{_entity_slug(f'pymiio {base}')}_connection",
            "name": "Connection", "device_class": "connectivity",
            "entity_category": "diagnostic", "state_topic": f"{base}/bridge/state",
            "value_template": "{{ 'ON' if value_json['state'] == 'online' else 'OFF' }}"}},
    }


def retained_owner(topic: str, payload: bytes, base: str, prefix: str) -> str | None:
    """The object id of a retained discovery config this bridge published (its availability
    starts with this bridge's state topic): a device config (``device/<id>``) or an entity
    config of the per-entity discovery older versions used (``<component>/<id>``); else None."""
    parts = topic.split("/")
    if topic.count("/") != prefix.count("/") + 3 or not topic.startswith(prefix + "/") or \
            parts[-1] != "config":
        return None
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    availability = document.get("availability") if isinstance(document, dict) else None
    if not isinstance(availability, list) or not availability or \
            not isinstance(availability[0], dict) or \
            availability[0].get("topic") != f"{base}/bridge/state":
        return None
    return f"{parts[-3]}/{parts[-2]}"


def main_platform(model: DeviceModel) -> str | None:
    """The platform of the device's main entity (None: only per-property entities)."""
    builder = _Components(model, Identity("x", 0, model.model, None, "x", "x"), "x", "x")
    builder.build()
    return builder.main_platforms[0] if builder.main_platforms else None


def _origin() -> dict[str, Any]:
    return {"name": "pymiio", "sw_version": __version__,
            "support_url": "https://pypi.org/project/pymiio/"}


# -- the mapping ------------------------------------------------------------------------------

def device_type(model: DeviceModel) -> str | None:
    """The MIoT device type, or the one a classic family behaves as."""
    if model.kind == "classic":  # the catalogue says which type its family behaves as
        return (model.services[0].type or None) if model.services else None
    return model.device_type


def service_of(prop: Property | Action | Event, model: DeviceModel) -> str:
    """The (unique) service name an element belongs to; a classic family's for classic."""
    if model.kind == "classic":
        return model.services[0].name if model.services else ""
    return prop.name.split(":", 1)[0]


def _bare(prop: Property | Action | Event) -> str:
    return prop.name.split(":", 1)[-1]


def _plain(name: str) -> str:
    return _IID.sub("", name)


def _value(prop: Property) -> str:
    return f"value_json[{json.dumps(prop.name, ensure_ascii=False)}]"


def _jinja(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def _word(label: str, table: Iterable[tuple[str, str]]) -> str | None:
    """What a label means by the first table word that starts a word of it."""
    text = label.lower()
    for word, meaning in table:
        if re.search(r"(?<![a-z])" + re.escape(word), text):
            return meaning
    return None


def _labels(prop: Property) -> dict[str, str]:
    """Each value (as text, as templates see it) with its distinct label."""
    return {str(c.value): label for c, label in
            zip(prop.choices, prop.choice_labels(), strict=True)}


def _values(prop: Property) -> dict[str, Any]:
    """Each distinct label with its value: what a command template sends back."""
    return {label: c.value for c, label in zip(prop.choices, prop.choice_labels(), strict=True)}


def _tpl_bool(prop: Property, on: str = "ON", off: str = "OFF") -> str:
    v = _value(prop)
    return f"{{{{ 'None' if {v} is none else ('{on}' if {v} else '{off}') }}}}"


def _tpl_plain(prop: Property) -> str:
    return f"{{{{ {_value(prop)} }}}}"


def _tpl_label(prop: Property, table: dict[str, str], default: str = "None") -> str:
    return f"{{{{ {_jinja(table)}.get({_value(prop)} | string, {_jinja(default)}) }}}}"


def _tpl_command(table: dict[str, Any]) -> str:
    return f"{{{{ {_jinja(table)}.get(value, value) }}}}"


class _Components:
    """Builds the ``components`` map of one device."""

    def __init__(self, model: DeviceModel, who: Identity, object_id: str, base: str) -> None:
        self.model, self.who, self.object_id, self.base = model, who, object_id, base
        self.components: dict[str, dict[str, Any]] = {}
        self.used: set[str] = set()
        self.names: set[str] = set()
        self.main_platforms: list[str] = []  # what the main entities became
        self.main_services: set[str] = set()
        self.readable = set(state_keys(model))
        self.type = device_type(model)

    # -- helpers --------------------------------------------------------------------------

    def _set(self, prop: Property) -> str:
        return f"{self.base}/set/{prop.name}"

    def _add(self, cid: str, platform: str, key: str, entity: dict[str, Any]) -> None:
        cid = self._component_id(cid, platform)
        entity = {"platform": platform, "unique_id": f"{self.object_id}_{cid}",
                  "default_entity_id": self._entity_id(platform, key), **entity}
        self.components[cid] = entity

    def _component_id(self, text: str, platform: str) -> str:
        """The id of a component (and the end of its ``unique_id``): the name cleaned up as
        earlier versions did, so an upgrade keeps Home Assistant's entities and what users set
        on them; where that would give one id to two names of this device (``a_b:x`` /
        ``a:b_x``), the later one takes :func:`ident`'s hashed form. Never given twice."""
        cid = legacy_id(text)
        if cid in self.components:
            cid = ident(text)
        while cid in self.components:
            cid = ident(f"{cid}:{platform}")
        return cid

    def _entity_id(self, platform: str, key: str) -> str:
        device = _entity_slug(self.who.name) or f"miio_{self.who.device_id}"
        suffix = _entity_slug(key)
        return f"{platform}.{device}_{suffix}" if key and suffix else f"{platform}.{device}"

    def _name(self, prop: Property | Action | Event, service: str) -> str:
        """The entity's name: the spec's description; a generic one (``Switch Status``,
        ``Brightness``) outside the main service says its service (``Indicator Light``)."""
        text = " ".join(prop.description.split()) or _bare(prop).replace("-", " ").capitalize()
        if isinstance(prop, Property) and service not in self.main_services and \
                self.model.kind == "miot" and _plain(_bare(prop)) in T.GENERIC_NAMES:
            label = self._service_label(service)
            text = label if _plain(_bare(prop)) == "on" else f"{label} {text}"
        for candidate in (text, f"{text} ({self._service_label(service)})", f"{text} "
                          f"({prop.name})"):
            if candidate.casefold() not in self.names:
                self.names.add(candidate.casefold())
                return candidate
        return f"{text} ({prop.name})"

    def _service_label(self, service: str) -> str:
        found = next((s for s in self.model.services if s.name == service), None)
        return (found.description if found and found.description else service)

    def _props_of(self, service: str) -> list[Property]:
        return [p for p in self.model.properties if service_of(p, self.model) == service]

    def _find(self, props: list[Property], names: tuple[str, ...],
              check: Callable[[Property], bool]) -> Property | None:
        """The first property named (bare, or with its iid suffix) in ``names`` that passes."""
        for wanted in names:
            for exact in (True, False):
                for prop in props:
                    bare = _bare(prop)
                    if (bare == wanted if exact else _plain(bare) == wanted) and check(prop) \
                            and prop.name not in self.used:
                        return prop
        return None

    def _state(self, prop: Property) -> bool:
        return prop.name in self.readable

    def _service_type(self, service: str) -> str:
        found = next((s for s in self.model.services if s.name == service), None)
        return (found.type or found.name) if found else service

    # -- the whole device ----------------------------------------------------------------

    def mains(self) -> list[tuple[str, str, str, list[Property]]]:
        """(component id, platform, service, its properties) of each main entity's service."""
        if self.type is None or self.type not in T.DEVICES:
            return []
        platform, types = T.DEVICES[self.type]
        if self.model.kind == "classic":
            service = self.model.services[0].name if self.model.services else ""
            return [("main", platform, service, list(self.model.properties))]
        for wanted in types:
            services = [s for s in sorted(self.model.services, key=lambda s: s.siid)
                        if (s.type or s.name) == wanted]
            if services:
                single = len(services) == 1
                return [("main" if single else s.name, platform, s.name, self._props_of(s.name))
                        for s in services]
        return []

    def build(self) -> dict[str, dict[str, Any]]:
        mains = self.mains()
        for cid, platform, service, props in mains:
            name = None if len(mains) == 1 else self._name_of_service(service)
            built = self._main(cid, platform, service, props, name)
            if built is not None:
                self.main_platforms.append(built)
        main_services = self.main_services = {service for _, _, service, _ in mains}
        for other in self.model.services:
            kind = T.SECONDARY_SERVICES.get(other.type or other.name)
            if kind and other.name not in main_services:
                self._main(other.name, kind, other.name, self._props_of(other.name),
                           self._name_of_service(other.name))
        for prop in self.model.properties:
            if prop.name not in self.used and (prop.readable or prop.writable) and \
                    self._service_type(service_of(prop, self.model)) != "device-information":
                self._property(prop, bool(mains), main_services)
        for action in self.model.actions:
            if not action.inputs:
                self._add(f"action-{action.name}", "button", f"action {_bare(action)}", {
                    "name": self._name(action, service_of(action, self.model)),
                    "command_topic": f"{self.base}/action", "payload_press": action.name})
        for event in self.model.events:
            self._event(event)
        return self.components

    def _name_of_service(self, service: str) -> str:
        label = self._service_label(service)
        text = label if label != service else service.replace("-", " ").capitalize()
        if text.casefold() in self.names:
            text = f"{text} ({service})"
        self.names.add(text.casefold())
        return text

    def _main(self, cid: str, platform: str, service: str, props: list[Property],
              name: str | None) -> str | None:
        """The entity of one main (or secondary) service; the platform it got, if any."""
        builders: dict[str, Callable[[list[Property]], dict[str, Any] | None]] = {
            "fan": self._fan, "light": self._light, "switch": self._switch,
            "humidifier": self._humidifier, "climate": self._climate,
            "water_heater": self._water_heater, "cover": self._cover, "vacuum": self._vacuum}
        before = set(self.used)
        entity = builders[platform](props)
        if entity is None:
            self.used = before
            if platform != T.FALLBACK:
                platform, entity = T.FALLBACK, self._switch(props)
            if entity is None:
                self.used = before
                return None
        if platform in ("fan", "humidifier"):  # their documented default is to retain
            entity["retain"] = False  # commands: the bridge ignores retained ones (docs)
        key = "" if name is None else service
        self._add(cid, platform, key, {"name": name, **entity})
        return platform

    # -- main entities -------------------------------------------------------------------

    def _power(self, props: list[Property]) -> Property | None:
        names = T.FEATURES["switch"]["power"]
        prop = self._find(props, names, lambda p: p.format == "bool" and p.writable)
        if prop is not None:
            self.used.add(prop.name)
        return prop

    def _feature(self, props: list[Property], platform: str, feature: str,
                 check: Callable[[Property], bool]) -> Property | None:
        prop = self._find(props, T.FEATURES[platform][feature], check)
        if prop is not None:
            self.used.add(prop.name)
        return prop

    def _onoff(self, power: Property, state_key: str = "value_template") -> dict[str, Any]:
        """Power as ON/OFF; ``state_key`` names its state template (a fan, light or
        humidifier reads it from ``state_value_template``)."""
        entity: dict[str, Any] = {"command_topic": self._set(power), "payload_on": "ON",
                                  "payload_off": "OFF"}
        if self._state(power):
            entity.update({"state_topic": self.base, state_key: _tpl_bool(power)})
        return entity

    def _switch(self, props: list[Property]) -> dict[str, Any] | None:
        power = self._power(props)
        if power is None:
            return None
        entity = self._onoff(power)
        if self.type in ("outlet", "relay"):
            entity["device_class"] = "outlet"
        return entity

    def _fan(self, props: list[Property]) -> dict[str, Any] | None:
        power = self._power(props)
        if power is None:
            return None
        entity = self._onoff(power, state_key="state_value_template")
        speed = self._feature(props, "fan", "speed", lambda p: p.writable and
                              p.format in NUMERIC and _speeds(p) is not None)
        span = _speeds(speed) if speed is not None else None
        if speed is not None and span is not None:
            low, high = span
            shift = 1 - low if low < 1 else 0
            entity.update(percentage_command_topic=self._set(speed),
                          speed_range_min=low + shift, speed_range_max=high + shift)
            if shift:
                entity["percentage_command_template"] = f"{{{{ value - {shift} }}}}"
            if self._state(speed):
                v = _value(speed)
                entity.update(percentage_state_topic=self.base, percentage_value_template=(
                    f"{{{{ 'None' if {v} is none else {v} + {shift} }}}}" if shift else
                    _tpl_plain(speed)))
        preset = self._feature(props, "fan", "preset", lambda p: p.writable and bool(p.choices))
        if preset is not None:
            self._choices(entity, preset, "preset_modes", "preset_mode", "value_template")
        swing = self._feature(props, "fan", "oscillation",
                              lambda p: p.writable and p.format == "bool")
        if swing is not None:
            entity.update(oscillation_command_topic=self._set(swing),
                          payload_oscillation_on="on", payload_oscillation_off="off")
            if self._state(swing):
                entity.update(oscillation_state_topic=self.base,
                              oscillation_value_template=_tpl_bool(swing, "on", "off"))
        direction = self._feature(props, "fan", "direction",
                                  lambda p: p.writable and p.format == "bool")
        if direction is not None:
            entity.update(direction_command_topic=self._set(direction),
                          direction_command_template="{{ 'on' if value == 'reverse' else "
                                                     "'off' }}")
            if self._state(direction):
                entity.update(direction_state_topic=self.base,
                              direction_value_template=_tpl_bool(direction, "reverse",
                                                                 "forward"))
        return entity

    def _light(self, props: list[Property]) -> dict[str, Any] | None:
        power = self._power(props)
        if power is None:
            return None
        entity = self._onoff(power, state_key="state_value_template")
        bright = self._feature(props, "light", "brightness", lambda p: p.writable and
                               p.range is not None and p.range[0] >= 0 and p.range[1] >= 1 and
                               not p.choices)
        if bright is not None and bright.range is not None:
            entity.update(brightness_command_topic=self._set(bright),
                          brightness_scale=int(bright.range[1]))
            if self._state(bright):
                entity.update(brightness_state_topic=self.base,
                              brightness_value_template=_tpl_plain(bright))
        ct = self._feature(props, "light", "color_temp", lambda p: p.writable and
                           p.unit == "kelvin" and p.range is not None and p.range[0] > 0)
        if ct is not None and ct.range is not None:
            entity.update(color_temp_command_topic=self._set(ct), color_temp_kelvin=True,
                          min_kelvin=int(ct.range[0]), max_kelvin=int(ct.range[1]))
            if self._state(ct):
                entity.update(color_temp_state_topic=self.base,
                              color_temp_value_template=_tpl_plain(ct))
        color = self._feature(props, "light", "color", lambda p: p.writable and
                              p.format in NUMERIC and p.format != "float" and
                              (p.unit == "rgb" or (p.range is not None and
                                                   p.range[1] == 0xFFFFFF)))
        if color is not None:
            entity.update(rgb_command_topic=self._set(color), rgb_command_template=(
                "{{ red * 65536 + green * 256 + blue }}"))
            if self._state(color):
                v = _value(color)
                entity.update(rgb_state_topic=self.base, rgb_value_template=(
                    f"{{{{ 'None' if {v} is none else (({v} // 65536) % 256) ~ ',' ~ "
                    f"(({v} // 256) % 256) ~ ',' ~ ({v} % 256) }}}}"))
        effect = self._feature(props, "light", "effect", lambda p: p.writable and bool(p.choices))
        if effect is not None:
            self._choices(entity, effect, "effect_list", "effect", "value_template")
        return entity

    def _choices(self, entity: dict[str, Any], prop: Property, listing: str, prefix: str,
                 template: str) -> None:
        """A list feature of a main entity (a fan's presets, a light's effects, a humidifier's
        modes, a climate's fan modes): the labels under ``listing``; ``<prefix>_command_topic``
        with a template that sends a label's own value; where the state has it,
        ``<prefix>_state_topic`` and ``<prefix>_<template>`` showing the label."""
        entity[listing] = list(prop.choice_labels())
        entity[f"{prefix}_command_topic"] = self._set(prop)
        entity[f"{prefix}_command_template"] = _tpl_command(_values(prop))
        if self._state(prop):
            entity[f"{prefix}_state_topic"] = self.base
            entity[f"{prefix}_{template}"] = _tpl_label(prop, _labels(prop))

    def _environment(self, props: list[Property], names: tuple[str, ...]) -> Property | None:
        """A reading from the main service, else from an environment service."""
        found = self._find(props, names, self._state)
        if found is None:
            for service in self.model.services:
                if (service.type or service.name) in T.ENVIRONMENT_SERVICES:
                    found = self._find(self._props_of(service.name), names, self._state)
                    if found is not None:
                        break
        if found is not None:
            self.used.add(found.name)
        return found

    def _humidifier(self, props: list[Property]) -> dict[str, Any] | None:
        power = self._power(props)
        target = self._feature(props, "humidifier", "target", lambda p: p.writable and
                               p.range is not None and not p.choices)
        if power is None or target is None or target.range is None:
            return None
        entity = self._onoff(power, state_key="state_value_template")
        entity.update(device_class="dehumidifier" if self.type == "dehumidifier" else
                      "humidifier", target_humidity_command_topic=self._set(target),
                      min_humidity=target.range[0], max_humidity=target.range[1])
        if self._state(target):
            entity.update(target_humidity_state_topic=self.base,
                          target_humidity_state_template=_tpl_plain(target))
        mode = self._feature(props, "humidifier", "mode", lambda p: p.writable and
                             bool(p.choices))
        if mode is not None:
            self._choices(entity, mode, "modes", "mode", "state_template")
        current = self._environment(props, T.FEATURES["humidifier"]["current"])
        if current is not None:
            entity.update(current_humidity_topic=self.base,
                          current_humidity_template=_tpl_plain(current))
        return entity

    def _modes(self, power: Property | None, mode: Property | None, words: Any,
               default: str) -> tuple[list[str], dict[str, Any], list[str], dict[str, Any]]:
        """(HA modes, their command/state plumbing, presets, preset plumbing) of a climate or
        water heater: ``off`` is the power switch; a mode label HA knows becomes that mode,
        the others presets."""
        table: dict[str, Any] = {}  # HA mode -> device value
        presets: dict[str, Any] = {}
        if mode is not None:
            for choice, label in zip(mode.choices, mode.choice_labels(), strict=True):
                meaning = _word(label, words)
                if meaning == "off" and power is not None:
                    continue  # off is the power switch's
                if meaning is not None and meaning not in table:
                    table[meaning] = choice.value
                elif label.casefold() != "none":
                    presets[label] = choice.value
        modes = ["off"] if power is not None or "off" in table else []
        modes += [m for m in table if m != "off"] or [default]
        default = modes[-1] if default not in modes else default
        plumbing: dict[str, Any] = {}
        on = json.dumps(power.name) if power is not None else None
        key = json.dumps(mode.name) if mode is not None else None
        if power is not None and (mode is None or mode.writable):
            plumbing["mode_command_topic"] = f"{self.base}/set"
            plumbing["mode_command_template"] = (
                f"{{% if value == 'off' %}}{{{on}: false}}"
                + (f"{{% elif value in {_jinja(table)} %}}{{{on}: true, {key}: "
                   f"{{{{ {_jinja(table)}[value] | tojson }}}}}}" if table and key else "")
                + f"{{% else %}}{{{on}: true}}{{% endif %}}")
        elif mode is not None and mode.writable and table:
            plumbing["mode_command_topic"] = self._set(mode)
            plumbing["mode_command_template"] = _tpl_command(table)
        state_mode = ""
        if mode is not None and self._state(mode):
            reverse = {str(v): m for m, v in table.items()}
            state_mode = f"{_jinja(reverse)}.get({_value(mode)} | string, {_jinja(default)})" \
                if reverse else _jinja(default)
        else:
            state_mode = _jinja(modes[-1])
        if power is not None and self._state(power):
            v = _value(power)
            plumbing.update(mode_state_topic=self.base, mode_state_template=(
                f"{{% if {v} is none %}}None{{% elif not {v} %}}off"
                f"{{% else %}}{{{{ {state_mode} }}}}{{% endif %}}"))
        elif power is None and mode is not None and self._state(mode):
            plumbing.update(mode_state_topic=self.base,
                            mode_state_template=f"{{{{ {state_mode} }}}}")
        preset_plumbing: dict[str, Any] = {}
        if presets and mode is not None and mode.writable:
            preset_plumbing.update(preset_mode_command_topic=self._set(mode),
                                   preset_mode_command_template=_tpl_command(presets))
            if self._state(mode):
                labels = {str(v): k for k, v in presets.items()}
                preset_plumbing.update(preset_mode_state_topic=self.base,
                                       preset_mode_value_template=_tpl_label(mode, labels,
                                                                             "none"))
        return modes, plumbing, list(presets) if preset_plumbing else [], preset_plumbing

    def _temperature(self, target: Property | None, entity: dict[str, Any],
                     climate: bool = False) -> None:
        if target is None or target.range is None:
            return
        low, high, step = target.range
        entity.update(temperature_command_topic=self._set(target), min_temp=low, max_temp=high)
        if target.unit in ("celsius", "fahrenheit"):
            entity["temperature_unit"] = "C" if target.unit == "celsius" else "F"
        entity["precision"] = 0.1 if step and step < 0.5 else 0.5 if step and step < 1 else 1.0
        if climate and step > 0:
            entity["temp_step"] = step
        if self._state(target):
            entity.update(temperature_state_topic=self.base,
                          temperature_state_template=_tpl_plain(target))

    def _climate(self, props: list[Property]) -> dict[str, Any] | None:
        power = self._power(props)
        mode = self._feature(props, "climate", "mode", lambda p: bool(p.choices))
        target = self._feature(props, "climate", "target", lambda p: p.writable and
                               p.range is not None and not p.choices)
        if power is None and target is None and (mode is None or not mode.writable or not any(
                _word(label, T.HVAC_WORDS) for label in mode.choice_labels())):
            return None
        default = "cool" if self.type in ("air-conditioner", "air-condition-outlet") else "heat"
        modes, plumbing, presets, preset_plumbing = self._modes(power, mode, T.HVAC_WORDS,
                                                                default)
        entity: dict[str, Any] = {"modes": modes, **plumbing}
        if power is not None:
            entity.update(power_command_topic=self._set(power), payload_on="ON",
                          payload_off="OFF")
        if presets:
            entity.update(preset_modes=presets, **preset_plumbing)
        self._temperature(target, entity, climate=True)
        fan = self._feature(props, "climate", "fan", lambda p: p.writable and bool(p.choices))
        if fan is not None:
            self._choices(entity, fan, "fan_modes", "fan_mode", "state_template")
        swing = self._feature(props, "climate", "swing",
                              lambda p: p.writable and p.format == "bool")
        if swing is not None:
            entity.update(swing_modes=["on", "off"], swing_mode_command_topic=self._set(swing))
            if self._state(swing):
                entity.update(swing_mode_state_topic=self.base,
                              swing_mode_state_template=_tpl_bool(swing, "on", "off"))
        current = self._environment(props, T.FEATURES["climate"]["current"])
        if current is not None:
            entity.update(current_temperature_topic=self.base,
                          current_temperature_template=_tpl_plain(current))
        humidity = self._environment(props, T.FEATURES["climate"]["humidity"])
        if humidity is not None:
            entity.update(current_humidity_topic=self.base,
                          current_humidity_template=_tpl_plain(humidity))
        wanted = self._feature(props, "climate", "target_humidity", lambda p: p.writable and
                               p.range is not None and not p.choices)
        if wanted is not None and wanted.range is not None:
            entity.update(target_humidity_command_topic=self._set(wanted),
                          min_humidity=wanted.range[0], max_humidity=wanted.range[1])
            if self._state(wanted):
                entity.update(target_humidity_state_topic=self.base,
                              target_humidity_state_template=_tpl_plain(wanted))
        return entity

    def _water_heater(self, props: list[Property]) -> dict[str, Any] | None:
        power = self._power(props)
        target = self._feature(props, "water_heater", "target", lambda p: p.writable and
                               p.range is not None and not p.choices)
        current = self._find(props, T.FEATURES["water_heater"]["current"], self._state)
        if power is None and target is None:
            return None
        mode = self._find(props, T.FEATURES["water_heater"]["mode"],
                          lambda p: p.writable and bool(p.choices) and any(
                              _word(label, T.WATER_HEATER_WORDS) for label in p.choice_labels()))
        if mode is not None:
            self.used.add(mode.name)
        modes, plumbing, _, _ = self._modes(power, mode, T.WATER_HEATER_WORDS, "electric")
        entity: dict[str, Any] = {"modes": modes, **plumbing}
        if power is not None:
            entity.update(power_command_topic=self._set(power), payload_on="ON",
                          payload_off="OFF")
        self._temperature(target, entity)
        if current is not None:
            self.used.add(current.name)
            entity.update(current_temperature_topic=self.base,
                          current_temperature_template=_tpl_plain(current))
        return entity

    def _cover(self, props: list[Property]) -> dict[str, Any] | None:
        motor = self._feature(props, "cover", "motor", lambda p: p.writable and bool(p.choices))
        target = self._feature(props, "cover", "target", lambda p: p.writable and
                               p.range is not None and not p.choices)
        if motor is None and target is None:
            return None
        entity: dict[str, Any] = {}
        if motor is not None:
            found: dict[str, Any] = {}
            for choice, label in zip(motor.choices, motor.choice_labels(), strict=True):
                meaning = _word(label, T.COVER_MOTOR_WORDS)
                if meaning is not None and meaning not in found:
                    found[meaning] = choice.value
            if not found:
                self.used.discard(motor.name)
            else:
                entity["command_topic"] = self._set(motor)
                for meaning, key in (("open", "payload_open"), ("close", "payload_close"),
                                     ("stop", "payload_stop")):
                    entity[key] = str(found[meaning]) if meaning in found else None
        position = self._feature(props, "cover", "position", lambda p: self._state(p) and
                                 p.range is not None and (
                                     target is None or target.range is None or
                                     p.range[:2] == target.range[:2]))
        shown = position or (target if target is not None and self._state(target) else None)
        scale = shown or target
        if scale is not None and scale.range is not None:
            entity.update(position_open=scale.range[1], position_closed=scale.range[0])
        if shown is not None:
            entity.update(position_topic=self.base, position_template=_tpl_plain(shown))
        if target is not None:
            entity["set_position_topic"] = self._set(target)
        status = self._feature(props, "cover", "status", lambda p: self._state(p) and
                               bool(p.choices))
        if status is not None:
            meanings = {str(c.value): _word(label, T.COVER_STATUS_WORDS) or "None"
                        for c, label in zip(status.choices, status.choice_labels(), strict=True)}
            entity.update(state_topic=self.base, value_template=_tpl_label(status, meanings))
        if self.type in T.COVER_CLASSES:
            entity["device_class"] = T.COVER_CLASSES[self.type]
        return entity

    def _vacuum(self, props: list[Property]) -> dict[str, Any] | None:
        parts = _vacuum_parts(self.model)
        commands = _vacuum_actions(self.model)
        if parts is None or (parts[0] is None and not commands):
            return None
        status, fan = parts
        # send_command: any action by name, as HA sends it ({"command": name, <arg>: value})
        features = [*commands, "send_command"]
        entity: dict[str, Any] = {"command_topic": f"{self.base}/action",
                                  "send_command_topic": f"{self.base}/action"}
        for feature, action in commands.items():
            entity[T.VACUUM_PAYLOADS[feature]] = action.name
        if status is not None:
            self.used.add(status.name)
            features.append("status")
            entity["state_topic"] = f"{self.base}/vacuum"
        if fan is not None:
            self.used.add(fan.name)
            features.append("fan_speed")
            entity.update(set_fan_speed_topic=self._set(fan),
                          fan_speed_list=list(fan.choice_labels()))
        entity["supported_features"] = features
        return entity

    # -- the other properties ------------------------------------------------------------

    def _property(self, prop: Property, has_main: bool, main_services: set[str]) -> None:
        service = service_of(prop, self.model)
        kind = self._service_type(service)
        bare = _plain(_bare(prop))
        entity: dict[str, Any] = {"name": self._name(prop, service)}
        readable = self._state(prop)
        if prop.writable:
            entity["command_topic"] = self._set(prop)
            if bare in T.CONFIG_NAMES or kind in T.CONFIG_SERVICES or (
                    has_main and service not in main_services):
                entity["entity_category"] = "config"
        elif bare in T.DIAGNOSTIC_NAMES or kind in T.DIAGNOSTIC_SERVICES:
            entity["entity_category"] = "diagnostic"
        if readable:
            entity["state_topic"] = self.base
        elif not prop.writable:
            return  # nothing to show: an argument of an action or event only
        platform = self._platform(prop, entity, readable, bare)
        if platform is not None:
            self._add(prop.name, platform, _bare(prop), entity)

    def _platform(self, prop: Property, entity: dict[str, Any], readable: bool,
                  bare: str) -> str | None:
        unit = T.UNITS.get(prop.unit or "") or (T.DEFAULT_UNITS.get(bare) if prop.unit is None
                                               else None)
        if prop.format == "bool":
            if readable:
                entity["value_template"] = _tpl_bool(prop)
            if prop.writable:
                entity.update(payload_on="ON", payload_off="OFF")
                return "switch"
            if bare in T.BINARY_CLASSES:
                entity["device_class"] = T.BINARY_CLASSES[bare]
            return "binary_sensor"
        if prop.choices:
            if readable:
                entity["value_template"] = _tpl_label(prop, _labels(prop))
            if prop.writable:
                entity.update(options=list(prop.choice_labels()),
                              command_template=_tpl_command(_values(prop)))
                return "select"
            entity.update(device_class="enum", options=list(prop.choice_labels()))
            return "sensor"
        if prop.format in NUMERIC:
            if readable:
                entity["value_template"] = _tpl_plain(prop)
            if unit is not None:
                entity["unit_of_measurement"] = unit
            cls = T.DEVICE_CLASSES.get(bare)
            if cls is None and unit in T.DURATION_UNITS:
                cls = "duration"
            if cls is not None and unit in T.CLASS_UNITS.get(cls, frozenset()):
                entity["device_class"] = cls
            if prop.writable:
                entity.update(_number_limits(prop))
                return "number"
            entity["state_class"] = "total_increasing" if bare in T.COUNTERS else "measurement"
            return "sensor"
        if prop.format == "string":
            if readable:
                v, empty = _value(prop), "''" if prop.writable else "'None'"
                entity["value_template"] = \
                    f"{{{{ {empty} if {v} is none else ({v} | string)[:255] }}}}"
            if prop.writable:
                entity.update(max=255)
                return "text"
            return "sensor"
        if readable:  # json: shown as text
            entity["value_template"] = f"{{{{ ({_value(prop)} | tojson)[:255] }}}}"
            return "sensor"
        return None  # a structured value only written: an action argument's job

    def _event(self, event: Event) -> None:
        name = json.dumps(event.name, ensure_ascii=False)
        self._add(f"event-{event.name}", "event", f"event {_bare(event)}", {
            "name": self._name(event, service_of(event, self.model)),
            "state_topic": f"{self.base}/event", "event_types": [event.name],
            "value_template": f"{{{{ value if value_json.event_type == {name} else '' }}}}"})


def _speeds(prop: Property) -> tuple[int, int] | None:
    """The speeds a fan level takes, as (lowest, highest) whole numbers: a list of consecutive
    values, or a range in steps of one; else None."""
    if prop.choices:
        return _contiguous(prop)
    if prop.range is not None and prop.range[2] in (0, 1) and prop.range[1] > prop.range[0] \
            and float(prop.range[0]).is_integer() and float(prop.range[1]).is_integer():
        return int(prop.range[0]), int(prop.range[1])
    return None


def _contiguous(prop: Property) -> tuple[int, int] | None:
    """(lowest, highest) of a value list of consecutive whole numbers, else None."""
    values = sorted({c.value for c in prop.choices if isinstance(c.value, int)})
    if len(values) < 2 or len(values) != len(prop.choices) or \
            values != list(range(values[0], values[-1] + 1)):
        return None
    return values[0], values[-1]


def _number_limits(prop: Property) -> dict[str, Any]:
    if prop.range is not None:
        low, high, step = prop.range
        if step <= 0:
            step = 1 if prop.format != "float" else 0.1
        return {"min": low, "max": high, "step": max(step, 0.001),
                **({"mode": "box"} if (high - low) / step > 1000 else {})}
    low, high = INT_FORMATS.get(prop.format, (-(2**31), 2**31 - 1))
    return {"min": low, "max": high, "step": 1 if prop.format != "float" else 0.001,
            "mode": "box"}


def _vacuum_parts(model: DeviceModel) -> tuple[Property | None, Property | None] | None:
    """The vacuum's status and fan properties, in its own service; None: not a vacuum."""
    kind = device_type(model)
    if kind is None or T.DEVICES.get(kind, ("", ()))[0] != "vacuum":
        return None
    builder = _Components(model, Identity("x", 0, model.model, None, "x", "x"), "x", "x")
    mains = builder.mains()
    if not mains:
        return None
    props = mains[0][3]
    status = builder._find(props, T.FEATURES["vacuum"]["status"],
                           lambda p: builder._state(p) and bool(p.choices))
    fan = None
    for service in [mains[0][2]] + [s.name for s in model.services
                                    if (s.type or s.name) in T.VACUUM_FAN_SERVICES]:
        fan = builder._find(builder._props_of(service) if service != mains[0][2] else props,
                            T.FEATURES["vacuum"]["fan"],
                            lambda p: p.writable and bool(p.choices) and p is not status)
        if fan is not None:
            break
    return status, fan


def _vacuum_actions(model: DeviceModel) -> dict[str, Action]:
    """HA's vacuum commands the device's actions carry out (own service first)."""
    own = None
    kind = device_type(model)
    if kind is not None and model.kind == "miot":
        types = T.DEVICES.get(kind, ("", ()))[1]
        own = next((s.name for s in model.services if (s.type or s.name) in types), None)
    free = [a for a in model.actions if not a.inputs]
    ordered = [a for a in free if service_of(a, model) == own] + \
        [a for a in free if service_of(a, model) != own]
    found: dict[str, Action] = {}
    for feature, names in T.VACUUM_ACTIONS.items():
        for wanted in names:
            action = next((a for a in ordered if _plain(_bare(a)) == wanted), None)
            if action is not None:
                found[feature] = action
                break
    return found
