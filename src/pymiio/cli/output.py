"""Printing results: stable JSON for scripts, rich tables for people.

Text from outside (devices, servers, specs, captures, backups, the inventory) is shown
literally: never read as rich markup (``[/x]``, ``[link=file:///etc/passwd]``), and with its
control characters made visible (``\\x1b``, ``\\x07``, ``\\x9b``, the bidi overrides as
``\\u202e``), so a name cannot clear the screen, retitle the terminal or hide what follows.
:func:`visible` (from :mod:`pymiio.literal_text`, which the bridge's log uses too) does it
to a string, :func:`literal` gives rich a text it will not parse,
:func:`print_table`, :func:`print_json`, :func:`plain` and :func:`say` use them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from pymiio.literal_text import json_safe, visible
from pymiio.protocol.token import mask_tokens
from pymiio.strict_json import finite


def literal(value: Any) -> Any:
    """A rich ``Text`` of ``value`` as it is: no markup, no emoji codes, controls visible."""
    from rich.text import Text

    return Text("" if value is None else visible(value))


def say(text: str, err: bool = False) -> None:
    """One line holding outside text, controls made visible (``click.echo`` otherwise)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(visible(text) + "\n")
    stream.flush()


def json_text(value: Any, indent: int | None = None) -> str:
    """Strict JSON (non-finite numbers as null) in which the characters JSON may leave raw
    but a terminal obeys (DEL, C1 controls, bidi overrides) are ``\\u`` escapes too."""
    text = json.dumps(finite(value), indent=indent, ensure_ascii=False, default=str,
                      allow_nan=False)
    return json_safe(text)


def print_json(value: Any) -> None:
    """Strict JSON: NaN and infinities (a device's 1e999) become null, as JSON has neither."""
    sys.stdout.write(json_text(value, indent=2) + "\n")


def mask_result(value: Any) -> Any:
    """A device result with every token in it masked (``miIO.info`` carries one)."""
    if isinstance(value, str):
        return mask_tokens(value)
    if isinstance(value, list):
        return [mask_result(item) for item in value]
    if isinstance(value, dict):
        return {key: mask_result(item) for key, item in value.items()}
    return value


PIPED_WIDTH = 200  # columns of piped output (tokens and names never fold mid-value)


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    if not sys.stdout.isatty() and not os.environ.get("FORCE_COLOR"):
        from pymiio.cli.table import plain_table  # rich's piped output, without rich's cost

        text = plain_table(None if title is None else visible(title),
                           [visible(column) for column in columns],
                           [["" if cell is None else visible(cell) for cell in row]
                            for row in rows], PIPED_WIDTH)
        if text is not None:
            sys.stdout.write(text)
            return
    from rich.table import Table

    table = Table(title=None if title is None else literal(title), show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(literal(cell) for cell in row))
    console().print(table)


def console() -> Any:
    """A rich console; piped output gets a wide one, so tokens and names never fold mid-value."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)


def print_mapping(mapping: dict[str, Any], title: str | None = None) -> None:
    """A nested dict as a two-column table (nested values shown as compact JSON)."""
    rows = [(key, value if isinstance(value, str | int | float | bool) or value is None
             else json_text(value)) for key, value in mapping.items()]
    print_table(title, ("field", "value"), rows)


def plain(value: Any) -> str:
    """One value for people: text as is (quoted when empty or padded), the rest as JSON."""
    if isinstance(value, str) and value and value.strip() == value and visible(value) == value:
        return value
    return json_text(value)


def print_value(value: Any, labels: Sequence[Any] | None = None) -> None:
    """A command's result for people: ``name: value`` lines when the request named what it
    asked for (``get_prop``), one value per line for other lists, compact JSON otherwise."""
    if isinstance(value, list) and labels is not None and len(labels) == len(value):
        for label, item in zip(labels, value, strict=True):
            sys.stdout.write(f"{plain(label)}: {plain(item)}\n")
    elif isinstance(value, list) and all(not isinstance(v, list | dict) for v in value):
        for item in value:
            sys.stdout.write(plain(item) + "\n")
    elif isinstance(value, str | int | float | bool) or value is None:
        sys.stdout.write(plain(value) + "\n")
    else:
        print_json(value)
