"""``miio info|send|send-raw|miot|provision``: talking to one device."""

from __future__ import annotations

import json
from typing import Any

import click

from pymiio.cli.common import device_options, json_option, resolve_target
from pymiio.cli.errors import EXIT_TOKEN, EXIT_USAGE, debug_enabled, fail, run_guarded
from pymiio.cli.output import print_json, print_mapping, print_value
from pymiio.protocol.dump import mask_tokens
from pymiio.sync import Device


def _device(host: str, token: str | None, timeout: float) -> Device:
    target = resolve_target(host, token)
    return Device(target.host, target.token, timeout=timeout)


def _json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON ({exc.msg}): {text}", EXIT_USAGE)


@click.command()
@click.argument("host")
@click.option("--show-token", is_flag=True, help="Show the token the device reports, unmasked.")
@device_options
@json_option
def info(host: str, show_token: bool, token: str | None, timeout: float, as_json: bool) -> None:
    """Show HOST's miIO.info (HOST is an address or a name from `miio devices`)."""
    def run() -> None:
        with _device(host, token, timeout) as device:
            result = device.info()
        if not show_token and isinstance(result.get("token"), str):
            result["token"] = mask_tokens(result["token"])
        if as_json:
            print_json(result)
        else:
            print_mapping(result, title=f"{host}")

    run_guarded(run, debug_enabled())


@click.command()
@click.argument("host")
@click.argument("method")
@click.argument("params", required=False)
@device_options
@json_option
def send(host: str, method: str, params: str | None, token: str | None, timeout: float,
         as_json: bool) -> None:
    """Call METHOD on HOST with PARAMS (JSON, default []) and print the result.

    Example: miio send kitchen-plug get_prop '["power"]'
    """
    value = _json_argument(params, "PARAMS") if params else []

    def run() -> None:
        with _device(host, token, timeout) as device:
            result = device.send(method, value)
        print_json(result) if as_json else print_value(result)

    run_guarded(run, debug_enabled())


@click.command("send-raw")
@click.argument("host")
@click.argument("message")
@device_options
def send_raw(host: str, message: str, token: str | None, timeout: float) -> None:
    """Send MESSAGE (a whole JSON command, its id kept) and print the whole reply as JSON."""
    def run() -> None:
        with _device(host, token, timeout) as device:
            print_json(device.send_raw(message))

    run_guarded(run, debug_enabled())


@click.group()
def miot() -> None:
    """MIoT properties (SIID.PIID) and actions (SIID.AIID)."""


def _pair(text: str) -> tuple[int, int]:
    try:
        first, second = text.split(".")
        return int(first), int(second)
    except ValueError:
        fail(f"expected SIID.PIID (like 2.1), got {text!r}", EXIT_USAGE)


@miot.command("get")
@click.argument("host")
@click.argument("properties", nargs=-1, required=True)
@device_options
@json_option
def miot_get(host: str, properties: tuple[str, ...], token: str | None, timeout: float,
             as_json: bool) -> None:
    """Read PROPERTIES (SIID.PIID ...), e.g. `miio miot get HOST 2.1 3.4`."""
    wanted = [{"did": text, "siid": s, "piid": p}
              for text in properties for s, p in [_pair(text)]]

    def run() -> None:
        with _device(host, token, timeout) as device:
            result = device.get_properties(wanted)
        if as_json:
            print_json(result)
        else:
            for item in result:
                shown = item.get("value") if item.get("code") == 0 else f"error {item.get('code')}"
                click.echo(f"{item.get('siid')}.{item.get('piid')} = {json.dumps(shown)}")

    run_guarded(run, debug_enabled())


@miot.command("set")
@click.argument("host")
@click.argument("prop")
@click.argument("value")
@device_options
@json_option
def miot_set(host: str, prop: str, value: str, token: str | None, timeout: float,
             as_json: bool) -> None:
    """Write PROP (SIID.PIID) = VALUE (JSON), e.g. `miio miot set HOST 2.1 true`."""
    siid, piid = _pair(prop)
    item = {"did": prop, "siid": siid, "piid": piid, "value": _json_argument(value, "VALUE")}

    def run() -> None:
        with _device(host, token, timeout) as device:
            result = device.set_properties([item])
        print_json(result) if as_json else click.echo(
            "ok" if result and result[0].get("code") == 0 else f"error {result[0].get('code')}")

    run_guarded(run, debug_enabled())


@miot.command("action")
@click.argument("host")
@click.argument("action_id")
@click.argument("args", required=False)
@device_options
def miot_action(host: str, action_id: str, args: str | None, token: str | None,
                timeout: float) -> None:
    """Run ACTION_ID (SIID.AIID) with ARGS (a JSON list), print the reply as JSON."""
    siid, aiid = _pair(action_id)
    values = _json_argument(args, "ARGS") if args else []

    def run() -> None:
        with _device(host, token, timeout) as device:
            print_json(device.action(siid, aiid, values))

    run_guarded(run, debug_enabled())


@click.command()
@click.argument("host")
@click.option("--ssid", required=True, help="Wi-Fi network the device should join.")
@click.option("--password", required=True, help="Its password.")
@click.option("--uid", type=int, default=0, show_default=True, help="Mi account id to bind.")
@click.option("--name", help="Name to save the device under (default: device-<id>).")
@device_options
def provision(host: str, ssid: str, password: str, uid: int, name: str | None,
              token: str | None, timeout: float) -> None:
    """Send miIO.config_router to an unprovisioned device and save the token it revealed."""
    from pymiio.inventory import Entry, Inventory

    def run() -> None:
        with _device(host, token, timeout) as device:
            hello = device.handshake()
            if device.token is None:
                fail(f"{host} does not reveal its token: it is provisioned already "
                     "(reset it, or give --token)", EXIT_TOKEN)
            info = device.info()
            device.send("miIO.config_router", {"ssid": ssid, "passwd": password, "uid": uid})
            assert device.token is not None
            inventory = Inventory()
            saved = inventory.add(Entry(name or inventory.name_for(hello.device_id, host),
                                        host=host, token=device.token.hex,
                                        model=info.get("model"), device_id=hello.device_id))
        click.echo(f"provisioned {host}; token saved as {saved.name!r} ({device.token.masked})")

    run_guarded(run, debug_enabled())
