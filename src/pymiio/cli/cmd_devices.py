"""``miio devices``: the named-device inventory."""

from __future__ import annotations

import click

from pymiio.cli.common import json_option
from pymiio.cli.errors import debug_enabled, run_guarded
from pymiio.cli.output import print_json, print_table
from pymiio.inventory import Entry, Inventory, as_dict


@click.group()
def devices() -> None:
    """Named devices with their address, token and model (kept with mode 0600)."""


@devices.command("add")
@click.argument("name")
@click.option("--host", help="Device address.")
@click.option("--token", help="Device token (32 hex characters).")
@click.option("--model", help="Model, e.g. chuangmi.plug.m1.")
def add(name: str, host: str | None, token: str | None, model: str | None) -> None:
    """Add or update NAME."""
    def run() -> None:
        entry = Inventory().add(Entry(name, host=host, token=token, model=model))
        click.echo(f"saved {entry.name}")

    run_guarded(run, debug_enabled())


@devices.command("list")
@click.option("--show-tokens", is_flag=True, help="Show whole tokens instead of masked ones.")
@json_option
def list_devices(show_tokens: bool, as_json: bool) -> None:
    """List the named devices."""
    def run() -> None:
        entries = [as_dict(e, show_tokens) for e in Inventory().entries.values()]
        if as_json:
            print_json(entries)
        else:
            print_table("devices", ("name", "host", "model", "device id", "token"),
                        [(e["name"], e["host"], e["model"], e["device_id"], e["token"])
                         for e in entries])

    run_guarded(run, debug_enabled())


@devices.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Forget NAME."""
    def run() -> None:
        Inventory().remove(name)
        click.echo(f"removed {name}")

    run_guarded(run, debug_enabled())
