"""Home Assistant's MQTT discovery schema, as its documentation lists it (2026): the keys each
platform requires and allows in a device-based discovery config, and the values some keys
take. Written from home-assistant.io's ``source/_integrations/<platform>.mqtt.markdown`` and
the MQTT integration page (device discovery payload); used to check every config pymiio
produces, for the whole real spec corpus.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Keys every entity platform takes (the MQTT entity's common options).
COMMON = frozenset({
    "platform", "unique_id", "default_entity_id", "name", "icon", "entity_picture",
    "entity_category", "enabled_by_default", "encoding", "qos", "availability",
    "availability_mode", "availability_topic", "availability_template", "payload_available",
    "payload_not_available", "json_attributes_topic", "json_attributes_template",
})
# Keys the device discovery payload takes at its root.
ROOT_REQUIRED = frozenset({"device", "origin", "components"})
ROOT = ROOT_REQUIRED | {"availability", "availability_mode", "availability_topic",
                        "availability_template", "payload_available", "payload_not_available",
                        "state_topic", "command_topic", "qos", "encoding"}
DEVICE = frozenset({"identifiers", "connections", "name", "manufacturer", "model", "model_id",
                    "serial_number", "hw_version", "sw_version", "suggested_area",
                    "configuration_url", "via_device"})
ORIGIN = frozenset({"name", "sw_version", "support_url"})


def _t(*names: str) -> frozenset[str]:
    return frozenset(names)


PLATFORMS: dict[str, tuple[frozenset[str], frozenset[str]]] = {  # platform: (required, allowed)
    "binary_sensor": (_t("state_topic"), _t(
        "state_topic", "value_template", "payload_on", "payload_off", "device_class",
        "expire_after", "force_update", "off_delay")),
    "sensor": (_t("state_topic"), _t(
        "state_topic", "value_template", "device_class", "state_class", "unit_of_measurement",
        "suggested_display_precision", "options", "expire_after", "force_update",
        "last_reset_value_template")),
    "switch": (_t("command_topic"), _t(
        "command_topic", "command_template", "state_topic", "value_template", "payload_on",
        "payload_off", "state_on", "state_off", "device_class", "optimistic", "retain")),
    "select": (_t("command_topic", "options"), _t(
        "command_topic", "command_template", "state_topic", "value_template", "options",
        "optimistic", "retain")),
    "number": (_t("command_topic"), _t(
        "command_topic", "command_template", "state_topic", "value_template", "min", "max",
        "step", "mode", "unit_of_measurement", "device_class", "payload_reset", "optimistic",
        "retain")),
    "text": (_t("command_topic"), _t(
        "command_topic", "command_template", "state_topic", "value_template", "min", "max",
        "mode", "pattern", "retain")),
    "button": (frozenset(), _t(
        "command_topic", "command_template", "payload_press", "device_class", "retain")),
    "event": (_t("state_topic", "event_types"), _t(
        "state_topic", "event_types", "value_template", "device_class")),
    "fan": (_t("command_topic"), _t(
        "command_topic", "command_template", "state_topic", "state_value_template",
        "payload_on", "payload_off", "optimistic", "retain",
        "percentage_command_topic", "percentage_command_template", "percentage_state_topic",
        "percentage_value_template", "speed_range_min", "speed_range_max",
        "payload_reset_percentage", "preset_modes", "preset_mode_command_topic",
        "preset_mode_command_template", "preset_mode_state_topic",
        "preset_mode_value_template", "payload_reset_preset_mode",
        "oscillation_command_topic", "oscillation_command_template",
        "oscillation_state_topic", "oscillation_value_template", "payload_oscillation_on",
        "payload_oscillation_off", "direction_command_topic", "direction_command_template",
        "direction_state_topic", "direction_value_template")),
    "light": (_t("command_topic"), _t(
        "schema", "command_topic", "state_topic", "state_value_template", "payload_on",
        "payload_off", "optimistic", "retain", "on_command_type",
        "brightness_command_topic", "brightness_command_template", "brightness_scale",
        "brightness_state_topic", "brightness_value_template", "color_mode_state_topic",
        "color_mode_value_template", "color_temp_command_topic",
        "color_temp_command_template", "color_temp_kelvin", "color_temp_state_topic",
        "color_temp_value_template", "min_kelvin", "max_kelvin", "min_mireds", "max_mireds",
        "effect_command_topic", "effect_command_template", "effect_list",
        "effect_state_topic", "effect_value_template", "hs_command_topic",
        "hs_command_template", "hs_state_topic", "hs_value_template", "rgb_command_topic",
        "rgb_command_template", "rgb_state_topic", "rgb_value_template",
        "rgbw_command_topic", "rgbw_command_template", "rgbw_state_topic",
        "rgbw_value_template", "rgbww_command_topic", "rgbww_command_template",
        "rgbww_state_topic", "rgbww_value_template", "white_command_topic", "white_scale",
        "xy_command_topic", "xy_command_template", "xy_state_topic", "xy_value_template")),
    "humidifier": (_t("command_topic", "target_humidity_command_topic"), _t(
        "command_topic", "command_template", "state_topic", "state_value_template",
        "payload_on", "payload_off", "optimistic", "retain", "device_class",
        "target_humidity_command_topic", "target_humidity_command_template",
        "target_humidity_state_topic", "target_humidity_state_template", "min_humidity",
        "max_humidity", "modes", "mode_command_topic", "mode_command_template",
        "mode_state_topic", "mode_state_template", "current_humidity_topic",
        "current_humidity_template", "action_topic", "action_template",
        "payload_reset_humidity", "payload_reset_mode")),
    "climate": (frozenset(), _t(
        "action_topic", "action_template", "current_humidity_topic",
        "current_humidity_template", "current_temperature_topic",
        "current_temperature_template", "fan_modes", "fan_mode_command_topic",
        "fan_mode_command_template", "fan_mode_state_topic", "fan_mode_state_template",
        "initial", "max_humidity", "min_humidity", "max_temp", "min_temp", "modes",
        "mode_command_topic", "mode_command_template", "mode_state_topic",
        "mode_state_template", "optimistic", "payload_on", "payload_off",
        "power_command_topic", "power_command_template", "precision", "preset_modes",
        "preset_mode_command_topic", "preset_mode_command_template",
        "preset_mode_state_topic", "preset_mode_value_template", "retain", "swing_modes",
        "swing_mode_command_topic", "swing_mode_command_template", "swing_mode_state_topic",
        "swing_mode_state_template", "swing_horizontal_modes",
        "swing_horizontal_mode_command_topic", "swing_horizontal_mode_command_template",
        "swing_horizontal_mode_state_topic", "swing_horizontal_mode_state_template",
        "target_humidity_command_topic", "target_humidity_command_template",
        "target_humidity_state_topic", "target_humidity_state_template",
        "temperature_command_topic", "temperature_command_template",
        "temperature_state_topic", "temperature_state_template", "temperature_high_command_topic",
        "temperature_high_command_template", "temperature_high_state_topic",
        "temperature_high_state_template", "temperature_low_command_topic",
        "temperature_low_command_template", "temperature_low_state_topic",
        "temperature_low_state_template", "temperature_unit", "temp_step", "value_template")),
    "water_heater": (frozenset(), _t(
        "current_temperature_topic", "current_temperature_template", "initial", "max_temp",
        "min_temp", "modes", "mode_command_topic", "mode_command_template",
        "mode_state_topic", "mode_state_template", "optimistic", "payload_on", "payload_off",
        "power_command_topic", "power_command_template", "precision", "retain",
        "temperature_command_topic", "temperature_command_template",
        "temperature_state_topic", "temperature_state_template", "temperature_unit",
        "value_template")),
    "cover": (frozenset(), _t(
        "command_topic", "device_class", "optimistic", "payload_open", "payload_close",
        "payload_stop", "position_open", "position_closed", "position_topic",
        "position_template", "set_position_topic", "set_position_template", "retain",
        "state_topic", "state_open", "state_opening", "state_closed", "state_closing",
        "state_stopped", "value_template", "tilt_command_topic", "tilt_command_template",
        "tilt_status_topic", "tilt_status_template", "tilt_min", "tilt_max", "tilt_closed_value",
        "tilt_opened_value", "tilt_optimistic")),
    "vacuum": (frozenset(), _t(
        "command_topic", "fan_speed_list", "payload_clean_spot", "payload_locate",
        "payload_pause", "payload_return_to_base", "payload_start", "payload_stop", "retain",
        "send_command_topic", "set_fan_speed_topic", "state_topic", "supported_features")),
}
CLIMATE_MODES = frozenset({"auto", "off", "cool", "heat", "dry", "fan_only", "heat_cool"})
WATER_HEATER_MODES = frozenset({"off", "eco", "electric", "gas", "heat_pump", "high_demand",
                                "performance"})
VACUUM_FEATURES = frozenset({"start", "stop", "pause", "return_home", "status", "locate",
                             "clean_spot", "fan_speed", "send_command"})
ENTITY_CATEGORIES = frozenset({"config", "diagnostic"})
STATE_CLASSES = frozenset({"measurement", "measurement_angle", "total", "total_increasing"})
_KEY = re.compile(r'value_json\[("(?:[^"\\]|\\.)*")\]')
_SET = re.compile(r'"((?:[^"\\]|\\.)*)": (?:true|false|\{\{)')
_IDS = re.compile(r"[A-Za-z0-9_-]+")
_ENTITY_ID = re.compile(r"[a-z_]+\.[a-z0-9_]+")


def reads(entity: dict[str, Any]) -> set[str]:
    """The state keys an entity's templates read."""
    return {json.loads(m) for key, text in entity.items() if key.endswith("template")
            and isinstance(text, str) for m in _KEY.findall(text)}


