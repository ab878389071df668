"""The device model: named properties and actions, name resolution and value checks. Pure.

Names (docs/cli.md, "Names"): a property's full name is ``<service>:<property>`` from the type
URNs (``air-purifier:mode``). When a service type occurs more than once in a device, each of
those services is named ``<service>-<siid>`` (``brush-cleaner-26:left-time``), so no name hides
another; the same holds for properties, actions and events within a service, and a name made so
that is taken already gets its iid once more (``mode-3-3``): full names are unique. A bare
property name (``mode``) is accepted where exactly one property has it, or exactly one of those
is in the device's own service (the one its type names: ``on`` is ``air-purifier:on`` on a
purifier, not ``indicator-light:on``); ``power`` is that service's ``on``. An ambiguous one is
refused with the candidates listed, an unknown one with the closest names. ``SIID.PIID`` (``2.4``)
and, for actions, ``SIID.AIID`` always address by number, whatever the properties are named.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pymiio.errors import UsageError

INT_FORMATS: Final[dict[str, tuple[int, int]]] = {
    "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1), "int8": (-(2**7), 2**7 - 1), "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1),
}
TRUE_WORDS: Final = {"true", "on", "1", "yes"}
FALSE_WORDS: Final = {"false", "off", "0", "no"}
MAX_IID: Final = 99_999  # the largest siid/piid/aiid/eiid taken (real specs reach piid 1021)
_PAIR: Final = re.compile(r"(\d{1,9})\.(\d{1,9})", re.ASCII)


def is_iid(value: Any) -> bool:
    """Whether ``value`` can be a MIoT instance id (siid, piid, aiid, eiid): 1 to MAX_IID."""
    return type(value) is int and 0 < value <= MAX_IID


def parse_pair(text: str) -> tuple[int, int] | None:
    """``SIID.PIID`` (or ``SIID.AIID``) text as two instance ids; None for anything else.

    The one reading of this notation: the CLI's ``miio miot`` and name resolution use it."""
    match = _PAIR.fullmatch(text)
    if match is None:
        return None
    pair = int(match[1]), int(match[2])
    return pair if is_iid(pair[0]) and is_iid(pair[1]) else None


@dataclass(frozen=True)
class Choice:
    value: int | str  # MIoT lists hold numbers; classic devices also use words ("auto")
    description: str


@dataclass(frozen=True)
class Read:
    """How a classic device's property is read (knowledge/catalogue.py) and its raw value coded."""

    method: str  # "get_prop", or a getter whose first record holds ``field`` ("get_status")
    name: str = ""  # the get_prop name
    field: str = ""  # the field of the getter's record
    codec: str | None = None  # "onoff", "bool-or-onoff", "01", "number-text"
    scale: float | None = None  # raw number times this
    left_of: int | None = None  # the value is this minus the raw number (time left of used)


@dataclass(frozen=True)
class Setter:
    """One method call; ``params`` is a template (``"$"`` is the value, see catalogue.fill)."""

    method: str
    params: Any = ()


@dataclass(frozen=True)
class Write:
    """How a classic device's property is written: one setter whose template takes the value
    (``set_bright [v]``), or one method for true and one for false (``set_on`` / ``set_off``);
    ``codec`` codes the value as the firmware wants it."""

    setter: Setter | None = None
    on_off: tuple[Setter, Setter] | None = None
    codec: str | None = None


