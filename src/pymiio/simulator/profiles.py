"""Device profiles: what a simulated device is (model, properties, MIoT table, quirks of id memory).

Four are built in, one for each family of behaviour a client must handle; a TOML file can
define more (``miio simulate --config devices.toml``) by starting from one of these.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pymiio.knowledge.model import DeviceModel

# (siid, piid) -> {"value": .., "writable": bool}
MiotTable = dict[tuple[int, int], dict[str, Any]]


@dataclass
class Profile:
    """How one kind of device answers."""

    model: str
    family: str  # "legacy" | "miot" | "vacuum" | "yeelight"
    props: dict[str, Any] = field(default_factory=dict)
    miot: MiotTable = field(default_factory=dict)
    actions: set[tuple[int, int]] = field(default_factory=set)
    id_memory: int = 0  # how many recent request ids the device ignores when repeated
    max_props: int = 16  # more properties in one request gets -9999, as on real firmware
    fw_ver: str = "1.4.1_35"
    hw_ver: str = "MW300"
    spec: DeviceModel | None = None  # a MIoT spec drives get/set/action (``miot`` = overrides)

    def clone(self) -> Profile:
        spec, self.spec = self.spec, None  # the spec is read-only: shared, not copied
        try:
            twin = copy.deepcopy(self)
        finally:
            self.spec = spec
        twin.spec = spec
        return twin


def _miot(entries: dict[tuple[int, int], tuple[Any, bool]]) -> MiotTable:
    return {key: {"value": value, "writable": writable}
            for key, (value, writable) in entries.items()}


BUILTIN: dict[str, Profile] = {
    "plug": Profile(
        model="chuangmi.plug.m1", family="legacy",
        props={"power": "on", "temperature": 42, "wifi_led": "off", "usb_on": True}),
    "vacuum": Profile(
        model="roborock.vacuum.s5", family="vacuum", id_memory=64, fw_ver="3.5.8_002008",
        hw_ver="Linux",
        props={"state": 8, "battery": 100, "fan_power": 60, "clean_time": 0, "clean_area": 0,
               "error_code": 0, "in_cleaning": 0, "dnd_enabled": 0}),
    # Spec-driven (knowledge/specs/zhimi.airpurifier.ma4.json); these are starting values.
    "airpurifier": Profile(
        model="zhimi.airpurifier.ma4", family="miot",
        miot=_miot({(2, 1): (True, True),    # power
                    (2, 4): (1, True),       # mode
                    (3, 4): (12, False),     # pm2.5
                    (3, 7): (44, False),     # humidity
                    (3, 8): (21.5, False),   # temperature
                    (4, 3): (80, False),     # filter life
                    (6, 1): (False, True)})),  # child lock
    "bulb": Profile(
        model="yeelink.light.color1", family="yeelight", fw_ver="2.0.6_0065", hw_ver="esp8266",
        props={"power": "on", "bright": 80, "ct": 4000, "rgb": 16711680, "color_mode": 2,
               "name": ""}),
}

MODEL_INDEX = {profile.model: name for name, profile in BUILTIN.items()}


def spec_profile(spec: DeviceModel, base: Profile | None = None) -> Profile:
    """A MIoT device driven by ``spec`` (``base`` gives starting values and limits)."""
    profile = base.clone() if base is not None else Profile(model=spec.model, family="miot")
    profile.family, profile.spec = "miot", spec
    return profile


def _with_packaged_spec(name: str, profile: Profile) -> Profile:
    spec = _cached_spec(profile.model)
    return spec_profile(spec, profile) if spec is not None else profile


def _cached_spec(model: str) -> DeviceModel | None:
    """The spec of ``model`` from the user's cache or shipped with pymiio, if any."""
    from pymiio.errors import SpecError
    from pymiio.knowledge.spec_store import SpecStore

    try:
        return SpecStore().cached(model)
    except SpecError:
        return None


def profile_for(name_or_model: str) -> Profile:
    """A fresh copy of a built-in profile, by short name or by model.

    An unknown model gets the legacy plug's behaviour under that model name, so any model
    string a user types can be simulated.
    """
    key = MODEL_INDEX.get(name_or_model, name_or_model)
    if key in BUILTIN:
        profile = BUILTIN[key].clone()
        return _with_packaged_spec(key, profile) if profile.family == "miot" else profile
    cached = _cached_spec(name_or_model)
    if cached is not None:
        return spec_profile(cached)
    profile = BUILTIN["plug"].clone()
    profile.model = name_or_model
    return profile


def profile_from_mapping(entry: dict[str, Any]) -> Profile:
    """A profile from one TOML ``[[device]]`` table: ``profile``/``model`` plus overrides."""
    profile = profile_for(str(entry.get("profile") or entry.get("model") or "plug"))
    if "model" in entry:
        profile.model = str(entry["model"])
    profile.props.update(entry.get("props", {}))
    for item in entry.get("miot", []):
        key = (int(item["siid"]), int(item["piid"]))
        profile.miot[key] = {"value": item.get("value"), "writable": bool(item.get("writable"))}
    for item in entry.get("actions", []):
        profile.actions.add((int(item["siid"]), int(item["aiid"])))
    for name in ("id_memory", "max_props"):
        if name in entry:
            setattr(profile, name, int(entry[name]))
    for name in ("fw_ver", "hw_ver", "family"):
        if name in entry:
            setattr(profile, name, str(entry[name]))
    return profile
