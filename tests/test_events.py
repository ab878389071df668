"""Events (``event_occured``): parsed from specs with full names and named arguments, on the
made-up traps spec and on every real spec in ../shared/miot-specs/corpus when it is there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pymiio.errors import UsageError
from pymiio.knowledge.miot_spec import parse_spec, parse_spec_text
from pymiio.knowledge.model import MAX_EVENT_ARGUMENTS, argument_name

TRAPS = Path(__file__).with_name("specs") / "traps.json"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "miot-specs"
CORPUS = SHARED / "corpus"


def test_events_have_full_names_keys_and_named_arguments() -> None:
    traps = parse_spec_text(TRAPS.read_bytes(), "pymiio.traps.v1")
    alert = traps.event(2, 1)
    assert alert is not None and alert.name == "thing:alert" and alert.key == "2.1"
    assert [p.name for p in alert.arguments] == ["thing:mode"]
    assert traps.event_named("alert") is alert
    assert traps.event_named("thing:alert") is alert and traps.event_named("2.1") is alert
    assert alert.decode([{"piid": 3, "value": 1}]) == {"mode": 1}
    with pytest.raises(UsageError, match="no event named 'alarm'"):
        traps.event_named("alarm")


def test_decoding_is_lenient_and_bounded() -> None:
    traps = parse_spec_text(TRAPS.read_bytes(), "pymiio.traps.v1")
    alert = traps.event_named("alert")
    given = [{"piid": 3, "value": 2}, {"piid": 9, "value": "x"}, "junk", {"piid": "3"},
             {"value": 1}, {"piid": 4}]
    assert alert.decode(given) == {"mode": 2, "piid-9": "x"}
    assert alert.decode(None) == {} and alert.decode({"piid": 3}) == {}
    many = [{"piid": n, "value": n} for n in range(1, 10_000)]
    assert len(alert.decode(many)) == MAX_EVENT_ARGUMENTS


def test_repeated_event_types_in_one_service_get_their_iid() -> None:
    document = {"type": "urn:miot-spec-v2:device:switch:0000A003:pymiio-twice:1", "services": [
        {"iid": 3, "type": "urn:miot-spec-v2:service:switch:00007811:pymiio-twice:1",
         "properties": [{"iid": 1, "type": "urn:miot-spec-v2:property:button:00000001:x:1",
                         "format": "uint8", "access": ["notify"]}],
         "events": [
             {"iid": 2, "type": "urn:miot-spec-v2:event:click:00005007:x:1", "arguments": [1]},
             {"iid": 1, "type": "urn:miot-spec-v2:event:click:00005007:x:1", "arguments": []},
             {"iid": 3, "type": "urn:miot-spec-v2:event:double-click:00005008:x:1"}]}]}
    model = parse_spec(document, "pymiio.twice.v1")
    assert [e.name for e in model.events] == ["switch:click-1", "switch:click-2",
                                              "switch:double-click"]
    assert model.event_named("click-2").decode([{"piid": 1, "value": 4}]) == {"button": 4}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/miot-specs/corpus is not here")
def test_every_real_event_is_parsed_with_names() -> None:
    """All 1,400-odd real specs: every event kept, full names unique, each argument resolved
    to a real property of its service, and a device's report decoded by those names."""
    paths = sorted(CORPUS.glob("*.json"))
    assert len(paths) > 1000
    events = arguments = 0
    for path in paths:
        document = json.loads(path.read_text())
        model = parse_spec(document, path.stem)
        raw = [e for s in document["services"] for e in (s.get("events") or [])]
        assert len(model.events) == len(raw), path.name
        names = [e.name for e in model.events]
        assert len(names) == len(set(names)), path.name
        for event in model.events:
            assert model.event_named(event.name) is event, (path.name, event.name)
            assert event.name.split(":")[0] in {s.name for s in model.services}
            assert all(p.siid == event.siid and model.by_ids(p.siid, p.piid) is p
                       for p in event.arguments), (path.name, event.name)
            report = [{"piid": p.piid, "value": n} for n, p in enumerate(event.arguments)]
            decoded = event.decode(report)
            assert decoded == {argument_name(p): n for n, p in enumerate(event.arguments)}
            assert len(decoded) == len(event.arguments), (path.name, event.name)
            events += 1
            arguments += len(event.arguments)
    assert events > 1000 and arguments > 500


def test_spec_show_lists_events_with_their_argument_names() -> None:
    from .cli_runner import miio

    shown = miio("spec", "show", str(TRAPS))
    assert shown.code == 0, shown.err
    assert "events" in shown.out and "thing:alert" in shown.out and "2.1" in shown.out
    line = next(line for line in shown.out.splitlines() if "thing:alert" in line)
    assert "mode" in line
    data = miio("spec", "show", str(TRAPS), "--json").json()
    assert data["events"] == [{"name": "thing:alert", "siid": 2, "eiid": 1,
                               "arguments": ["thing:mode"]}]
