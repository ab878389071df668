"""Loopback addresses per test run, so two ``make test`` runs can share one machine.

Every address in 127.0.0.0/8 is local on Linux. Each run claims one 127.X.0.0/16 block by
holding an exclusive lock on a file named after X for as long as the process lives; the tests
then build their device addresses as ``f"{NET}.10.1"``. A crashed run's lock dies with it.
"""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path

_LOCK_DIR = Path(tempfile.gettempdir()) / "pymiio-test-nets"
_held: list[int] = []


def _claim() -> str:
    _LOCK_DIR.mkdir(mode=0o777, exist_ok=True)
    candidates = list(range(16, 250))
    random.SystemRandom().shuffle(candidates)
    for block in candidates:
        fd = os.open(_LOCK_DIR / f"{block}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held.append(fd)
        return f"127.{block}"
    raise RuntimeError("every 127.X.0.0/16 block is claimed by another test run")


NET = os.environ.get("PYMIIO_TEST_NET") or _claim()
