"""Named control of a device, written once: status, get, set, actions and change tracking.

Each operation is a generator that yields the requests it needs (``(method, params)``) and
receives their results (or has the error thrown in), so it does no I/O: :func:`drive_sync` runs
it on a :class:`~pymiio.lan.sync.Device`, :func:`drive_async` on an
:class:`~pymiio.lan.client.AsyncDevice`, and the two faces cannot drift apart.

Values are converted and checked against the device model before anything is sent. Property
reads go out in batches that shrink when a device refuses large requests (-9999, a timeout),
and a per-property error code (-4001 … -4007, "property not found") marks that property only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from pymiio.errors import (
    DeviceError,
    MiioError,
    MiioTimeoutError,
    PayloadError,
    UnreachableError,
    UsageError,
    WrongTokenError,
)
from pymiio.knowledge.model import DeviceModel, Property, Read, Write
from pymiio.protocol import rpc
from pymiio.protocol.message import ERROR_MEANINGS, code_text

log = logging.getLogger("pymiio.knowledge")
T = TypeVar("T")
B = TypeVar("B")
Request = tuple[str, Any]
Step = Generator[Request, Any, T]
BATCH: Final = 15
SHRINK_ON: Final = frozenset({-9999, -32602, -5001})


@dataclass
class Reading:
    """One property's value as read (``value``), or why it could not be (``error``)."""

    prop: Property
    value: Any = None
    code: int = 0
    error: str | None = None

    @property
    def text(self) -> str | None:
        return None if self.error else self.prop.label(self.value)

    def as_dict(self) -> dict[str, Any]:
        prop = self.prop
        entry: dict[str, Any] = {"name": prop.name, "value": self.value}
        if prop.siid:  # MIoT addresses; classic properties have none
            entry.update(siid=prop.siid, piid=prop.piid)
        if prop.unit:
            entry["unit"] = prop.unit
        if prop.description:
            entry["description"] = prop.description
        if self.text is not None:
            entry["text"] = self.text
        if self.error is not None:
            entry.update(code=self.code, error=self.error)
        return entry


def describe_code(code: Any) -> str:
    return f"error {code_text(code)}"


# -- reading ----------------------------------------------------------------------------------

def read(props: Sequence[Property], batch: int = BATCH) -> Step[list[Reading]]:
    """Read ``props``: MIoT ``get_properties`` or a classic device's getters, in batches."""
    if props and props[0].read is not None:
        return (yield from _read_classic(props, batch))
    return (yield from _read_miot(props, batch))


def _read_miot(props: Sequence[Property], batch: int) -> Step[list[Reading]]:
    """``get_properties`` in adaptive batches."""
    readings: dict[tuple[int, int], Reading] = {}
    outcomes = yield from _in_batches(list(props), batch, lambda chunk: (
        "get_properties", [{"did": p.name[:32], "siid": p.siid, "piid": p.piid}
                           for p in chunk]))
    for chunk, result, error in outcomes:
        if error is None:
            _take(chunk, result, readings)
            continue
        code = error.code if isinstance(error, DeviceError) else -1
        for prop in chunk:
            readings[(prop.siid, prop.piid)] = Reading(prop, None, code, str(error))
    return [readings[(p.siid, p.piid)] for p in props if (p.siid, p.piid) in readings]


