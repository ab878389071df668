"""Request ids that survive restarts: per device id, in the user's cache dir.

Vacuums and other devices ignore an id they have seen, so a CLI that starts at 1 every run
would look like a dead device. Each process reserves blocks of ids under an exclusive file lock
and hands them out from memory, so two processes never send the same id and a fleet of a
thousand devices costs one small file write per device per block.

Each device has a current block and up to two spares. A call starts with at least one spare
(:meth:`FileIds.ready`), so a jump after a timeout moves within the current block or to a
spare, never to the disk, and ``AsyncDevice`` does all disk work in a thread
(:meth:`FileIds.prepare`) and none on the event loop. The first reservation takes a current
block and one spare of ``block`` ids (100): a one-shot command uses few. Further spares are
reserved in the background once half the current block is used (:meth:`FileIds.short`),
each twice the size of the last, up to ``MAX_BLOCK``: a busy device moves from block to
block without waiting for the disk, and writes the file once per thousand calls rather than
once per hundred (a reservation costs about half a millisecond of a worker thread).
The store is safe to share between threads; the file lock is waited for a bounded time.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from pathlib import Path

from pymiio.paths import cache_dir
from pymiio.protocol.session import MAX_ID, MemoryIds, advance_id

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no fcntl; ids are then per process only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("pymiio.lan.ids")

LOCK_WAIT = 0.5  # seconds to wait for another process's reservation before using memory ids
SPARES = 2  # spare blocks kept per busy device (see the module docstring)
MAX_BLOCK = 1000  # the size a busy device's blocks grow to: a tenth of the id space

Block = tuple[int, int]  # a reserved block: its first id and its size


class _Blocks:
    """One device's reserved ids: the current block and untouched spares."""

    __slots__ = ("left", "next", "size", "spares")

    def __init__(self, block: Block, spares: list[Block] | None = None) -> None:
        self.next, self.size = block
        self.left = self.size
        self.spares: list[Block] = spares if spares is not None else []

    def ready(self) -> bool:
        """Ids in hand, and a spare left once a used-up current block is replaced by one."""
        return len(self.spares) > (self.left <= 0)

    def short(self) -> bool:
        """Half the current block is used and a spare is missing: time to reserve ahead."""
        return self.left < self.size // 2 and len(self.spares) < SPARES

    def grown(self) -> int:
        """The size of the next spare: twice the last one, up to MAX_BLOCK."""
        last = self.spares[-1][1] if self.spares else self.size
        return min(MAX_BLOCK, 2 * last)


