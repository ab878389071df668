"""``miio discover``: find devices, showing each in a live table as it answers."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from pymiio.cli.common import Seconds, json_option
from pymiio.cli.errors import debug_enabled, run_guarded
from pymiio.cli.output import console, literal, print_json
from pymiio.lan.discovery import DiscoveredDevice
from pymiio.lan.discovery import discover as discover_devices

COLUMNS = ("ip", "device id", "type", "serial", "model", "token")


@click.command()
@click.argument("address", required=False)
@click.option("--bind", help="Local address to send from; the hello goes to its subnet.")
@click.option("--broadcast", help="Broadcast address to send the hello to.")
@click.option("--network", help="Scan an address range (CIDR) with unicast hellos.")
@click.option("--mdns", is_flag=True, help="Browse mDNS (_miio._udp.local.) instead.")
@click.option("--timeout", type=Seconds(0.1, 120), default=3.0, show_default=True,
              help="Seconds to listen for answers.")
@click.option("--save", is_flag=True, help="Save devices that reveal a token to the inventory.")
@json_option
def discover(address: str | None, bind: str | None, broadcast: str | None,
             network: str | None, mdns: bool, timeout: float, save: bool,
             as_json: bool) -> None:
    """Find devices by broadcast (default), at ADDRESS, in --network, or by --mdns.

    Without --bind or --broadcast the hello goes to 255.255.255.255.
    """
    options: dict[str, Any] = {"bind": bind, "broadcast": broadcast, "address": address,
                               "network": network, "mdns": mdns, "timeout": timeout}

    if network is not None and sys.stderr.isatty():
        options["progress"] = _progress

    def run() -> list[DiscoveredDevice]:
        return asyncio.run(_run(options, live=not as_json and sys.stdout.isatty()))

    found = run_guarded(run, debug_enabled())
    if save:
        run_guarded(lambda: _save(found), debug_enabled())
    if as_json:
        print_json([device.as_dict() for device in found])
    elif not sys.stdout.isatty():
        _print_table(found)
    if not found and address is None:
        click.echo(f"hint: {empty_hint(bind, network, mdns)}", err=True)


def empty_hint(bind: str | None, network: str | None, mdns: bool) -> str:
    """What to check when nobody answered (shared with miio-cli)."""
    if mdns:
        return ("no device announced itself over mDNS: check that this host is on the devices' "
                "network and that multicast (UDP 5353) is not blocked")
    if network:
        return (f"no host in {network} answered a hello: check the range, that UDP 54321 is "
                "not blocked by a firewall, and that the devices are on and joined to Wi-Fi")
    where = f"the subnet of {bind}" if bind else "255.255.255.255 (every interface)"
    return (f"no device answered the broadcast to {where}: check --bind (an address of the "
            "interface on the devices' network), that UDP 54321 is not blocked by a firewall, "
            "or scan the subnet with --network when broadcasts are filtered")


def _progress(sent: int, total: int) -> None:
    if total >= 256:
        end = "\n" if sent >= total else ""
        click.echo(f"\rscanning: {sent}/{total} hosts sent a hello", err=True, nl=False)
        if end:
            click.echo("", err=True)


async def _run(options: dict[str, Any], live: bool) -> list[DiscoveredDevice]:
    found: list[DiscoveredDevice] = []
    if not live:
        async for device in discover_devices(**options):
            found.append(device)
        return found
    from rich.live import Live

    with Live(_table(found), refresh_per_second=8) as view:
        async for device in discover_devices(**options):
            found.append(device)
            view.update(_table(found))
    return found


def _row(device: DiscoveredDevice) -> tuple[str, ...]:
    return (device.ip, str(device.device_id), device.type_hex or "-",
            device.serial_hex or "-", device.model or "",
            device.token.hex if device.token else "hidden")


def _table(found: list[DiscoveredDevice]) -> Any:
    from rich.table import Table

    table = Table(title=f"{len(found)} device(s)")
    for column in COLUMNS:
        table.add_column(column)
    for device in found:
        table.add_row(*(literal(cell) for cell in _row(device)))
    return table


def _print_table(found: list[DiscoveredDevice]) -> None:
    console().print(_table(found))


def _save(found: list[DiscoveredDevice]) -> None:
    """Devices that reveal their token go to the inventory, in one locked write."""
    from pymiio.cli.common import save_found
    from pymiio.inventory import Entry

    save_found((None, Entry("", host=device.ip, token=device.token.hex, model=device.model,
                            device_id=device.device_id))
               for device in found if device.token is not None)
