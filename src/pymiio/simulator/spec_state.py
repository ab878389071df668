"""A simulated MIoT device's properties, driven by its spec: what real firmware answers.

``get_properties`` and ``set_properties`` answer per item with ``code`` (-4001 not readable,
-4002 not writable, -4003 does not exist, -4005 bad value); values start inside their range or
list and keep their type (floats stay floats); an action's ``in`` arguments set those
properties and its ``out`` returns their values. Every change is reported to the caller, which
pushes it to ``miIO.sub`` subscribers.
"""

from __future__ import annotations

import math
from typing import Any

from pymiio.errors import UsageError
from pymiio.knowledge.model import DeviceModel, Property

Key = tuple[int, int]
Changed = list[tuple[Key, Any]]


def initial_value(prop: Property, model: str, firmware: str) -> Any:
    """A value a real device could report: inside the range or list, of the right type."""
    if prop.service == "device-information":
        return {"manufacturer": "pymiio", "model": model, "firmware-revision": firmware,
                "serial-number": "SIM-0001"}.get(prop.name.split(":", 1)[-1], "")
    if prop.format == "bool":
        return False
    if prop.format == "string":
        return ""
    if prop.choices:
        return prop.choices[0].value
    start: float = 0
    if prop.range is not None and math.isfinite(prop.range[0]) and \
            math.isfinite(prop.range[1]) and prop.range[0] <= prop.range[1]:
        low, high, step = prop.range
        start = min(max(0, low), high)
        steps = (start - low) / step if step and math.isfinite(step) and step > 0 else 0.0
        if 0 < steps < 2**53:  # onto the step grid, not above the maximum
            start = min(low + math.floor(steps + 1e-9) * step, high)
        if prop.format != "float":  # a whole number inside the range where there is one
            start = max(math.ceil(low), min(math.floor(start), math.floor(high)))
    return float(start) if prop.format == "float" else int(start)


class SpecState:
    """The values of one device and the rules of its spec."""

    def __init__(self, spec: DeviceModel, overrides: dict[Key, Any], firmware: str) -> None:
        self.spec = spec
        self.values: dict[Key, Any] = {
            (p.siid, p.piid): initial_value(p, spec.model, firmware) for p in spec.properties}
        for key, value in overrides.items():
            if key in self.values:
                self.values[key] = value

    def get(self, item: dict[str, Any]) -> dict[str, Any]:
        prop, answer = self._lookup(item, "read", -4001)
        if prop is not None:
            answer.update(code=0, value=self.values[(prop.siid, prop.piid)])
        return answer

    def set(self, item: dict[str, Any], changed: Changed) -> dict[str, Any]:
        prop, answer = self._lookup(item, "write", -4002)
        if prop is not None:
            answer["code"] = 0 if valid(prop, item["value"]) else -4005
            if answer["code"] == 0:
                self.assign(prop, item["value"], changed)
        return answer

    def _lookup(self, item: dict[str, Any], access: str,
                refusal: int) -> tuple[Property | None, dict[str, Any]]:
        """The item's property if it exists and allows ``access``; else the answer says why."""
        answer = _echo(item)
        prop = self.spec.by_ids(item["siid"], item["piid"])
        if prop is None or access not in prop.access:
            answer["code"] = -4003 if prop is None else refusal
            return None, answer
        return prop, answer

    def act(self, siid: int, aiid: int, args: Any, changed: Changed) -> dict[str, Any]:
        action = next((a for a in self.spec.actions if (a.siid, a.aiid) == (siid, aiid)), None)
        if action is None:
            return {"code": -4003}
        if not isinstance(args, list) or len(args) != len(action.inputs) or not all(
                valid(prop, arg) for prop, arg in zip(action.inputs, args, strict=False)):
            return {"code": -4006}
        for prop, arg in zip(action.inputs, args, strict=True):
            self.assign(prop, arg, changed)
        return {"code": 0, "out": [self.values.get((p.siid, p.piid)) for p in action.outputs]}

    def assign(self, prop: Property, value: Any, changed: Changed) -> None:
        key = (prop.siid, prop.piid)
        if prop.format == "float":
            value = float(value)
        if self.values.get(key) != value or type(self.values.get(key)) is not type(value):
            self.values[key] = value
            changed.append((key, value))


def valid(prop: Property, value: Any) -> bool:
    """Whether firmware would take ``value``: the JSON type of the format, inside its limits."""
    if prop.format == "bool":
        return type(value) is bool
    if prop.format == "string":
        return isinstance(value, str)
    if prop.format == "float":
        if type(value) not in (int, float) or not math.isfinite(value):
            return False
    elif type(value) is not int:
        return False
    try:
        prop.convert(value)
    except UsageError:
        return False
    return True


def _echo(item: dict[str, Any]) -> dict[str, Any]:
    answer = {"siid": item["siid"], "piid": item["piid"]}
    if "did" in item:
        answer = {"did": item["did"], **answer}
    return answer
