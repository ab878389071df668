"""Issue 26: hostile MQTT clients and devices against `miio bridge`, through a real Mosquitto of
the test's own: retained commands, command floods, birth-message floods, huge payloads, a device
answering NaN. Floods are bounded in count and time; the only time limits are generous ones
that only a hang would exceed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from pymiio.inventory import Entry, Inventory
from pymiio.simulator import Simulator, make_devices

from .addresses import NET
from .conftest import TOKEN
from .helpers import simulator_thread
from .mqtt_broker import PASSWORD, USER, Broker
from .test_bridge import bridging, watching

PLUG = f"{NET}.126.1"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    server = Broker(tmp_path).start()
    try:
        yield server
    finally:
        server.remove()


def _responses(log: list[tuple[str, bytes, bool]], topic: str) -> list[Any]:
    return [json.loads(raw) for seen, raw, _ in log if seen == topic]


async def _publisher(broker: Broker, **options: Any) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", broker.port, username=USER, password=PASSWORD,
                          **options)


async def test_retained_commands_are_not_executed_at_start_nor_on_reconnect(
        mosquitto: Broker) -> None:
    """Item 1: a retained `set`/`action`/`get` left on the broker (a retained `power off`)
    is never carried out, neither when the bridge starts nor when it reconnects."""
    async with await _publisher(mosquitto) as other:
        await other.publish("pymiio/plug/set/power", "off", qos=1, retain=True)
        await other.publish("pymiio/plug/set", json.dumps({"power": False,
                                                           "transaction": "old"}),
                            qos=1, retain=True)
        await other.publish("pymiio/plug/action", "toggle", qos=1, retain=True)
    async with Simulator(make_devices(PLUG, token=TOKEN)), \
            watching(mosquitto, "pymiio/#") as mqtt, \
            bridging(mosquitto, entries=[Entry("plug", PLUG, TOKEN)]) as bridge:
        await mqtt.wait(lambda s: (s.get("pymiio/plug") or {}).get("power") is True)
        for round_ in ("start", "reconnect"):
            # the bridge's commands for one device run in order: an executed retained
            # command would answer (and switch the plug off) before this one does
            await mqtt.client.publish("pymiio/plug/set", json.dumps({
                "wifi-led": False, "transaction": round_}))
            await mqtt.wait(lambda s, r=round_: s.get("pymiio/plug/response") == {
                "status": "ok", "transaction": r})
            assert _responses(mqtt.log, "pymiio/plug/response")[-1] == {
                "status": "ok", "transaction": round_}
            assert all(answer.get("transaction") in ("start", "reconnect")
                       for answer in _responses(mqtt.log, "pymiio/plug/response"))
            assert mqtt.seen["pymiio/plug"]["power"] is True
            if round_ == "start":  # take the bridge's client id: the broker drops it
                onlines = _onlines(mqtt.log)
                async with aiomqtt.Client("127.0.0.1", mosquitto.port, username=USER,
                                          password=PASSWORD, identifier="test-pymiio"):
                    await asyncio.wait_for(_until(lambda: not bridge.connected.is_set()), 15)
                await asyncio.wait_for(bridge.connected.wait(), 30)
                await mqtt.wait(lambda _, before=onlines: _onlines(mqtt.log) > before)
        assert len(_responses(mqtt.log, "pymiio/plug/response")) == 2


def _onlines(log: list[tuple[str, bytes, bool]]) -> int:
    """How often the bridge said it is online (once per connection)."""
    return sum(1 for topic, raw, _ in log
               if topic == "pymiio/bridge/state" and json.loads(raw) == {"state": "online"})


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.02)


def _rss_mb(pid: int) -> float:
    """The resident memory of a process, from /proc (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _start_bridge(broker: Broker, log: Path) -> subprocess.Popen[bytes]:
    """``miio bridge`` serving the plug; its log goes to a file (a pipe nobody reads while
    the test runs would fill and block the bridge on its own log lines)."""
    with Inventory.locked() as inventory:
        inventory.add(Entry("plug", PLUG, TOKEN))
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "bridge", "--broker", broker.url,
             "--interval", "1"], env=os.environ, stdout=subprocess.DEVNULL, stderr=handle)


