"""Issue 17: `miio bridge` against a real Mosquitto and simulated devices, driven by an MQTT
client of the tests' own: topics, retained state, HA discovery, feedback, availability,
HA's birth message, a broker restart, a wrong password, two bridges, SIGTERM, no tokens."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from pymiio.bridge.core import Bridge, BridgeError, Settings
from pymiio.bridge.options import parse_broker
from pymiio.inventory import Entry, Inventory
from pymiio.knowledge.lookup import describe
from pymiio.simulator import Simulator, make_devices

from .addresses import NET
from .conftest import OTHER_TOKEN, TOKEN
from .ha_schema import problems, reads
from .helpers import running
from .mqtt_broker import PASSWORD, USER, Broker

PLUG, PURIFIER, VACUUM, BULB = (f"{NET}.120.1", f"{NET}.120.2", f"{NET}.120.3",
                                f"{NET}.120.4")


def _fleet() -> list[Any]:
    return (make_devices(PLUG, token=TOKEN) + make_devices(PURIFIER, token=TOKEN,
                                                           profile="airpurifier")
            + make_devices(VACUUM, token=TOKEN, profile="vacuum")
            + make_devices(BULB, token=OTHER_TOKEN, profile="philips.light.bulb"))


def _entries() -> list[Entry]:
    return [Entry("plug", PLUG, TOKEN), Entry("purifier", PURIFIER, TOKEN),
            Entry("vacuum", VACUUM, TOKEN), Entry("bulb", BULB, OTHER_TOKEN)]


class Watcher:
    """The tests' own MQTT client: everything it saw, by topic (the last payload wins)."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.seen: dict[str, Any] = {}
        self.log: list[tuple[str, Any, bool]] = []
        self._changed = asyncio.Event()

    async def pump(self) -> None:
        async for message in self.client.messages:
            raw = bytes(message.payload or b"")
            try:
                value: Any = json.loads(raw) if raw else None
            except ValueError:
                value = raw.decode()
            self.seen[str(message.topic)] = value
            self.log.append((str(message.topic), raw, bool(message.retain)))
            self._changed.set()

    async def wait(self, check: Any, timeout: float = 15.0) -> Any:
        async def loop() -> Any:
            while True:
                result = check(self.seen)
                if result:
                    return result
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(loop(), timeout)


@asynccontextmanager
async def watching(broker: Broker, *topics: str) -> AsyncIterator[Watcher]:
    async with aiomqtt.Client("127.0.0.1", broker.port, username=USER,
                              password=PASSWORD) as client:
        for topic in topics or ("#",):
            await client.subscribe(topic)
        watcher = Watcher(client)
        task = asyncio.create_task(watcher.pump())
        try:
            yield watcher
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


@asynccontextmanager
async def bridging(broker: Broker, base: str = "pymiio", interval: float = 1.0,
                   entries: list[Entry] | None = None) -> AsyncIterator[Bridge]:
    settings = Settings(parse_broker(broker.url), base=base, interval=interval,
                        describe=describe, client_id=f"test-{base}")
    async with running(Bridge(settings, entries if entries is not None else _entries())) as bridge:
        yield bridge


def _values(seen: dict[str, Any], topic: str) -> dict[str, Any] | None:
    value = seen.get(topic)
    return value if isinstance(value, dict) and value else None


