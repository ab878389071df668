"""The bridge's log shows outside text literally: a device's model, an error's text, a topic on
the broker. A hostile simulated device (its miIO.info model full of terminal escapes and rich
markup) served by a real bridge through a real Mosquitto; the log line that names the model has
its escapes written out, in text and in JSON lines alike."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from typing import Any

import pytest

from pymiio.bridge.config import setup_logging
from pymiio.bridge.core import Bridge, Settings
from pymiio.bridge.options import parse_broker
from pymiio.inventory import Entry
from pymiio.knowledge.lookup import describe
from pymiio.knowledge.miot_spec import parse_spec
from pymiio.simulator import Simulator, make_devices
from pymiio.simulator.profiles import spec_profile

from .addresses import NET
from .conftest import TOKEN
from .mqtt_broker import Broker
from .test_hostile_text import HOSTILE, RAW, SHOWN, _spec

HOST = f"{NET}.172.1"


async def _logged(broker: Broker, log_format: str, monkeypatch: pytest.MonkeyPatch,
                  wanted: str, describe_with: Any = describe, push: bool = False,
                  model: str = HOSTILE) -> str:
    monkeypatch.setenv("PYMIIO_MIOT_SPEC_URL", "http://127.0.0.1:9")  # nothing listens
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    handler = setup_logging(log_format)
    [device] = make_devices(HOST, token=TOKEN,
                            profile=spec_profile(parse_spec(_spec(), model)))
    settings = Settings(parse_broker(broker.url), interval=3600, describe=describe_with,
                        client_id=f"log-text-{log_format}")
    bridge = Bridge(settings, [Entry("evil", HOST, TOKEN)])
    stop = asyncio.Event()
    try:
        async with Simulator([device]) as simulator:
            task = asyncio.create_task(bridge.run(stop))
            try:
                for _ in range(400 if push else 0):  # bounded: 20 s
                    if device.subscribers:
                        device.push("properties_changed", [
                            {"did": str(device.device_id), "siid": 9, "piid": 9, "value": 1}])
                        simulator.flush(device)
                        break
                    await asyncio.sleep(0.05)
                for _ in range(400):  # bounded: 20 s
                    if wanted in stream.getvalue():
                        break
                    await asyncio.sleep(0.05)
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)
    finally:
        logging.getLogger("pymiio").removeHandler(handler)
    return stream.getvalue()


async def test_text_log_shows_a_hostile_model_literally(
        broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    text = await _logged(broker, "text", monkeypatch, "bridge: evil: ")
    [line] = [line for line in text.splitlines() if line.startswith("bridge: evil: ")
              and "\\x1b]0;pwned" in line]
    assert all(part in line for part in SHOWN), line  # the model as written, escapes visible
    assert not any(raw in text for raw in RAW), text


async def test_json_log_keeps_the_model_and_stays_inert_on_a_terminal(
        broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    text = await _logged(broker, "json", monkeypatch, '"evil: ')
    messages = [json.loads(line)["message"] for line in text.splitlines()]
    assert any(HOSTILE in message for message in messages)  # the same text to a parser
    assert not any(raw in text for raw in RAW), text


async def test_the_librarys_warnings_are_lines_of_the_bridges_json_log(
        broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """A device pushing a property its description lacks: the warning (from the push tracker,
    not the bridge's own code) is a JSON line like the rest, not a bare line on stderr."""
    model = parse_spec(_spec(), "pymiio.evil.v1")
    text = await _logged(broker, "json", monkeypatch, "description does not have",
                         describe_with=lambda name: model, push=True)
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    [warning] = [line for line in lines if "description does not have" in line["message"]]
    assert warning["level"] == "warning" and "property 9.9" in warning["message"]


async def test_a_newline_in_a_model_cannot_forge_a_log_line(
        broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    text = await _logged(broker, "text", monkeypatch, "bridge: evil: ",
                         model="evil\nbridge: kitchen-plug: online again\r")
    assert not [line for line in text.splitlines() if line.startswith("bridge: kitchen-plug")]
    assert "evil\\x0abridge: kitchen-plug: online again\\x0d" in text
