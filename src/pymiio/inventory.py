"""Named devices and their tokens, kept in the user's config dir (``devices.json``, mode 0600).

So that ``miio send kitchen-plug get_prop power`` works, and tokens found by discovery or by
token recovery can be kept without being pasted into shell history.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pymiio.errors import InventoryError
from pymiio.paths import config_dir, write_private
from pymiio.protocol.token import Token

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass
class Entry:
    """One named device."""

    name: str
    host: str | None = None
    token: str | None = None
    model: str | None = None
    device_id: int | None = None


class Inventory:
    """The device inventory file; every change is written atomically with mode 0600."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else config_dir() / "devices.json"
        self.entries: dict[str, Entry] = self._load()

    def _load(self) -> dict[str, Entry]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InventoryError(f"cannot read the device inventory {self.path}: {exc}") from None
        devices = document.get("devices", {}) if isinstance(document, dict) else None
        if not isinstance(devices, dict):
            raise InventoryError(f"{self.path} is not a pymiio device inventory")
        fields = set(Entry.__dataclass_fields__)
        return {name: Entry(**{k: v for k, v in data.items() if k in fields} | {"name": name})
                for name, data in devices.items() if isinstance(data, dict)}

    def save(self) -> None:
        document = {"devices": {name: {k: v for k, v in asdict(entry).items()
                                       if k != "name" and v is not None}
                                for name, entry in sorted(self.entries.items())}}
        write_private(self.path, json.dumps(document, indent=2) + "\n")

    def add(self, entry: Entry) -> Entry:
        """Add or update ``entry`` (fields left None keep their old values)."""
        if not _NAME.fullmatch(entry.name):
            raise InventoryError(
                f"bad device name {entry.name!r}: letters, digits, '-', '_' and '.' only")
        if entry.token is not None:
            entry.token = Token(entry.token).hex
        old = self.entries.get(entry.name)
        if old is not None:
            for key, value in asdict(entry).items():
                if value is None:
                    setattr(entry, key, getattr(old, key))
        self.entries[entry.name] = entry
        self.save()
        return entry

    def remove(self, name: str) -> None:
        if name not in self.entries:
            raise InventoryError(f"no device named {name!r} in {self.path}")
        del self.entries[name]
        self.save()

    def find(self, name_or_host: str) -> Entry | None:
        """By name, else by host address."""
        entry = self.entries.get(name_or_host)
        if entry is not None:
            return entry
        return next((e for e in self.entries.values() if e.host == name_or_host), None)

    def tokens(self) -> list[Token]:
        """Every token in the inventory (the decoder tries them)."""
        return [Token(e.token) for e in self.entries.values() if e.token]

    def name_for(self, device_id: int | None, host: str | None) -> str:
        """A free name for a newly saved device: its model-less default is ``device-<id>``."""
        for entry in self.entries.values():
            if (device_id is not None and entry.device_id == device_id) or (
                    host is not None and entry.host == host and entry.device_id is None):
                return entry.name
        return f"device-{device_id}" if device_id is not None else f"device-{host}"


def as_dict(entry: Entry, show_token: bool) -> dict[str, Any]:
    data = asdict(entry)
    if entry.token and not show_token:
        data["token"] = Token(entry.token).masked
    return data