async def test_topics_state_discovery_and_commands(broker: Broker) -> None:
    async with Simulator(_fleet()), watching(broker) as mqtt, bridging(broker):
        assert await mqtt.wait(lambda s: s.get("pymiio/bridge/state") == {"state": "online"})
        plug = await mqtt.wait(lambda s: _values(s, "pymiio/plug"))
        assert plug == {"power": True, "temperature": 42, "wifi-led": False}
        purifier = await mqtt.wait(lambda s: _values(s, "pymiio/purifier"))
        assert purifier["air-purifier:mode"] == 1 and purifier["environment:temperature"] == 21.5
        await mqtt.wait(lambda s: s.get("pymiio/vacuum/vacuum") == {"state": "docked",
                                                                    "fan_speed": "Balanced"})
        assert await mqtt.wait(lambda s: s.get("pymiio/plug/availability") == {
            "state": "online"})
        devices = await mqtt.wait(lambda s: len(s.get("pymiio/bridge/devices") or []) == 4 and
                                  all(d["model"] for d in s["pymiio/bridge/devices"]) and
                                  s["pymiio/bridge/devices"])
        assert {d["name"]: d["model"] for d in devices} == {
            "plug": "chuangmi.plug.m1", "purifier": "pymiio.airpurifier.v1",
            "vacuum": "roborock.vacuum.s5", "bulb": "philips.light.bulb"}

        # Home Assistant discovery: one config per device, and one for the bridge itself
        def discovered(seen: dict[str, Any]) -> dict[str, Any] | None:
            found = {v["device"]["name"]: v for t, v in seen.items()
                     if t.startswith("homeassistant/device/") and t.endswith("/config") and
                     isinstance(v, dict)}
            return found if len(found) == 5 else None

        configs = await mqtt.wait(discovered)
        assert not [t for t in mqtt.seen if t.startswith("homeassistant/") and t.endswith(
            "/config") and not t.startswith("homeassistant/device/")]  # no per-entity topics
        hub = configs.pop("pymiio bridge (pymiio)")["device"]["identifiers"][0]
        for name, config in configs.items():
            assert problems(config) == [], name
            assert config["device"]["via_device"] == hub
            assert config["availability"][0]["topic"] == "pymiio/bridge/state"
            assert config["origin"]["name"] == "pymiio"
            state = await mqtt.wait(lambda s, n=name: _values(s, f"pymiio/{n}"))
            for entity in config["components"].values():
                if entity["platform"] not in ("event", "vacuum"):
                    assert reads(entity) <= set(state), (name, entity)  # every key published
        by_platform = {(name, e["platform"]): e for name, config in configs.items()
                       for e in config["components"].values() if e["name"] is None}
        assert set(by_platform) == {("bulb", "light"), ("purifier", "fan"),
                                    ("vacuum", "vacuum"), ("plug", "switch")}
        light = by_platform["bulb", "light"]
        assert configs["bulb"]["device"]["model_id"] == "philips.light.bulb"
        assert light["brightness_command_topic"] == "pymiio/bulb/set/brightness"
        fan = by_platform["purifier", "fan"]
        assert fan["command_topic"] == "pymiio/purifier/set/air-purifier:on"
        assert fan["preset_modes"] == ["Auto", "Sleep", "Favorite", "Idle"]
        vacuum = by_platform["vacuum", "vacuum"]
        assert vacuum["payload_return_to_base"] == "home" and "locate" in vacuum[
            "supported_features"]
        purifier = configs["purifier"]["components"]
        temperature = next(c for c in purifier.values()
                           if c.get("value_template", "").endswith(
                               '["environment:temperature"] }}'))
        assert (temperature["unit_of_measurement"], temperature["device_class"],
                temperature["state_class"]) == ("°C", "temperature", "measurement")
        number = next(c for c in purifier.values() if "favorite-level" in
                      c.get("command_topic", ""))
        assert (number["min"], number["max"], number["step"]) == (0, 14, 1)
        unique = [c["unique_id"] for config in configs.values()
                  for c in config["components"].values()]
        assert len(set(unique)) == len(unique)  # distinct

        # commands and feedback
        await mqtt.client.publish("pymiio/bulb/set", json.dumps(
            {"brightness": 55, "scene": "tv", "transaction": "t-1"}))
        assert await mqtt.wait(lambda s: s.get("pymiio/bulb/response") == {
            "status": "ok", "transaction": "t-1"})
        assert (await mqtt.wait(lambda s: (_values(s, "pymiio/bulb") or {}).get(
            "brightness") == 55 and s["pymiio/bulb"]))["scene"] == 2
        await mqtt.client.publish("pymiio/purifier/set/mode", "sleep")
        await mqtt.wait(lambda s: (_values(s, "pymiio/purifier") or {}).get(
            "air-purifier:mode") == 1)
        await mqtt.client.publish("pymiio/bulb/set", json.dumps(
            {"brightness": 150, "transaction": 7}))
        refused = await mqtt.wait(lambda s: s.get("pymiio/bulb/response", {}).get(
            "transaction") == 7 and s["pymiio/bulb/response"])
        assert refused["status"] == "error" and "from 1 to 100" in refused["error"]
        await mqtt.client.publish("pymiio/vacuum/action", json.dumps({"name": "start"}))
        await mqtt.wait(lambda s: s.get("pymiio/vacuum/vacuum", {}).get("state") ==
                        "cleaning")
        await mqtt.client.publish("pymiio/plug/action", "toggle")
        await mqtt.wait(lambda s: (_values(s, "pymiio/plug") or {}).get("power") is False)
        await mqtt.client.publish("pymiio/vacuum/action", "home")
        await mqtt.wait(lambda s: s.get("pymiio/vacuum/vacuum", {}).get("state") ==
                        "returning")
        await mqtt.client.publish("pymiio/plug/get", "")
        assert not any(TOKEN.encode() in raw or OTHER_TOKEN.encode() in raw
                       for _, raw, _ in mqtt.log)  # no token in any message


