"""What classic miIO devices do beyond ``get_prop`` and ``set_<name>``: each family's
:class:`Behaviour` (its methods), which the family's built-in profile (simulator/profiles.py)
carries.

The vacuum walks through its states on the device's own clock (the loop time each datagram
arrives with): start → cleaning; home → returning, then docked and charging a few seconds later;
pause; spot; zoned clean; go to a target. While it cleans, clean time, area and the
consumables' counters grow and the battery drains. Lamps change brightness, colour temperature,
scene and off timer; Yeelight keeps its values as text, as its firmware does; plugs switch
power, USB and the LED; purifiers change mode and favourite level and reset the filter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class _Values(Protocol):
    props: dict[str, Any]


class SimulatedDevice(Protocol):
    """What a family's methods use of the device (simulator/device.py's SimulatedDevice)."""

    @property
    def profile(self) -> _Values: ...

    extra: dict[str, Any]  # the family's own state (the vacuum's clock, its consumables)
    now: float  # the device's clock: the loop time the datagram arrived with

    def toggle(self, name: str) -> list[str]: ...


Handler = Callable[[SimulatedDevice, list[Any]], Any]


@dataclass(frozen=True)
class Behaviour:
    """What one family's firmware answers besides miIO.info, get_prop and the MIoT methods."""

    methods: Mapping[str, Handler] = field(default_factory=dict)
    any_setter: bool = False  # ``set_<name> [v]`` writes any property it has (older firmware)
    accepts: str | None = None  # other methods with this prefix answer "ok" (the vacuum's app_)
    raw_params: frozenset[str] = frozenset()  # methods given params as sent, not as a list
OK = ["ok"]
RETURN_SECONDS = 3.0  # a vacuum sent home docks and starts charging this long after
CLEANING = {5, 11, 16, 17, 18}


