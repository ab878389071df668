"""``miio status|get|set|action|watch``: devices controlled by name, from their description.

The description comes from ``--spec FILE``, else the spec cache (fetched on first use), for the
model given with ``--model``, stored in the inventory, or reported by ``miIO.info``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pymiio.cli.cmd_device import talk
from pymiio.cli.common import Seconds, Target, complete_device, device_options, json_option
from pymiio.cli.errors import EXIT_DEVICE, debug_enabled, fail, run_guarded
from pymiio.cli.output import json_text, print_json, print_table, say
from pymiio.knowledge.model import DeviceModel
from pymiio.knowledge.operations import Reading
from pymiio.lan.sync import Device

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def knowledge_options(function: F) -> F:
    function = click.option("--spec", "spec_file", type=click.Path(path_type=Path),
                            help="Use this MIoT spec file instead of the cache.")(function)
    return click.option("--model", help="The device's model (else the inventory's, else "
                        "miIO.info).")(function)


def _session(host: str, token: str | None, timeout: float, model: str | None,
             spec_file: Path | None, action: Callable[[Device, DeviceModel], T]) -> T:
    """:func:`cmd_device.talk` with the device's description in hand."""
    return talk(host, token, timeout, lambda device, target: action(
        device, describe(device, target, model, spec_file)))


def describe(device: Device, target: Target, model: str | None,
             spec_file: Path | None) -> DeviceModel:
    """The device's description (knowledge/lookup.py decides which)."""
    from pymiio.knowledge.lookup import describe_device

    return describe_device(model or (target.entry.model if target.entry is not None else None),
                           device.info, spec_file=spec_file)


def _entry_line(reading: Reading) -> str:
    if reading.error is not None:
        return reading.error
    return _shown(reading.value, reading.text, reading.prop.unit)


def _shown(value: Any, text: str | None, unit: str | None) -> str:
    """A value as `status`, `get` and `watch` print it: ``Sleep (1)``, ``21.5 celsius``."""
    shown = json_text(value)
    if text:
        shown = f"{text} ({shown})"
    return f"{shown} {unit}" if unit and unit != "percentage" else (
        f"{shown} %" if unit == "percentage" else shown)


def show_readings(readings: list[Reading], title: str) -> None:
    print_table(title, ("service", "property", "value", "access"),
                [(r.prop.service, r.prop.name.split(":", 1)[-1], _entry_line(r),
                  "RW" if r.prop.writable else "R") for r in readings])


@click.command()
@click.argument("device", shell_complete=complete_device)
@knowledge_options
@device_options
@json_option
def status(device: str, model: str | None, spec_file: Path | None, token: str | None,
           timeout: float, as_json: bool) -> None:
    """Every readable property of DEVICE, by name, with units and labels."""
    def run() -> None:
        readings, spec = _session(device, token, timeout, model, spec_file,
                                  lambda dev, spec: (dev.status(spec), spec))
        if as_json:
            print_json([r.as_dict() for r in readings])
        else:
            show_readings(readings, f"{device} ({spec.model})")

    run_guarded(run, debug_enabled())


@click.command("get")
@click.argument("device", shell_complete=complete_device)
@click.argument("names", nargs=-1, required=True)
@knowledge_options
@device_options
@json_option
def get_values(device: str, names: tuple[str, ...], model: str | None,
               spec_file: Path | None, token: str | None, timeout: float,
               as_json: bool) -> None:
    """Read NAMES (service:property, a bare property name, or SIID.PIID)."""
    def run() -> None:
        readings = _session(device, token, timeout, model, spec_file,
                            lambda dev, spec: dev.get(spec, names))
        if as_json:
            print_json([r.as_dict() for r in readings])
        else:
            for reading in readings:
                say(f"{reading.prop.name}: {_entry_line(reading)}")
        errors = [f"{r.prop.name}: {r.error}" for r in readings if r.error]
        if errors:
            fail("; ".join(errors), EXIT_DEVICE, "DeviceError")

    run_guarded(run, debug_enabled())


@click.command("set")
@click.argument("device", shell_complete=complete_device)
@click.argument("name")
@click.argument("value")
@knowledge_options
@device_options
@json_option
def set_value(device: str, name: str, value: str, model: str | None, spec_file: Path | None,
              token: str | None, timeout: float, as_json: bool) -> None:
    """Write VALUE to NAME; the value is checked against the description first (booleans take
    true/false/on/off/1/0, lists take the label or the number)."""
    def run() -> None:
        outcomes = _session(device, token, timeout, model, spec_file,
                            lambda dev, spec: dev.set(spec, {name: value}))
        if as_json:
            print_json([o.as_dict() for o in outcomes])
        errors = [f"{o.prop.name}: {o.error}" for o in outcomes if o.error]
        if errors:
            fail("; ".join(errors), EXIT_DEVICE, "DeviceError")
        if not as_json:
            click.echo("ok")

    run_guarded(run, debug_enabled())


@click.command("action")
@click.argument("device", shell_complete=complete_device)
@click.argument("action_name", metavar="ACTION")
@click.argument("args", nargs=-1)
@knowledge_options
@device_options
@json_option
def action(device: str, action_name: str, args: tuple[str, ...], model: str | None,
           spec_file: Path | None, token: str | None, timeout: float, as_json: bool) -> None:
    """Run ACTION (service:action, a bare name, or SIID.AIID) with ARGS; print its results."""
    def run() -> None:
        result = _session(device, token, timeout, model, spec_file,
                          lambda dev, spec: dev.run(spec, action_name, args))
        if as_json:
            print_json(result)
        else:
            for key, value in result["out"].items():
                say(f"{key}: {json_text(value)}")
            if not result["out"]:
                click.echo("ok")

    run_guarded(run, debug_enabled())


@click.command()
@click.argument("device", shell_complete=complete_device)
@click.option("--interval", type=Seconds(0.2, 3600), default=10.0, show_default=True,
              help="Seconds between polls (pushed changes print at once).")
@click.option("--count", type=click.IntRange(1), help="Stop after this many changes.")
@knowledge_options
@device_options
@json_option
def watch(device: str, interval: float, count: int | None, model: str | None,
          spec_file: Path | None, token: str | None, timeout: float, as_json: bool) -> None:
    """Print DEVICE's state, then a line per change (pushed or polled) until Ctrl-C."""
    def follow(dev: Device, spec: DeviceModel) -> None:
        start = dev.status(spec)
        if as_json:
            for reading in start:
                _line(reading.as_dict())
        else:
            show_readings(start, f"{device} ({spec.model})")
        for seen, change in enumerate(dev.changes(spec, interval=interval, start=start), 1):
            if as_json:
                _line(change.as_dict())
            else:
                prop = None if change.source == "event" else spec.by_ids(change.siid, change.iid)
                unit = prop.unit if prop is not None else None
                say(f"{change.name}: {_shown(change.value, change.text, unit)}  [{change.source}]")
            if count is not None and seen >= count:
                return

    def run() -> None:
        try:
            _session(device, token, timeout, model, spec_file, follow)
        except KeyboardInterrupt:
            return  # Ctrl-C is how watch ends

    run_guarded(run, debug_enabled())


def _line(entry: dict[str, Any]) -> None:
    sys.stdout.write(json_text(entry) + "\n")
    sys.stdout.flush()