async def test_availability_follows_the_device(broker: Broker) -> None:
    async with watching(broker) as mqtt:
        devices = make_devices(PLUG, token=TOKEN)
        simulator = Simulator(devices)
        await simulator.start()
        async with bridging(broker, entries=[Entry("plug", PLUG, TOKEN)]):
            await mqtt.wait(lambda s: s.get("pymiio/plug/availability") == {"state": "online"})
            await simulator.stop()
            await mqtt.wait(lambda s: s.get("pymiio/plug/availability") == {
                "state": "offline"}, timeout=20)
            simulator = Simulator(make_devices(PLUG, token=TOKEN))
            await simulator.start()
            await mqtt.wait(lambda s: s.get("pymiio/plug/availability") == {"state": "online"},
                            timeout=20)
        await simulator.stop()
        assert mqtt.seen["pymiio/bridge/state"] == {"state": "offline"}  # a clean stop


async def test_birth_message_and_broker_restart_republish_everything(broker: Broker) -> None:
    async with Simulator(_fleet()[:1]), bridging(
            broker, entries=[Entry("plug", PLUG, TOKEN)]) as bridge:
        async with watching(broker) as mqtt:
            await mqtt.wait(lambda s: _values(s, "pymiio/plug"))
            configs = [t for t in mqtt.seen if t.endswith("/config")]
            assert configs
            mqtt.seen.clear()
            await mqtt.client.publish("homeassistant/status", "online")
            await mqtt.wait(lambda s: all(t in s for t in configs))
        broker.stop()  # retained messages die with it
        await asyncio.wait_for(_until(lambda: not bridge.connected.is_set()), 10)
        broker.start()
        await asyncio.wait_for(bridge.connected.wait(), 30)
        async with watching(broker) as mqtt:
            await mqtt.wait(lambda s: s.get("pymiio/bridge/state") == {"state": "online"} and
                            _values(s, "pymiio/plug") and
                            s.get("pymiio/plug/availability") == {"state": "online"} and
                            all(t in s for t in configs))
            await mqtt.client.publish("pymiio/plug/set/power", "off")  # commands work again
            assert await mqtt.wait(lambda s: s.get("pymiio/plug/response") == {"status": "ok"})


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.02)


async def test_a_wrong_password_is_one_error_not_a_retry_storm(broker: Broker) -> None:
    settings = Settings(parse_broker(f"mqtt://{USER}:wrong@127.0.0.1:{broker.port}"),
                        describe=describe)
    with pytest.raises(BridgeError, match="refused the credentials"):
        await asyncio.wait_for(Bridge(settings, []).run(asyncio.Event()), 15)


