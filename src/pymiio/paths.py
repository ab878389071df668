"""Where pymiio keeps its files: the user's cache and config dirs, overridable for tests.

``PYMIIO_CACHE_DIR`` and ``PYMIIO_CONFIG_DIR`` win over the platform defaults so that tests and
several parallel users never share state by accident.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pymiio.errors import MiioError, NotRegularFileError


def cache_dir() -> Path:
    override = os.environ.get("PYMIIO_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("pymiio", appauthor=False))


def config_dir() -> Path:
    override = os.environ.get("PYMIIO_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("pymiio", appauthor=False))


def check_regular(path: Path, *, folders: bool = False) -> os.stat_result:
    """``path``'s stat if it is a regular file (or, with ``folders``, a folder), else an error.

    Checked before anything opens it: opening a FIFO for reading blocks until a writer comes.
    """
    info = os.stat(path)
    if stat.S_ISREG(info.st_mode) or (folders and stat.S_ISDIR(info.st_mode)):
        return info
    kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(
        info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "a device or special file"
    raise NotRegularFileError(f"{path} is {kind}, not a regular file")


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, opened without blocking and
    checked again on the open descriptor (so a swap for a FIFO in between cannot hang us)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            check_regular(path)
            raise NotRegularFileError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise NotRegularFileError(f"{path} is {info.st_size} bytes; at most {limit} are read")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise NotRegularFileError(f"{path} grew past {limit} bytes while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_input(path: Path, limit: int, error: type[MiioError]) -> bytes:
    """:func:`read_regular` for a user's input file, every failure as one ``error`` line."""
    try:
        return read_regular(path, limit)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    except MiioError as exc:
        raise error(str(exc)) from None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically with mode 0600 (the file may hold tokens).

    A symlink is followed: the file it points to is replaced, the link stays a link."""
    if path.is_symlink():
        path = path.resolve()
    import tempfile  # only writers need it: kept off every command's start-up

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