class FileIds:
    """Ids persisted per device under ``directory`` (default: ``<cache dir>/ids``)."""

    def __init__(self, directory: Path | None = None, block: int = 100,
                 lock_wait: float = LOCK_WAIT) -> None:
        self.directory = directory if directory is not None else cache_dir() / "ids"
        self.block = max(1, min(block, MAX_ID // 8))
        self.lock_wait = lock_wait
        self._state: dict[int, _Blocks] = {}
        self._mutex = threading.Lock()  # the in-memory blocks
        self._disk = threading.Lock()  # the files (taken inside _mutex by next_id, never the
        # other way round)
        self._fallback: MemoryIds | None = None
        self._lock: int | None = None

    def next_id(self, device_id: int, skip: int = 0) -> int:
        with self._mutex:
            if self._fallback is not None:
                return self._fallback.next_id(device_id, skip)
            blocks = self._state.get(device_id)
            if blocks is None or blocks.left <= skip:
                blocks = self._take_block(device_id, blocks)
                if blocks is None:
                    assert self._fallback is not None
                    return self._fallback.next_id(device_id)
            elif skip:
                blocks.next, blocks.left = advance_id(blocks.next, skip), blocks.left - skip
            value = blocks.next
            blocks.next, blocks.left = advance_id(value, 1), blocks.left - 1
            return value

    def ready(self, device_id: int) -> bool:
        """Whether the next call to this device can get all its ids without the disk."""
        blocks = self._state.get(device_id)
        return self._fallback is not None or (blocks is not None and blocks.ready())

    def short(self, device_id: int) -> bool:
        """Whether a reservation ahead of need is due: half the current block is used and
        a spare is missing. ``prepare`` then tops the spares up, off the caller's path."""
        blocks = self._state.get(device_id)
        return self._fallback is None and blocks is not None and blocks.short()

    def prepare(self, device_id: int) -> None:
        """Reserve what :meth:`ready` and :meth:`short` ask for (blocking: call it from a
        thread in asyncio).

        The disk work runs outside the memory mutex, so the event loop's :meth:`next_id` for
        other devices never waits behind this thread's file I/O."""
        with self._mutex:
            if self._fallback is not None:
                return
            blocks = self._current(device_id)
            if blocks is None:
                sizes = [self.block, self.block]  # a current block and its first spare
            elif not blocks.spares or blocks.short():
                sizes = [blocks.grown()]  # a busy device: the next spare, larger
            else:
                return
        try:
            first = self._reserve(device_id, sum(sizes))
        except OSError as exc:
            with self._mutex:
                self._fall_back(exc, blocks)
            return
        reserved = []
        for size in sizes:
            reserved.append((first, size))
            first = advance_id(first, size)
        with self._mutex:
            self._install(device_id, reserved)

    def _current(self, device_id: int) -> _Blocks | None:
        """The device's blocks with ids left in the current one (a spare moves up when it is
        used up), None when the device has no ids in memory."""
        blocks = self._state.get(device_id)
        if blocks is not None and blocks.left <= 0:
            blocks = self._take_spare(device_id, blocks)
        return blocks

    def _install(self, device_id: int, reserved: list[Block]) -> None:
        """Put freshly reserved blocks in place (the state may have moved on meanwhile; ids of
        a reservation that is no longer needed are simply never used)."""
        blocks = self._current(device_id)
        if blocks is None:
            blocks = self._state[device_id] = _Blocks(reserved.pop(0))
        blocks.spares.extend(reserved[:max(0, SPARES - len(blocks.spares))])

    def _take_spare(self, device_id: int, blocks: _Blocks) -> _Blocks | None:
        if not blocks.spares:
            return None
        fresh = self._state[device_id] = _Blocks(blocks.spares[0], blocks.spares[1:])
        return fresh

    def _take_block(self, device_id: int, blocks: _Blocks | None) -> _Blocks | None:
        """A spare if there is one, else a block from the disk (None: fell back to memory)."""
        fresh = self._take_spare(device_id, blocks) if blocks is not None else None
        if fresh is None:
            try:
                fresh = _Blocks((self._reserve(device_id, self.block), self.block))
            except OSError as exc:
                self._fall_back(exc, blocks)
                return None
            self._state[device_id] = fresh
        return fresh

    def _fall_back(self, exc: OSError, blocks: _Blocks | None) -> None:
        log.warning("request ids will not persist (%s): %s", self.directory, exc)
        start = blocks.next if blocks is not None else random.randint(1, MAX_ID)
        self._fallback = MemoryIds(start)

    def _reserve(self, device_id: int, count: int) -> int:
        """Take ``count`` ids from the device's file under the lock; return the first one."""
        path = self.directory / f"{device_id:08x}"
        with self._disk:  # threads share the lock file's description: flock alone would not
            lock = self._lock_fd()  # keep two of them out of the same read-modify-write
            self._acquire(lock)
            try:
                first = _read_int(path)
                _replace(path, f"{advance_id(first, count)}\n".encode())
            finally:
                if fcntl is not None:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        return first

    def _acquire(self, lock: int) -> None:
        """The file lock, waited for at most ``lock_wait`` seconds (a stuck process holding it
        must not stall every call)."""
        if fcntl is None:
            return
        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"another process holds {self.directory / '.lock'}"
                                       ) from None
                time.sleep(0.01)

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
    """Atomic write with mode 0600; the temp name is unique per process and thread."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_int(path: Path) -> int:
    try:
        value = int(path.read_text().strip())
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
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
        with _DEFAULT_MUTEX:
            if _DEFAULT is None or key != _DEFAULT_KEY:
                _DEFAULT, _DEFAULT_KEY = FileIds(), key
    return _DEFAULT


_DEFAULT: FileIds | None = None
_DEFAULT_KEY: str | None = None
_DEFAULT_MUTEX = threading.Lock()

__all__ = ["FileIds", "default_ids"]