async def test_polls_of_a_fleet_start_together_on_a_tick_grid(
        broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19: 40 devices every 1 s are polled on the 0.1 s grid, several per tick, so the
    bridge wakes a few times a second rather than once per device; every device is polled."""
    import pymiio.bridge.core as core

    waits: list[float] = []
    real_sleep_until = core.sleep_until

    async def recording(when: float) -> None:
        waits.append(when)
        await real_sleep_until(when)

    monkeypatch.setattr(core, "sleep_until", recording)
    devices = make_devices(f"{NET}.121.1", 40, token=TOKEN)
    entries = [Entry(f"p{index}", d.host, TOKEN, "chuangmi.plug.m1")
               for index, d in enumerate(devices)]
    async with Simulator(devices, broadcast=False), \
            watching(broker, "pymiio/+") as watcher, bridging(broker, entries=entries) as bridge:
        await watcher.wait(lambda seen: sum(1 for t in seen if t.startswith("pymiio/p")) == 40)
        first_round = waits[:40]
        assert len(first_round) == 40
        ticks = {round((when - bridge._epoch) / core.POLL_TICK, 6) for when in first_round}
        assert ticks <= {float(k) for k in range(10)}  # whole ticks inside the interval
        assert len(set(first_round)) == len(ticks) <= 10  # devices of a tick share one time


async def test_two_bridges_share_one_broker(broker: Broker) -> None:
    async with Simulator(_fleet()), watching(broker) as mqtt:
        first = [Entry("plug", PLUG, TOKEN), Entry("purifier", PURIFIER, TOKEN)]
        second = [Entry("vacuum", VACUUM, TOKEN), Entry("bulb", BULB, OTHER_TOKEN)]
        async with bridging(broker, "house", entries=first), \
                bridging(broker, "garage", entries=second):
            await mqtt.wait(lambda s: s.get("house/bridge/state") == {"state": "online"} and
                            s.get("garage/bridge/state") == {"state": "online"} and
                            _values(s, "house/plug") and _values(s, "garage/bulb"))
            await mqtt.client.publish("garage/bulb/set/power", "off")
            await mqtt.wait(lambda s: s.get("garage/bulb/response") == {"status": "ok"})
            await mqtt.wait(lambda s: len([t for t in s if t.startswith(
                "homeassistant/device/") and _values(s, t)]) == 6)  # 4 devices, 2 bridges
            uniques = [c["unique_id"] for t, v in mqtt.seen.items() if t.endswith("/config")
                       for c in v["components"].values()]
            assert len(uniques) == len(set(uniques))
            assert any("_house_" in u for u in uniques) and any("_garage_" in u
                                                               for u in uniques)


def test_sigterm_publishes_offline_and_exits_0(broker: Broker, private_dirs: Path) -> None:
    from .helpers import simulator_thread

    with Inventory.locked() as inventory:
        inventory.add(Entry("plug", PLUG, TOKEN))
    with simulator_thread(make_devices(PLUG, token=TOKEN)):
        process = subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "bridge", "--broker",
             f"mqtt://127.0.0.1:{broker.port}", "--username", USER, "--password-file",
             str(_password_file(private_dirs)), "--interval", "1"],
            env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            seen = asyncio.run(_retained(broker, "pymiio/plug/availability",
                                         {"state": "online"}))
            assert seen
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert asyncio.run(_retained(broker, "pymiio/bridge/state", {"state": "offline"}))
    assert TOKEN not in out + err


def test_bridge_errors_are_one_line(broker: Broker, private_dirs: Path) -> None:
    from .cli_runner import miio

    with Inventory.locked() as inventory:
        inventory.add(Entry("plug", PLUG, TOKEN))
    wrong = miio("bridge", "--broker", f"mqtt://{USER}:nope@127.0.0.1:{broker.port}")
    errors = [line for line in wrong.err.splitlines() if line.startswith("error:")]
    assert wrong.code == 1 and len(errors) == 1 and "refused the credentials" in errors[0]
    assert "nope" not in wrong.err and "Traceback" not in wrong.err
    assert miio("bridge", "--broker", "http://x").code == 2
    assert miio("bridge", "--broker", broker.url, "--device", "ghost").code == 2


def _password_file(folder: Path) -> Path:
    path = folder / "broker-password"
    path.write_text(PASSWORD + "\n")
    return path


async def _retained(broker: Broker, topic: str, expected: Any) -> bool:
    async with watching(broker, topic) as mqtt:
        await mqtt.wait(lambda s: s.get(topic) == expected, timeout=20)
    return True


def test_devices_import_sets_up_a_fleet(tmp_path: Path) -> None:
    from .cli_runner import miio

    listing = [{"name": f"plug-{i}", "host": f"127.0.9.{i}", "token": TOKEN}
               for i in range(1, 6)] + [{"name": "bad", "host": "10.0.0", "token": TOKEN}]
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(listing))
    done = miio("devices", "import", str(path), "--json")
    assert done.json() == {"imported": [f"plug-{i}" for i in range(1, 6)], "skipped": 1}
    exported = miio("devices", "list", "--json", "--show-tokens").json()
    path.write_text(json.dumps(exported))
    assert miio("devices", "import", str(path)).out == "imported 5 device(s)\n"