def _stop_bridge(process: subprocess.Popen[bytes], log: Path) -> tuple[float, str]:
    """SIGTERM; how long the bridge took to end, and its log."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"the bridge ignored SIGTERM for 20 s: "
                             f"{log.read_text()[-2000:]}") from None
    return time.monotonic() - started, log.read_text(errors="replace")


FLOOD = 20_000  # commands, sent as fast as the test's client can, for at most FLOOD_SECONDS
FLOOD_SECONDS = 20.0


async def _flood_then_command(broker: Broker, pid: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    figures: dict[str, Any] = {"rss_before": 0.0, "rss_peak": 0.0}

    def sample() -> None:
        figures["rss_peak"] = max(figures["rss_peak"], _rss_mb(pid))

    async with watching(broker, "pymiio/plug/response", "pymiio/plug/availability") as mqtt:
        await mqtt.wait(lambda s: s.get("pymiio/plug/availability") == {"state": "online"},
                        timeout=30)
        figures["rss_before"] = _rss_mb(pid)
        start = loop.time()
        sent = 0
        async with await _publisher(broker) as flooder:
            while sent < FLOOD and loop.time() - start < FLOOD_SECONDS:
                await flooder.publish("pymiio/plug/set", b'{"power": true}')
                sent += 1
                if sent % 500 == 0:
                    sample()
                    await asyncio.sleep(0)  # let the watcher read the answers
        figures["sent"], figures["flood_seconds"] = sent, loop.time() - start
        # a fresh command, then again while it is answered "busy" (the flood's tail may
        # still fill the queue when it arrives); each is answered, one way or the other
        sampler = asyncio.create_task(_sample_every(sample, 0.2))
        asked = loop.time()
        try:
            for attempt in range(50):
                transaction = f"fresh-{attempt}"
                await mqtt.client.publish("pymiio/plug/set", json.dumps(
                    {"power": False, "transaction": transaction}))
                answer = await mqtt.wait(lambda s, t=transaction: (s.get(
                    "pymiio/plug/response") or {}).get("transaction") == t and s[
                    "pymiio/plug/response"], timeout=30)
                figures.setdefault("first_answer", loop.time() - asked)
                if answer["status"] == "ok":
                    break
        finally:
            sampler.cancel()
        figures["attempts"] = attempt + 1
        figures["answer"], figures["latency"] = answer, loop.time() - asked
        sample()
        answers = _responses(mqtt.log, "pymiio/plug/response")
        figures["ok"] = sum(1 for a in answers if a.get("status") == "ok")
        figures["busy"] = sum(1 for a in answers if "busy" in a.get("error", ""))
    return figures


async def _sample_every(sample: Any, seconds: float) -> None:
    while True:
        sample()
        await asyncio.sleep(seconds)


def test_a_command_flood_leaves_the_device_answering_and_memory_bounded(
        mosquitto: Broker, tmp_path: Path) -> None:
    """Item 2: 20,000 QoS-0 `/set` as fast as a client sends them. Commands beyond a short
    queue per device are answered at once as busy, a fresh `/set` afterwards is answered,
    the bridge stays under 200 MB and SIGTERM ends it promptly."""
    with simulator_thread(make_devices(PLUG, token=TOKEN)):
        process = _start_bridge(mosquitto, tmp_path / "bridge.log")
        try:
            figures = asyncio.run(_flood_then_command(mosquitto, process.pid))
        finally:
            took, err = _stop_bridge(process, tmp_path / "bridge.log")
    print(f"flood: {figures}, SIGTERM took {took:.2f} s")  # the figures, with pytest -s
    assert process.returncode == 0, err
    assert figures["answer"]["status"] == "ok"
    assert figures["busy"] > 0 and figures["ok"] >= 2  # refused at once, yet some carried out
    assert figures["rss_peak"] < 200, figures
    assert "Traceback" not in err


async def test_huge_commands_are_refused_and_answers_never_echo_much(
        mosquitto: Broker, caplog: pytest.LogCaptureFixture) -> None:
    """Item 10: a command over the size limit is refused with a short error; an error quotes
    at most a short prefix of bad input; an overlong transaction is not echoed; commands for
    unknown devices and refused payloads are logged (info)."""
    from pymiio.bridge import core

    caplog.set_level(logging.INFO, "pymiio.bridge")
    async with Simulator(make_devices(PLUG, token=TOKEN)), \
            watching(mosquitto, "pymiio/#") as mqtt, \
            bridging(mosquitto, entries=[Entry("plug", PLUG, TOKEN)]) as bridge:
        await mqtt.wait(lambda s: (s.get("pymiio/plug") or {}).get("power") is True)

        async def answer(topic: str, payload: bytes) -> tuple[dict[str, Any], bytes]:
            before = len(_responses(mqtt.log, "pymiio/plug/response"))
            await mqtt.client.publish(topic, payload)
            await mqtt.wait(lambda _: len(_responses(mqtt.log, "pymiio/plug/response"))
                            > before)
            raw = [r for t, r, _ in mqtt.log if t == "pymiio/plug/response"][before]
            return json.loads(raw), raw

        huge = json.dumps({"power": False, "x": "y" * 3_000_000}).encode()
        refused, raw = await answer("pymiio/plug/set", huge)
        assert refused["status"] == "error" and "too large" in refused["error"]
        assert len(raw) < 300
        name = "z" * (core.MAX_PAYLOAD - 100)
        bad, raw = await answer("pymiio/plug/set", json.dumps({name: 1}).encode())
        assert bad["status"] == "error" and "zzz" in bad["error"] and len(raw) < 400
        bad, raw = await answer(f"pymiio/plug/set/{name[:1000]}", b"1")
        assert bad["status"] == "error" and len(raw) < 400
        long_id = {"power": False, "transaction": "t" * 1000}
        bad, raw = await answer("pymiio/plug/set", json.dumps(long_id).encode())
        assert "transaction" not in bad and "transaction is too long" in bad["error"]
        ok, _ = await answer("pymiio/plug/set", json.dumps(
            {"power": True, "transaction": [1, "two"]}).encode())
        assert ok == {"status": "ok", "transaction": [1, "two"]}
        assert mqtt.seen["pymiio/plug"]["power"] is True  # nothing refused was carried out
        await mqtt.client.publish("pymiio/ghost/set/power", "off")
        await mqtt.client.publish(f"pymiio/{'g' * 5000}/set", "x" * 500)
        await answer("pymiio/plug/set", b"{}")  # everything before it was routed
        # the dashboard's path: the same queue, the same limits, the answer returned
        assert await bridge.command("plug", "set/power", b"on") == {"status": "ok"}
        assert await bridge.command("ghost", "set/power", b"on") is None
        too_big = await bridge.command("plug", "set", b" " * (core.MAX_PAYLOAD + 1))
        assert too_big is not None and "too large" in too_big["error"]
    text = caplog.text
    assert "unknown device on 'pymiio/ghost/set/power'" in text
    assert f"'pymiio/{'g' * 113}…'" in text and "g" * 200 not in text  # cut short
    assert f"refused a command of {len(huge)} bytes" in text


async def test_a_flood_of_birth_messages_is_one_republish_and_commands_stay_prompt(
        mosquitto: Broker) -> None:
    """Item 3: 2,000 "online" on `homeassistant/status` make a republish or a few (one at a
    time, after the burst), outside the message loop: a `/set` sent behind them is answered,
    and each discovery config is republished only a few times, not 2,000."""
    from pymiio.bridge import core

    from .test_bridge import _entries, _fleet

    births = 2000
    async with Simulator(_fleet()), \
            watching(mosquitto, "homeassistant/#", "pymiio/+/response", "pymiio/+") as mqtt, \
            bridging(mosquitto, entries=_entries()):
        await mqtt.wait(lambda s: all(isinstance(s.get(f"pymiio/{name}"), dict) and s[
            f"pymiio/{name}"] for name in ("plug", "purifier", "vacuum", "bulb")), timeout=30)
        await mqtt.wait(lambda s: sum(1 for t in s if t.endswith("/config")) >= 5)
        configs = [t for t in mqtt.seen if t.endswith("/config")]
        loop = asyncio.get_running_loop()
        start, mark = loop.time(), len(mqtt.log)
        async with await _publisher(mosquitto) as ha:
            for _ in range(births):
                await ha.publish("homeassistant/status", b"online")
            await ha.publish("pymiio/bulb/set", json.dumps({"brightness": 42,
                                                            "transaction": "behind"}))
            flood_seconds = loop.time() - start
        answer = await mqtt.wait(lambda s: (s.get("pymiio/bulb/response") or {}).get(
            "transaction") == "behind" and s["pymiio/bulb/response"], timeout=30)
        answered = loop.time() - start
        assert answer == {"status": "ok", "transaction": "behind"}
        # every config comes back (Home Assistant needs them) ...
        await mqtt.wait(lambda _: all(any(t == c for t, _, _ in mqtt.log[mark:])
                                      for c in configs))
        republished = max(sum(1 for t, _, _ in mqtt.log[mark:] if t == c) for c in configs)
    print(f"births: {births} in {flood_seconds:.2f} s; /set answered after {answered:.2f} s; "
          f"each config republished at most {republished} times")
    # ... but a burst is one republish (two at most per settle time of the flood), not 2,000
    assert republished <= flood_seconds / core.REDISCOVER_SETTLE + 3


def _strict(raw: bytes) -> Any:
    """JSON as the spec has it: NaN and Infinity refused."""
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(raw, parse_constant=refuse)


async def test_a_device_answering_nan_is_published_as_valid_json(mosquitto: Broker) -> None:
    """Item 9: a firmware answering NaN and 1e999 for numbers: every message the bridge
    publishes stays valid JSON (the non-finite numbers become null); the other values are
    published as read."""
    purifier = f"{NET}.126.2"
    plug = make_devices(PLUG, token=TOKEN)
    plug[0].quirk = lambda text: text.replace(",42,", ",NaN,")  # temperature
    air = make_devices(purifier, token=TOKEN, profile="airpurifier")
    air[0].quirk = lambda text: text.replace('"value":21.5', '"value":1e999')
    async with Simulator(plug + air), watching(mosquitto, "#") as mqtt, \
            bridging(mosquitto, entries=[Entry("plug", PLUG, TOKEN),
                                         Entry("purifier", purifier, TOKEN)]):
        state = await mqtt.wait(lambda s: isinstance(s.get("pymiio/plug"), dict) and s[
            "pymiio/plug"].get("power") is True and s["pymiio/plug"])
        assert "temperature" in state and state["temperature"] is None
        air_state = await mqtt.wait(lambda s: isinstance(s.get("pymiio/purifier"), dict) and s[
            "pymiio/purifier"].get("air-purifier:mode") is not None and s["pymiio/purifier"])
        assert air_state["environment:temperature"] is None
        await mqtt.client.publish("pymiio/plug/set", b'{"power": true, "transaction": NaN}')
        await mqtt.wait(lambda s: "pymiio/plug/response" in s)
    published = [(topic, raw) for topic, raw, _ in mqtt.log if raw and not topic.endswith(
        ("/set", "/status"))]
    assert published
    for _, raw in published:
        _strict(raw)  # raises on NaN / Infinity
    assert _strict(dict(published)["pymiio/plug/response"]) == {"status": "ok",
                                                                "transaction": None}


def test_refusal_log_lines_are_throttled(caplog: pytest.LogCaptureFixture) -> None:
    """A flood of refused commands is at most ``burst`` info lines a minute; the next line
    says how many were left out (a fake clock)."""
    from pymiio.bridge.core import _Throttled

    caplog.set_level(logging.INFO, "pymiio.bridge")
    now = [0.0]
    throttled = _Throttled(burst=3, window=60.0, clock=lambda: now[0])
    for index in range(10):
        throttled.info("refused %d", index)
    assert [r.getMessage() for r in caplog.records] == ["refused 0", "refused 1", "refused 2"]
    now[0] = 60.0
    throttled.info("refused %d", 10)
    assert caplog.records[-1].getMessage() == "refused 10 (and 7 similar, not logged)"


def test_aiomqtt_drops_are_said_once_a_minute() -> None:
    """aiomqtt's one warning per dropped message becomes one line a minute with a count."""
    from pymiio.bridge.core import _QueueFullFilter

    now = [0.0]
    drops = _QueueFullFilter(clock=lambda: now[0])

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("pymiio.bridge.mqtt", logging.WARNING, __file__, 1, message,
                                 None, None)

    first = record("Message queue is full. Discarding message.")
    assert drops.filter(first) and first.getMessage().endswith("dropped 1")
    assert not any(drops.filter(record("Message queue is full. Discarding message."))
                   for _ in range(500))
    assert drops.filter(record("something else"))  # other warnings pass as they are
    now[0] = 61.0
    later = record("Message queue is full. Discarding message.")
    assert drops.filter(later) and later.getMessage().endswith("dropped 501")


