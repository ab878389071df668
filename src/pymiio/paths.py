"""Where pymiio keeps its files: the user's cache and config dirs, overridable for tests.

``PYMIIO_CACHE_DIR`` and ``PYMIIO_CONFIG_DIR`` win over the platform defaults so that tests and
several parallel users never share state by accident.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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


def write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically with mode 0600 (the file may hold tokens)."""
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
