"""Printing results: stable JSON for scripts, rich tables for people."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from pymiio.protocol.token import mask_tokens


def print_json(value: Any) -> None:
    """Strict JSON: NaN and infinities (a device's 1e999) become null, as JSON has neither."""
    text = json.dumps(finite(value), indent=2, ensure_ascii=False, default=str,
                      allow_nan=False)
    sys.stdout.write(text + "\n")


def finite(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None (only copies what it changes)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [finite(item) for item in value]
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    return value


def mask_result(value: Any) -> Any:
    """A device result with every token in it masked (``miIO.info`` carries one)."""
    if isinstance(value, str):
        return mask_tokens(value)
    if isinstance(value, list):
        return [mask_result(item) for item in value]
    if isinstance(value, dict):
        return {key: mask_result(item) for key, item in value.items()}
    return value


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console().print(table)


def console() -> Any:
    """A rich console; piped output gets a wide one, so tokens and names never fold mid-value."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def print_mapping(mapping: dict[str, Any], title: str | None = None) -> None:
    """A nested dict as a two-column table (nested values shown as compact JSON)."""
    rows = [(key, value if isinstance(value, str | int | float | bool) or value is None
             else json.dumps(finite(value), ensure_ascii=False)) for key, value in mapping.items()]
    print_table(title, ("field", "value"), rows)


def plain(value: Any) -> str:
    """One value for people: text as is (quoted when empty or padded), the rest as JSON."""
    if isinstance(value, str) and value and value.strip() == value and "\n" not in value:
        return value
    return json.dumps(finite(value), ensure_ascii=False)


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
