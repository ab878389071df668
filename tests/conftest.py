"""Shared fixtures: every test gets private cache/config dirs, so ids and inventories never leak."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from .mqtt_broker import Broker

settings.register_profile("default", max_examples=100, deadline=None)
settings.load_profile("default")

TOKEN = "2b00042f7481c7b056c4b410d28f33cf"
OTHER_TOKEN = "00112233445566778899aabbccddeeff"


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYMIIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYMIIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("MIIO_TOKEN", raising=False)
    return tmp_path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto of the test's own on a loopback port (tests/mqtt_broker.py), removed after;
    the test skips where Mosquitto is missing."""
    from .mqtt_broker import Broker

    server = Broker(tmp_path).start()
    try:
        yield server
    finally:
        server.remove()
