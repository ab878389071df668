"""Printing results: stable JSON for scripts, rich tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


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
             else json.dumps(value, ensure_ascii=False)) for key, value in mapping.items()]
    print_table(title, ("field", "value"), rows)


def print_value(value: Any) -> None:
    """A command's result for people: plain text for scalars and lists of scalars, else JSON."""
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        sys.stdout.write(" ".join(json.dumps(v) if not isinstance(v, str) else v
                                  for v in value) + "\n")
    elif isinstance(value, str | int | float | bool):
        sys.stdout.write(f"{value}\n")
    else:
        print_json(value)
