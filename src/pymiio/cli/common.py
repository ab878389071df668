"""What the ``miio`` subcommands share: options, and finding a device's address and token.

Token precedence (docs/cli.md): ``--token``, then the inventory entry's own token when DEVICE is
an inventory name (or a stored address), then ``MIIO_TOKEN``. An environment variable set for
one device must not silently override the token stored for another.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from pymiio.address import check_host, is_ipv4
from pymiio.cli.errors import set_json_errors
from pymiio.cli.output import say
from pymiio.errors import AddressError, WrongTokenError
from pymiio.inventory import Entry, Inventory

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class Seconds(click.ParamType):  # type: ignore[type-arg]
    """A finite number of seconds within bounds (click's FloatRange lets NaN through)."""

    name = "seconds"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            self.fail(f"{value} is not between {self.low:g} and {self.high:g} seconds", param, ctx)
        return number


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    set_json_errors(value)
    return value


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, callback=_remember_json,
                        is_eager=True,
                        help="Print the result as JSON (and errors as a JSON object on stderr)."
                        )(function)


def device_options(function: F) -> F:
    """``--token`` and ``--timeout`` for commands that talk to one device."""
    function = click.option("--timeout", type=Seconds(0.1, 600), default=5.0,
                            show_default=True, help="Seconds for the whole call.")(function)
    return click.option("--token", envvar=None,
                        help="Device token (else the inventory's, else MIIO_TOKEN).")(function)


@dataclass
class Target:
    host: str
    token: str | None
    entry: Entry | None
    token_source: str | None = None


def warn(message: str) -> None:
    """A one-line warning on stderr (results stay alone on stdout)."""
    say(f"warning: {' '.join(message.split())}", err=True)


def load_inventory() -> Inventory:
    """The inventory, its notes (skipped entries, loose permissions) shown as warnings."""
    inventory = Inventory()
    for note in inventory.notes:
        warn(note)
    return inventory


@contextmanager
def edit_inventory() -> Iterator[Inventory]:
    """The inventory locked for a change, its notes shown; saved once at the end."""
    with Inventory.locked() as inventory:
        for note in inventory.notes:
            warn(note)
        yield inventory


def save_found(found: Iterable[tuple[str | None, Entry]]) -> None:
    """Devices that discovery, token recovery or the cloud found, merged into the inventory in
    one locked write. Each is ``(the app's name for it or None, its entry)``; it is saved under
    that name made a slug, else under the name its id already has, else ``device-<id>``. A
    stored token is kept (a conflict is a warning); an entry the inventory refuses is skipped
    with a warning."""
    from pymiio.errors import InventoryError

    with edit_inventory() as inventory:
        for label, entry in found:
            entry.name = slug(label) or inventory.name_for(entry.device_id, entry.host)
            try:
                outcome = inventory.merge_found(entry)
            except InventoryError as exc:
                warn(f"not saved: {exc}")
                continue
            report_merge(entry.name, outcome)


def slug(text: str | None) -> str | None:
    """A device name from the app's display name: ``Kitchen plug`` -> ``kitchen-plug``."""
    if not text:
        return None
    name = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")[:64]
    return name or None


def report_merge(name: str, outcome: str) -> None:
    """What saving a found device did, on stderr; a conflict is a warning."""
    if outcome == "conflict":
        warn(f"kept the stored token of {name!r}: the device found claims its id with another "
             "token (an impostor, or a reset device: update it with miio devices add)")
    else:
        say(f"{outcome} {name}", err=True)


def resolve_target(name_or_host: str, token: str | None) -> Target:
    """A named device or an address, with its token and where the token came from."""
    inventory = load_inventory()
    entry = inventory.find(name_or_host)
    if entry is None:
        _check_unknown(name_or_host, inventory)
        host = name_or_host
    elif not entry.host:
        raise AddressError(f"the inventory entry {entry.name!r} has no address "
                           f"(set one: miio devices add {entry.name} --host ADDRESS)")
    else:
        host = entry.host
    if token:
        return Target(host, token, entry, "--token")
    if entry is not None and entry.token:
        return Target(host, entry.token, entry, f"the inventory entry {entry.name!r}")
    if os.environ.get("MIIO_TOKEN"):
        return Target(host, os.environ["MIIO_TOKEN"], entry, "MIIO_TOKEN")
    return Target(host, None, entry, None)


def _check_unknown(text: str, inventory: Inventory) -> None:
    """Not in the inventory: a dotted quad, or a host name with a dot; bare words are not
    looked up in DNS (a typo of a device name would otherwise leave the machine)."""
    if is_ipv4(text) or text == "localhost":
        return
    if "." in text and not text.replace(".", "").isdigit():
        check_host(text)
        return
    if text.replace(".", "").isdigit():
        check_host(text)  # a malformed dotted quad: says so
    from pymiio.knowledge.model import did_you_mean  # only on this error's path

    hint = did_you_mean(text, inventory.entries) or \
        " (add it with: miio devices add NAME --host ADDRESS --token TOKEN)"
    raise AddressError(f"no device named {text!r} in the inventory{hint} Bare names are not "
                       "looked up in DNS; give an address or a full host name")


def with_token_source(target: Target, action: Callable[[], T]) -> T:
    """Run ``action``; a wrong-token verdict says which token was tried."""
    try:
        return action()
    except WrongTokenError as error:
        source = target.token_source or "the device's hello"
        raise WrongTokenError(f"{error} [token from {source}]") from None


def complete_device(ctx: click.Context, param: click.Parameter,
                    incomplete: str) -> list[Any]:
    """Shell completion (docs/cli.md): the inventory's device names starting with what was
    typed; nothing (never an error) when the inventory cannot be read."""
    from click.shell_completion import CompletionItem

    try:
        names = sorted(Inventory().entries)
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]
