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

from pymiio.cli.errors import EXIT_USAGE, fail, run_guarded
from pymiio.cli.main import setup_debug_logging
from pymiio.cli.output import print_json


@click.command(context_settings={"help_option_names": ["--help", "-h"]})
@click.option("--discover", metavar="all|IP", help="Find all devices, or check one address.")
@click.option("--info", is_flag=True, help="Show miIO.info of the device at --ip.")
@click.option("--sendcmd", metavar="JSON", help="Send a JSON command to the device at --ip.")
@click.option("--decode", metavar="HEX", help="Decode a packet (needs --token for the data).")
@click.option("--ip", help="Device IP address.")
@click.option("--bindip", help="Local interface address (the hello goes to its subnet).")
@click.option("--token", help="Device token (optional where the device reveals it).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds.")
@click.option("--debug", is_flag=True, help="Show every packet (tokens masked).")
def main(discover: str | None, info: bool, sendcmd: str | None, decode: str | None,
         ip: str | None, bindip: str | None, token: str | None, timeout: float,
         debug: bool) -> None:
    """miio-cli: the classic miIO command line (php-miio's flags)."""
    if debug:
        setup_debug_logging()
    if discover is not None:
        run_guarded(lambda: _discover(discover, bindip, timeout), debug)
    elif info:
        if not ip:
            fail("--info needs --ip (the device's address)", EXIT_USAGE)
        run_guarded(lambda: _info(ip, token, timeout), debug)
    elif sendcmd is not None:
        if not ip:
            fail("--sendcmd needs --ip (the device's address)", EXIT_USAGE)
        message = parse_command(sendcmd)
        run_guarded(lambda: _sendcmd(ip, token, message, timeout), debug)
    elif decode is not None:
        run_guarded(lambda: _decode(decode, token), debug)
    else:
        click.echo(click.get_current_context().get_help())
        fail("nothing to do: give --discover, --info, --sendcmd or --decode", EXIT_USAGE)


def parse_command(text: str) -> dict[str, Any]:
    """The user's JSON as the original accepted it: stray outer single quotes (Windows shells
    pass them through) are removed, and a doubled comma is repaired with a warning."""
    body = text.strip()
    if len(body) >= 2 and body[0] == body[-1] == "'":
        body = body[1:-1]
    if re.search(r",\s*,", body):
        body = re.sub(r",\s*,", ",", body)
        click.echo("warning: repaired a doubled comma in the command", err=True)
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        fail(f"--sendcmd is not valid JSON ({exc.msg}): {text}", EXIT_USAGE)
    if not isinstance(message, dict) or "method" not in message:
        fail('--sendcmd needs a JSON object with a "method"', EXIT_USAGE)
    return message


def _discover(target: str, bindip: str | None, timeout: float) -> None:
    from pymiio.discovery import discover_all, discover_one, hello_target

    if target.lower() == "all":
        destination = hello_target(bind=bindip)
        click.echo(f"Sending hello to {destination}:54321 ...")
        found = asyncio.run(discover_all(bind=bindip, timeout=timeout))
    else:
        found = [asyncio.run(discover_one(target, timeout=timeout, bind=bindip))]
    click.echo(f"Found {len(found)} device(s)")
    for device in found:
        click.echo(f"  ip: {device.ip}  device type: {device.device_type:04x}  "
                   f"serial: {device.serial:04x}  device id: {device.device_id}  "
                   f"token: {device.token.hex if device.token else 'hidden'}")


def _info(ip: str, token: str | None, timeout: float) -> None:
    from pymiio.sync import Device

    with Device(ip, token, timeout=timeout) as device:
        result = device.info()
    from pymiio.protocol.dump import mask_tokens

    for key, value in result.items():
        shown = value if isinstance(value, str | int | float) else json.dumps(value)
        click.echo(f"{key}: {mask_tokens(str(shown))}")


def _sendcmd(ip: str, token: str | None, message: dict[str, Any], timeout: float) -> None:
    from pymiio.sync import Device

    with Device(ip, token, timeout=timeout) as device:
        print_json(device.send_raw(message))


def _decode(text: str, token: str | None) -> None:
    from pymiio.capture import decode_packet, parse_hex
    from pymiio.cli.cmd_decode import show_packet
    from pymiio.protocol.token import Token

    record = decode_packet(parse_hex(text), [Token(token)] if token else [])
    show_packet(record)
    if record["checksum_ok"] is False and not token:
        click.echo("hint: give --token to check the checksum and decrypt the data", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
