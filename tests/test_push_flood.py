"""Issue 26 item 5: a hostile device floods pushes for (siid, piid) pairs its spec lacks. The
bridge (a child process, a real Mosquitto) and ``miio watch`` drop them (counted, logged once)
and stay bounded: peak RSS measured in the test, the flood bounded in count and time."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from pymiio.inventory import Entry, Inventory
from pymiio.knowledge.miot_spec import parse_spec_text
from pymiio.simulator import Simulator, make_devices
from pymiio.simulator.device import SimulatedDevice
from pymiio.simulator.profiles import spec_profile

from . import hostile
from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .mqtt_broker import PASSWORD, USER, Broker
from .test_bridge import watching

TRAPS_FILE = Path(__file__).with_name("specs") / "traps.json"
TRAPS = parse_spec_text(TRAPS_FILE.read_bytes(), "pymiio.traps.v1")
FLOOD = 4000  # pushes of about 60 KB each: 240 MB of traffic, a million unknown pairs
FLOOD_SECONDS = 40.0


def _thing(host: str) -> SimulatedDevice:
    [device] = make_devices(host, token=TOKEN, profile=spec_profile(TRAPS))
    return device


async def _until(check: object, timeout: float = 20.0) -> None:
    async def loop() -> None:
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.02)
    await asyncio.wait_for(loop(), timeout)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def test_a_push_flood_of_unknown_properties_leaves_the_bridge_bounded(
        broker: Broker, private_dirs: Path) -> None:
    thing = _thing(f"{NET}.132.1")
    assert miio("spec", "import", str(TRAPS_FILE), "--model", "pymiio.traps.v1").code == 0
    with Inventory.locked() as inventory:
        inventory.add(Entry("thing", thing.host, TOKEN, "pymiio.traps.v1"))
    password = private_dirs / "password"
    password.write_text(PASSWORD)
    log_file = private_dirs / "bridge.log"
    async with Simulator([thing]) as simulator, watching(broker, "pymiio/thing") as mqtt:
        log = log_file.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "bridge", "--broker",
             f"mqtt://127.0.0.1:{broker.port}", "--username", USER, "--password-file",
             str(password), "--interval", "5"],
            env=os.environ, stdout=subprocess.DEVNULL, stderr=log)  # a file: never blocks
        try:
            await _until(lambda: thing.subscribers)
            sent = await hostile.flood_unknown_pushes(simulator, thing, FLOOD, FLOOD_SECONDS)
            assert sent > 100
            thing.set_value(2, 5, 95)  # a known change after the flood: the bridge caught up
            simulator.flush(thing)
            state = await mqtt.wait(lambda s: (s.get("pymiio/thing") or {}).get(
                "thing:speed") == 95 and s["pymiio/thing"], timeout=60)
            peak = hostile.peak_rss_mb(process.pid)
            assert set(state) <= {p.name for p in TRAPS.properties}  # nothing unknown kept
            print(f"bridge: {sent} pushes, peak RSS {peak} MB")
            assert peak < 200, f"the bridge peaked at {peak} MB"
        finally:
            _stop(process)
            log.close()
    err = log_file.read_text()
    assert err.count("which its description does not have") == 1, err  # logged once


async def test_a_push_flood_of_unknown_properties_leaves_watch_bounded() -> None:
    thing = _thing(f"{NET}.132.2")
    async with Simulator([thing]) as simulator:
        process = subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "watch", thing.host, "--token", TOKEN,
             "--spec", str(TRAPS_FILE), "--json", "--count", "2", "--interval", "3600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            await _until(lambda: thing.subscribers)
            sent = await hostile.flood_unknown_pushes(simulator, thing, FLOOD, FLOOD_SECONDS)
            assert sent > 100
            thing.set_value(2, 5, 90)
            simulator.flush(thing)
            assert process.stdout is not None
            lines = await asyncio.to_thread(
                lambda: [process.stdout.readline()  # type: ignore[union-attr]
                         for _ in range(len(TRAPS.status_properties()) + 1)])
            assert '"thing:speed"' in lines[-1] and '"value": 90' in lines[-1]
            peak = hostile.peak_rss_mb(process.pid)
            print(f"watch: {sent} pushes, peak RSS {peak} MB")
            assert peak < 150, f"miio watch peaked at {peak} MB"
            thing.set_value(2, 5, 85)
            simulator.flush(thing)
            out, err = await asyncio.to_thread(process.communicate, None, 30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, err
    assert '"value": 85' in out
    assert err.count("which its description does not have") == 1, err
