"""``miio tokens extract``: tokens from phones' backups, databases and cache files."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from pymiio.address import is_ipv4
from pymiio.cli.common import json_option
from pymiio.cli.errors import debug_enabled, run_guarded
from pymiio.cli.output import print_json, print_table
from pymiio.tokens.records import TokenRecord


@click.group()
def tokens() -> None:
    """Recover device tokens (see docs/tokens.md for how to get each kind of file)."""


@tokens.command("extract")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--password", help="Password of an encrypted Android backup (asked if needed).")
@click.option("--save", is_flag=True, help="Add the devices to the device inventory.")
@json_option
def extract(path: Path, password: str | None, save: bool, as_json: bool) -> None:
    """Print the tokens PATH holds: an adb backup (.ab), miio2.db, an iOS backup folder or
    _mihome.sqlite, the Yeelight app's miot.xml, or a folder of Mi Home cache files."""
    from pymiio.tokens import detect, is_encrypted
    from pymiio.tokens import extract as extract_tokens

    def run() -> None:
        secret = password
        if (secret is None and sys.stdin.isatty() and detect(path) == "android-backup"
                and is_encrypted(path)):
            secret = click.prompt("backup password", hide_input=True)
        found = extract_tokens(path, secret)
        records = found.unique()
        if save:
            _save(records)
        if as_json:
            print_json([record.as_dict() for record in records])
        else:
            print_table(f"{len(records)} device(s) from {path}",
                        ("name", "model", "ip", "mac", "device id", "token"),
                        [(r.name, r.model, r.ip, r.mac, r.device_id, r.token.hex)
                         for r in records])
        for note in found.notes:
            click.echo(f"note: {note}", err=True)

    run_guarded(run, debug_enabled())


def _save(records: list[TokenRecord]) -> None:
    from pymiio.cli.common import edit_inventory, report_merge, warn
    from pymiio.errors import InventoryError
    from pymiio.inventory import Entry

    with edit_inventory() as inventory:
        for record in records:
            name = _name(record.name) or inventory.name_for(record.device_id, record.ip)
            host = record.ip if record.ip and is_ipv4(record.ip) else None
            try:
                outcome = inventory.merge_found(Entry(
                    name, host=host, token=record.token.hex, model=record.model,
                    device_id=record.device_id))
            except InventoryError as exc:
                warn(f"not saved: {exc}")
                continue
            report_merge(name, outcome)


def _name(text: str | None) -> str | None:
    """A device name from the app's display name: ``Kitchen plug`` -> ``kitchen-plug``."""
    if not text:
        return None
    slug = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")[:64]
    return slug or None