def _in_batches(items: list[B], batch: int, request: Callable[[list[B]], Request],
                ) -> Step[list[tuple[list[B], Any, MiioError | None]]]:
    """Ask for ``items`` a batch at a time; a batch the device refuses (-9999 and kin, a
    timeout) is asked again in halves, down to one item, as stricter firmware needs. Each
    chunk comes back with its result or its error; a device that is gone, or a wrong token,
    ends the read (smaller batches would not help)."""
    outcomes: list[tuple[list[B], Any, MiioError | None]] = []
    pending, size = list(items), max(1, batch)
    while pending:
        chunk = pending[:size]
        try:
            result = yield request(chunk)
        except (UnreachableError, WrongTokenError):
            raise
        except (DeviceError, MiioTimeoutError) as exc:
            code = exc.code if isinstance(exc, DeviceError) else None
            if size > 1 and (code in SHRINK_ON or code is None):
                size = max(1, size // 2)
                continue
            outcomes.append((chunk, None, exc))
        else:
            outcomes.append((chunk, result, None))
        pending = pending[len(chunk):]
    return outcomes


def _take(chunk: list[Property], result: Any, readings: dict[tuple[int, int], Reading]) -> None:
    """Match items by (siid, piid), not ``did`` (some firmware does not echo the did)."""
    items = rpc.miot_items(result, len(chunk)) if isinstance(result, list) else None
    if items is None:
        raise PayloadError(f"expected a list of property results, got {type(result).__name__}")
    wanted = {(p.siid, p.piid): p for p in chunk}
    for item in items:
        prop = wanted.get((item.get("siid"), item.get("piid")))  # type: ignore[arg-type]
        if prop is None:
            continue
        code = item.get("code", 0)
        if code == 0 and "value" in item:
            readings[(prop.siid, prop.piid)] = Reading(prop, item["value"])
        else:
            readings[(prop.siid, prop.piid)] = Reading(prop, None, code, describe_code(code))
    for key, prop in wanted.items():
        readings.setdefault(key, Reading(prop, None, -1, "no answer for this property"))


def _read_classic(props: Sequence[Property], batch: int) -> Step[list[Reading]]:
    """Classic getters: one ``get_prop`` with the names (adaptive batches), one call per other
    getter (``get_status``, ``get_consumable``) whose first record holds the fields."""
    groups: dict[str, list[Property]] = {}
    for prop in props:
        assert prop.read is not None  # read() sends only classic properties here
        groups.setdefault(prop.read.method, []).append(prop)
    raw: dict[tuple[int, int], Any] = {}
    failed: dict[tuple[int, int], Reading] = {}
    for method, members in groups.items():
        if method == "get_prop":
            names = list(dict.fromkeys(_getter(p).name for p in members))
            values, errors = yield from _get_prop(names, batch)
            for prop in members:
                name = _getter(prop).name
                if name in errors:
                    failed[(prop.siid, prop.piid)] = Reading(prop, None, -1, errors[name])
                else:
                    raw[(prop.siid, prop.piid)] = values.get(name)
            continue
        try:
            result = yield method, []
        except (UnreachableError, WrongTokenError):
            raise
        except (DeviceError, MiioTimeoutError) as exc:
            for prop in members:
                failed[(prop.siid, prop.piid)] = Reading(prop, None, -1, str(exc))
            continue
        record = result[0] if isinstance(result, list) and result else result
        for prop in members:
            field_name = _getter(prop).field
            raw[(prop.siid, prop.piid)] = record.get(field_name) if isinstance(
                record, dict) else None
    return [failed.get((p.siid, p.piid)) or _classic_reading(p, raw.get((p.siid, p.piid)))
            for p in props]


def _getter(prop: Property) -> Read:
    assert prop.read is not None
    return prop.read


def _classic_reading(prop: Property, raw: Any) -> Reading:
    from pymiio.knowledge.catalogue import decode

    value = decode(prop, raw)
    if value is None:
        return Reading(prop, None, -1, "the device gave no value")
    return Reading(prop, value)


def _get_prop(names: list[str], batch: int) -> Step[tuple[dict[str, Any], dict[str, str]]]:
    """``get_prop`` for ``names`` in adaptive batches: values by name, and errors by name."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    outcomes = yield from _in_batches(names, batch, lambda chunk: ("get_prop", chunk))
    for chunk, result, error in outcomes:
        if error is not None:
            errors.update(dict.fromkeys(chunk, str(error)))
        elif not isinstance(result, list) or len(result) != len(chunk):
            raise PayloadError(f"get_prop asked for {len(chunk)} values, the device "
                               f"answered {result!r:.80}")
        else:
            values.update(zip(chunk, result, strict=True))
    return values, errors


def status(model: DeviceModel, batch: int = BATCH) -> Step[list[Reading]]:
    return (yield from read(model.status_properties(), batch))


def get(model: DeviceModel, names: Iterable[str], batch: int = BATCH) -> Step[list[Reading]]:
    props = list({id(p): p for p in (model.property(name) for name in names)}.values())
    # one reading per property, however often it is named (``mode`` and ``2.4``)
    unreadable = [p.name for p in props if not p.readable]
    if unreadable:
        raise UsageError(f"not readable: {', '.join(unreadable)}")
    return (yield from read(props, batch))


# -- writing and actions ---------------------------------------------------------------------

@dataclass
class Outcome:
    """What one write did: ``code`` 0 is success."""

    prop: Property
    value: Any
    code: int

    @property
    def error(self) -> str | None:
        return None if self.code in (0, 1) else describe_code(self.code)

    def as_dict(self) -> dict[str, Any]:
        entry = {"name": self.prop.name, "siid": self.prop.siid, "piid": self.prop.piid,
                 "value": self.value, "code": self.code}
        if self.error:
            entry["error"] = self.error
        return entry


def prepare_writes(model: DeviceModel, values: dict[str, Any]) -> list[tuple[Property, Any]]:
    """Every name resolved and every value converted and checked, or UsageError: nothing is
    sent unless all of them are good."""
    planned = []
    for name, value in values.items():
        prop = model.property(name)
        if not prop.writable:
            raise UsageError(f"{prop.name} is read-only")
        planned.append((prop, prop.convert(value)))
    return planned


def write(model: DeviceModel, values: dict[str, Any]) -> Step[list[Outcome]]:
    planned = prepare_writes(model, values)
    if model.kind == "classic":
        return (yield from _write_classic(planned))
    items = [{"did": p.name[:32], "siid": p.siid, "piid": p.piid, "value": v}
             for p, v in planned]
    result = yield "set_properties", items
    answered = {(i.get("siid"), i.get("piid")): i.get("code", 0)
                for i in rpc.miot_items(result, len(items))}
    return [Outcome(p, v, answered.get((p.siid, p.piid), -1)) for p, v in planned]


def _write_classic(planned: list[tuple[Property, Any]]) -> Step[list[Outcome]]:
    """One setter call per property (``set_bright [v]``, ``set_on`` / ``set_off``)."""
    from pymiio.knowledge.catalogue import encode, fill

    outcomes = []
    for prop, value in planned:
        write = prop.write or Write()
        if write.on_off is not None:
            call = write.on_off[0 if value else 1]
            method, params = call.method, call.params
        else:
            assert write.setter is not None  # a writable classic property has one or the other
            method = write.setter.method
            params = fill(write.setter.params, {"$": encode(prop, value)})
        result = yield method, params
        _check_classic(method, result)
        outcomes.append(Outcome(prop, value, 0))
    return outcomes


def _check_classic(method: str, result: Any) -> None:
    """Classic firmware answers ``["ok"]``; ``"unknown_method"`` means it lacks the method."""
    if result == "unknown_method" or result == ["unknown_method"]:
        raise DeviceError(-32601, f"{method}: unknown_method", "method not supported")


def _act_classic(model: DeviceModel, name: str, args: Sequence[Any]) -> Step[dict[str, Any]]:
    from pymiio.knowledge.catalogue import fill

    action = model.action(name)
    if action.toggles is not None:
        prop = model.property(action.toggles)
        [reading] = yield from read([prop])
        if reading.error is not None:
            raise PayloadError(f"cannot toggle {prop.name}: {reading.error}")
        yield from _write_classic([(prop, not reading.value)])
        return {"code": 0, "out": {prop.name: not reading.value}}
    values = {inp.name: value for inp, value in zip(action.inputs,
                                                     action.convert_args(args), strict=True)}
    call = action.call
    assert call is not None  # a catalogue action has a method or toggles a property
    result = yield call.method, fill(call.params, values)
    _check_classic(call.method, result)
    return {"code": 0, "out": {} if result in (["ok"], "ok", 0) else {"result": result}}


def act(model: DeviceModel, name: str, args: Sequence[Any] = ()) -> Step[dict[str, Any]]:
    """Run an action; returns ``{"code", "out": {name: value}}``. A nonzero code raises
    DeviceError with its meaning."""
    if model.kind == "classic":
        return (yield from _act_classic(model, name, args))
    action = model.action(name)
    values = action.convert_args(args)
    result = yield "action", rpc.action_params("call", action.siid, action.aiid, values)
    if not isinstance(result, dict):
        raise PayloadError(f"expected an action result object, got {type(result).__name__}")
    code = result.get("code", 0)
    if code not in (0, 1):
        raise DeviceError(code if type(code) is int else -1, f"{action.name} failed",
                          ERROR_MEANINGS.get(code) if type(code) is int else None)
    raw_out = result.get("out")
    out = raw_out if isinstance(raw_out, list) else []
    names = [prop.name for prop in action.outputs]
    named = {(names[index] if index < len(names) else f"out-{index}"): value
             for index, value in enumerate(out)}
    return {"code": code, "out": named}


# -- changes ------------------------------------------------------------------------------

@dataclass
class Change:
    """A property that changed (``value``, source "poll" or "push") or an event that occurred
    (source "event": ``iid`` is its eiid and ``value`` its arguments by name)."""

    name: str
    siid: int
    iid: int
    value: Any
    source: str  # "poll", "push" or "event"
    text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.source == "event":
            return {"name": self.name, "siid": self.siid, "eiid": self.iid,
                    "arguments": self.value, "source": self.source}
        entry = {"name": self.name, "siid": self.siid, "piid": self.iid, "value": self.value,
                 "source": self.source}
        if self.text is not None:
            entry["text"] = self.text
        return entry


MAX_PUSH_ITEMS: Final = 256  # properties taken from one properties_changed


class Tracker:
    """Keeps the last known values and turns readings and pushes into changes.

    Only what the model knows is kept: a pushed property or an event the model does not
    describe is dropped and counted in ``unknown`` (logged once per tracker), so a device
    pushing made-up (siid, piid) pairs cannot grow what the tracker, a bridge's retained
    state or ``miio watch`` hold.
    """

    def __init__(self, model: DeviceModel) -> None:
        self.model = model
        self.values: dict[tuple[int, int], Any] = {}
        self.unknown = 0

    def readings(self, readings: Iterable[Reading]) -> list[Change]:
        changes = []
        for reading in readings:
            if reading.error is None:
                change = self._update(reading.prop, reading.value, "poll")
                if change is not None:
                    changes.append(change)
        return changes

    def push(self, message: dict[str, Any]) -> list[Change]:
        """A device's ``properties_changed`` or ``event_occured`` request."""
        params = message.get("params")
        if message.get("method") == "properties_changed" and isinstance(params, list):
            return [change for item in params[:MAX_PUSH_ITEMS] if isinstance(item, dict)
                    for change in [self._pushed(item)] if change is not None]
        if message.get("method") == "event_occured" and isinstance(params, dict):
            siid, eiid = params.get("siid"), params.get("eiid")
            if type(siid) is int and type(eiid) is int:
                event = self.model.event(siid, eiid)
                if event is None:
                    self._unknown(f"event {siid}.{eiid}")
                    return []
                return [Change(event.name, siid, eiid, event.decode(params.get("arguments")),
                               "event")]
        return []

    def _pushed(self, item: dict[str, Any]) -> Change | None:
        siid, piid = item.get("siid"), item.get("piid")
        if type(siid) is not int or type(piid) is not int or "value" not in item:
            return None
        prop = self.model.by_ids(siid, piid)
        if prop is None:
            self._unknown(f"property {siid}.{piid}")
            return None
        return self._update(prop, item["value"], "push")

    def _unknown(self, what: str) -> None:
        self.unknown += 1
        if self.unknown == 1:
            log.warning("%s pushed %s, which its description does not have; such pushes are "
                        "dropped (and counted)", self.model.model, what)

    def _update(self, prop: Property, value: Any, source: str) -> Change | None:
        key = (prop.siid, prop.piid)
        if key in self.values and self.values[key] == value:
            return None
        first = key not in self.values
        self.values[key] = value
        if first and source == "poll":
            return None  # the starting state is not a change
        return Change(prop.name, prop.siid, prop.piid, value, source, prop.label(value))


RESUBSCRIBE_EVERY: Final = 600.0  # seconds; a subscription lapses on the device otherwise
RESUBSCRIBE_RETRY: Final = 60.0  # seconds after a miIO.sub that failed


class Subscription:
    """When to send ``miIO.sub``: at once, then every :data:`RESUBSCRIBE_EVERY` seconds, and
    again as soon as the device has rebooted (its stamp, an uptime, went back), since a
    rebooted device has forgotten its subscribers. Pure: the caller gives the time (any
    monotonic clock, whatever its zero) and the device's last stamp."""

    def __init__(self, every: float = RESUBSCRIBE_EVERY) -> None:
        self.every = every
        self.at: float | None = None  # when the next miIO.sub is due; None: now
        self._stamp: int | None = None

    def due(self, now: float, stamp: int | None) -> bool:
        if stamp is not None:
            if self._stamp is not None and stamp < self._stamp:
                log.info("a device rebooted (its stamp went back from %d to %d); subscribing "
                         "again", self._stamp, stamp)
                self.at = None
            self._stamp = stamp
        return self.at is None or now >= self.at

    def done(self, now: float, ok: bool = True) -> None:
        self.at = now + (self.every if ok else min(self.every, RESUBSCRIBE_RETRY))


def subscribe_request(now: float) -> Request:
    """``miIO.sub``: ask the device to push its changes to this socket."""
    return "miIO.sub", {"version": "2.0", "did": "pymiio", "update_ts": int(now),
                        "sub_method": "."}


# -- drivers ----------------------------------------------------------------------------------

def drive_sync(send: Callable[[str, Any], Any], step: Step[T]) -> T:
    """Run an operation with a blocking ``send(method, params)``."""
    try:
        request = next(step)
        while True:
            try:
                result = send(*request)
            except MiioError as exc:
                request = step.throw(exc)
            else:
                request = step.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


async def drive_async(send: Callable[[str, Any], Awaitable[Any]], step: Step[T]) -> T:
    """Run an operation with an awaitable ``send(method, params)``."""
    try:
        request = next(step)
        while True:
            try:
                result = await send(*request)
            except MiioError as exc:
                request = step.throw(exc)
            else:
                request = step.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value