@dataclass
class Property:
    """One named value of a device. ``siid``/``piid`` address it over MIoT; a classic device's
    catalogue entry fills ``read``/``write`` instead (how to get and set it)."""

    name: str
    siid: int
    piid: int
    format: str = "string"
    access: frozenset[str] = frozenset()
    unit: str | None = None
    range: tuple[float, float, float] | None = None
    choices: tuple[Choice, ...] = ()
    description: str = ""
    service: str = ""
    read: Read | None = None
    write: Write | None = None

    @property
    def readable(self) -> bool:
        return "read" in self.access

    @property
    def writable(self) -> bool:
        return "write" in self.access

    @property
    def key(self) -> str:
        return f"{self.siid}.{self.piid}"

    def label(self, value: Any) -> str | None:
        """The label of an enum value (:meth:`choice_labels`), None for other properties,
        unknown values and values without a description."""
        for choice, label in zip(self.choices, self.choice_labels(), strict=True):
            if choice.value == value and type(value) is not bool:
                return label if choice.description.strip() else None
        return None

    def choice_labels(self) -> tuple[str, ...]:
        """One label per choice, distinct ignoring case, so that each names its own value:
        the description; the value for an empty one; ``<label> (<value>)`` for a repeated
        one, or one that reads as another choice's value (real lists repeat "Charging",
        leave descriptions empty or label value 6 "15")."""
        seen: set[str] = set()
        values = {str(choice.value).casefold() for choice in self.choices}
        labels = []
        for choice in self.choices:
            base = " ".join(choice.description.split()) or str(choice.value)
            label, extra = base, 1
            while label.casefold() in seen or (label.casefold() in values and
                                               label.casefold() != str(choice.value).casefold()):
                extra += 1
                label = f"{base} ({choice.value})" if extra == 2 else \
                    f"{base} ({choice.value}-{extra - 1})"
            seen.add(label.casefold())
            labels.append(label)
        return tuple(labels)

    def _by_label(self, text: str) -> Choice | None:
        wanted = " ".join(text.split()).casefold()
        for choice, label in zip(self.choices, self.choice_labels(), strict=True):
            if label.casefold() == wanted:
                return choice
        for choice in self.choices:  # the plain description names the first that has it
            if choice.description.strip().casefold() == wanted:
                return choice
        return None

    def convert(self, value: Any) -> Any:
        """``value`` (text from a command line, or a JSON value) in this property's format,
        checked against its range, step and list; UsageError with the reason otherwise."""
        if self.format == "bool":
            return _to_bool(value, self.name)
        if self.format == "json":
            return _to_json(value, self.name)
        if self.format == "string":
            if not isinstance(value, str):
                raise UsageError(f"{self.name} takes text, not {value!r}")
            return self._word(value) if self.choices else value
        number = _to_float(value, self.name) if self.format == "float" else self._to_int(value)
        if self.choices and any(number == c.value for c in self.choices):
            return number  # a preset of a property that also takes a range (fan-speed)
        self._check_range(number)
        return number

    def _word(self, value: str) -> str:
        wanted = value.strip().lower()
        for choice in self.choices:
            if str(choice.value).lower() == wanted:
                return str(choice.value)
        found = self._by_label(value)
        if found is not None:
            return str(found.value)
        raise UsageError(f"{self.name} takes one of {self.describe_choices()}, not {value!r}"
                         f"{did_you_mean(value, self.choice_labels())}")

    def _to_int(self, value: Any) -> int:
        if self.choices and isinstance(value, str):
            values = {choice.value for choice in self.choices}
            if not _is_integer_text(value) or int(value.strip()) not in values:
                found = self._by_label(value)  # a label, even one that reads as a number
                if found is not None and isinstance(found.value, int):
                    return found.value
                if not _is_integer_text(value):
                    more = (f" or a number from {_num(self.range[0])} to "
                            f"{_num(self.range[1])}" if self.range else "")
                    raise UsageError(f"{self.name} takes one of {self.describe_choices()}"
                                     f"{more}, not {value!r}"
                                     f"{did_you_mean(value, self.choice_labels())}")
        number = _to_integer(value, self.name)
        low, high = INT_FORMATS.get(self.format, (-(2**63), 2**64 - 1))
        if not low <= number <= high:
            raise UsageError(f"{self.name} is {self.format}: {number} is out of its range")
        if self.choices and self.range is None and number not in {c.value for c in self.choices}:
            raise UsageError(f"{self.name} takes one of {self.describe_choices()}, not {number}")
        return number

    def _check_range(self, number: float) -> None:
        if self.range is None:
            return
        low, high, step = self.range
        if not low <= number <= high:
            presets = f"one of {self.describe_choices()} or " if self.choices else ""
            raise UsageError(f"{self.name} takes {presets}a number from {_num(low)} to "
                             f"{_num(high)}, not {_num(number)}" if presets else
                             f"{self.name} must be from {_num(low)} to {_num(high)}, "
                             f"not {_num(number)}")
        if step and step > 0:
            steps = (number - low) / step
            # beyond 2**53 steps (a 5e-324 step) no float is off the grid measurably
            if math.isfinite(steps) and abs(steps) < 2**53 and abs(steps - round(steps)) > 1e-6:
                raise UsageError(f"{self.name} moves in steps of {_num(step)} from {_num(low)}; "
                                 f"{_num(number)} is not one")

    def describe_choices(self) -> str:
        return ", ".join(f"{label} ({c.value})"
                         for c, label in zip(self.choices, self.choice_labels(), strict=True))

    def constraint(self) -> str:
        """``1..100 step 1`` or ``Auto (0), Sleep (1)`` or empty: for tables and errors."""
        if self.range is not None:
            low, high, step = self.range
            numbers = f"{_num(low)}..{_num(high)} step {_num(step)}"
            return f"{self.describe_choices()} or {numbers}" if self.choices else numbers
        return self.describe_choices()


