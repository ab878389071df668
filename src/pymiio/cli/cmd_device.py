"""``miio info|send|send-raw|miot|provision``: talking to one device."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pymiio.cli.common import (
    Target,
    complete_device,
    device_options,
    json_option,
    resolve_target,
    with_token_source,
)
from pymiio.cli.errors import (
    EXIT_DEVICE,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    debug_enabled,
    fail,
    run_guarded,
)
from pymiio.cli.main import SuggestingGroup
from pymiio.cli.output import mask_result, print_json, print_mapping, print_value
from pymiio.knowledge.model import MAX_IID, parse_pair
from pymiio.lan.sync import Device
from pymiio.protocol.message import code_text

if TYPE_CHECKING:
    from pymiio.lan.provisioning import Revealed

T = TypeVar("T")


def talk(host: str, token: str | None, timeout: float,
         action: Callable[[Device, Target], T]) -> T:
    """Resolve HOST (inventory name or address), open a Device, run ``action`` on it; a
    wrong-token verdict says where the token came from."""
    target = resolve_target(host, token)

    def run() -> T:
        with Device(target.host, target.token, timeout=timeout) as device:
            return action(device, target)

    return with_token_source(target, run)


def _talk(host: str, token: str | None, timeout: float, action: Callable[[Device], T]) -> T:
    return talk(host, token, timeout, lambda device, _target: action(device))


def json_argument(text: str, what: str) -> Any:
    """A JSON argument; malformed, non-finite or too deeply nested is a usage error."""
    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise ValueError(f"{number} is beyond what a device can take")
        return value

    try:
        return json.loads(text, parse_float=finite, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON ({exc.msg}): {_short(text)}", EXIT_USAGE)
    except ValueError as exc:
        fail(f"{what}: {exc}", EXIT_USAGE)
    except RecursionError:
        fail(f"{what} is nested too deeply", EXIT_USAGE)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value a device can take")


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:80] + "…"


@click.command()
@click.argument("host", shell_complete=complete_device)
@click.option("--show-token", is_flag=True, help="Show the token the device reports, unmasked.")
@device_options
@json_option
def info(host: str, show_token: bool, token: str | None, timeout: float, as_json: bool) -> None:
    """Show HOST's miIO.info (HOST is an address or a name from `miio devices`)."""
    def run() -> None:
        result = _talk(host, token, timeout, _info_with_id)
        if not show_token:
            result = mask_result(result)
        if as_json:
            print_json(result)
        else:
            print_mapping(result, title=f"{host}")

    run_guarded(run, debug_enabled())


def _info_with_id(device: Device) -> dict[str, Any]:
    """``miIO.info`` with the device id of the hello in front (64 bits on newer firmware)."""
    info = device.info()
    hello = device.hello
    return {"device_id": hello.device_id, **info} if hello is not None else info


@click.command()
@click.argument("host", shell_complete=complete_device)
@click.argument("method")
@click.argument("params", required=False)
@click.option("--show-token", is_flag=True, help="Show tokens in the result unmasked.")
@device_options
@json_option
def send(host: str, method: str, params: str | None, show_token: bool, token: str | None,
         timeout: float, as_json: bool) -> None:
    """Call METHOD on HOST with PARAMS (JSON, default []) and print the result.

    Example: miio send kitchen-plug get_prop '["power"]'
    """
    value = json_argument(params, "PARAMS") if params else []

    def run() -> None:
        result = _talk(host, token, timeout, lambda device: device.send(method, value))
        if not show_token:
            result = mask_result(result)
        if as_json:
            print_json(result)
        else:
            labels = value if method == "get_prop" and isinstance(value, list) else None
            print_value(result, labels)

    run_guarded(run, debug_enabled())


@click.command("send-raw")
@click.argument("host", shell_complete=complete_device)
@click.argument("message")
@click.option("--show-token", is_flag=True, help="Show tokens in the reply unmasked.")
@device_options
@json_option
def send_raw(host: str, message: str, show_token: bool, token: str | None, timeout: float,
             as_json: bool) -> None:
    """Send MESSAGE (a whole JSON command, its id kept) and print the whole reply as JSON.

    A device ignores an id it has seen; if the caller's id gets no answer, the retries use
    fresh ids and the reply shown carries the caller's id. A reply with an error exits 5.
    """
    command = json_argument(message, "MESSAGE")

    def run() -> None:
        reply = _talk(host, token, timeout, lambda device: device.send_raw(command))
        print_json(reply if show_token else mask_result(reply))
        exit_on_error_reply(reply)

    run_guarded(run, debug_enabled())


def exit_on_error_reply(reply: dict[str, Any]) -> None:
    """A reply with an ``error`` member (printed already) exits 5 with its meaning."""
    error = reply.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        text = error.get("message", "") if isinstance(error, dict) else str(error)
        fail(f"the device answered with error {code_text(code)}: {text}", EXIT_DEVICE,
             "DeviceError")


@click.group(cls=SuggestingGroup)
def miot() -> None:
    """MIoT properties (SIID.PIID) and actions (SIID.AIID)."""


def _pair(text: str) -> tuple[int, int]:
    pair = parse_pair(text)
    if pair is None:
        fail(f"expected SIID.PIID (like 2.1; numbers from 1 to {MAX_IID}), got "
             f"{_short(text)!r}", EXIT_USAGE)
    return pair