def writes(entity: dict[str, Any]) -> set[str]:
    """The properties an entity's commands set: ``.../set/<name>`` topics and the keys of
    JSON objects its command templates compose for ``.../set``."""
    found = {value.split("/set/", 1)[1] for key, value in entity.items()
             if key.endswith("_topic") and isinstance(value, str) and "/set/" in value}
    for key, text in entity.items():
        if key.endswith("command_template") and isinstance(text, str):
            found |= {json.loads(f'"{m}"') for m in _SET.findall(text)}
    return found


def problems(payload: dict[str, Any]) -> list[str]:
    """What in one device discovery payload HA's documentation does not allow."""
    found = [f"root: missing {k}" for k in ROOT_REQUIRED - payload.keys()]
    found += [f"root: unknown key {k}" for k in payload.keys() - ROOT]
    found += [f"device: unknown key {k}" for k in payload.get("device", {}).keys() - DEVICE]
    found += [f"origin: unknown key {k}" for k in payload.get("origin", {}).keys() - ORIGIN]
    if "name" not in payload.get("origin", {}):
        found.append("origin: no name")
    if not payload.get("device", {}).get("identifiers"):
        found.append("device: no identifiers")
    components = payload.get("components", {})
    if not components:
        found.append("no components")
    for cid, entity in components.items():
        found += [f"{cid}: {problem}" for problem in _component(cid, entity)]
    return found


