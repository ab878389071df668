"""What a newcomer following README.md and docs/cli.md meets: each command prints what the docs
say, in the same way wherever the same thing is shown."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time

import pytest

from pymiio.bridge.core import Bridge, Settings
from pymiio.bridge.options import parse_broker
from pymiio.bridge.service import Plan, Service
from pymiio.inventory import Entry, Inventory
from pymiio.knowledge.lookup import describe
from pymiio.simulator import Simulator, make_devices, profile_for

from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .helpers import simulator_thread
from .mqtt_broker import Broker


def test_watch_prints_a_change_as_get_prints_the_value() -> None:
    """`get` prints `Sleep (1)`; a change of the same property in `watch` reads the same."""
    [purifier] = make_devices(f"{NET}.231.1", token=TOKEN, profile=profile_for("airpurifier"))
    with simulator_thread([purifier]):
        process = subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "watch", purifier.host, "--token", TOKEN,
             "--count", "1", "--interval", "3600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not purifier.subscribers and time.monotonic() < deadline:
                time.sleep(0.02)
            assert miio("set", purifier.host, "mode", "favorite", "--token", TOKEN).code == 0
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        got = miio("get", purifier.host, "mode", "--token", TOKEN)
    assert process.returncode == 0, err
    assert got.out == "air-purifier:mode: Favorite (2)\n"
    assert out.rstrip("\n").splitlines()[-1] == "air-purifier:mode: Favorite (2)  [push]"


def test_a_usage_error_is_one_error_line_with_exit_2() -> None:
    """docs/cli.md: errors are one line on stderr starting `error: `; click's are no exception."""
    typo = miio("stauts", "x")
    assert (typo.code, typo.out) == (2, "")
    assert typo.err == ("error: No such command 'stauts'; did you mean 'status'? "
                        "(see 'miio --help')\n")
    missing = miio("get")
    assert missing.code == 2
    assert missing.err == "error: Missing argument 'DEVICE'. (see 'miio get --help')\n"
    as_json = miio("status", "--json")
    assert as_json.code == 2
    assert json.loads(as_json.err) == {"error": {
        "message": "Missing argument 'DEVICE'. (see 'miio status --help')",
        "type": "UsageError", "exit_code": 2}}


def test_bridge_device_not_in_the_inventory_suggests_close_names() -> None:
    """`--device kitchen` for `kitchen-plug`: the bridge suggests as every other command does."""
    assert miio("devices", "add", "kitchen-plug", "--host", f"{NET}.231.2", "--token", TOKEN,
                "--no-check").code == 0
    done = miio("bridge", "--broker", "mqtt://127.0.0.1:1", "--device", "kitchen", "--check")
    assert (done.code, done.out) == (2, "")
    assert done.err == ("error: no device named kitchen in the inventory; "
                        "did you mean 'kitchen-plug'?\n")


async def test_a_device_removed_from_the_dashboard_is_no_longer_asked_for(
        broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    """`device = ["plug", "lamp"]`: removing both from the dashboard leaves the bridge serving
    none (not, the list being empty, every device of the inventory), and later inventory changes
    do not warn about the removed names."""
    plug, lamp, other = f"{NET}.231.3", f"{NET}.231.4", f"{NET}.231.5"
    with Inventory.locked() as inventory:
        for name, host in (("plug", plug), ("lamp", lamp), ("other", other)):
            inventory.add(Entry(name, host, TOKEN))
    fleet = [*make_devices(plug, 3, token=TOKEN)]
    settings = Settings(parse_broker(broker.url), interval=3600.0, describe=describe)
    entries = [e for e in Inventory().entries.values() if e.name in ("plug", "lamp")]
    service = Service(Bridge(settings, entries), Plan(("plug", "lamp"), 3600.0),
                      Inventory().path)
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, "pymiio.bridge")
    async with Simulator(fleet):
        task = asyncio.create_task(service.run(stop))
        try:
            await asyncio.wait_for(service.bridge.connected.wait(), 15)
            await service.remove("plug")
            assert sorted(service.bridge.devices) == ["lamp"]
            await service.remove("lamp")
            assert service.bridge.devices == {}
            with Inventory.locked() as inventory:  # `miio devices add` while it runs
                inventory.add(Entry("more", f"{NET}.231.6", TOKEN))
            await service.sync(force=True)
            assert service.bridge.devices == {}
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
    assert "no device named" not in caplog.text