def _item_errors(items: list[dict[str, Any]]) -> list[str]:
    return [f"{item.get('siid')}.{item.get('piid', item.get('aiid'))}: error "
            f"{code_text(item.get('code'))}" for item in items if item.get("code", 0) != 0]


def _fail_items(errors: list[str]) -> None:
    if errors:
        fail("; ".join(errors), EXIT_DEVICE, "DeviceError")


@miot.command("get")
@click.argument("host", shell_complete=complete_device)
@click.argument("properties", nargs=-1, required=True)
@device_options
@json_option
def miot_get(host: str, properties: tuple[str, ...], token: str | None, timeout: float,
             as_json: bool) -> None:
    """Read PROPERTIES (SIID.PIID ...), e.g. `miio miot get HOST 2.1 3.4`."""
    wanted = [{"did": text, "siid": s, "piid": p}
              for text in properties for s, p in [_pair(text)]]

    def run() -> None:
        result = _talk(host, token, timeout, lambda device: device.get_properties(wanted))
        if as_json:
            print_json(result)
        else:
            for item in result:
                if item.get("code", 0) == 0:
                    click.echo(f"{item.get('siid')}.{item.get('piid')} = "
                               f"{json.dumps(item.get('value'))}")
        _fail_items(_item_errors(result))

    run_guarded(run, debug_enabled())


@miot.command("set")
@click.argument("host", shell_complete=complete_device)
@click.argument("prop")
@click.argument("value")
@device_options
@json_option
def miot_set(host: str, prop: str, value: str, token: str | None, timeout: float,
             as_json: bool) -> None:
    """Write PROP (SIID.PIID) = VALUE (JSON), e.g. `miio miot set HOST 2.1 true`."""
    siid, piid = _pair(prop)
    item = {"did": prop, "siid": siid, "piid": piid, "value": json_argument(value, "VALUE")}

    def run() -> None:
        result = _talk(host, token, timeout, lambda device: device.set_properties([item]))
        errors = _item_errors(result)
        if as_json:
            print_json(result)
        elif not errors:
            click.echo("ok")
        _fail_items(errors)

    run_guarded(run, debug_enabled())


@miot.command("action")
@click.argument("host", shell_complete=complete_device)
@click.argument("action_id")
@click.argument("args", required=False)
@device_options
@json_option
def miot_action(host: str, action_id: str, args: str | None, token: str | None,
                timeout: float, as_json: bool) -> None:
    """Run ACTION_ID (SIID.AIID) with ARGS (a JSON list), print the reply as JSON."""
    siid, aiid = _pair(action_id)
    values = json_argument(args, "ARGS") if args else []
    if not isinstance(values, list):
        fail("ARGS is a JSON list, like [1, \"a\"]", EXIT_USAGE)

    def run() -> None:
        result = _talk(host, token, timeout, lambda device: device.action(siid, aiid, values))
        print_json(result)
        code = result.get("code", 0) if isinstance(result, dict) else 0
        if code != 0:
            fail(f"{siid}.{aiid}: error {code_text(code)}", EXIT_DEVICE, "DeviceError")

    run_guarded(run, debug_enabled())


@click.command()
@click.argument("host", shell_complete=complete_device)
@click.option("--ssid", required=True, help="Wi-Fi network the device should join.")
@click.option("--password", required=True, help="Its password.")
@click.option("--uid", type=int, default=0, show_default=True, help="Mi account id to bind.")
@click.option("--name", help="Name to save the device under (default: device-<id>).")
@device_options
@json_option
def provision(host: str, ssid: str, password: str, uid: int, name: str | None,
              token: str | None, timeout: float, as_json: bool) -> None:
    """Send miIO.config_router to an unprovisioned device, keeping the token it reveals.

    The token is saved before the device is told to join the network: once provisioned, a
    device hides its token, so a lost acknowledgement must not lose it.
    """
    from pymiio.lan.provisioning import NotAcknowledged
    from pymiio.lan.provisioning import provision as provision_device

    def run() -> None:
        target = resolve_target(host, token)
        with Device(target.host, target.token, timeout=timeout) as device:
            try:
                saved = provision_device(device, ssid, password, uid,
                                         keep=lambda found: _save_revealed(found, name))
            except NotAcknowledged as exc:
                fail(f"{host} did not acknowledge miIO.config_router; its token is saved as "
                     f"{exc.kept['name']!r} already: check whether it joined {ssid!r}",
                     EXIT_UNREACHABLE, "UnreachableError")
        if as_json:
            print_json({**saved, "provisioned": True})
        else:
            click.echo(f"provisioned {host}; token saved as {saved['name']!r} "
                       f"({saved['token']})")

    run_guarded(run, debug_enabled())


def _save_revealed(found: Revealed, name: str | None) -> dict[str, Any]:
    from pymiio.cli.common import edit_inventory
    from pymiio.inventory import Entry, as_dict

    with edit_inventory() as inventory:
        entry = inventory.add(Entry(name or inventory.name_for(found.device_id, found.host),
                                    host=found.host, token=found.token.hex,
                                    device_id=found.device_id, model=found.model))
    return as_dict(entry, show_token=False)
