"""Request ids that survive restarts: per device id, in the user's cache dir.

Vacuums and other devices ignore an id they have seen, so a CLI that starts at 1 every run
would look like a dead device. Each process reserves a block of ids under an exclusive file lock
and hands them out from memory, so two processes never send the same id and a fleet of a
thousand devices costs one small file write per device per block.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pymiio.paths import cache_dir
from pymiio.protocol.session import MAX_ID, MemoryIds, advance_id

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no fcntl; ids are then per process only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("pymiio.ids")


class FileIds:
    """Ids persisted per device under ``directory`` (default: ``<cache dir>/ids``)."""

    def __init__(self, directory: Path | None = None, block: int = 100) -> None:
        self.directory = directory if directory is not None else cache_dir() / "ids"
        self.block = max(1, min(block, MAX_ID // 4))
        self._state: dict[int, list[int]] = {}  # device id -> [next id, ids left in block]
        self._fallback: MemoryIds | None = None
        self._lock: int | None = None

    def next_id(self, device_id: int, skip: int = 0) -> int:
        if self._fallback is not None:
            return self._fallback.next_id(device_id, skip)
        state = self._state.get(device_id)
        if state is None or skip or state[1] <= 0:
            try:
                state = self._state[device_id] = [self._reserve(device_id, skip), self.block]
            except OSError as exc:
                log.warning("request ids will not persist (%s): %s", self.directory, exc)
                self._fallback = MemoryIds(advance_id(state[0], skip) if state else 1)
                return self._fallback.next_id(device_id)
        value = state[0]
        state[0] = advance_id(value, 1)
        state[1] -= 1
        return value

    def _reserve(self, device_id: int, skip: int) -> int:
        """Take ``block`` ids from the device's file under the lock; return the first."""
        path = self.directory / f"{device_id:08x}"
        lock = self._lock_fd()
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            first = advance_id(_read_int(path), skip)
            _replace(path, f"{advance_id(first, self.block)}\n".encode())
        finally:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return first

    def __del__(self) -> None:
        if self._lock is not None:
            os.close(self._lock)

    def _lock_fd(self) -> int:
        """The lock file stays open for the store's life: one open per process, not per device."""
        if self._lock is None:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        return self._lock


def _replace(path: Path, data: bytes) -> None:
    """Atomic write with mode 0600; the store's lock makes a per-process temp name enough."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_int(path: Path) -> int:
    try:
        value = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return 1
    return value if 1 <= value <= MAX_ID else 1


def default_ids() -> FileIds:
    """The process-wide store, so every device object shares one set of reservations.

    It follows PYMIIO_CACHE_DIR (tests and tools switch it); the check is a string compare
    because this runs once per device object.
    """
    global _DEFAULT, _DEFAULT_KEY
    key = os.environ.get("PYMIIO_CACHE_DIR")
    if _DEFAULT is None or key != _DEFAULT_KEY:
        _DEFAULT, _DEFAULT_KEY = FileIds(), key
    return _DEFAULT


_DEFAULT: FileIds | None = None
_DEFAULT_KEY: str | None = None

__all__ = ["FileIds", "default_ids"]
