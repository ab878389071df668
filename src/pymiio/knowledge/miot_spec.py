"""MIoT spec instances (miot-spec.org's JSON) into a :class:`DeviceModel`. Pure and lenient.

Real specs carry keys no parser knew (``source``), ``null`` lists, vendor namespaces
(``urn:zhimi-spec:``), services out of iid order, gaps in iids, empty or duplicated
descriptions, fractional steps and 8-field URNs. None of that is an error here: unknown keys are
ignored, malformed elements are skipped, every value-list entry and every fractional step is
kept as it is.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from pymiio.errors import SpecError
from pymiio.knowledge.model import (
    INT_FORMATS,
    Action,
    Choice,
    DeviceModel,
    Event,
    Property,
    Service,
    is_iid,
)

MAX_SPEC = 8 * 1024 * 1024


def parse_spec_text(text: str | bytes, model: str) -> DeviceModel:
    """A spec file's text into a model; SpecError when it is not a spec at all."""
    if len(text) > MAX_SPEC:
        raise SpecError(f"the spec for {model} is larger than {MAX_SPEC} bytes")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise SpecError(f"the spec for {model} is not valid JSON: {reason}") from None
    return parse_spec(document, model)


def parse_spec(document: Any, model: str) -> DeviceModel:
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise SpecError(f"the spec for {model} is not a MIoT instance (no list of services)")
    raw_services = [s for s in document["services"]
                    if isinstance(s, dict) and is_iid(s.get("iid"))]
    raw_services.sort(key=lambda s: s["iid"])
    bases = [urn_name(s.get("type"), "service") for s in raw_services]
    names = unique_names([(s["iid"], base) for s, base in zip(raw_services, bases, strict=True)])
    result = DeviceModel(model=model, kind="miot", description=_text(document.get("description")),
                         urn=_text(document.get("type")) or None)
    for raw, base, name in zip(raw_services, bases, names, strict=True):
        siid = raw["iid"]
        result.services.append(Service(siid, name, _text(raw.get("description")), base))
        properties = _properties(raw, siid, name, base, result.notes)
        result.properties.extend(properties.values())
        result.actions.extend(_actions(raw, siid, name, properties))
        result.events.extend(_events(raw, siid, name, properties))
    result.__post_init__()
    return result


def unique_names(items: list[tuple[int, str]]) -> list[str]:
    """Names for ``(iid, base)`` pairs, unique among themselves: a base that occurs once keeps
    its name, a repeated one gets its iid (``mode-3``, ``mode-5``); a name so made that is
    taken already (by a type literally named ``mode-3``) gets the iid once more (``mode-3-3``)."""
    counts = Counter(base for _iid, base in items)
    taken = {base for base, count in counts.items() if count == 1}
    names = []
    for iid, base in items:
        name = base
        if counts[base] > 1:
            name = f"{base}-{iid}"
            while name in taken:
                name = f"{name}-{iid}"
            taken.add(name)
        names.append(name)
    return names


def urn_name(urn: Any, fallback: str) -> str:
    """The name field of a type URN (``urn:ns:property:mode:00000008:…`` → ``mode``)."""
    parts = urn.split(":") if isinstance(urn, str) else []
    return parts[3].strip().lower() if len(parts) > 3 and parts[3].strip() else fallback


def _properties(raw: dict[str, Any], siid: int, service: str, base: str,
                notes: list[str] | None = None) -> dict[int, Property]:
    found: dict[int, Property] = {}
    items = [p for p in _list(raw.get("properties")) if isinstance(p, dict) and
             is_iid(p.get("iid"))]
    items.sort(key=lambda p: p["iid"])
    names = unique_names([(p["iid"], urn_name(p.get("type"), f"property-{p['iid']}"))
                          for p in items])
    for item, bare in zip(items, names, strict=True):
        piid = item["iid"]
        fmt = _format(item.get("format"))
        found[piid] = Property(
            name=f"{service}:{bare}", siid=siid, piid=piid, format=fmt,
            access=frozenset(a for a in _list(item.get("access")) if isinstance(a, str)),
            unit=_unit(item.get("unit")),
            range=_range(item.get("value-range"), fmt, f"{service}:{bare}",
                         notes if notes is not None else []),
            choices=_choices(item.get("value-list")), description=_text(item.get("description")),
            service=base)
    return found


