"""What the ``miio`` subcommands share: options, and finding a device's address and token."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from pymiio.inventory import Entry, Inventory

F = TypeVar("F", bound=Callable[..., Any])


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as JSON.")(function)


def device_options(function: F) -> F:
    """``--token`` and ``--timeout`` for commands that talk to one device."""
    function = click.option("--timeout", type=click.FloatRange(0.1, 600), default=5.0,
                            show_default=True, help="Seconds for the whole call.")(function)
    return click.option("--token", envvar=None,
                        help="Device token (else MIIO_TOKEN, else the device inventory).")(function)


@dataclass
class Target:
    host: str
    token: str | None
    entry: Entry | None


def resolve_target(name_or_host: str, token: str | None) -> Target:
    """A named device or an address; its token from --token, MIIO_TOKEN or the inventory."""
    entry = Inventory().find(name_or_host)
    host = entry.host if entry is not None and entry.host else name_or_host
    chosen = token or os.environ.get("MIIO_TOKEN") or (entry.token if entry else None)
    return Target(host, chosen, entry)
