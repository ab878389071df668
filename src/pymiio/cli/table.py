"""Tables drawn without rich, exactly as rich draws them when output is not a terminal.

Importing rich and laying out a table costs a command like ``miio status`` more than talking
to the device. For piped output (rich's plain case: no styles, 200 columns) this draws the same
characters itself: rich's default box (heavy head), one space of padding, the title centred
over the table. Whatever it cannot be sure to draw as rich would (a character whose width is
not certain, a table wider than the page, a title that would wrap, no rows) it leaves to rich
(``None``). tests/test_table.py holds it to rich's own output.
"""

from __future__ import annotations

from collections.abc import Sequence

# Code point ranges drawn two cells wide (CJK ideographs, kana, Hangul syllables, fullwidth
# forms, CJK punctuation) where every width rule agrees.
_WIDE = ((0x3000, 0x303E), (0x3041, 0x3096), (0x30A1, 0x30FA), (0x3400, 0x4DBF),
         (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFF01, 0xFF60),
         (0xFFE0, 0xFFE6))


def _width(text: str) -> int | None:
    """Cells ``text`` takes on a terminal, None when not certain."""
    if text.isascii():
        return len(text) if text.isprintable() else None
    import unicodedata

    cells = 0
    for char in text:
        code = ord(char)
        if code < 0x7F:
            if not char.isprintable():
                return None
            cells += 1
        elif 0xA0 <= code < 0x300 and unicodedata.category(char)[0] not in "CMZ":
            cells += 1  # Latin-1 and Latin extended letters and signs
        elif any(low <= code <= high for low, high in _WIDE):
            cells += 2
        else:
            return None
    return cells


def plain_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]],
                page: int) -> str | None:
    """The table as text, or None when rich should draw it (see the module docstring)."""
    if not rows or not columns or any(len(row) != len(columns) for row in rows):
        return None
    widths = []
    for index, column in enumerate(columns):
        wide = _width(column)
        if wide is None:
            return None
        for row in rows:
            cell = _width(row[index])
            if cell is None:
                return None
            wide = max(wide, cell)
        widths.append(wide)
    total = sum(widths) + 3 * len(widths) + 1
    if total > page:
        return None
    lines = []
    if title is not None:
        named = _width(title)
        if named is None or named > total or not title:
            return None
        left = (total - named) // 2
        lines.append(" " * left + title + " " * (total - named - left))
    lines.append("┏" + "┳".join("━" * (w + 2) for w in widths) + "┓")
    lines.append(_row(columns, widths, "┃"))
    lines.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    lines.extend(_row(row, widths, "│") for row in rows)
    lines.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    return "\n".join(lines) + "\n"


def _row(cells: Sequence[str], widths: list[int], bar: str) -> str:
    parts = []
    for cell, wide in zip(cells, widths, strict=True):
        pad = wide - (_width(cell) or 0)
        parts.append(f" {cell}{' ' * pad} ")
    return bar + bar.join(parts) + bar
