"""The spec parser and the device model, on a made-up spec with every trap of real ones, and
on the real specs in ../shared/miot-specs when that folder exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pymiio.errors import SpecError, UsageError
from pymiio.knowledge.miot_spec import parse_spec, parse_spec_text
from pymiio.knowledge.model import is_iid, parse_pair
from pymiio.knowledge.spec_store import choose_urn

TRAPS = Path(__file__).with_name("specs") / "traps.json"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "miot-specs"


@pytest.fixture(scope="module")
def traps():  # type: ignore[no-untyped-def]
    return parse_spec_text(TRAPS.read_bytes(), "pymiio.traps.v1")


def test_lenient_parsing_keeps_everything_real_specs_hold(traps) -> None:  # type: ignore
    assert [s.siid for s in traps.services] == [1, 2, 5, 7, 9, 12]  # iid order, bad ones gone
    assert traps.urn.endswith(":2:0000C999")  # 8 fields kept as they are
    assert {s.name for s in traps.services} >= {"brush-5", "brush-7", "thing", "light"}
    mode = traps.property("thing:mode")
    assert [c.value for c in mode.choices] == [0, 1, 2, 4]  # duplicates and blanks all kept
    assert traps.property("target-temperature").range == (16, 30.5, 0.1)  # 0.1 stays 0.1
    assert traps.property("thing:status").choices == ()  # null value-list


def test_names_full_bare_and_numeric(traps) -> None:  # type: ignore
    assert traps.property("brush-5:left-time").siid == 5
    assert traps.property("brush-7:left-time").siid == 7  # one type twice: both named
    assert traps.property("speed").name == "thing:speed"  # bare and unambiguous
    assert traps.property("2.5").name == "thing:speed"
    assert traps.property("9.2").name == "light:brightness"
    assert traps.action("toggle").key == "2.1" and traps.action("2.2").name == "thing:set-speed"
    # a bare name shared with other services is the device's own service's (a "thing")
    assert traps.property("on").name == "thing:on" and traps.property("power").name == "thing:on"
    assert traps.property("light:on").key == "9.1"
    ambiguous = r"'left-time' is ambiguous.*brush-5:left-time \(5\.\d+\).*brush-7:left-time"
    with pytest.raises(UsageError, match=ambiguous):  # neither is the device's own
        traps.property("left-time")
    with pytest.raises(UsageError, match="no property named 'nope'"):
        traps.property("nope")


@pytest.mark.parametrize(("name", "given", "expected"), [
    ("thing:on", "on", True), ("thing:on", "OFF", False), ("thing:on", "1", True),
    ("thing:on", "false", False), ("thing:on", True, True),
    ("mode", "auto", 0), ("mode", "CHARGING", 1), ("mode", "4", 4), ("mode", 2, 2),
    ("target-temperature", "21.3", 21.3), ("target-temperature", "30.5", 30.5),
    ("speed", "15", 15), ("label", "kitchen", "kitchen"), ("motor-control", "close", 2),
])
def test_values_are_converted_by_format(traps, name: str, given: object,  # type: ignore
                                        expected: object) -> None:
    assert traps.property(name).convert(given) == expected


@pytest.mark.parametrize(("name", "given", "message"), [
    ("thing:on", "maybe", "true or false"),
    ("mode", "turbo", "takes one of"), ("mode", "3", "takes one of"),
    ("target-temperature", "31", "from 16 to 30.5"),
    ("target-temperature", "21.35", "steps of 0.1"),
    ("target-temperature", "nan", "takes a number"),
    ("speed", "12", "steps of 5"), ("speed", "105", "from 10 to 100"),
    ("speed", "1.5", "whole number"), ("light:brightness", "0", "from 1 to 100"),
])
def test_bad_values_are_refused_with_the_reason(traps, name: str, given: str,  # type: ignore
                                                message: str) -> None:
    with pytest.raises(UsageError, match=message):
        traps.property(name).convert(given)


def test_actions_resolve_their_arguments_within_the_service(traps) -> None:  # type: ignore
    action = traps.action("set-speed")
    assert [p.name for p in action.inputs] == ["thing:speed", "thing:mode"]
    assert action.convert_args(["20", "auto"]) == [20, 0]
    with pytest.raises(UsageError, match="takes 2 argument"):
        action.convert_args(["20"])
    assert traps.action("toggle").inputs == ()


def test_status_reads_readable_properties_only(traps) -> None:  # type: ignore
    names = {p.name for p in traps.status_properties()}
    assert "thing:motor-control" not in names and "thing:status" not in names  # write/notify
    assert "device-information:model" not in names
    assert {"brush-5:left-time", "brush-7:left-time", "light:brightness"} <= names


@pytest.mark.parametrize("text", ["", "{", "[]", '{"services": 5}', "null", "[" * 5000])
def test_corrupt_specs_are_spec_errors(text: str) -> None:
    with pytest.raises(SpecError):
        parse_spec_text(text, "x.y.z")


def test_unknown_keys_and_null_lists_do_not_break_parsing() -> None:
    document = {"services": [{"iid": 2, "type": "urn:x:service:s:1", "properties": [
        {"iid": 1, "type": "urn:x:property:p:1", "format": "uint8", "access": None,
         "value-range": None, "gatt-access": [], "new-key": {"a": 1}}], "actions": None}]}
    model = parse_spec(document, "a.b.c")
    assert model.property("s:p").access == frozenset()


def test_the_released_instance_wins_then_the_highest_version() -> None:
    instances = {"instances": [
        {"model": "a.b.c", "version": 1, "type": "urn:released:1", "status": "released"},
        {"model": "a.b.c", "version": 3, "type": "urn:debug:3", "status": "debug"},
        {"model": "a.b.c", "version": 2, "type": "urn:released:2", "status": "released"},
        {"model": "x.y.z", "version": 1, "type": "urn:debug:1", "status": "debug"},
        {"model": "x.y.z", "version": 2, "type": "urn:preview:2", "status": "preview"},
        "garbage", {"model": "x.y.z"}]}
    assert choose_urn(instances, "a.b.c") == "urn:released:2"
    assert choose_urn(instances, "x.y.z") == "urn:preview:2"
    with pytest.raises(SpecError, match="lists no spec for q.q.q"):
        choose_urn(instances, "q.q.q")


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/miot-specs is not here")
def test_every_real_spec_parses_without_losing_data() -> None:
    for path in sorted(SHARED.glob("*.json")):
        if path.name.startswith("instances"):
            continue
        document = json.loads(path.read_text())
        model = parse_spec(document, path.stem)
        raw = sum(len(s.get("properties") or []) for s in document["services"])
        assert len(model.properties) == raw, path.name
        names = [p.name for p in model.properties]
        assert len(names) == len(set(names)), path.name  # no name hides another
    dreame = parse_spec_text((SHARED / "dreame.vacuum.mc1808.json").read_bytes(), "d")
    assert dreame.property("brush-cleaner-26:brush-left-time").siid == 26
    mb3 = parse_spec_text((SHARED / "zhimi.airpurifier.mb3.json").read_bytes(), "m")
    assert mb3.property("temperature").range == (-40, 125, 0.1)
    sample = json.loads((SHARED / "instances-sample.json").read_text())
    assert choose_urn(sample, "zhimi.airpurifier.mb3").startswith("urn:miot-spec-v2:device")


CORPUS = SHARED / "corpus"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/miot-specs is not here")
def test_device_type_and_own_service_of_real_specs() -> None:
    def load(name: str):  # type: ignore[no-untyped-def]
        return parse_spec_text((SHARED / f"{name}.json").read_bytes(), name)

    mb3 = load("zhimi.airpurifier.mb3")
    assert (mb3.device_type, mb3.own_service) == ("air-purifier", "air-purifier")
    assert mb3.property(f"{mb3.own_service}:on").key == "2.2"
    vacuum = load("dreame.vacuum.mc1808")
    assert vacuum.device_type == "vacuum"
    switch = load("zimi.switch.dhkg01")  # an 8-field URN with a template suffix
    assert switch.device_type == "switch" and switch.own_service is not None
    assert load("lumi.plug.v1").device_type == "outlet"
    from pymiio.knowledge.catalogue import lookup

    classic = lookup("roborock.vacuum.s5")
    assert classic is not None and classic.kind == "classic"
    assert (classic.device_type, classic.own_service) == (None, None)


def test_own_service_is_none_without_a_device_urn_or_a_matching_service() -> None:
    service = {"iid": 2, "type": "urn:x:service:light:1", "properties": []}
    assert parse_spec({"services": [service]}, "a.b.c").device_type is None
    fan = parse_spec({"type": "urn:x:device:fan:0000A005:a-b:1", "services": [service]}, "a.b.c")
    assert (fan.device_type, fan.own_service) == ("fan", None)
    not_device = parse_spec({"type": "urn:x:service:fan:1", "services": [service]}, "a.b.c")
    assert not_device.device_type is None


def test_a_repeated_device_type_names_its_first_service() -> None:
    gangs = [{"iid": iid, "type": f"urn:miot-spec-v2:service:switch:0000780C:x:{iid}",
              "properties": [{"iid": 1, "type": "urn:miot-spec-v2:property:on:00000006:x:1",
                              "format": "bool", "access": ["read", "write"]}]}
             for iid in (4, 2, 3)]
    model = parse_spec({"type": "urn:miot-spec-v2:device:switch:0000A003:x:1",
                        "services": gangs}, "x.switch.three")
    assert model.own_service == "switch-2"
    assert [s.type for s in model.services] == ["switch"] * 3


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/miot-specs/corpus is not here")
def test_corpus_device_types_and_own_services() -> None:
    paths = sorted(CORPUS.glob("*.json"))
    own = repeated = 0
    for path in paths:
        model = parse_spec_text(path.read_bytes(), path.stem)
        assert model.device_type == path.name.split(".")[3], path.name  # urn.miot-spec-v2.device.T
        if model.own_service is None:
            assert all(s.type != model.device_type for s in model.services), path.name
            continue
        own += 1
        service = next(s for s in model.services if s.name == model.own_service)
        assert service.type == model.device_type, path.name
        repeated += service.name != service.type
    assert len(paths) == 1427
    assert (own, repeated) == (1121, 27)  # 306 specs have no service of the device's type


@pytest.mark.parametrize(("text", "pair"), [
    ("2.1", (2, 1)), ("02.01", (2, 1)), ("1.1021", (1, 1021)), ("99999.1", (99999, 1)),
    ("0.1", None), ("2.0", None), ("100000.1", None), ("2.", None), (".1", None),
    ("2.1.3", None), (" 2.1", None), ("+2.1", None), ("2_0.1", None), ("٢.١", None),
    ("1" * 40 + ".1", None), ("mode", None),
])
def test_siid_piid_text_is_read_in_one_place(text: str, pair: tuple[int, int] | None) -> None:
    assert parse_pair(text) == pair
    assert is_iid(pair[0]) and is_iid(pair[1]) if pair else True


@pytest.mark.skipif(not CORPUS.is_dir(), reason="no ../shared/miot-specs/corpus")
def test_every_real_property_is_addressable_by_its_numbers() -> None:
    """The spec parser keeps exactly the ids SIID.PIID text can name (real piids reach 1021)."""
    largest = 0
    for path in sorted(CORPUS.glob("*.json")):
        try:
            model = parse_spec_text(path.read_bytes(), path.stem)
        except SpecError:
            continue
        for prop in model.properties:
            largest = max(largest, prop.piid)
            assert parse_pair(prop.key) == (prop.siid, prop.piid), path.name
    assert largest > 999
