"""Device profiles: what a simulated device is (model, properties, MIoT table, quirks of id memory).

A classic family of the catalogue (knowledge/catalogue/*.json) is simulated by its built-in
profiles: each names one model of the family, its starting values and its :class:`Behaviour`
(simulator/classic.py). Which profile a catalogue model gets is derived, not listed: the
model's own profile, else the first of its family that holds every ``get_prop`` name the
model's catalogue entry reads, else the family's first. MIoT devices are driven by their spec.
A TOML file can define more (``miio simulate --config devices.toml``) starting from these.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pymiio.knowledge.model import DeviceModel
from pymiio.simulator import classic
from pymiio.simulator.classic import Behaviour

# (siid, piid) -> {"value": .., "writable": bool}
MiotTable = dict[tuple[int, int], dict[str, Any]]


@dataclass
class Profile:
    """How one kind of device answers."""

    model: str
    family: str  # "miot", "legacy", or the name of a built-in profile's family behaviour
    props: dict[str, Any] = field(default_factory=dict)
    miot: MiotTable = field(default_factory=dict)
    actions: set[tuple[int, int]] = field(default_factory=set)
    id_memory: int = 0  # how many recent request ids the device ignores when repeated
    max_props: int = 16  # more properties in one request gets -9999, as on real firmware
    fw_ver: str = "1.4.1_35"
    hw_ver: str = "MW300"
    spec: DeviceModel | None = None  # a MIoT spec drives get/set/action (``miot`` = overrides)
    behaviour: Behaviour = field(default=Behaviour(), repr=False)  # the family's own methods
    about: str = ""  # what it is, in a few words (``miio simulate --help``)

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
        model="chuangmi.plug.m1", about="smart plug",
        family="plug-m1", behaviour=Behaviour(classic.PLUG_M1),
        props={"power": "on", "temperature": 42, "wifi_led": "off", "usb_on": True}),
    "vacuum": Profile(
        model="roborock.vacuum.s5", about="Roborock vacuum",
        family="vacuum", behaviour=classic.VACUUM, id_memory=64,
        fw_ver="3.5.8_002008", hw_ver="Linux",
        props={"state": 8, "battery": 100, "fan_power": 60, "clean_time": 0, "clean_area": 0,
               "error_code": 0, "in_cleaning": 0, "in_returning": 0, "in_fresh_state": 1,
               "dnd_enabled": 0, "map_present": 1, "lab_status": 1, "msg_ver": 2, "msg_seq": 0,
               "water_box_status": 0, "lock_status": 0}),
    # Spec-driven by a spec made up for the simulator (knowledge/specs/pymiio.airpurifier.v1
    # .json), under a model name of its own that no real device reports; starting values.
    "airpurifier": Profile(
        model="pymiio.airpurifier.v1", about="MIoT air purifier, driven by its spec",
        family="miot",
        miot=_miot({(2, 1): (True, True),    # power
                    (2, 4): (1, True),       # mode
                    (3, 4): (12, False),     # pm2.5
                    (3, 7): (44, False),     # humidity
                    (3, 8): (21.5, False),   # temperature
                    (4, 3): (80, False),     # filter life
                    (6, 1): (False, True)})),  # child lock
    "bulb": Profile(  # Yeelight firmware keeps every value as text
        model="yeelink.light.color1", about="Yeelight colour bulb",
        family="yeelight", behaviour=classic.YEELIGHT,
        fw_ver="2.0.6_0065", hw_ver="esp8266",
        max_props=32,  # answers all 25 status names at once
        props={"name": "", "lan_ctrl": "1", "save_state": "1", "delayoff": "0",
               "music_on": "0", "power": "on", "bright": "80", "color_mode": "2",
               "rgb": "16711680", "hue": "359", "sat": "100", "ct": "4000", "flowing": "0",
               "flow_params": "", "active_mode": "0", "nl_br": "0", "bg_power": "",
               "bg_bright": "", "bg_lmode": "", "bg_rgb": "", "bg_hue": "", "bg_sat": "",
               "bg_ct": "", "bg_flowing": "", "bg_flow_params": ""}),
    "philips-bulb": Profile(
        model="philips.light.bulb", about="Philips bulb",
        family="philips-bulb",
        behaviour=Behaviour(classic.PHILIPS_BULB), fw_ver="1.2.9", hw_ver="ESP8266",
        props={"power": "on", "bright": 80, "cct": 50, "snm": 1, "dv": 0}),
    "eyecare": Profile(
        model="philips.light.sread1", about="Philips desk lamp",
        family="philips-eyecare",
        behaviour=Behaviour(classic.PHILIPS_EYECARE), fw_ver="1.3.0", hw_ver="ESP8266",
        props={"power": "on", "bright": 80, "notifystatus": "off", "ambstatus": "off",
               "ambvalue": 50, "eyecare": "on", "scene_num": 1, "bls": "off", "dvalue": 0}),
    "plug-v1": Profile(
        model="chuangmi.plug.v1", about="older plug",
        family="plug-v1", behaviour=Behaviour(classic.PLUG_V1),
        props={"on": True, "usb_on": True, "temperature": 42}),
    "plug-v3": Profile(
        model="chuangmi.plug.v3", about="plug with Wi-Fi LED",
        family="plug-v1", behaviour=Behaviour(classic.PLUG_V1),
        props={"on": True, "usb_on": True, "temperature": 42, "wifi_led": "off"}),
    "purifier": Profile(
        model="zhimi.airpurifier.v7", about="classic (pre-MIoT) air purifier",
        family="airpurifier", behaviour=Behaviour(classic.PURIFIER),
        max_props=15,
        props={"power": "on", "aqi": 12, "average_aqi": 14, "humidity": 44, "temp_dec": 215,
               "mode": "auto", "favorite_level": 10, "filter1_life": 80, "f1_hour_used": 700,
               "use_time": 2520000, "motor1_speed": 700, "motor2_speed": None,
               "purify_volume": 30000, "f1_hour": 3500, "led": "on", "led_b": 0,
               "bright": None, "buzzer": "on", "child_lock": "off", "volume": 50,
               "rfid_product_id": "0:0:41:30", "rfid_tag": "80:64:d1:ba:4f:5f:4",
               "act_sleep": "close", "sleep_mode": "idle", "sleep_time": 0,
               "sleep_data_num": 0, "app_extra": 0, "act_det": "off",
               "button_pressed": None}),
}

MODEL_INDEX = {profile.model: name for name, profile in BUILTIN.items()}
# A TOML ``family`` names a behaviour: that of the built-in profiles with that family.
BEHAVIOURS = {"legacy": classic.LEGACY, "miot": Behaviour(),
              **{p.family: p.behaviour for p in BUILTIN.values() if p.family != "miot"}}


def spec_profile(spec: DeviceModel, base: Profile | None = None) -> Profile:
    """A MIoT device driven by ``spec`` (``base`` gives starting values and limits)."""
    profile = base.clone() if base is not None else Profile(model=spec.model, family="miot")
    profile.family, profile.spec, profile.behaviour = "miot", spec, Behaviour()
    return profile


def _with_packaged_spec(profile: Profile) -> Profile:
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
    """A fresh copy of a built-in profile, by short name or by model: the built-in profiles,
    every model of the catalogue of classic devices, and models whose MIoT spec is cached or
    shipped. Anything else is an error listing what is known (a TOML ``[[device]]`` with a
    ``profile`` and another ``model`` still makes up a device deliberately)."""
    key = MODEL_INDEX.get(name_or_model, name_or_model)
    if key in BUILTIN:
        profile = BUILTIN[key].clone()
        return _with_packaged_spec(profile) if profile.family == "miot" else profile
    builtin = _catalogue_profile(name_or_model)
    if builtin is not None:
        profile = BUILTIN[builtin].clone()
        profile.model = name_or_model
        return profile
    cached = _cached_spec(name_or_model)
    if cached is not None:
        return spec_profile(cached)
    from pymiio.errors import UsageError
    from pymiio.knowledge.model import did_you_mean

    raise UsageError(f"the simulator does not know {name_or_model!r}"
                     f"{did_you_mean(name_or_model, known_names()) or ';'} known: "
                    f"{', '.join(known_names())}, the models of the catalogue and any model "
                    "whose MIoT spec is cached (or give --spec FILE)")


def profile_help() -> str:
    """``name (model, what it is)`` for every built-in profile."""
    return ", ".join(f"{name} ({profile.model}, {profile.about or profile.family})"
                     for name, profile in BUILTIN.items())


def known_names() -> list[str]:
    from pymiio.knowledge.catalogue import known_models

    return sorted({*BUILTIN, *MODEL_INDEX, *known_models()})


def _catalogue_profile(model: str) -> str | None:
    """The built-in profile simulating ``model``'s catalogue family, if it has one: the first
    of the family's classic profiles that holds every ``get_prop`` name the model's catalogue
    entry reads, else the family's first."""
    from pymiio.knowledge.catalogue import family_of, lookup

    family = family_of(model)
    candidates = [name for name, profile in BUILTIN.items()
                  if profile.family != "miot" and family_of(profile.model) == family]
    described = lookup(model) if candidates else None
    if described is None:
        return None
    wanted = {p.read.name for p in described.properties
              if p.read is not None and p.read.method == "get_prop"}
    return next((name for name in candidates if wanted <= BUILTIN[name].props.keys()),
                candidates[0])


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
    if "family" in entry:
        profile.behaviour = BEHAVIOURS.get(profile.family, Behaviour())
    return profile
