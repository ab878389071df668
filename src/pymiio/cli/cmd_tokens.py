"""``miio tokens extract``: tokens from phones' backups, databases and cache files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pymiio.address import is_ipv4
from pymiio.cli.common import json_option
from pymiio.cli.errors import debug_enabled, run_guarded
from pymiio.cli.main import SuggestingGroup
from pymiio.cli.output import print_json, print_table, say
from pymiio.cloud import REGIONS
from pymiio.tokens.records import TokenRecord


@click.group(cls=SuggestingGroup)
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
            say(f"note: {note}", err=True)

    run_guarded(run, debug_enabled())


def _save(records: list[TokenRecord]) -> None:
    from pymiio.cli.common import save_found
    from pymiio.inventory import Entry

    save_found((record.name, Entry("", host=record.ip if record.ip and is_ipv4(record.ip)
                                   else None, token=record.token.hex, model=record.model,
                                   device_id=record.device_id))
               for record in records)


@tokens.command("cloud")
@click.option("--username", help="Xiaomi account: e-mail, phone number or numeric id.")
@click.option("--password", help="Its password (asked without echo when not given).")
@click.option("--qr", is_flag=True, help="Log in by scanning a QR code with the Mi Home app.")
@click.option("--region", default="all", show_default=True,
              type=click.Choice(["all", *REGIONS]),
              help="Server region to list.")
@click.option("--save", is_flag=True, help="Add the LAN devices to the device inventory.")
@click.option("--show-tokens", is_flag=True, help="Show whole tokens instead of masked ones.")
@click.option("--logout", is_flag=True, help="Forget the kept Xiaomi session and stop.")
@json_option
def cloud(username: str | None, password: str | None, qr: bool, region: str, save: bool,
          show_tokens: bool, logout: bool, as_json: bool) -> None:
    """Tokens of every device in your Xiaomi account (see docs/tokens.md: the password goes to
    Xiaomi and nowhere else). Captcha and verification-code answers are read from the
    terminal, or line by line from standard input when it is not one."""
    from pymiio.cloud import flow

    def run() -> None:
        if logout:
            click.echo("logged out" if flow.logout() else "no kept session")
            return
        asker = _asker()
        notes: list[str] = []
        regions = list(REGIONS) if region == "all" else [region]
        found = flow.fetch_devices(regions, lambda: _login(username, password, qr, asker),
                                   notes, account=username,
                                   credentials_given=password is not None or qr)
        for note in notes:
            say(f"note: {note}", err=True)
        if save:
            _save_cloud(found)
        if as_json:
            print_json([device.as_dict(show_tokens) for device in found])
        else:
            rows = [device.as_dict(show_tokens) for device in found]
            print_table(f"{len(rows)} device(s) in the account",
                        ("name", "model", "ip", "did", "region", "token"),
                        [(r["name"], r["model"], r["ip"], r["did"], r["region"], r["token"])
                         for r in rows])

    run_guarded(run, debug_enabled())


class _Terminal:
    def ask(self, question: str, secret: bool = False) -> str:
        return str(click.prompt(question, hide_input=secret))

    def tell(self, text: str) -> None:
        say(text, err=True)


class _Lines:
    """Answers from standard input, one per line, so the flows can be scripted."""

    def ask(self, question: str, secret: bool = False) -> str:
        line = sys.stdin.readline()
        if not line:
            from pymiio.errors import UsageError

            raise UsageError(f"no answer for {question!r} on standard input")
        return line.rstrip("\r\n")

    def tell(self, text: str) -> None:
        say(text, err=True)


def _asker() -> _Terminal | _Lines:
    return _Terminal() if sys.stdin.isatty() else _Lines()


def _login(username: str | None, password: str | None, qr: bool,
           asker: _Terminal | _Lines) -> Any:
    from pymiio.cloud.account import password_login, qr_login
    from pymiio.paths import cache_dir

    if qr:
        return qr_login(asker, _show_qr, _countdown)
    user = username or asker.ask("Xiaomi account (e-mail, phone or id)")
    secret = password or asker.ask("password", secret=True)
    return password_login(user, secret, asker, cache_dir() / "cloud")


def _show_qr(url: str) -> None:
    import segno

    click.echo("Scan this code with the Mi Home app (or open the address below on a phone "
               "logged in to it):", err=True)
    if sys.stderr.isatty():
        segno.make(url, error="m").terminal(out=sys.stderr, compact=True)
    say(url, err=True)


def _countdown(left: float) -> None:
    end = "" if sys.stderr.isatty() else "\n"
    click.echo(f"\rwaiting for the confirmation in the app: {int(left)} s left  ", err=True,
               nl=bool(end))


def _save_cloud(found: list[Any]) -> None:
    from pymiio.cli.common import save_found
    from pymiio.inventory import Entry

    # BLE and gateway sub-devices have no miIO token of their own.
    save_found((device.name, Entry("", host=device.ip, token=device.token, model=device.model,
                                   device_id=int(device.did)))
               for device in found
               if not (device.ble_key or device.parent_id or not device.ip
                       or not device.did.isdigit()))
