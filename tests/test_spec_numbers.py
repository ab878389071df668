"""Issue 26 item 11: numbers in specs never crash a command. A range of ``[1e400, 1e400]``
(infinity once parsed), a step of ``5e-324``, NaN, a minimum above the maximum or an integer
range that holds no value of its format: every command works or gives a one-line error, and
what the parser dropped is said in a note. A Hypothesis test drives arbitrary range and step
values through the parser, ``Property.convert`` and the simulator's value generation."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pymiio.errors import UsageError
from pymiio.knowledge.miot_spec import parse_spec_text
from pymiio.knowledge.model import INT_FORMATS, Property
from pymiio.simulator import make_devices
from pymiio.simulator.profiles import spec_profile
from pymiio.simulator.spec_state import initial_value, valid

from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .helpers import simulator_thread

FORMATS = ["uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "float"]


def _document(ranges: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    return {"type": "urn:miot-spec-v2:device:thing:0000A0FF:numbers:1", "services": [
        {"iid": 2, "type": "urn:miot-spec-v2:service:thing:00007800:numbers:1", "properties": [
            {"iid": iid, "type": f"urn:miot-spec-v2:property:p{iid}:00000001:numbers:1",
             "format": fmt, "access": ["read", "write", "notify"], "value-range": value_range}
            for iid, (fmt, value_range) in enumerate(ranges, start=1)]}]}


# JSON text, as a server sends it: 1e400 and NaN are what Python's json reads as inf and nan
HOSTILE_TEXT = """{"type": "urn:miot-spec-v2:device:thing:0000A0FF:numbers:1", "services": [
 {"iid": 2, "type": "urn:miot-spec-v2:service:thing:00007800:numbers:1", "properties": [
  {"iid": 1, "type": "urn:x:property:huge:1", "format": "float",
   "access": ["read", "write"], "value-range": [1e400, 1e400]},
  {"iid": 2, "type": "urn:x:property:tiny-step:1", "format": "float",
   "access": ["read", "write"], "value-range": [0, 100, 5e-324]},
  {"iid": 3, "type": "urn:x:property:int-tiny-step:1", "format": "int32",
   "access": ["read", "write"], "value-range": [-10, 10, 5e-324]},
  {"iid": 4, "type": "urn:x:property:not-a-number:1", "format": "int32",
   "access": ["read", "write"], "value-range": [NaN, 5, 1]},
  {"iid": 5, "type": "urn:x:property:outside:1", "format": "uint8",
   "access": ["read", "write"], "value-range": [1e300, 1e301, 1]},
  {"iid": 6, "type": "urn:x:property:bad-step:1", "format": "uint16",
   "access": ["read", "write"], "value-range": [0, 10, -Infinity]},
  {"iid": 7, "type": "urn:x:property:wide:1", "format": "float",
   "access": ["read", "write"], "value-range": [-1.7e308, 1.7e308, 1e-300]},
  {"iid": 8, "type": "urn:x:property:rssi:1", "format": "uint8",
   "access": ["read"], "value-range": [-100, 0, 1]}]}]}"""


def test_hostile_numbers_are_dropped_with_a_note() -> None:
    model = parse_spec_text(HOSTILE_TEXT, "pymiio.numbers.v1")
    ranges = {p.name.split(":")[1]: p.range for p in model.properties}
    assert ranges == {"huge": None, "tiny-step": (0, 100, 5e-324),
                      "int-tiny-step": (-10, 10, 5e-324), "not-a-number": None,
                      "outside": None, "bad-step": (0, 10, 0),
                      "wide": (-1.7e308, 1.7e308, 1e-300), "rssi": (-100, 0, 1)}
    assert model.notes == [
        "thing:huge: value-range [inf, inf] is not finite; no range is checked",
        "thing:not-a-number: value-range [nan, 5, 1] is not finite; no range is checked",
        "thing:outside: value-range [1e+300, 1e+301, 1] holds no uint8 value; no range is "
        "checked",
        "thing:bad-step: step -inf of value-range [0, 10, -inf] is not a step; dropped"]
    assert model.property("tiny-step").convert("42.5") == 42.5  # too fine to check: taken
    assert model.property("int-tiny-step").convert("-3") == -3
    assert model.property("wide").convert("1.7e308") == 1.7e308  # (1.7e308 - -1.7e308) = inf
    assert model.property("huge").convert("1e308") == 1e308
    for name, text in (("int-tiny-step", "11"), ("wide", "1e309"), ("tiny-step", "-1")):
        try:
            model.property(name).convert(text)
        except UsageError:
            continue
        raise AssertionError(f"{name} took {text}")


def test_simulate_set_and_spec_show_work_on_hostile_numbers(tmp_path: Path) -> None:
    spec_file = tmp_path / "numbers.json"
    spec_file.write_text(HOSTILE_TEXT)
    shown = miio("spec", "show", str(spec_file))
    assert shown.code == 0, shown.err
    assert "note: thing:huge: value-range [inf, inf] is not finite" in shown.err
    assert miio("spec", "show", str(spec_file), "--json").json()["notes"][0].startswith(
        "thing:huge")
    model = parse_spec_text(HOSTILE_TEXT, "pymiio.numbers.v1")
    [device] = make_devices(f"{NET}.172.1", token=TOKEN, profile=spec_profile(model))
    with simulator_thread([device]):
        def cli(*args: str) -> Any:
            return miio(args[0], device.host, "--token", TOKEN, "--spec", str(spec_file), "--",
                        *args[1:])

        status = cli("status")
        assert status.code == 0, status.err  # every value the simulator made up is shown
        for name, value in (("huge", "1e300"), ("tiny-step", "3.25"), ("int-tiny-step", "-7"),
                            ("not-a-number", "-99"), ("outside", "200"), ("bad-step", "7"),
                            ("wide", "-1e308")):
            done = cli("set", name, value)
            assert done.code == 0, (name, done.err)
        assert device.spec_values[(2, 1)] == 1e300 and device.spec_values[(2, 3)] == -7
        refused = cli("set", "int-tiny-step", "11")
        assert refused.code == 2 and refused.err.count("\n") == 1
        assert "from -10 to 10" in refused.err


def test_simulate_command_starts_on_hostile_numbers(tmp_path: Path) -> None:
    spec_file = tmp_path / "numbers.json"
    spec_file.write_text(HOSTILE_TEXT)
    done = miio("simulate", "--host", f"{NET}.172.2", "--spec", str(spec_file), "--model",
                "pymiio.numbers.v1", "--duration", "0", "--no-broadcast")
    assert done.code == 0, done.err  # was: internal error: OverflowError
    assert "ready: 1 simulated device(s) (pymiio.numbers.v1)" in done.out
    assert "note: thing:huge: value-range [inf, inf] is not finite" in done.err


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([5e-324, 1e-300, 1e300, 1e308, -1e308, 0, 0.1, 1, 2**53, 2**64]))
VALUES = st.one_of(NUMBERS, st.text(max_size=12), st.booleans(), st.none(),
                   st.sampled_from(["1e400", "-1e400", "nan", "5e-324", "1" * 30, " 7 "]))


@given(fmt=st.sampled_from(FORMATS), value_range=st.lists(NUMBERS, min_size=2, max_size=3),
       values=st.lists(VALUES, max_size=6))
def test_any_range_and_step_converts_or_refuses_and_simulates(fmt: str, value_range: list[Any],
                                                               values: list[Any]) -> None:
    text = json.dumps(_document([(fmt, value_range)]))  # inf and nan as JSON's extensions
    model = parse_spec_text(text, "pymiio.numbers.v1")
    [prop] = model.properties
    if prop.range is not None:
        low, high, step = prop.range
        assert math.isfinite(low) and math.isfinite(high) and low <= high
        assert math.isfinite(step) and step >= 0
    for value in values:
        try:
            converted = prop.convert(value)
        except UsageError:
            continue
        assert isinstance(converted, float if fmt == "float" else int)
        assert valid(prop, converted)  # what the CLI sends, the simulator takes
    start = initial_value(prop, model.model, "1.0")
    assert isinstance(start, float if fmt == "float" else int)
    json.dumps(start, allow_nan=False)  # a value a device can send
    if _has_grid_value(prop):
        assert valid(prop, start), (prop.range, start)


def _has_grid_value(prop: Property) -> bool:
    """Whether an exact value exists that the simulator's simple rule should find."""
    if prop.range is None:
        return prop.format == "float" or INT_FORMATS[prop.format][0] <= 0
    low, high, step = prop.range
    bounds = INT_FORMATS.get(prop.format)
    if bounds is not None:
        integral = float(low).is_integer() and float(step).is_integer()
        return integral and bounds[0] <= low and high <= bounds[1]
    return True


@given(low=NUMBERS, high=NUMBERS, step=NUMBERS, value=VALUES)
def test_convert_never_crashes_on_a_property_made_by_hand(low: Any, high: Any, step: Any,
                                                          value: Any) -> None:
    """Property objects made outside the parser (the catalogue, a library user) too."""
    for fmt in FORMATS:
        prop = Property("p", 2, 1, fmt, frozenset({"read", "write"}), range=(low, high, step))
        with contextlib.suppress(UsageError):
            prop.convert(value)
        initial_value(prop, "m", "1.0")
