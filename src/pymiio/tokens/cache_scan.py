"""Mi Home cache files (``/data/data/com.xiaomi.smarthome/cache/smrc4-cache``).

The original advice was ``grep -nr token .``; this does the same and, for each token, reads the
device id, ip, name and model from the JSON object around it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from pymiio.errors import BackupError
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


def scan_cache(folder: Path) -> Extraction:
    found = Extraction()
    total = files = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        files += 1
        if files > MAX_FILES:
            found.notes.append(f"stopped after {MAX_FILES} files")
            break
        try:
            size = path.stat().st_size
            if size > MAX_FILE:
                found.notes.append(f"{path} skipped: larger than {MAX_FILE} bytes")
                continue
            total += size
            if total > MAX_TOTAL:
                found.notes.append(f"stopped after reading {MAX_TOTAL} bytes")
                break
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError as exc:
            raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
        found.extend(scan_text(text, str(path.relative_to(folder))))
    if not found.records:
        found.notes.append(f"no tokens in the {files} file(s) under {folder}")
    return found


def scan_text(text: str, label: str) -> Extraction:
    found = Extraction()
    for match in _TOKEN.finditer(text):
        start, end = _enclosing_object(text, match.start())
        region = text[start:end]
        fields = {name: (m.group(1) if (m := pattern.search(region)) else None)
                  for name, pattern in _FIELDS.items()}
        record = make_record(match.group(1), label, **fields)
        if record is not None:
            found.records.append(record)
    return found


def _enclosing_object(text: str, position: int) -> tuple[int, int]:
    """The span of the innermost ``{...}`` around ``position`` (bounded by a window)."""
    low = max(0, position - _WINDOW)
    depth, start = 0, low
    for index in range(position, low - 1, -1):
        char = text[index]
        if char == "}":
            depth += 1
        elif char == "{":
            if depth == 0:
                start = index
                break
            depth -= 1
    high = min(len(text), position + _WINDOW)
    depth, end = 0, high
    for index in range(position, high):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                end = index + 1
                break
            depth -= 1
    return start, end
