"""``miio-cli``: the original php-miio tool's flags, same meanings, output in English.

    miio-cli --discover all [--bindip IP]     miio-cli --discover IP [--debug]
    miio-cli --ip IP --info                   miio-cli --ip IP --sendcmd '{"method":...}'
    miio-cli --token T --decode HEX
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any

import click

from pymiio import __version__
from pymiio.cli.common import Seconds
from pymiio.cli.debug_log import setup_debug_logging
from pymiio.cli.errors import EXIT_USAGE, fail, run_cli, run_guarded, set_debug
from pymiio.cli.output import print_json, say
from pymiio.protocol.message import outside_strings


@click.command("miio-cli", context_settings={"help_option_names": ["--help", "-h"]})
@click.version_option(__version__, prog_name="miio-cli")
@click.option("--discover", metavar="all|IP", help="Find all devices, or check one address.")
@click.option("--info", is_flag=True, help="Show miIO.info of the device at --ip.")
@click.option("--sendcmd", metavar="JSON", help="Send a JSON command to the device at --ip.")
@click.option("--decode", metavar="HEX", help="Decode a packet (needs --token for the data).")
@click.option("--ip", help="Device IP address.")
@click.option("--bindip", help="Local interface address (the hello goes to its subnet).")
@click.option("--token", help="Device token (optional where the device reveals it).")
@click.option("--timeout", type=Seconds(0.1, 600), default=5.0, show_default=True,
              help="Seconds.")
@click.option("--debug", is_flag=True, help="Show every packet and its JSON (tokens masked).")
def cli(discover: str | None, info: bool, sendcmd: str | None, decode: str | None,
        ip: str | None, bindip: str | None, token: str | None, timeout: float,
        debug: bool) -> None:
    """miio-cli: the classic miIO command line (php-miio's flags).

    As in the original, --info and --sendcmd may be given together: both run, info first.
    """
    if debug:
        set_debug(True)
        setup_debug_logging()
    if discover is not None:
        run_guarded(lambda: _discover(discover, bindip, timeout), debug)
    elif info or sendcmd is not None:
        if not ip:
            fail(f"{'--info' if info else '--sendcmd'} needs --ip (the device's address)",
                 EXIT_USAGE)
        message = parse_command(sendcmd) if sendcmd is not None else None
        run_guarded(lambda: _device(ip, token, info, message, timeout), debug)
    elif decode is not None:
        run_guarded(lambda: _decode(decode, token), debug)
    else:
        click.echo(click.get_current_context().get_help())
        fail("nothing to do: give --discover, --info, --sendcmd or --decode", EXIT_USAGE)


def main(argv: list[str] | None = None) -> int:
    return run_cli(cli, argv, "miio-cli")


def parse_command(text: str) -> dict[str, Any]:
    """The user's JSON as the original accepted it: stray outer single quotes (Windows shells
    pass them through) are removed, and a doubled comma is repaired with a warning."""
    body = text.strip()
    if len(body) >= 2 and body[0] == body[-1] == "'":
        body = body[1:-1]
    repaired = outside_strings(body, lambda part: re.sub(r",\s*,", ",", part))
    if repaired != body:
        body = repaired
        click.echo("warning: repaired a doubled comma in the command", err=True)
    from pymiio.cli.cmd_device import json_argument

    message = json_argument(body, "--sendcmd")
    if not isinstance(message, dict) or "method" not in message:
        fail('--sendcmd needs a JSON object with a "method"', EXIT_USAGE)
    return message


def _discover(target: str, bindip: str | None, timeout: float) -> None:
    """Each device is printed as it answers (the original's live listing)."""
    from pymiio.lan.discovery import discover, discover_one, hello_target

    async def listing() -> int:
        count = 0
        async for device in discover(bind=bindip, timeout=timeout):
            count += 1
            _show(device)
        return count

    if target.lower() == "all":
        destination = hello_target(bind=bindip)
        click.echo(f"Sending hello to {destination}:54321 ...")
        count = asyncio.run(listing())
    else:
        _show(asyncio.run(discover_one(target, timeout=timeout, bind=bindip)))
        count = 1
    click.echo(f"Found {count} device(s)")
    if not count:
        from pymiio.cli.cmd_discover import empty_hint

        click.echo(f"hint: {empty_hint(bindip, None, False)}", err=True)


def _show(device: Any) -> None:
    click.echo(f"  ip: {device.ip}  device type: {device.type_hex or '-'}  "
               f"serial: {device.serial_hex or '-'}  device id: {device.device_id}  "
               f"token: {device.token.hex if device.token else 'hidden'}")


def _device(ip: str, token: str | None, info: bool, message: dict[str, Any] | None,
            timeout: float) -> None:
    """--info and/or --sendcmd on one device object, in the original's order."""
    from pymiio.cli.cmd_device import exit_on_error_reply
    from pymiio.cli.output import mask_result
    from pymiio.lan.sync import Device

    with Device(ip, token, timeout=timeout) as device:
        if info:
            for key, value in mask_result(device.info()).items():
                shown = value if isinstance(value, str | int | float) else json.dumps(value)
                say(f"{key}: {shown}")
        if message is None:
            return
        reply = device.send_raw(message)
    print_json(mask_result(reply))
    exit_on_error_reply(reply)


def _decode(text: str, token: str | None) -> None:
    from pymiio.capture.decode import decode_packet, parse_hex
    from pymiio.cli.cmd_decode import show_packet
    from pymiio.protocol.token import Token

    record = decode_packet(parse_hex(text), [Token(token)] if token else [])
    show_packet(record)
    if record["checksum_ok"] is False and not token:
        click.echo("hint: give --token to check the checksum and decrypt the data", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