def _component(cid: str, entity: dict[str, Any]) -> list[str]:
    platform = entity.get("platform")
    if platform not in PLATFORMS:
        return [f"unknown platform {platform!r}"]
    required, allowed = PLATFORMS[platform]
    found = [f"{platform} needs {k}" for k in (required | {"unique_id"}) - entity.keys()]
    found += [f"{platform} does not take {k}" for k in entity.keys() - allowed - COMMON]
    if not _IDS.fullmatch(cid):
        found.append("component id is not [A-Za-z0-9_-]")
    if "default_entity_id" in entity and not (
            _ENTITY_ID.fullmatch(entity["default_entity_id"]) and
            entity["default_entity_id"].startswith(f"{platform}.")):
        found.append(f"default_entity_id {entity['default_entity_id']!r}")
    if entity.get("entity_category") not in (None, *ENTITY_CATEGORIES):
        found.append(f"entity_category {entity['entity_category']!r}")
    if platform in ("sensor", "binary_sensor", "event") and \
            entity.get("entity_category") == "config":
        found.append("a read-only entity cannot be in the config category")
    for key in ("options", "preset_modes", "modes", "fan_modes", "swing_modes",
                "effect_list", "fan_speed_list", "event_types"):
        values = entity.get(key)
        if values is not None:
            if not values or not all(isinstance(v, str) and v for v in values):
                found.append(f"{key} must be non-empty texts: {values!r}")
            elif len({v.casefold() for v in values}) != len(values):
                found.append(f"{key} repeats an option: {values!r}")
    if platform == "sensor":
        if entity.get("state_class") not in (None, *STATE_CLASSES):
            found.append(f"state_class {entity['state_class']!r}")
        if entity.get("device_class") == "enum":
            if "options" not in entity or "state_class" in entity or \
                    "unit_of_measurement" in entity:
                found.append("an enum sensor has options, no state class and no unit")
        elif "options" in entity:
            found.append("options without device_class enum")
    if platform == "climate":
        if not set(entity.get("modes", ())) <= CLIMATE_MODES:
            found.append(f"climate modes {entity.get('modes')!r}")
        if "none" in entity.get("preset_modes", ()):
            found.append("preset_modes must not include 'none'")
        if entity.get("precision") not in (None, 0.1, 0.5, 1.0):
            found.append(f"precision {entity['precision']!r}")
    if platform == "water_heater" and not set(entity.get("modes", ())) <= WATER_HEATER_MODES:
        found.append(f"water heater modes {entity.get('modes')!r}")
    if platform == "vacuum" and not set(entity.get("supported_features", ())) <= \
            VACUUM_FEATURES:
        found.append(f"vacuum features {entity.get('supported_features')!r}")
    if platform == "fan" and entity.get("speed_range_min", 1) < 1:
        found.append("speed_range_min must be at least 1")
    if platform == "number" and (("min" in entity and "max" in entity and
                                 not entity["min"] < entity["max"]) or
                                 entity.get("step", 1) < 0.001):
        found.append("number limits")
    if platform == "humidifier" and entity.get("device_class") not in (
            None, "humidifier", "dehumidifier"):
        found.append(f"humidifier device_class {entity['device_class']!r}")
    if platform == "switch" and entity.get("device_class") not in (None, "outlet", "switch"):
        found.append(f"switch device_class {entity['device_class']!r}")
    return found
