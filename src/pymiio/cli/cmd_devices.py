"""``miio devices``: the named-device inventory."""

from __future__ import annotations

from pathlib import Path

import click

from pymiio.cli.common import (
    Seconds,
    complete_device,
    edit_inventory,
    json_option,
    load_inventory,
    warn,
)
from pymiio.cli.errors import debug_enabled, run_guarded
from pymiio.cli.main import SuggestingGroup
from pymiio.cli.output import print_json, print_table, say
from pymiio.inventory import Entry, Inventory, as_dict


@click.group(cls=SuggestingGroup)
def devices() -> None:
    """Named devices with their address, token and model (kept with mode 0600)."""


@devices.command("add")
@click.argument("name")
@click.option("--host", help="Device address.")
@click.option("--token", help="Device token (32 hex characters).")
@click.option("--model", help="Model, e.g. chuangmi.plug.m1.")
@click.option("--no-check", is_flag=True, help="Do not ask the device for its model and id.")
@click.option("--timeout", type=Seconds(0.1, 60), default=2.0, show_default=True,
              help="Seconds to wait for the device's answer.")
@json_option
def add(name: str, host: str | None, token: str | None, model: str | None, no_check: bool,
        timeout: float, as_json: bool) -> None:
    """Add or update NAME. With --host and --token, the device is asked for its model and id
    (it is saved either way; a device that does not answer gets a warning)."""
    def run() -> None:
        entry = Entry(name, host=host, token=token, model=model)
        # Checked and merged with what is stored, without the lock: the device is asked
        # before the inventory is locked, so parallel adds never wait for each other's devices.
        planned = Inventory().add(entry)
        reported = None
        if planned.host and planned.token and not no_check:
            reported = _ask_device(planned, timeout)
        with edit_inventory() as inventory:
            entry = inventory.add(entry)
            if reported is not None:
                entry = inventory.add(reported)
        if as_json:
            print_json(as_dict(entry, show_token=False))
        else:
            say(f"saved {entry.name}"
                + (f" ({entry.model}, id {entry.device_id})" if entry.model else ""))

    run_guarded(run, debug_enabled())


def _ask_device(entry: Entry, timeout: float) -> Entry | None:
    """The model and device id the device reports (as an entry to merge), when it answers."""
    from pymiio.errors import MiioError
    from pymiio.lan.sync import Device

    assert entry.host is not None
    try:
        with Device(entry.host, entry.token, timeout=timeout) as device:
            info = device.info()
            hello = device.hello
    except MiioError as exc:
        warn(f"saved without checking: {exc}")
        return None
    model = info.get("model")
    return Entry(entry.name, model=model if isinstance(model, str) and not entry.model else None,
                 device_id=hello.device_id if hello is not None else None)


@devices.command("list")
@click.option("--show-tokens", is_flag=True, help="Show whole tokens instead of masked ones.")
@json_option
def list_devices(show_tokens: bool, as_json: bool) -> None:
    """List the named devices."""
    def run() -> None:
        entries = [as_dict(e, show_tokens) for e in load_inventory().entries.values()]
        if as_json:
            print_json(entries)
        else:
            print_table("devices", ("name", "host", "model", "device id", "token"),
                        [(e["name"], e["host"], e["model"], e["device_id"], e["token"])
                         for e in entries])

    run_guarded(run, debug_enabled())


@devices.command("remove")
@click.argument("name", shell_complete=complete_device)
@json_option
def remove(name: str, as_json: bool) -> None:
    """Forget NAME."""
    def run() -> None:
        from pymiio.errors import InventoryError, UsageError
        from pymiio.knowledge.model import did_you_mean

        with edit_inventory() as inventory:
            try:
                inventory.remove(name)
            except InventoryError as exc:  # an unknown name is a usage error, as elsewhere
                raise UsageError(f"{exc}{did_you_mean(name, inventory.entries)}") from None
        if as_json:
            print_json({"removed": name})
        else:
            say(f"removed {name}")

    run_guarded(run, debug_enabled())




@devices.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@json_option
def import_devices(file: Path, as_json: bool) -> None:
    """Add every device of FILE: the JSON `miio devices list --json --show-tokens` writes, or
    a list of {name, host, token}. Entries are checked one by one; all are saved at once."""
    import json

    from pymiio.errors import InventoryError, MiioError
    from pymiio.paths import read_input

    def run() -> None:
        try:
            document = json.loads(read_input(file, 16 * 1024 * 1024, InventoryError))
        except (ValueError, RecursionError):
            raise InventoryError(f"{file} is not a JSON list of devices") from None
        items = document.get("devices", document) if isinstance(document, dict) else document
        if isinstance(items, dict):
            items = [{"name": name, **value} for name, value in items.items()
                     if isinstance(value, dict)]
        if not isinstance(items, list):
            raise InventoryError(f"{file} is not a JSON list of devices")
        saved, problems = [], []
        with edit_inventory() as inventory:
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    problems.append(f"skipped an entry without a name: {str(item)[:60]}")
                    continue
                try:
                    entry = inventory.add(Entry(item["name"], host=item.get("host"),
                                                token=item.get("token"),
                                                model=item.get("model"),
                                                device_id=item.get("device_id")))
                except MiioError as exc:
                    problems.append(f"skipped {item['name'][:64]!r}: {exc}")
                    continue
                saved.append(entry.name)
        for problem in problems:
            warn(problem)
        if as_json:
            print_json({"imported": saved, "skipped": len(problems)})
        else:
            click.echo(f"imported {len(saved)} device(s)"
                       + (f", skipped {len(problems)}" if problems else ""))

    run_guarded(run, debug_enabled())
