"""Issue 26 item 9 on the dashboard's face: a firmware answering NaN must not make the
dashboard's JSON invalid. A browser's JSON.parse refuses NaN, so one such reading emptied the
device list (/api/devices) and broke every event of the live stream that carried it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pymiio.inventory import Entry, Inventory

from .addresses import NET
from .conftest import TOKEN
from .mqtt_broker import Broker

PLUG = f"{NET}.174.1"


def _strict(raw: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(raw, parse_constant=refuse)


async def test_a_device_answering_nan_keeps_the_dashboards_json_valid(broker: Broker) -> None:
    import aiohttp

    from pymiio.bridge.web import Dashboard, WebSettings
    from pymiio.simulator import Simulator, make_devices

    from .test_bridge_service import serving

    with Inventory.locked() as inventory:
        inventory.add(Entry("plug", PLUG, TOKEN))
    plug = make_devices(PLUG, token=TOKEN)
    plug[0].quirk = lambda text: text.replace(",42,", ",NaN,")  # temperature
    async with Simulator(plug), serving(broker) as service:
        dashboard = Dashboard(service, WebSettings("127.0.0.1", 0))
        await dashboard.start()
        url = dashboard.url.rstrip("/")
        try:
            async with aiohttp.ClientSession() as http:
                events = await http.get(url + "/api/events")
                try:
                    async with asyncio.timeout(30):
                        while True:  # the device list, once the plug is read
                            async with http.get(url + "/api/devices") as answer:
                                rows = _strict(await answer.text())
                            if rows and rows[0]["online"]:
                                break
                            await asyncio.sleep(0.1)
                        async with http.get(url + "/api/devices/plug") as answer:
                            detail = _strict(await answer.text())
                        assert detail["values"]["power"] is True
                        assert detail["values"]["temperature"] is None
                        async with http.post(url + "/api/devices/plug/get", data="{}", headers={
                                "Content-Type": "application/json"}) as answer:
                            got = _strict(await answer.text())
                        assert got["status"] == "ok", got
                        seen = 0
                        while seen < 3:  # what the live stream sent so far, every event
                            line = (await events.content.readline()).decode()
                            if line.startswith("data: "):
                                _strict(line[6:])
                                seen += 1
                finally:
                    events.close()
        finally:
            await dashboard.stop()