@dataclass
class Action:
    name: str
    siid: int
    aiid: int
    inputs: tuple[Property, ...] = ()
    outputs: tuple[Property, ...] = ()
    description: str = ""
    service: str = ""
    call: Setter | None = None  # classic devices: the method and its parameter template,
    toggles: str | None = None  # or the boolean property the action flips

    @property
    def key(self) -> str:
        return f"{self.siid}.{self.aiid}"

    def convert_args(self, args: Sequence[Any]) -> list[Any]:
        """Arguments converted and checked against the input properties."""
        if len(args) != len(self.inputs):
            names = ", ".join(p.name for p in self.inputs) or "no arguments"
            raise UsageError(f"{self.name} takes {len(self.inputs)} argument(s) ({names}), "
                             f"{len(args)} given")
        return [prop.convert(arg) for prop, arg in zip(self.inputs, args, strict=True)]


MAX_EVENT_ARGUMENTS: Final = 32  # real specs have at most 11; a device may send more


@dataclass
class Event:
    """Something a MIoT device reports by itself (``event_occured``): a button pressed, a
    filter worn out. Named like properties (``<service>:<event>``); its arguments are
    properties of the same service, named in what it reports by their name in the service."""

    name: str
    siid: int
    eiid: int
    arguments: tuple[Property, ...] = ()
    description: str = ""

    @property
    def key(self) -> str:
        return f"{self.siid}.{self.eiid}"

    def decode(self, arguments: Any) -> dict[str, Any]:
        """The device's ``[{"piid": 1, "value": 3}, ...]`` as ``{"<argument name>": 3, ...}``.
        A piid the spec does not list is kept as ``piid-<n>``; at most
        :data:`MAX_EVENT_ARGUMENTS` are taken, malformed entries are skipped."""
        names = {prop.piid: argument_name(prop) for prop in self.arguments}
        named: dict[str, Any] = {}
        for item in arguments[:MAX_EVENT_ARGUMENTS] if isinstance(arguments, list) else ():
            piid = item.get("piid") if isinstance(item, dict) else None
            if type(piid) is int and "value" in item:
                named[names.get(piid) or f"piid-{piid}"] = item["value"]
        return named


def argument_name(prop: Property) -> str:
    """An event argument's name: the property's name within its service (``button-type``)."""
    return prop.name.split(":", 1)[-1]


@dataclass
class Service:
    siid: int
    name: str  # unique in the model: ``<type>`` or, when the type repeats, ``<type>-<siid>``
    description: str = ""
    type: str = ""  # the name field of its type URN (``switch`` for ``switch-2``); "" unknown


@dataclass
class DeviceModel:
    """Everything known about one model; lookups by name, bare name or SIID.PIID."""

    model: str
    kind: str  # "miot" or "classic"
    description: str = ""
    urn: str | None = None
    services: list[Service] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    aliases: dict[str, str] = field(default_factory=dict)  # other names people use
    notes: list[str] = field(default_factory=list)  # what the parser dropped, and why

    def __post_init__(self) -> None:
        self._index()

    def _index(self) -> None:
        own_type = self.device_type
        self._own = {s.name for s in self.services if own_type is not None and
                     (s.type or s.name) == own_type}
        self._props = _name_index(self.properties)
        self._actions = _name_index(self.actions)
        aliases = dict(self.aliases)
        if len(self._own) == 1:  # the device's own switch (not one gang of several)
            aliases.setdefault("power", f"{next(iter(self._own))}:on")
        for alias, name in aliases.items():
            if name in self._props and alias not in self._props:
                self._props[alias] = self._props[name]
        self._by_key = {p.key: p for p in self.properties}
        self._action_keys = {a.key: a for a in self.actions}
        self._events = _name_index(self.events)
        self._event_keys = {e.key: e for e in self.events}

    @property
    def device_type(self) -> str | None:
        """The device type from the spec URN (``urn:miot-spec-v2:device:air-purifier:…`` →
        ``air-purifier``); None for classic devices and specs without a device URN."""
        parts = self.urn.split(":") if self.kind == "miot" and self.urn else []
        if len(parts) > 3 and parts[2].strip().lower() == "device" and parts[3].strip():
            return parts[3].strip().lower()
        return None

    @property
    def own_service(self) -> str | None:
        """The name of the device's own service, the one whose type is the device type
        (``air-purifier``); when that type repeats, the first of them by siid (``switch-2``);
        None when the device has no such service."""
        wanted = self.device_type
        if wanted is None:
            return None
        return next((s.name for s in sorted(self.services, key=lambda s: s.siid)
                     if (s.type or s.name) == wanted), None)

    def property(self, name: str) -> Property:
        found: Property = _resolve(name, self._props, self._by_key, "property", self.model,
                                   self._own)
        return found

    def action(self, name: str) -> Action:
        found: Action = _resolve(name, self._actions, self._action_keys, "action", self.model,
                                 self._own)
        return found

    def by_ids(self, siid: int, piid: int) -> Property | None:
        return self._by_key.get(f"{siid}.{piid}")

    def event(self, siid: int, eiid: int) -> Event | None:
        return self._event_keys.get(f"{siid}.{eiid}")

    def event_named(self, name: str) -> Event:
        """An event by full name, bare name or ``SIID.EIID``; UsageError otherwise."""
        found: Event = _resolve(name, self._events, self._event_keys, "event", self.model,
                                self._own)
        return found

    def status_properties(self) -> list[Property]:
        """What ``status`` reads: readable properties, device information left out."""
        return [p for p in self.properties if p.readable and p.service != "device-information"]


