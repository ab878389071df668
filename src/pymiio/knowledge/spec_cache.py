"""Parsed specs kept between runs, so a command does not parse the same spec file every time.

A spec's :class:`DeviceModel` is pickled under ``<cache dir>/parsed/``, named by a hash of the
spec's bytes, the model name and the parser's own source files (their size and time), so an
edited spec, another model name or a changed parser each get a fresh parse and an old entry is
never read with a new layout. The folder is the user's own (mode 0700); one that another user
could write to is not read from. Anything wrong with an entry (truncated, unreadable, another
shape) means a parse as if there were none; writing is best effort and bounded
(``MAX_ENTRIES``, the oldest go).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

from pymiio import __version__
from pymiio.knowledge import miot_spec
from pymiio.knowledge import model as model_module
from pymiio.knowledge.model import DeviceModel
from pymiio.paths import cache_dir

MAX_ENTRIES: Final = 256
Parse = Callable[[bytes, str], DeviceModel]


def parsed(text: bytes, model: str, parse: Parse, directory: Path | None = None) -> DeviceModel:
    """``parse(text, model)``, from the cache when this spec was parsed before."""
    folder = directory if directory is not None else cache_dir() / "parsed"
    key = _key(text, model)
    entry = folder / f"{key}.pickle"
    if _trusted(folder):
        found = _load(entry, model)
        if found is not None:
            return found
    result = parse(text, model)
    _store(folder, entry, result)
    return result


def _key(text: bytes, model: str) -> str:
    digest = hashlib.sha256(text)
    digest.update(f"\0{model}\0{_layout()}".encode())
    return digest.hexdigest()[:40]


def _layout() -> str:
    """What the pickled layout depends on: the parser's files, pymiio's and Python's version."""
    parts = [__version__, f"{sys.version_info[0]}.{sys.version_info[1]}"]
    for module in (model_module, miot_spec):
        try:
            info = os.stat(module.__file__ or "")
            parts.append(f"{info.st_size}-{info.st_mtime_ns}")
        except OSError:
            parts.append("?")
    return "/".join(parts)


def _trusted(folder: Path) -> bool:
    """The folder exists, is ours and nobody else may write to it."""
    try:
        info = folder.stat()
    except OSError:
        return False
    owner = getattr(os, "getuid", None)
    return (owner is None or info.st_uid == owner()) and not info.st_mode & 0o022


def _load(entry: Path, model: str) -> DeviceModel | None:
    try:
        data = entry.read_bytes()
        found = pickle.loads(data)
    except Exception:  # missing, unreadable or not a pickle of ours: parse instead
        return None
    if not isinstance(found, DeviceModel) or found.model != model:
        return None
    return found


def _store(folder: Path, entry: Path, result: DeviceModel) -> None:
    try:
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _trusted(folder):
            return
        _prune(folder)
        tmp = folder / f".{entry.name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, entry)
    except (OSError, pickle.PicklingError, RecursionError, TypeError, AttributeError):
        return  # a cache that cannot be written only costs the next run a parse


def _prune(folder: Path) -> None:
    if len(os.listdir(folder)) < MAX_ENTRIES:
        return
    entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
    for old in entries[:max(0, len(entries) - MAX_ENTRIES + 1)]:
        old.unlink(missing_ok=True)
