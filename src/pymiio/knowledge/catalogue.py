"""The catalogue of classic miIO devices: data files (``catalogue/*.json``, one per family,
with the models each covers) turned into the same :class:`DeviceModel` a MIoT spec gives.

A classic property says how it is read (a ``get_prop`` name, or a field of ``get_status`` /
``get_consumable``), how its raw value is coded (``onoff``: "on"/"off"; ``01``; ``number-text``:
Yeelight's "84"; ``scale``; ``left_of``: time left from time used), and how a write maps to a
method (``brightness`` → ``set_bright [v]``). An action is a method with a parameter template,
or ``toggle`` of a boolean property. A property with both ``values`` and a ``range`` takes a
listed value (a preset: a vacuum's ``turbo``) or any number in the range. Adding a model is
adding it to a file's ``models``. A family's ``device_type`` is the MIoT device type it behaves
as (``light``, ``vacuum``): its one service carries it as its ``type``, so front ends (Home
Assistant) treat it as they treat a MIoT device of that type, without a list of families.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from pathlib import Path
from typing import Any, Final

from pymiio.knowledge.model import (
    Action,
    Choice,
    DeviceModel,
    Property,
    Read,
    Service,
    Setter,
    Write,
)

_FOLDER: Final = Path(__file__).with_name("catalogue")
_ALL_ACCESS: Final = frozenset({"read", "write"})


@functools.cache
def families() -> dict[str, dict[str, Any]]:
    """Every family file, by family name (read once)."""
    found = {}
    for path in sorted(_FOLDER.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        found[document["family"]] = document
    return found


def known_models() -> list[str]:
    return sorted(model for family in families().values() for model in family["models"])


def family_of(model: str) -> str | None:
    for name, family in families().items():
        if any(fnmatch.fnmatchcase(model, pattern) for pattern in family["models"]):
            return name
    return None


def lookup(model: str) -> DeviceModel | None:
    """The catalogue's description of ``model``, None when no family covers it."""
    name = family_of(model)
    return None if name is None else build(families()[name], model)


def build(family: dict[str, Any], model: str) -> DeviceModel:
    props = []
    for index, (name, entry) in enumerate(family["properties"].items(), start=1):
        chosen = _variant(entry, model)
        if chosen is not None:
            props.append(_property(name, index, chosen, entry, family["family"]))
    by_name = {p.name: p for p in props}
    actions = [_action(name, index, entry, by_name)
               for index, (name, entry) in enumerate(family.get("actions", {}).items(), 1)]
    return DeviceModel(model=model, kind="classic", description=family["description"],
                       services=[Service(0, family["family"], family["description"],
                                         type=family.get("device_type", ""))],
                       properties=props, actions=[a for a in actions if a is not None],
                       aliases=dict(family.get("aliases", {})))


def _variant(entry: dict[str, Any], model: str) -> dict[str, Any] | None:
    """The entry (or its first variant) that applies to ``model``."""
    candidates: list[dict[str, Any]] = entry.get("variants", [entry])
    for candidate in candidates:
        models = candidate.get("models", entry.get("models"))
        if models is None or model in models:
            return candidate
    return None


def _property(name: str, index: int, entry: dict[str, Any], outer: dict[str, Any],
              family: str) -> Property:
    getter = entry["read"]
    read = Read(getter["method"], getter.get("name", ""), getter.get("field", ""),
                entry.get("codec"), getter.get("scale"), getter.get("left_of"))
    write: Write | None = None
    if "set" in entry or "set_bool" in entry:
        on, off = entry.get("set_bool") or (None, None)
        write = Write(
            Setter(entry["set"]["method"], entry["set"].get("params", ["$"]))
            if "set" in entry else None,
            (Setter(on["method"], on.get("params", [])), Setter(off["method"],
                                                               off.get("params", [])))
            if on is not None and off is not None else None,
            entry.get("codec"))
    access = _ALL_ACCESS if write else frozenset({"read"})
    return Property(
        name=name, siid=0, piid=index, format=entry.get("format", "string"), access=access,
        unit=entry.get("unit"), range=tuple(entry["range"]) if "range" in entry else None,
        choices=tuple(Choice(c["value"], c["description"]) for c in entry.get("values", [])),
        description=entry.get("description", outer.get("description", "")), service=family,
        read=read, write=write)


def _action(name: str, index: int, entry: dict[str, Any],
            props: dict[str, Property]) -> Action | None:
    if "toggle" in entry and entry["toggle"] not in props:
        return None  # the model lacks the property the action toggles
    inputs = tuple(Property(name=i["name"], siid=0, piid=n, format=i.get("format", "string"),
                            access=frozenset({"write"}),
                            range=tuple(i["range"]) if "range" in i else None,
                            choices=tuple(Choice(c["value"], c["description"])
                                          for c in i.get("values", [])),
                            description=i.get("description", ""))
                   for n, i in enumerate(entry.get("inputs", []), start=1))
    call = Setter(entry["method"], entry.get("params", [])) if "method" in entry else None
    return Action(name=name, siid=0, aiid=index, inputs=inputs, call=call,
                  toggles=entry.get("toggle"), description=entry.get("description", ""))


# -- value coding -------------------------------------------------------------------------

def decode(prop: Property, raw: Any) -> Any:
    """A raw classic value as the property's value (None: the device gave none)."""
    read = prop.read or Read("")
    codec = read.codec
    if raw is None or raw == "":
        return None
    if codec == "onoff" or codec == "bool-or-onoff":
        if isinstance(raw, bool):
            return raw
        return {"on": True, "off": False}.get(str(raw).lower(), raw)
    if codec == "01":
        return bool(raw) if raw in (0, 1) else raw
    if codec == "number-text" and isinstance(raw, str):
        try:
            raw = int(raw)
        except ValueError:
            return raw
    if read.scale is not None and isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = round(raw * read.scale, 6)
    if read.left_of is not None and isinstance(raw, int) and not isinstance(raw, bool):
        raw = max(0, read.left_of - raw)
    return raw


def encode(prop: Property, value: Any) -> Any:
    """A checked value as the device wants it in a setter's parameters."""
    codec = prop.write.codec if prop.write is not None else None
    if codec == "onoff" and isinstance(value, bool):
        return "on" if value else "off"
    if codec == "01" and isinstance(value, bool):
        return int(value)
    return value


def fill(template: Any, values: dict[str, Any]) -> Any:
    """A parameter template with ``$`` / ``$name`` replaced by values."""
    if isinstance(template, str) and template.startswith("$"):
        return values.get(template[1:] or "$")
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    return template