async def test_commands_waiting_for_a_dropped_device_are_answered(mosquitto: Broker) -> None:
    """The dashboard's commands queued for a device the bridge stops serving (a reload) are
    answered, not left waiting: the one in flight and the queued ones alike."""
    silent = f"{NET}.126.9"  # nobody answers there: the first command waits for its timeout
    async with bridging(mosquitto, interval=10.0,
                        entries=[Entry("plug", silent, TOKEN)]) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 30)
        waiting = [asyncio.create_task(bridge.command("plug", "set/power", b"on"))
                   for _ in range(3)]
        await _until(lambda: bridge.devices["plug"].commands.qsize() == 2)
        await bridge.drop("plug", forget=False)
        answers = await asyncio.wait_for(asyncio.gather(*waiting), 15)
    assert answers == [{"status": "error", "error": "plug is no longer served; the command "
                                                    "was not carried out"}] * 3


async def test_commands_waiting_across_devices_are_bounded_in_bytes(
        mosquitto: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood spread over many devices (each under its own queue's cap): the payload bytes
    waiting across all of them are capped too, the excess answered busy at once, and what
    is counted as waiting goes back to nothing once the commands are answered."""
    from pymiio.bridge import core

    monkeypatch.setattr(core, "QUEUED_BYTES", 100_000)
    silent = [f"{NET}.126.{20 + i}" for i in range(10)]  # nobody answers: commands wait
    big = json.dumps({"power": "on", "pad": "x" * 30_000}).encode()
    async with bridging(mosquitto, interval=10.0, entries=[
            Entry(f"d{i}", host, TOKEN) for i, host in enumerate(silent)]) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 30)
        waiting = [asyncio.create_task(bridge.command(f"d{i}", "set", big))
                   for i in range(10) for _ in range(3)]
        await asyncio.wait_for(_until(lambda: sum(t.done() for t in waiting) >= 20), 15)
        assert bridge._queued_bytes <= core.QUEUED_BYTES
        busy = [t.result() for t in waiting if t.done()]
        assert len(busy) >= 20 and all("the bridge is busy" in a["error"] for a in busy)
    answers = await asyncio.wait_for(asyncio.gather(*waiting), 15)  # the stop answers the rest
    assert len(answers) == 30 and bridge._queued_bytes == 0
