"""Issue 28: the bridge as a service: its config file, `--check`, logs that say what happens,
and live reload (the inventory file and SIGHUP), against a real Mosquitto and simulated
devices."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from pymiio.bridge.config import JsonFormatter, read_config
from pymiio.bridge.core import Bridge, Settings
from pymiio.bridge.options import parse_broker
from pymiio.bridge.service import Plan, Service
from pymiio.errors import UsageError
from pymiio.inventory import Entry, Inventory
from pymiio.knowledge.lookup import describe
from pymiio.simulator import Simulator, make_devices

from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .helpers import running
from .mqtt_broker import PASSWORD, USER, Broker
from .test_bridge import _values, watching

PLUG, LAMP, OTHER = f"{NET}.130.1", f"{NET}.130.2", f"{NET}.130.3"


def _inventory(*entries: Entry) -> Path:
    with Inventory.locked() as inventory:
        for entry in entries:
            inventory.add(entry)
    return inventory.path


@asynccontextmanager
async def serving(broker: Broker, plan: Plan | None = None,
                  reread: Any = None) -> AsyncIterator[Service]:
    plan = plan or Plan(interval=1.0)
    inventory = Inventory()
    entries = [e for e in inventory.entries.values() if not plan.names or e.name in plan.names]
    settings = Settings(parse_broker(broker.url), interval=plan.interval, describe=describe)
    async with running(Service(Bridge(settings, entries), plan, inventory.path, reread)) as service:
        yield service


# -- the config file --------------------------------------------------------------------------

def test_config_file_keys_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text('interval = 30\nbase-topic = "home"\n[devices.plug]\ninterval = 5\n')
    config = read_config(path, {"interval", "base-topic"})
    assert config.options == {"interval": 30, "base-topic": "home"}
    assert config.intervals() == {"plug": 5.0}
    path.write_bytes(b"\xef\xbb\xbfinterval = 30\n")  # saved by an editor that adds a BOM
    assert read_config(path, {"interval"}).options == {"interval": 30}
    for text, expected in (('colour = "red"\n', "unknown key 'colour'"),
                           ("interval = \n", "not valid TOML"),
                           ("[devices.plug]\nspeed = 1\n", "unknown key 'speed'"),
                           ("[devices.plug]\ninterval = 0\n", "from 1 to 3600"),
                           ("devices = 3\n", "one table per device")):
        path.write_text(text)
        with pytest.raises(UsageError, match=expected):
            read_config(path, {"interval", "base-topic"})


def test_config_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text('broker = "mqtt://127.0.0.1:1"\ninterval = "often"\n')
    outcome = miio("bridge", "--config", str(path), "--check")
    assert outcome.code == 2, outcome.err
    assert outcome.err.count("\n") == 1 and "interval" in outcome.err and "often" in outcome.err
    path.write_text('broker = "mqtt://127.0.0.1:1"\nbrokre = "x"\n')
    outcome = miio("bridge", "--config", str(path), "--check")
    assert outcome.code == 2 and "unknown key 'brokre'" in outcome.err
    assert "Traceback" not in outcome.err
    missing = miio("bridge", "--check")
    assert missing.code == 2 and "no broker" in missing.err


def test_check_validates_config_and_broker(broker: Broker, tmp_path: Path) -> None:
    _inventory(Entry("plug", PLUG, TOKEN), Entry("lamp", LAMP, TOKEN))
    path = tmp_path / "bridge.toml"
    path.write_text(f'broker = "{broker.url}"\ndevice = ["plug"]\ninterval = 30\n')
    fine = miio("bridge", "--config", str(path), "--check")
    assert fine.code == 0, fine.err
    assert "1 device(s)" in fine.out and f"127.0.0.1:{broker.port}" in fine.out
    assert PASSWORD not in fine.out + fine.err
    # the command line wins over the file
    assert "2 device(s)" in miio("bridge", "--config", str(path), "--check", "--device",
                                 "plug", "--device", "lamp").out
    refused = miio("bridge", "--config", str(path), "--check", "--username", "nobody")
    assert refused.code == 1 and "refused the credentials" in refused.err
    broker.stop()
    away = miio("bridge", "--config", str(path), "--check")
    assert away.code == 3 and "cannot be reached" in away.err, away.err
    path.write_text(f'broker = "{broker.url}"\ndevice = ["ghost"]\n')
    assert miio("bridge", "--config", str(path), "--check").code == 2


# -- logs ---------------------------------------------------------------------------------------

async def test_logs_say_what_happens(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pymiio.bridge")
    _inventory(Entry("plug", PLUG, TOKEN))
    simulator = Simulator(make_devices(PLUG, token=TOKEN))
    await simulator.start()
    try:
        async with watching(broker) as mqtt, serving(broker):
            await mqtt.wait(lambda s: _values(s, "pymiio/plug"))
            await mqtt.client.publish("pymiio/plug/set", json.dumps({"power": False}))
            await mqtt.wait(lambda s: s.get("pymiio/plug/response") == {"status": "ok"})
            await mqtt.client.publish("pymiio/plug/set", json.dumps({"colour": "red"}))
            await mqtt.wait(lambda s: s.get("pymiio/plug/response", {}).get("status") ==
                            "error")
            await mqtt.client.publish("pymiio/ghost/set", "{}")
            await _until(lambda: "unknown device" in caplog.text)
            await simulator.stop()
            await mqtt.wait(lambda s: s.get("pymiio/plug/availability") == {
                "state": "offline"}, timeout=20)
    finally:
        await simulator.stop()
    text = caplog.text
    assert "connected to the broker" in text
    assert "plug: set '{\"power\": false}' (mqtt): ok" in text
    assert "plug: set '{\"colour\": \"red\"}' (mqtt): refused:" in text
    assert "command for an unknown device on 'pymiio/ghost/set'" in text
    assert "plug: offline" in text
    assert TOKEN not in text


def test_json_log_lines() -> None:
    record = logging.LogRecord("pymiio.bridge", logging.INFO, __file__, 1, "%s: online again",
                               ("plug",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "plug: online again" and line["level"] == "info"
    assert line["time"].endswith("Z") and line["logger"] == "pymiio.bridge"


# -- reload -------------------------------------------------------------------------------------

async def test_inventory_changes_are_served_without_a_restart(broker: Broker) -> None:
    _inventory(Entry("plug", PLUG, TOKEN))
    fleet = make_devices(PLUG, token=TOKEN) + make_devices(LAMP, token=TOKEN,
                                                           profile="philips.light.bulb")
    async with Simulator(fleet), watching(broker) as mqtt, serving(broker) as service:
        await mqtt.wait(lambda s: _values(s, "pymiio/plug") and any(
            t.endswith("/config") and "plug" in str(v) for t, v in s.items())
            # the availability follows the first state: wait for it too, or it lands below
            and s.get("pymiio/plug/availability") == {"state": "online"})
        await asyncio.wait_for(service.bridge.connected.wait(), 15)
        connection = service.bridge.client
        published: list[str] = []
        service.bridge.feed.subscribe(
            lambda h: published.append(h.data["topic"]) if h.kind == "publish" else None)
        _inventory(Entry("lamp", LAMP, TOKEN))  # `miio devices add` while the bridge runs
        await mqtt.wait(lambda s: _values(s, "pymiio/lamp"), timeout=20)
        assert service.bridge.client is connection  # the broker connection stayed up
        lamp_configs = [t for t, v, _ in mqtt.log if t.endswith("/config") and b'"lamp"' in v]
        assert lamp_configs
        # nothing of the plug was published again (its configs, its state, availability)
        plug_id = str(service.bridge.devices["plug"].entry.device_id)
        assert published and not [t for t in published if "pymiio/plug" in t or plug_id in t]
        with Inventory.locked() as inventory:
            inventory.remove("lamp")
        await mqtt.wait(lambda s: s.get("pymiio/lamp") is None and
                        s.get("pymiio/lamp/availability") is None, timeout=20)
        assert "lamp" not in service.bridge.devices and "plug" in service.bridge.devices
        assert all(mqtt.seen[t] is None for t in lamp_configs)  # HA forgets its entities


async def test_sighup_rereads_the_plan_and_a_bad_one_keeps_the_old(
        broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pymiio.bridge")
    _inventory(Entry("plug", PLUG, TOKEN), Entry("lamp", LAMP, TOKEN))
    plans: list[Any] = [Plan(("plug", "lamp"), 2.0, 3, {"plug": 1.0}),
                        UsageError("bridge.toml is not valid TOML")]

    def reread() -> Plan:
        answer = plans.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    fleet = make_devices(PLUG, token=TOKEN) + make_devices(LAMP, token=TOKEN)
    async with Simulator(fleet), watching(broker) as mqtt, serving(
            broker, Plan(("plug",), 3600.0), reread) as service:
        await mqtt.wait(lambda s: _values(s, "pymiio/plug"))
        assert "lamp" not in service.bridge.devices
        service.request_reload()
        await mqtt.wait(lambda s: _values(s, "pymiio/lamp"), timeout=20)
        bridge = service.bridge
        assert (bridge.settings.interval, bridge.settings.offline_after) == (2.0, 3)
        assert bridge.devices["plug"].interval == 1.0
        assert bridge.devices["lamp"].interval is None
        service.request_reload()
        await _until(lambda: "keeps its running settings" in caplog.text)
        assert bridge.settings.interval == 2.0
    assert "reload: interval 3600 s -> 2 s" in caplog.text


def test_sighup_changes_the_interval_of_a_running_bridge(broker: Broker,
                                                         tmp_path: Path) -> None:
    """The whole command: a config file, the command line winning over it, SIGHUP."""
    from .helpers import simulator_thread

    _inventory(Entry("plug", PLUG, TOKEN))
    path = tmp_path / "bridge.toml"
    path.write_text(f'broker = "mqtt://127.0.0.1:{broker.port}"\nusername = "{USER}"\n'
                    f'base-topic = "from-file"\ninterval = 3600\nlog-format = "json"\n')
    (tmp_path / "pw").write_text(PASSWORD)
    with simulator_thread(make_devices(PLUG, token=TOKEN)) as simulator:
        process = subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "bridge", "--config", str(path),
             "--base-topic", "cli", "--password-file", str(tmp_path / "pw")],
            env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = asyncio.run(_state(broker, "cli/plug"))
            assert first["power"] is True
            device = simulator.devices[0]
            device.profile.props["power"] = "off"  # changed behind the bridge's back
            path.write_text(path.read_text().replace("interval = 3600", "interval = 1"))
            process.send_signal(signal.SIGHUP)
            try:
                changed = asyncio.run(_state(broker, "cli/plug", lambda v: v["power"] is False))
            except TimeoutError:
                process.send_signal(signal.SIGTERM)
                print(process.communicate(timeout=20))
                raise
            assert changed["power"] is False
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines()]
    messages = [line["message"] for line in lines]
    assert "reload: interval 3600 s -> 1 s" in messages
    assert any(m.startswith("serving 1 device(s)") and "under cli/" in m for m in messages)


async def _state(broker: Broker, topic: str, check: Any = bool) -> Any:
    async with watching(broker, topic) as mqtt:
        return await mqtt.wait(lambda s: (v := _values(s, topic)) is not None and check(v)
                               and v, timeout=30)


async def _until(check: Any) -> None:
    async with asyncio.timeout(20):
        while not check():
            await asyncio.sleep(0.02)
