"""Tables without rich (cli/table.py) are held to rich's own output: for the property tables of
every real spec in ../shared/miot-specs and for generated text, either they draw exactly what
rich draws for piped output, or they leave the table to rich."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table

from pymiio.cli.output import PIPED_WIDTH, literal
from pymiio.cli.table import plain_table
from pymiio.knowledge.miot_spec import parse_spec_text
from pymiio.literal_text import visible

SHARED = Path(__file__).resolve().parents[2] / "shared" / "miot-specs"


def _rich(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    table = Table(title=None if title is None else literal(title), show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(literal(cell) for cell in row))
    Console(file=out, width=PIPED_WIDTH).print(table)
    return out.getvalue()


def _check(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> bool:
    """True when drawn without rich (and then exactly as rich), False when left to rich."""
    title = None if title is None else visible(title)
    cells = [[visible(cell) for cell in row] for row in rows]
    ours = plain_table(title, columns, cells, PIPED_WIDTH)
    if ours is None:
        return False
    assert ours == _rich(title, columns, cells)
    return True


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/miot-specs is not here")
def test_every_real_spec_table_is_drawn_as_rich_draws_it() -> None:
    drawn = left = 0
    for path in sorted([*SHARED.glob("*.json"), *(SHARED / "corpus").glob("*.json")]):
        try:
            model = parse_spec_text(path.read_bytes(), "corpus.model.x")
        except Exception:
            continue
        rows = [(p.service, p.name.split(":", 1)[-1],
                 "; ".join(f"{c.value}={c.description}" for c in p.choices) or p.description,
                 "RW" if p.writable else "R") for p in model.properties]
        if _check(f"{path.stem[:60]} ({model.description})",
                  ("service", "property", "value", "access"), rows):
            drawn += 1
        else:
            left += 1
    assert drawn > 1000  # most real tables need no rich at all
    assert left < drawn


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@given(st.one_of(st.none(), text), st.integers(1, 4).flatmap(
    lambda n: st.tuples(st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=n,
                                 max_size=n),
                        st.lists(st.lists(text, min_size=n, max_size=n), max_size=6))))
def test_generated_tables_are_drawn_as_rich_draws_them_or_left_to_it(
        title: str | None, shape: tuple[list[str], list[list[str]]]) -> None:
    columns, rows = shape
    _check(title, columns, rows)


def test_what_is_left_to_rich() -> None:
    assert plain_table(None, ("a",), [], PIPED_WIDTH) is None  # no rows
    assert plain_table(None, ("a",), [["x" * 300]], PIPED_WIDTH) is None  # wider than the page
    assert plain_table("t" * 50, ("a",), [["x"]], PIPED_WIDTH) is None  # the title would wrap
    assert plain_table(None, ("a",), [["e\u0301"]], PIPED_WIDTH) is None  # a combining accent
    assert _check("Air Purifier 3H", ("service", "value"), [["filter", "印度 (91)"],
                                                           ["environment", "Level1 (1)"]])
