"""Names (issue 25 item 7, issue 26 item 12): a bare name prefers the device's own service,
``power`` is its ``on``, typos get "did you mean", SIID.PIID always addresses by number, every
full name is unique; a vacuum's fan speed takes a preset or 1..100. Through the model, the
simulator and the CLI, on real specs from ../shared/miot-specs and on the whole corpus."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pymiio.errors import UsageError
from pymiio.knowledge.miot_spec import parse_spec, parse_spec_text, unique_names
from pymiio.simulator import make_devices
from pymiio.simulator.device import SimulatedDevice
from pymiio.simulator.profiles import spec_profile
from pymiio.simulator.spec_state import initial_value, valid

from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .helpers import simulator_thread

SHARED = Path(__file__).resolve().parents[2] / "shared" / "miot-specs"
MB3 = SHARED / "zhimi.airpurifier.mb3.json"
CORPUS = SHARED / "corpus"
needs_mb3 = pytest.mark.skipif(not MB3.is_file(), reason="../shared/miot-specs is not here")


def _urn(kind: str, name: str) -> str:
    return f"urn:miot-spec-v2:{kind}:{name}:0000{kind[0].upper()}001:pymiio-names:1"


def _prop(iid: int, name: str, fmt: str = "uint8", **more: Any) -> dict[str, Any]:
    return {"iid": iid, "type": _urn("property", name), "format": fmt,
            "access": ["read", "write"], **more}


# -- the model -------------------------------------------------------------------------------

@needs_mb3
def test_a_bare_name_prefers_the_devices_own_service_on_a_real_3h() -> None:
    mb3 = parse_spec_text(MB3.read_bytes(), "zhimi.airpurifier.mb3")
    assert mb3.property("on").name == "air-purifier:on"  # not indicator-light:on
    assert mb3.property("power").key == "2.2"
    assert mb3.property("indicator-light:on").key == "6.6"
    assert mb3.property("ON").name == "air-purifier:on"
    with pytest.raises(UsageError, match=r"did you mean 'temperature'"):
        mb3.property("tempreature")
    with pytest.raises(UsageError, match=r"no action named 'reset-filter-lif'; did you mean "
                                         r"'reset-filter-life'"):
        mb3.action("reset-filter-lif")
    with pytest.raises(UsageError, match=r"no property 99\.1"):
        mb3.property("99.1")
    with pytest.raises(UsageError, match=r"takes one of Auto \(0\).*not 'atuo'; did you mean "
                                         r"'Auto'\?"):
        mb3.property("mode").convert("atuo")  # a label's typo too


def test_the_own_service_wins_only_when_it_is_one() -> None:
    """Three gangs of one switch type: a bare ``on`` stays ambiguous among them."""
    gangs = [{"iid": iid, "type": _urn("service", "switch"), "properties": [_prop(1, "on",
                                                                                  "bool")]}
             for iid in (2, 3, 4)]
    light = {"iid": 5, "type": _urn("service", "indicator-light"),
             "properties": [_prop(1, "on", "bool")]}
    model = parse_spec({"type": _urn("device", "switch"), "services": [*gangs, light]},
                       "pymiio.switch.three")
    assert model.own_service == "switch-2"
    with pytest.raises(UsageError, match=r"'on' is ambiguous.*switch-2:on.*switch-3:on.*"
                                         r"switch-4:on.*indicator-light:on"):
        model.property("on")
    assert model.property("switch-3:on").key == "3.1"
    with pytest.raises(UsageError, match="no property named 'power'"):
        model.property("power")  # no single own "on" to stand for


def test_a_property_literally_named_power_keeps_its_name() -> None:
    service = {"iid": 2, "type": _urn("service", "fan"), "properties": [
        _prop(1, "on", "bool"), _prop(2, "power", "uint16")]}
    model = parse_spec({"type": _urn("device", "fan"), "services": [service]}, "p.fan.x")
    assert model.property("power").key == "2.2" and model.property("on").key == "2.1"


def test_siid_piid_always_addresses_by_number() -> None:
    document = {"type": _urn("device", "thing"), "services": [
        {"iid": 2, "type": _urn("service", "thing"), "properties": [_prop(1, "3.1"),
                                                                    _prop(2, "0.5")],
         "actions": [{"iid": 1, "type": _urn("action", "2.2"), "in": []}]},
        {"iid": 3, "type": _urn("service", "other"), "properties": [_prop(1, "level")]}]}
    model = parse_spec(document, "pymiio.hijack.v1")
    assert model.property("3.1").name == "other:level"
    assert model.property("thing:3.1").key == "2.1"  # still reachable by its full name
    with pytest.raises(UsageError, match=r"'0\.5': SIID\.PIID are numbers from 1 to 99999"):
        model.property("0.5")  # not an address, and still not a name
    assert model.property("thing:0.5").key == "2.2"
    with pytest.raises(UsageError, match=r"no action 2\.2"):
        model.action("2.2")  # the action named 2.2 does not capture SIID.AIID 2.2
    assert model.action("thing:2.2").key == "2.1"


def test_every_full_name_is_unique_even_when_suffixes_collide() -> None:
    service = {"iid": 2, "type": _urn("service", "thing"), "properties": [
        _prop(3, "mode"), _prop(5, "mode"), _prop(7, "mode-3")],
        "actions": [{"iid": 1, "type": _urn("action", "go")},
                    {"iid": 2, "type": _urn("action", "go")},
                    {"iid": 4, "type": _urn("action", "go-1")}],
        "events": [{"iid": 1, "type": _urn("event", "hit")},
                   {"iid": 3, "type": _urn("event", "hit")},
                   {"iid": 5, "type": _urn("event", "hit-3")}]}
    brush = [{"iid": iid, "type": _urn("service", "brush"), "properties": [_prop(1, "left")]}
             for iid in (5, 7)]
    clash = {"iid": 9, "type": _urn("service", "brush-5"), "properties": [_prop(1, "left")]}
    model = parse_spec({"services": [service, *brush, clash]}, "pymiio.clash.v1")
    names = [p.name for p in model.properties]
    assert len(names) == len(set(names)), names
    assert model.property("mode-3").key == "2.7"  # the literal name keeps it
    assert model.property("2.3").name == "thing:mode-3-3"
    assert model.property("brush-5:left").siid == 9
    assert model.property("brush-5-5:left").siid == 5
    for items in (model.actions, model.events, model.services):
        found = [item.name for item in items]
        assert len(found) == len(set(found)), found
    assert unique_names([(1, "a"), (2, "a"), (3, "a-1"), (4, "a-1-1")]) == [
        "a-1-1-1", "a-2", "a-1", "a-1-1"]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/miot-specs/corpus is not here")
def test_the_whole_corpus_parses_with_unique_names_and_bare_own_names() -> None:
    paths = sorted(CORPUS.glob("*.json"))
    assert len(paths) == 1427
    resolved = shared = powered = 0
    for path in paths:
        document = json.loads(path.read_bytes())
        model = parse_spec(document, path.stem)
        assert model.notes == [], path.name  # no real range or step is dropped
        for prop in model.properties:  # the simulator starts every number inside its limits
            if prop.format not in ("bool", "string", "json"):
                assert valid(prop, initial_value(prop, model.model, "1.0")), (path, prop.name)
        for items in (model.properties, model.actions, model.events, model.services):
            repeated = [n for n, c in Counter(i.name for i in items).items() if c > 1]
            assert not repeated, (path.name, repeated)
        own = {s.name for s in model.services if s.type == model.device_type}
        for prop in model.properties:
            service, bare = prop.name.split(":", 1)
            if service not in own:
                continue
            if len(own) == 1:
                assert model.property(bare) is prop, (path.name, bare)
                resolved += 1
                shared += sum(p.name.endswith(f":{bare}") for p in model.properties) > 1
            else:  # a repeated own type: its gangs stay ambiguous, nothing else is chosen
                try:
                    assert model.property(bare).name.split(":", 1)[0] in own
                except UsageError as refused:
                    assert "ambiguous" in str(refused)
        names = {p.name for p in model.properties}
        if len(own) == 1 and f"{model.own_service}:on" in names and not any(
                n.endswith(":power") for n in names):  # a real "power" keeps its name
            assert model.property("power").name == f"{model.own_service}:on", path.name
            powered += 1
    print(f"corpus: {resolved} own properties by bare name, {shared} of them shared with "
          f"other services, {powered} with power")
    assert resolved > 5000 and shared > 100 and powered > 500


# -- through the simulator and the CLI ---------------------------------------------------------

@pytest.fixture
def purifier() -> Iterator[SimulatedDevice]:
    if not MB3.is_file():
        pytest.skip("../shared/miot-specs is not here")
    spec = parse_spec_text(MB3.read_bytes(), "zhimi.airpurifier.mb3")
    [device] = make_devices(f"{NET}.170.1", token=TOKEN, profile=spec_profile(spec))
    with simulator_thread([device]):
        assert miio("devices", "add", "purifier", "--host", device.host, "--token", TOKEN,
                    "--model", "zhimi.airpurifier.mb3", "--no-check").code == 0
        yield device


def _mb3(*args: str) -> Any:
    return miio(*args, "--spec", str(MB3))


def test_set_on_and_power_on_a_real_3h(purifier: SimulatedDevice) -> None:
    purifier.set_value(6, 6, False)
    done = _mb3("set", "purifier", "on", "true")
    assert (done.code, done.out, done.err) == (0, "ok\n", "")
    assert purifier.spec_values[(2, 2)] is True and purifier.spec_values[(6, 6)] is False
    assert _mb3("set", "purifier", "power", "off").code == 0
    assert purifier.spec_values[(2, 2)] is False
    assert _mb3("set", "purifier", "indicator-light:on", "on").code == 0
    assert purifier.spec_values[(6, 6)] is True and purifier.spec_values[(2, 2)] is False
    for names in (("power",), ("on",), ("power", "on")):  # one property, read once
        got = _mb3("get", "purifier", *names, "--json").json()
        assert [(g["name"], g["value"]) for g in got] == [("air-purifier:on", False)]


@pytest.mark.parametrize(("args", "hint"), [
    (("get", "purifier", "tempreature"), "did you mean 'temperature'"),
    (("set", "purifier", "fan-levle", "2"), "did you mean 'fan-level'"),
    (("action", "purifier", "toggel"), "did you mean 'toggle'"),
])
def test_typos_in_names_get_did_you_mean(purifier: SimulatedDevice, args: tuple[str, ...],
                                         hint: str) -> None:
    before = purifier.stats.requests
    done = _mb3(*args)
    assert done.code == 2 and hint in done.err and done.err.count("\n") == 1
    assert purifier.stats.requests - before <= 2  # hello and miIO.info at most: no set sent


@pytest.mark.parametrize(("args", "hint"), [
    (("stauts",), "did you mean 'status'"),
    (("devices", "lsit"), "did you mean 'list'"),
    (("spec", "shwo", "x"), "did you mean 'show'"),
    (("simulate", "--model", "vacum", "--duration", "0"), "did you mean 'vacuum'"),
    (("simulate", "--model", "roborock.vacuum.s55", "--duration", "0"),
     "did you mean 'roborock.vacuum.s5'"),
])
def test_typos_in_commands_and_profiles_get_did_you_mean(args: tuple[str, ...],
                                                         hint: str) -> None:
    done = miio(*args)
    assert done.code == 2 and hint in done.err, done.err


def test_an_unknown_command_far_from_any_says_so_plainly() -> None:
    done = miio("xyzzy")
    assert done.code == 2 and "No such command 'xyzzy'." in done.err


# -- a vacuum's fan speed: a preset or 1..100 --------------------------------------------------

@pytest.fixture
def vacuum() -> Iterator[SimulatedDevice]:
    [device] = make_devices(f"{NET}.170.2", token=TOKEN, profile="roborock.vacuum.s5")
    with simulator_thread([device]):
        yield device


def _vacuum(vacuum: SimulatedDevice, *args: str) -> Any:
    return miio(*args[:1], vacuum.host, "--token", TOKEN, "--", *args[1:])


@pytest.mark.parametrize(("given", "sent"), [
    ("77", 77), ("1", 1), ("100", 100), ("turbo", 75), ("Quiet", 38), ("mop", 105),
    ("105", 105)])
def test_a_vacuum_fan_speed_takes_a_preset_or_any_value_up_to_100(
        vacuum: SimulatedDevice, given: str, sent: int) -> None:
    assert _vacuum(vacuum, "set", "fan-speed", given).code == 0
    assert vacuum.profile.props["fan_power"] == sent
    status = miio("status", vacuum.host, "--token", TOKEN, "--json").json()
    entry = {e["name"]: e for e in status}["fan-speed"]
    assert entry["value"] == sent


@pytest.mark.parametrize("given", ["0", "101", "-5", "77.5", "warp"])
def test_a_vacuum_fan_speed_outside_presets_and_range_is_refused(vacuum: SimulatedDevice,
                                                                 given: str) -> None:
    before = vacuum.profile.props["fan_power"]
    done = _vacuum(vacuum, "set", "fan-speed", given)
    assert done.code == 2 and done.err.count("\n") == 1, done.err
    assert "1 to 100" in done.err or "whole number" in done.err
    assert vacuum.profile.props["fan_power"] == before


def test_set_by_siid_piid_through_the_cli_is_never_captured_by_a_name(tmp_path: Path) -> None:
    document = {"type": _urn("device", "thing"), "services": [
        {"iid": 2, "type": _urn("service", "thing"), "properties": [_prop(1, "3.1")]},
        {"iid": 3, "type": _urn("service", "other"), "properties": [_prop(1, "level")]}]}
    spec_file = tmp_path / "hijack.json"
    spec_file.write_text(json.dumps(document))
    [device] = make_devices(f"{NET}.170.3", token=TOKEN,
                            profile=spec_profile(parse_spec(document, "pymiio.hijack.v1")))
    with simulator_thread([device]):
        def cli(*args: str) -> Any:
            return miio(args[0], device.host, *args[1:], "--token", TOKEN, "--spec",
                        str(spec_file))

        assert cli("set", "3.1", "7").code == 0
        assert device.spec_values[(3, 1)] == 7 and device.spec_values[(2, 1)] == 0
        assert cli("set", "thing:3.1", "9").code == 0
        assert device.spec_values[(2, 1)] == 9
        got = cli("get", "3.1", "--json").json()
        assert [(g["name"], g["value"]) for g in got] == [("other:level", 7)]


def test_a_mistyped_preset_gets_did_you_mean(vacuum: SimulatedDevice) -> None:
    done = _vacuum(vacuum, "set", "fan-speed", "trubo")
    assert done.code == 2 and "or a number from 1 to 100, not 'trubo'; did you mean 'Turbo'?" \
        in done.err, done.err


def test_completion_after_a_mistyped_command_stays_quiet() -> None:
    """Shell completion parses resiliently: no error line for a word still being typed."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "_MIIO_COMPLETE": "bash_complete", "COMP_WORDS": "miio stauts ",
           "COMP_CWORD": "2"}
    done = subprocess.run([sys.executable, "-m", "pymiio.cli.main"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
