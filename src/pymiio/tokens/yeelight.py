"""The Yeelight app's ``miot.xml`` (Android shared preferences holding JSON device entries)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from typing import Any

from pymiio.errors import BackupError
from pymiio.tokens.records import Extraction, make_record

MAX_XML = 64 * 1024 * 1024


def read_yeelight_xml(data: bytes, label: str = "miot.xml") -> Extraction:
    if len(data) > MAX_XML:
        raise BackupError(f"{label} is larger than {MAX_XML} bytes")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise BackupError(f"{label} is not valid XML: {exc}") from None
    found = Extraction()
    for element in root.iter():
        for text in (element.text, *element.attrib.values()):
            for entry in _entries(text):
                record = make_record(
                    entry.get("token"), label, name=entry.get("name"), model=entry.get("model"),
                    ip=entry.get("localip") or entry.get("localIp") or entry.get("ip"),
                    mac=entry.get("mac"), device_id=entry.get("did"))
                if record is not None:
                    found.records.append(record)
    if not found.records:
        found.notes.append(f"{label} holds no device tokens")
    return found


def _entries(text: str | None) -> Iterator[dict[str, Any]]:
    """Every JSON object with a ``token`` key inside a preference value."""
    if not text or "token" not in text:
        return
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past what can be read
        return
    yield from _walk(value, depth=0)


def _walk(value: Any, depth: int) -> Iterator[dict[str, Any]]:
    if depth > 32:
        return
    if isinstance(value, dict):
        if "token" in value:
            yield value
        for child in value.values():
            yield from _walk(child, depth + 1)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child, depth + 1)
    elif isinstance(value, str) and value.lstrip().startswith(("{", "[")) and "token" in value:
        yield from _entries(value)  # JSON stored as a string inside JSON
