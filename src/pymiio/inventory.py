"""Named devices and their tokens, kept in the user's config dir (``devices.json``, mode 0600).

So that ``miio send kitchen-plug get_prop power`` works, and tokens found by discovery or by
token recovery can be kept without being pasted into shell history.

Every change goes through :meth:`Inventory.locked`: an exclusive lock (a sibling lock file,
waited for a bounded time), one read, one atomic write at the end, so parallel commands never
lose each other's entries and saving 3,000 devices is one write. An entry that does not check
out (a host that is a number, a malformed token) is skipped with a note and written back
unchanged, never dropped; a stored token is never replaced by one a device merely claims.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pymiio.address import check_host
from pymiio.errors import InventoryError, MiioError
from pymiio.paths import config_dir, read_regular, write_private
from pymiio.protocol.token import Token

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_SIZE = 16 * 1024 * 1024
LOCK_WAIT = 10.0

Merge = Literal["added", "updated", "unchanged", "conflict"]


@dataclass
class Entry:
    """One named device."""

    name: str
    host: str | None = None
    token: str | None = None
    model: str | None = None
    device_id: int | None = None


class Inventory:
    """The device inventory file. Read it with ``Inventory()``; change it inside
    ``with Inventory.locked() as inventory:`` (saved once, at the end, if changed)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else config_dir() / "devices.json"
        self.notes: list[str] = []
        self._kept: dict[str, Any] = {}  # entries that did not check out, written back as read
        self._changed = False
        self.entries: dict[str, Entry] = self._load()

    @classmethod
    @contextmanager
    def locked(cls, path: Path | None = None) -> Iterator[Inventory]:
        """The inventory under an exclusive lock; written once on a clean exit if changed."""
        target = path if path is not None else config_dir() / "devices.json"
        with _file_lock(target):
            inventory = cls(target)
            yield inventory
            if inventory._changed:
                inventory.save()

    def _load(self) -> dict[str, Entry]:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise InventoryError(f"cannot read the device inventory {self.path}: "
                                 f"{exc.strerror or exc}") from None
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
            self.notes.append(f"{self.path} is readable by other users; it holds tokens "
                              f"(chmod 600 {self.path})")
        try:
            # utf-8-sig: a byte-order mark (an editor on Windows adds one) is read past
            document = json.loads(read_regular(self.path, MAX_SIZE).decode("utf-8-sig"))
        except (OSError, MiioError) as exc:
            raise InventoryError(f"cannot read the device inventory {self.path}: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise InventoryError(f"the device inventory {self.path} is not valid JSON: "
                                 f"{reason}") from None
        devices = document.get("devices", {}) if isinstance(document, dict) else None
        if not isinstance(devices, dict):
            raise InventoryError(f"{self.path} is not a pymiio device inventory")
        entries: dict[str, Entry] = {}
        for name, data in devices.items():
            try:
                entries[name] = _entry(name, data)
            except ValueError as exc:
                self._kept[name] = data
                self.notes.append(f"{self.path}: skipped the entry {name[:64]!r}: {exc}")
        return entries

    def save(self) -> None:
        devices: dict[str, Any] = dict(self._kept)
        for name, entry in self.entries.items():
            devices[name] = {k: v for k, v in asdict(entry).items()
                             if k != "name" and v is not None}
        document = {"devices": dict(sorted(devices.items()))}
        write_private(self.path, json.dumps(document, indent=2) + "\n")
        self._changed = False

    def add(self, entry: Entry) -> Entry:
        """Add or update ``entry`` (fields left None keep their old values)."""
        checked = _entry(entry.name, {k: v for k, v in asdict(entry).items() if k != "name"},
                         error=InventoryError)
        old = self.entries.get(entry.name)
        if old is not None:
            for key, value in asdict(checked).items():
                if value is None:
                    setattr(checked, key, getattr(old, key))
        self._kept.pop(entry.name, None)
        self.entries[entry.name] = checked
        self._changed = True
        return checked

    def merge_found(self, entry: Entry) -> Merge:
        """Add a device that discovery or token recovery found, under ``entry.name``.

        A stored token is kept when the found one differs: device ids travel in clear, so
        any host can claim to be a stored device ("conflict"; nothing changes).
        """
        old = self.entries.get(entry.name)
        if old is None:
            self.add(entry)
            return "added"
        if old.token and entry.token and Token(old.token) != Token(entry.token):
            return "conflict"
        before = asdict(old)
        new = self.add(entry)
        return "unchanged" if asdict(new) == before else "updated"

    def remove(self, name: str) -> None:
        if name not in self.entries and name not in self._kept:
            raise InventoryError(f"no device named {name!r} in {self.path}")
        self.entries.pop(name, None)
        self._kept.pop(name, None)
        self._changed = True

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


def _entry(name: str, data: Any, error: type[Exception] = ValueError) -> Entry:
    """An Entry from stored data, every field checked (``error`` is raised otherwise).

    For a new entry (``error`` a MiioError) a bad host or token raises its own AddressError
    or TokenError, so the command line says what to fix with the right exit code."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise error(f"bad device name {str(name)[:64]!r}: letters, digits, '-', '_' and '.' "
                    "only, at most 64")
    if not isinstance(data, dict):
        raise error("not an object")
    host, token, model, device_id = (data.get(key) for key in
                                     ("host", "token", "model", "device_id"))
    try:
        if host is not None:
            if not isinstance(host, str):
                raise error(f"host is not text ({type(host).__name__})")
            check_host(host)
        if token is not None:
            if not isinstance(token, str):
                raise error("token is not text")
            token = Token(token).hex
    except MiioError as exc:
        if issubclass(error, MiioError):
            raise
        raise error(str(exc)) from None
    if model is not None and (not isinstance(model, str) or len(model) > 128):
        raise error("model is not a short text")
    if device_id is not None and (type(device_id) is not int or not 0 <= device_id < 2**64):
        raise error("device_id is not a 64-bit number")
    return Entry(name, host, token, model, device_id)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``.<name>.lock`` beside ``path``, waited for at most LOCK_WAIT."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            deadline = time.monotonic() + LOCK_WAIT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise InventoryError(f"another pymiio command holds {path} "
                                             f"(waited {LOCK_WAIT:g} s)") from None
                    time.sleep(0.01)
        yield
    finally:
        os.close(fd)


def as_dict(entry: Entry, show_token: bool) -> dict[str, Any]:
    data = asdict(entry)
    if entry.token and not show_token:
        data["token"] = Token(entry.token).masked
    return data