def _name_index(items: Iterable[Any]) -> dict[str, list[Any]]:
    index: dict[str, list[Any]] = {}
    for item in items:
        index.setdefault(item.name, []).append(item)
        bare = item.name.split(":", 1)[-1]
        if bare != item.name:
            index.setdefault(bare, []).append(item)
    return index


def _resolve(name: str, index: dict[str, list[Any]], by_key: dict[str, Any], what: str,
             model: str, own: set[str]) -> Any:
    """``SIID.PIID`` always by number (a property named ``3.1`` never captures it); else the
    full or bare name, a bare one shared with other services going to the device's own."""
    pair = parse_pair(name)
    if pair is not None:
        if f"{pair[0]}.{pair[1]}" in by_key:
            return by_key[f"{pair[0]}.{pair[1]}"]
        raise UsageError(f"{model} has no {what} {pair[0]}.{pair[1]} (SIID.{what[0].upper()}IID)")
    if _PAIR.fullmatch(name):  # numbers, but not instance ids: still never a name
        raise UsageError(f"{name!r}: SIID.{what[0].upper()}IID are numbers from 1 to {MAX_IID}")
    found = index.get(name) or index.get(name.lower())
    if found is None:
        raise UsageError(f"{model} has no {what} named {name!r}{did_you_mean(name, index)}")
    if len(found) > 1:
        mine = [item for item in found if item.name.split(":", 1)[0] in own]
        if len(mine) == 1 and ":" not in name:
            return mine[0]
        names = ", ".join(f"{item.name} ({item.key})" for item in found)
        raise UsageError(f"{name!r} is ambiguous in {model}: {names}")
    return found[0]


def did_you_mean(wanted: str, known: Iterable[str]) -> str:
    """``; did you mean 'temperature'?`` with the closest known names, or empty: for every
    error about an unknown name (properties, actions, commands, profiles)."""
    import difflib

    names = sorted(set(known))
    lowered = {name.lower(): name for name in names}
    close = [lowered[n] for n in difflib.get_close_matches(wanted.lower(), lowered, n=3,
                                                            cutoff=0.6)]
    if len(wanted) >= 3:
        close += [n for n in names if wanted.lower() in n.lower() and n not in close]
    return f"; did you mean {', '.join(repr(n) for n in close[:4])}?" if close else ""


def _to_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise UsageError(f"{name} is true or false (also on/off, 1/0), not {value!r}")


def _to_json(value: Any, name: str) -> Any:
    """A structured argument (a list of zones): JSON text from a command line, or a value."""
    if not isinstance(value, str):
        return value
    import json

    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise UsageError(f"{name} takes JSON, like [[25500, 25500, 26500, 26500, 1]]") from None


def _to_float(value: Any, name: str) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise UsageError(f"{name} takes a number, not {value!r}")
    return number


def _to_integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _is_integer_text(value):
        return int(value.strip())
    raise UsageError(f"{name} takes a whole number, not {value!r}")


def _is_integer_text(text: str) -> bool:
    return re.fullmatch(r"\s*[-+]?\d{1,20}\s*", text) is not None


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
