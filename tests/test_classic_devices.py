"""Issue 16: the classic miIO families by name. Every family round-trips through real UDP
(the simulator and `miio status/get/set/action`), python-miio 0.5.12's device classes read the
same simulated devices and see pymiio's changes, and the vacuum's states move on a fake
clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pymiio.errors import UsageError
from pymiio.knowledge import catalogue
from pymiio.protocol.session import Call, MemoryIds, Session
from pymiio.protocol.token import Token
from pymiio.simulator import make_devices
from pymiio.simulator.device import SimulatedDevice
from pymiio.simulator.profiles import profile_for

from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .helpers import simulator_thread
from .test_pairing import Link

MODELS = {
    "vacuum": ("roborock.vacuum.s5", f"{NET}.110.1"),
    "vacuum-v1": ("rockrobo.vacuum.v1", f"{NET}.110.2"),
    "bulb": ("philips.light.bulb", f"{NET}.110.3"),
    "eyecare": ("philips.light.sread1", f"{NET}.110.4"),
    "yeelight": ("yeelink.light.color1", f"{NET}.110.5"),
    "plug-m1": ("chuangmi.plug.m1", f"{NET}.110.6"),
    "plug-v1": ("chuangmi.plug.v1", f"{NET}.110.7"),
    "plug-v3": ("chuangmi.plug.v3", f"{NET}.110.8"),
    "purifier": ("zhimi.airpurifier.v7", f"{NET}.110.9"),
    "purifier-m2": ("zhimi.airpurifier.m2", f"{NET}.110.10"),
}


@pytest.fixture(scope="module")
def fleet() -> Iterator[dict[str, SimulatedDevice]]:
    devices = {key: make_devices(host, token=TOKEN, profile=model)[0]
               for key, (model, host) in MODELS.items()}
    with simulator_thread(list(devices.values())):
        yield devices


def run(key: str, *args: str) -> Any:
    return miio(*args[:1], MODELS[key][1], *args[1:], "--token", TOKEN)


def status(key: str) -> dict[str, Any]:
    return {e["name"]: e for e in run(key, "status", "--json").json()}


def test_every_model_of_the_issue_is_in_the_catalogue() -> None:
    for model in ("rockrobo.vacuum.v1", "roborock.vacuum.s5", "roborock.vacuum.s6",
                  "philips.light.bulb", "philips.light.candle", "philips.light.sread1",
                  "philips.light.sread2", "yeelink.light.ceiling4", "chuangmi.plug.m1",
                  "chuangmi.plug.v1", "chuangmi.plug.v3", "zhimi.airpurifier.v7",
                  "zhimi.airpurifier.m1", "zhimi.airpurifier.m2", "zhimi.airpurifier.ma2"):
        assert catalogue.lookup(model) is not None, model
        profile_for(model)  # and the simulator has a faithful profile for it


def test_vacuum_status_names_labels_and_units(fleet: dict[str, SimulatedDevice]) -> None:
    entries = status("vacuum")
    assert entries["state"] == {"name": "state", "value": 8, "description": "State",
                                "text": "Charging"}
    assert entries["battery"]["value"] == 100 and entries["battery"]["unit"] == "percentage"
    assert entries["error"]["text"] == "No error" and entries["fan-speed"]["text"] == "Balanced"
    assert entries["main-brush-left"]["value"] == 1080000 - 3600
    plain = run("vacuum", "get", "state", "battery")
    assert plain.out == "state: Charging (8)\nbattery: 100 %\n"


def test_vacuum_actions_move_its_state(fleet: dict[str, SimulatedDevice]) -> None:
    assert run("vacuum", "action", "start").code == 0
    assert status("vacuum")["state"]["text"] == "Cleaning"
    assert run("vacuum", "action", "pause").code == 0
    assert status("vacuum")["state"]["text"] == "Paused"
    zones = "[[25500, 25500, 26500, 26500, 1]]"
    assert run("vacuum", "action", "zoned-clean", zones).code == 0
    entries = status("vacuum")
    assert (entries["state"]["text"], entries["in-cleaning"]["text"]) == ("Zoned cleaning",
                                                                            "Zone")
    assert run("vacuum", "action", "goto", "25000", "25000").code == 0
    assert run("vacuum", "set", "fan-speed", "turbo").code == 0
    assert status("vacuum")["fan-speed"]["value"] == 75
    assert run("vacuum", "action", "home").code == 0
    assert status("vacuum")["state"]["text"] == "Returning home"
    assert run("vacuum", "action", "find").code == 0
    assert run("vacuum", "action", "reset-consumable", "filter_work_time").code == 0
    assert status("vacuum")["filter-used"]["value"] == 0


def test_a_vacuum_refuses_what_its_state_does_not_allow(
        fleet: dict[str, SimulatedDevice]) -> None:
    done = run("vacuum-v1", "action", "home")  # it is docked and charging already
    assert done.code == 5 and "already docked" in done.err


def test_the_vacuum_walks_through_its_states_on_its_own_clock() -> None:
    [device] = make_devices("127.0.0.2", token=TOKEN, profile="roborock.vacuum.s5")
    link = Link(device, Session(Token(TOKEN), MemoryIds()))

    def send(method: str, params: Any = ()) -> Any:
        call = link.run(Call({"method": method, "params": list(params)}))
        assert call.reply is not None
        return call.reply.get("result", call.reply.get("error"))

    assert send("app_start") == ["ok"]
    link.now += 120  # two minutes of cleaning
    record = send("get_status")[0]
    assert record["state"] == 5 and record["clean_time"] >= 120
    assert record["clean_area"] >= 120 * 25_000 and record["battery"] < 100
    assert send("get_consumable")[0]["main_brush_work_time"] >= 3600 + 120
    assert send("app_charge") == ["ok"]
    assert send("get_status")[0]["state"] == 6  # returning
    link.now += 5  # "docked and charging within a few seconds"
    assert send("get_status")[0]["state"] == 8
    assert send("app_charge")["code"] == -10007  # refused while docked


def test_philips_bulb_and_eyecare(fleet: dict[str, SimulatedDevice]) -> None:
    assert run("bulb", "set", "brightness", "55").code == 0
    assert run("bulb", "set", "scene", "warm").code == 0
    assert run("bulb", "set", "delay-off", "120").code == 0
    assert run("bulb", "set", "color-temperature", "10").code == 0
    entries = status("bulb")
    assert [entries[n]["value"] for n in ("brightness", "scene", "delay-off",
                                          "color-temperature")] == [55, 3, 120, 10]
    assert run("bulb", "action", "toggle", "--json").json() == {"code": 0,
                                                                "out": {"power": False}}
    assert status("bulb")["power"]["value"] is False
    assert run("eyecare", "set", "eyecare", "off").code == 0
    assert run("eyecare", "set", "ambient-light", "on").code == 0
    assert run("eyecare", "set", "scene", "phone").code == 0
    entries = status("eyecare")
    assert (entries["eyecare"]["value"], entries["ambient-light"]["value"],
            entries["scene"]["text"]) == (False, True, "Phone")


def test_yeelight_values_travel_as_text_and_read_as_numbers(
        fleet: dict[str, SimulatedDevice]) -> None:
    assert run("yeelight", "set", "color-temperature", "2700").code == 0
    assert fleet["yeelight"].profile.props["ct"] == "2700"  # as its firmware keeps it
    entries = status("yeelight")
    assert entries["color-temperature"] == {
        "name": "color-temperature", "value": 2700, "unit": "kelvin",
        "description": "Colour temperature"}
    assert entries["color-mode"]["text"] == "Colour temperature"
    assert run("yeelight", "set", "rgb", "255").code == 0
    assert status("yeelight")["color-mode"]["text"] == "RGB"


def test_plugs_of_each_generation(fleet: dict[str, SimulatedDevice]) -> None:
    assert run("plug-v1", "set", "usb", "off").code == 0
    assert fleet["plug-v1"].profile.props["usb_on"] is False
    assert run("plug-v1", "set", "power", "off").code == 0
    assert status("plug-v1")["power"]["value"] is False
    assert "wifi-led" not in status("plug-v1")  # v1 has no LED setting
    assert run("plug-v3", "set", "wifi-led", "on").code == 0
    assert status("plug-v3")["wifi-led"]["value"] is True
    entries = status("plug-m1")
    assert entries["temperature"]["value"] == 42 and "usb" not in entries
    assert run("plug-m1", "action", "toggle").code == 0
    assert status("plug-m1")["power"]["value"] is False


def test_purifier_modes_levels_and_filter(fleet: dict[str, SimulatedDevice]) -> None:
    assert run("purifier", "set", "mode", "favorite").code == 0
    assert run("purifier", "set", "favorite-level", "12").code == 0
    entries = status("purifier")
    assert (entries["mode"]["value"], entries["mode"]["text"]) == ("favorite", "Favorite")
    assert entries["temperature"]["value"] == 21.5 and entries["aqi"]["unit"] == "μg/m3"
    assert run("purifier", "action", "reset-filter").code == 0
    assert status("purifier")["filter-life"]["value"] == 100


@pytest.mark.parametrize(("args", "message"), [
    (("set", "brightness", "150"), "from 1 to 100"),
    (("set", "scene", "disco"), "takes one of"),
    (("set", "nothing", "1"), "no property named 'nothing'"),
    (("action", "explode"), "no action named 'explode'"),
])
def test_bad_values_and_names_exit_2_and_send_nothing(
        fleet: dict[str, SimulatedDevice], args: tuple[str, ...], message: str) -> None:
    before = fleet["bulb"].stats.requests
    done = run("bulb", *args, "--model", "philips.light.bulb")
    assert done.code == 2 and message in done.err
    assert fleet["bulb"].stats.requests == before


def test_a_null_property_and_an_error_answer_stay_with_their_property(
        fleet: dict[str, SimulatedDevice]) -> None:
    entries = status("purifier-m2")
    fleet["purifier-m2"].profile.props["aqi"] = None
    entries = status("purifier-m2")
    assert entries["aqi"]["error"] == "the device gave no value"
    assert entries["power"]["value"] is True
    failed = run("purifier-m2", "get", "aqi", "power")
    assert failed.code == 5 and "power: true" in failed.out


def test_aliases_and_a_model_with_no_description(fleet: dict[str, SimulatedDevice],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("bulb", "get", "bright").out == "brightness: 55 %\n" or \
        run("bulb", "get", "bright").code == 0
    monkeypatch.setenv("PYMIIO_MIOT_SPEC_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("PYMIIO_MIOT_SPEC_TIMEOUT", "1")
    done = miio("status", MODELS["bulb"][1], "--token", TOKEN, "--model", "acme.unknown.v9")
    assert done.code == 6 and done.err.count("\n") == 1
    assert "no description of acme.unknown.v9" in done.err
    assert "miio send" in done.err and "miio spec" in done.err


def test_the_simulator_refuses_a_model_it_does_not_know() -> None:
    with pytest.raises(UsageError, match="does not know 'acme.unknown.v9'.*philips.light.bulb"):
        profile_for("acme.unknown.v9")
    done = miio("simulate", "--host", "127.0.0.9", "--model", "acme.unknown.v9",
                "--duration", "0")
    assert done.code == 2 and "known:" in done.err


# -- independent peers: python-miio 0.5.12's device classes --------------------------------

def test_python_miio_roborock_vacuum_sees_pymiio(fleet: dict[str, SimulatedDevice]) -> None:
    from miio import RoborockVacuum

    vacuum = RoborockVacuum(MODELS["vacuum"][1], TOKEN, model="roborock.vacuum.s5")
    theirs = vacuum.status()
    ours = status("vacuum")
    assert theirs.battery == ours["battery"]["value"]
    assert theirs.state_code == ours["state"]["value"]
    assert run("vacuum", "action", "start").code == 0
    assert vacuum.status().is_on  # cleaning
    assert run("vacuum", "action", "pause").code == 0  # the counters stand still
    consumables = vacuum.consumable_status()
    assert consumables.main_brush.total_seconds() == status("vacuum")["main-brush-used"]["value"]


def test_python_miio_philips_lamps_see_pymiio(fleet: dict[str, SimulatedDevice]) -> None:
    from miio import PhilipsBulb, PhilipsEyecare

    assert run("bulb", "set", "brightness", "33").code == 0
    bulb = PhilipsBulb(MODELS["bulb"][1], TOKEN, model="philips.light.bulb").status()
    assert bulb.brightness == 33 and bulb.brightness == status("bulb")["brightness"]["value"]
    assert run("eyecare", "set", "brightness", "44").code == 0
    lamp = PhilipsEyecare(MODELS["eyecare"][1], TOKEN, model="philips.light.sread1").status()
    assert lamp.brightness == 44 and lamp.eyecare == status("eyecare")["eyecare"]["value"]


def test_python_miio_yeelight_sees_pymiio(fleet: dict[str, SimulatedDevice]) -> None:
    from miio import Yeelight

    assert run("yeelight", "set", "brightness", "61").code == 0
    light = Yeelight(MODELS["yeelight"][1], TOKEN, model="yeelink.light.color1").status()
    assert light.brightness == 61 and light.is_on == status("yeelight")["power"]["value"]


def test_python_miio_chuangmi_plugs_see_pymiio(fleet: dict[str, SimulatedDevice]) -> None:
    from miio import ChuangmiPlug

    assert run("plug-v3", "set", "usb", "on").code == 0
    v3 = ChuangmiPlug(MODELS["plug-v3"][1], TOKEN, model="chuangmi.plug.v3").status()
    assert v3.usb_power is True and v3.temperature == status("plug-v3")["temperature"]["value"]
    m1 = ChuangmiPlug(MODELS["plug-m1"][1], TOKEN, model="chuangmi.plug.m1").status()
    assert m1.is_on == status("plug-m1")["power"]["value"]


def test_python_miio_air_purifier_sees_pymiio(fleet: dict[str, SimulatedDevice]) -> None:
    from miio import AirPurifier

    assert run("purifier", "set", "mode", "silent").code == 0
    assert run("purifier", "set", "child-lock", "on").code == 0
    theirs = AirPurifier(MODELS["purifier"][1], TOKEN, model="zhimi.airpurifier.v7").status()
    ours = status("purifier")
    assert theirs.mode.value == ours["mode"]["value"] == "silent"
    assert theirs.child_lock is ours["child-lock"]["value"] is True
    assert theirs.temperature == ours["temperature"]["value"]
    assert theirs.humidity == ours["humidity"]["value"]


def test_status_json_entries_of_classic_devices_have_name_and_raw_value(
        fleet: dict[str, SimulatedDevice]) -> None:
    for key in MODELS:
        for entry in run(key, "status", "--json").json():
            assert {"name", "value"} <= set(entry) and "siid" not in entry
            json.dumps(entry)


def test_classic_reads_shrink_their_batches_for_strict_firmware() -> None:
    """get_prop with more names than the device takes (-9999) is asked again in halves."""
    [lamp] = make_devices(f"{NET}.110.20", token=TOKEN, profile="philips.light.sread1")
    lamp.profile.max_props = 3
    with simulator_thread([lamp]):
        entries = miio("status", lamp.host, "--token", TOKEN, "--json").json()
    assert len(entries) == 9 and all("error" not in entry for entry in entries)
