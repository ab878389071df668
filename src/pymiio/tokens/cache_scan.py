"""Mi Home cache files (``/data/data/com.xiaomi.smarthome/cache/smrc4-cache``).

The original advice was ``grep -nr token .``; this does the same and, for each token, reads the
device id, ip, name and model from the JSON object around it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from pymiio.errors import MiioError
from pymiio.paths import read_regular
from pymiio.tokens.records import Extraction, make_record

MAX_FILE: Final = 16 * 1024 * 1024
MAX_TOTAL: Final = 512 * 1024 * 1024
MAX_FILES: Final = 100_000
_TOKEN: Final = re.compile(r"""["']?token["']?\s*[:=]\s*["']?([0-9a-fA-F]{32})(?![0-9a-fA-F])""")
_FIELDS: Final = {
    "device_id": re.compile(r"""["']did["']\s*:\s*["']?(\d+)"""),
    "ip": re.compile(r"""["'](?:localip|localIP|localIp|ip)["']\s*:\s*["']([0-9.]+)["']"""),
    "name": re.compile(r"""["']name["']\s*:\s*["']([^"']{1,80})["']"""),
    "model": re.compile(r"""["']model["']\s*:\s*["']([A-Za-z0-9._-]{1,80})["']"""),
    "mac": re.compile(r"""["']mac["']\s*:\s*["']([0-9A-Fa-f:]{17})["']"""),
}
_WINDOW: Final = 4096
_BRACES: Final = re.compile(r"[{}]")


def scan_cache(folder: Path) -> Extraction:
    found = Extraction()
    total = files = 0
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():  # FIFOs and devices are not files
            continue
        files += 1
        if files > MAX_FILES:
            found.notes.append(f"stopped after {MAX_FILES} files")
            break
        try:
            data = read_regular(path, MAX_FILE)
        except (OSError, MiioError) as exc:  # one unreadable file does not end the scan
            found.notes.append(f"skipped {path}: {getattr(exc, 'strerror', None) or exc}")
            continue
        total += len(data)
        if total > MAX_TOTAL:
            found.notes.append(f"stopped after reading {MAX_TOTAL} bytes")
            break
        found.extend(scan_text(data.decode("utf-8", "replace"), str(path.relative_to(folder))))
    if not found.records:
        found.notes.append(f"no tokens in the {files} file(s) under {folder}")
    return found


def scan_text(text: str, label: str) -> Extraction:
    """Every token in ``text`` with the fields of the JSON object around it (or, outside any
    object, of its line). Linear in the text: the objects are found in one pass over its
    braces, not by scanning a window around each token."""
    found = Extraction()
    matches = list(_TOKEN.finditer(text))
    if not matches:
        return found
    spans = _enclosing_objects(text, [match.start() for match in matches])
    for match, (start, end) in zip(matches, spans, strict=True):
        region = text[start:end]
        fields = {name: (m.group(1) if (m := pattern.search(region)) else None)
                  for name, pattern in _FIELDS.items()}
        record = make_record(match.group(1), label, **fields)
        if record is not None:
            found.records.append(record)
    return found


def _enclosing_objects(text: str, positions: list[int]) -> list[tuple[int, int]]:
    """For each position (ascending), the span of the innermost ``{...}`` around it, clipped to
    a window; the position's line where no object encloses it. One sweep over the braces."""
    spans: list[tuple[int, int]] = [(0, 0)] * len(positions)
    waiting: list[list[int]] = [[]]  # per open brace (index 0: outside any), positions inside
    opened: list[int] = []
    braces = _BRACES.finditer(text)
    index = 0
    for brace in braces:
        at = brace.start()
        while index < len(positions) and positions[index] < at:
            waiting[-1].append(index)
            index += 1
        if brace.group() == "{":
            opened.append(at)
            waiting.append([])
        elif opened:
            start = opened.pop()
            for inside in waiting.pop():
                spans[inside] = _clip(positions[inside], start, at + 1)
    waiting[-1].extend(range(index, len(positions)))
    starts: list[int | None] = [None, *opened]
    for opener, pending in zip(starts, waiting, strict=True):
        for inside in pending:
            position = positions[inside]
            spans[inside] = (_line(text, position) if opener is None
                             else _clip(position, opener, position + _WINDOW))
    return spans


def _clip(position: int, start: int, end: int) -> tuple[int, int]:
    return max(start, position - _WINDOW), min(end, position + _WINDOW)


def _line(text: str, position: int) -> tuple[int, int]:
    start = text.rfind("\n", max(0, position - _WINDOW), position) + 1
    end = text.find("\n", position, position + _WINDOW)
    return max(start, position - _WINDOW), end if end >= 0 else min(len(text),
                                                                     position + _WINDOW)