class Refused(Exception):
    """The device answers with an error: code and message as firmware sends them."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _value(params: list[Any], low: int, high: int) -> int:
    if not params or type(params[0]) is not int or not low <= params[0] <= high:
        raise Refused(-5001, "invalid_arg")
    return int(params[0])


def _onoff(params: list[Any]) -> str:
    if not params or params[0] not in ("on", "off"):
        raise Refused(-5001, "invalid_arg")
    return str(params[0])


def _setter(prop: str, low: int, high: int) -> Handler:
    def handle(device: SimulatedDevice, params: list[Any]) -> Any:
        device.profile.props[prop] = _value(params, low, high)
        return OK
    return handle


def _switch(prop: str) -> Handler:
    def handle(device: SimulatedDevice, params: list[Any]) -> Any:
        device.profile.props[prop] = _onoff(params)
        return OK
    return handle


def _flag(prop: str, value: Any) -> Handler:
    def handle(device: SimulatedDevice, params: list[Any]) -> Any:
        device.profile.props[prop] = value
        return OK
    return handle


# -- vacuum ---------------------------------------------------------------------------------

def vacuum_tick(device: SimulatedDevice) -> None:
    """Move the vacuum on to ``device.now``."""
    props, extra = device.profile.props, device.extra
    last = extra.get("tick", device.now)
    elapsed = max(0.0, device.now - last)
    extra["tick"] = device.now
    state = props["state"]
    if state in CLEANING and elapsed:
        seconds = int(elapsed) or 1
        props["clean_time"] += seconds
        props["clean_area"] += seconds * 25_000  # mm² a second
        props["battery"] = max(5, props["battery"] - seconds // 60)
        for name in ("main_brush_work_time", "side_brush_work_time", "filter_work_time",
                     "sensor_dirty_time"):
            device.extra.setdefault("consumables", dict(CONSUMABLES))[name] += seconds
    elif state == 6 and device.now - extra.get("home_at", device.now) >= RETURN_SECONDS:
        props.update(state=8, in_cleaning=0, in_returning=0)
    elif state == 8 and elapsed:
        props["battery"] = min(100, props["battery"] + int(elapsed) // 30)


def _clean(state: int, kind: int) -> Handler:
    def handle(device: SimulatedDevice, params: list[Any]) -> Any:
        vacuum_tick(device)
        if state == 17 and (not isinstance(params, list) or not params or not all(
                isinstance(zone, list) and len(zone) == 5 for zone in params)):
            raise Refused(-5001, "invalid_arg")
        if state == 16 and (len(params) != 2 or not all(type(v) is int for v in params)):
            raise Refused(-5001, "invalid_arg")
        if device.profile.props["state"] not in CLEANING | {10}:
            device.profile.props.update(clean_time=0, clean_area=0)
        device.profile.props.update(state=state, in_cleaning=kind, in_returning=0)
        return OK
    return handle


def _pause(device: SimulatedDevice, params: list[Any]) -> Any:
    vacuum_tick(device)
    if device.profile.props["state"] in CLEANING | {6}:
        device.profile.props["state"] = 10
    return OK


def _stop(device: SimulatedDevice, params: list[Any]) -> Any:
    vacuum_tick(device)
    if device.profile.props["state"] in CLEANING | {6, 10}:
        device.profile.props.update(state=3, in_cleaning=0, in_returning=0)
    return OK


def _home(device: SimulatedDevice, params: list[Any]) -> Any:
    vacuum_tick(device)
    if device.profile.props["state"] in (8, 100):
        raise Refused(-10007, "already docked: the vacuum is charging")
    device.profile.props.update(state=6, in_returning=1)
    device.extra["home_at"] = device.now
    return OK


def _status(device: SimulatedDevice, params: list[Any]) -> Any:
    vacuum_tick(device)
    props = device.profile.props
    props["msg_seq"] = props.get("msg_seq", 0) + 1
    return [dict(props)]


def _consumables(device: SimulatedDevice, params: list[Any]) -> Any:
    vacuum_tick(device)
    return [dict(device.extra.setdefault("consumables", dict(CONSUMABLES)))]


def _reset_consumable(device: SimulatedDevice, params: list[Any]) -> Any:
    counters = device.extra.setdefault("consumables", dict(CONSUMABLES))
    if not params or params[0] not in counters:
        raise Refused(-5001, "invalid_arg")
    counters[params[0]] = 0
    return OK


def _fan(device: SimulatedDevice, params: list[Any]) -> Any:
    device.profile.props["fan_power"] = _value(params, 0, 106)
    return OK


CONSUMABLES = {"main_brush_work_time": 3600, "side_brush_work_time": 3600,
               "filter_work_time": 3600, "sensor_dirty_time": 1800}

VACUUM_METHODS: dict[str, Handler] = {
    "get_status": _status, "get_consumable": _consumables, "app_start": _clean(5, 1),
    "app_spot": _clean(11, 1), "app_zoned_clean": _clean(17, 2),
    "app_goto_target": _clean(16, 0), "app_pause": _pause, "app_stop": _stop,
    "app_charge": _home, "find_me": lambda device, params: OK,
    "reset_consumable": _reset_consumable, "set_custom_mode": _fan,
    "get_custom_mode": lambda device, params: [device.profile.props["fan_power"]],
}

# -- lamps ----------------------------------------------------------------------------------

PHILIPS_BULB: dict[str, Handler] = {
    "set_power": _switch("power"), "set_bright": _setter("bright", 1, 100),
    "set_cct": _setter("cct", 1, 100), "apply_fixed_scene": _setter("snm", 1, 4),
    "delay_off": _setter("dv", 0, 21600),
    "toggle": lambda device, params: device.toggle("power"),
}

PHILIPS_EYECARE: dict[str, Handler] = {
    "set_power": _switch("power"), "set_bright": _setter("bright", 1, 100),
    "set_eyecare": _switch("eyecare"), "enable_amb": _switch("ambstatus"),
    "set_amb_bright": _setter("ambvalue", 1, 100), "set_user_scene": _setter("scene_num", 1, 3),
    "delay_off": _setter("dvalue", 0, 60), "enable_bl": _switch("bls"),
    "set_notifyuser": _switch("notifystatus"),
    "toggle": lambda device, params: device.toggle("power"),
}


def _yeelight_number(prop: str, low: int, high: int, mode: str | None = None) -> Handler:
    """Yeelight keeps values as text: ``set_bright [84]`` reads back as ``"84"``."""
    def handle(device: SimulatedDevice, params: list[Any]) -> Any:
        device.profile.props[prop] = str(_value(params, low, high))
        if mode is not None:
            device.profile.props["color_mode"] = mode
        return OK
    return handle


def _yeelight_name(device: SimulatedDevice, params: list[Any]) -> Any:
    if not params or not isinstance(params[0], str) or len(params[0]) > 64:
        raise Refused(-5001, "invalid_arg")
    device.profile.props["name"] = params[0]
    return OK


YEELIGHT_METHODS: dict[str, Handler] = {
    "set_power": _switch("power"), "set_bright": _yeelight_number("bright", 1, 100),
    "set_ct_abx": _yeelight_number("ct", 1700, 6500, "2"),
    "set_rgb": _yeelight_number("rgb", 0, 16777215, "1"), "set_name": _yeelight_name,
    "toggle": lambda device, params: device.toggle("power"),
}

# -- plugs and purifiers --------------------------------------------------------------------

PLUG_V1: dict[str, Handler] = {
    "set_on": _flag("on", True), "set_off": _flag("on", False),
    "set_usb_on": _flag("usb_on", True), "set_usb_off": _flag("usb_on", False),
    "set_wifi_led": _switch("wifi_led"),
    "get_power": lambda device, params: [300],  # 3.00 W in hundredths (v3)
}

PLUG_M1: dict[str, Handler] = {
    "set_power": _switch("power"), "set_wifi_led": _switch("wifi_led"),
    "toggle": lambda device, params: device.toggle("power"),
}


def _mode(device: SimulatedDevice, params: list[Any]) -> Any:
    if not params or params[0] not in ("auto", "silent", "favorite", "idle"):
        raise Refused(-5001, "invalid_arg")
    device.profile.props["mode"] = params[0]
    return OK


def _reset_filter(device: SimulatedDevice, params: list[Any]) -> Any:
    device.profile.props.update(filter1_life=100, f1_hour_used=0)
    return OK


PURIFIER: dict[str, Handler] = {
    "set_power": _switch("power"), "set_mode": _mode,
    "set_level_favorite": _setter("favorite_level", 0, 17), "set_led": _switch("led"),
    "set_buzzer": _switch("buzzer"), "set_child_lock": _switch("child_lock"),
    "set_led_b": _setter("led_b", 0, 2), "set_volume": _setter("volume", 0, 100),
    "reset_filter1": _reset_filter,
}

# -- the behaviours, as the built-in profiles carry them ------------------------------------

LEGACY = Behaviour(any_setter=True)  # a generic old device: set_<name> for what it has
VACUUM = Behaviour(VACUUM_METHODS, any_setter=True, accepts="app_",
                   raw_params=frozenset({"app_zoned_clean"}))
YEELIGHT = Behaviour(YEELIGHT_METHODS, any_setter=True)  # set_<name> too: values as text