def _actions(raw: dict[str, Any], siid: int, service: str,
             properties: dict[int, Property]) -> list[Action]:
    items = [a for a in _list(raw.get("actions")) if isinstance(a, dict) and
             is_iid(a.get("iid"))]
    items.sort(key=lambda a: a["iid"])
    names = unique_names([(a["iid"], urn_name(a.get("type"), f"action-{a['iid']}"))
                          for a in items])
    actions = []
    for item, bare in zip(items, names, strict=True):
        aiid = item["iid"]
        actions.append(Action(
            name=f"{service}:{bare}", siid=siid, aiid=aiid,
            inputs=_resolve(item.get("in"), properties, siid),
            outputs=_resolve(item.get("out"), properties, siid),
            description=_text(item.get("description")), service=service))
    return actions


def _events(raw: dict[str, Any], siid: int, service: str,
            properties: dict[int, Property]) -> list[Event]:
    items = [e for e in _list(raw.get("events")) if isinstance(e, dict) and
             is_iid(e.get("iid"))]
    items.sort(key=lambda e: e["iid"])
    names = unique_names([(e["iid"], urn_name(e.get("type"), f"event-{e['iid']}"))
                          for e in items])
    events = []
    for item, bare in zip(items, names, strict=True):
        eiid = item["iid"]
        events.append(Event(name=f"{service}:{bare}", siid=siid, eiid=eiid,
                            arguments=_resolve(item.get("arguments"), properties, siid),
                            description=_text(item.get("description"))))
    return events


def _resolve(piids: Any, properties: dict[int, Property], siid: int) -> tuple[Property, ...]:
    """Action ``in``/``out`` and event arguments: piids of the same service; an unknown piid
    still gets a placeholder property so argument positions stay right."""
    out = []
    for piid in _list(piids):
        if isinstance(piid, dict):
            piid = piid.get("piid")
        if not is_iid(piid):
            continue
        out.append(properties.get(piid) or Property(f"{siid}.{piid}", siid, piid, "string",
                                                    frozenset({"write"})))
    return tuple(out)


def _format(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in INT_FORMATS or text in ("bool", "float", "string"):
        return text
    if text in ("str", "text"):
        return "string"
    if text.startswith(("int", "uint")):
        return "int64"
    return "string" if not text else "int64" if text == "hex" else "string"


def _unit(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() not in ("", "none") else None


def _range(value: Any, fmt: str = "float", name: str = "",
           notes: list[str] | None = None) -> tuple[float, float, float] | None:
    """[min, max] or [min, max, step]; numbers kept as they are (a 0.1 step stays 0.1).

    What no device can mean is dropped with a note, so every command works or gives a
    one-line error: bounds that are not finite (``1e400`` reads as infinity), a min above the
    max, an integer range that holds no value of its format; a step that is not finite or
    below zero is dropped alone (a step too fine to tell values apart is harmless: the check
    skips it). A range wider than its format (a ``uint8`` RSSI of -100..0) is kept."""
    def note(text: str) -> None:
        if notes is not None:
            notes.append(f"{name}: {text}")

    if not isinstance(value, list) or len(value) < 2:
        return None
    numbers = [v for v in value[:3] if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != min(len(value), 3):
        return None
    low, high = numbers[0], numbers[1]
    step = numbers[2] if len(numbers) > 2 else 0
    shown = "[" + ", ".join(_number_text(n) for n in numbers) + "]"
    if not (math.isfinite(low) and math.isfinite(high)):
        note(f"value-range {shown} is not finite; no range is checked")
        return None
    if low > high:
        note(f"value-range {shown} has its minimum above its maximum; no range is checked")
        return None
    bounds = INT_FORMATS.get(fmt)
    if bounds is not None and (high < bounds[0] or low > bounds[1]):
        note(f"value-range {shown} holds no {fmt} value; no range is checked")
        return None
    if not math.isfinite(step) or step < 0:
        note(f"step {_number_text(step)} of value-range {shown} is not a step; dropped")
        step = 0
    return (low, high, step)


def _number_text(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _choices(value: Any) -> tuple[Choice, ...]:
    """Every entry kept, empty and duplicated descriptions included."""
    return tuple(Choice(item["value"], _text(item.get("description")))
                 for item in _list(value)
                 if isinstance(item, dict) and type(item.get("value")) is int)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
