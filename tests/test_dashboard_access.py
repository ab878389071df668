"""Issue 28: the dashboard's access rules over real HTTP: a non-loopback bind needs a token,
requests without it are refused, changes only from the page's own origin, loopback-only names
when there is no token (the browser tests are in test_dashboard.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pymiio.inventory import Entry, Inventory

from .addresses import NET
from .conftest import TOKEN

PLUG = f"{NET}.141.1"


def test_a_dashboard_off_loopback_needs_a_token(tmp_path: Path) -> None:
    from .cli_runner import miio

    with Inventory.locked() as inventory:
        inventory.add(Entry("plug", PLUG, TOKEN))
    refused = miio("bridge", "--broker", "mqtt://127.0.0.1:1", "--web", "0.0.0.0:8099",
                   "--check")
    assert refused.code == 2 and "--web-token-file" in refused.err
    short = tmp_path / "short"
    short.write_text("abc")
    assert miio("bridge", "--broker", "mqtt://127.0.0.1:1", "--web", "0.0.0.0:8099",
                "--web-token-file", str(short), "--check").code == 2
    assert miio("bridge", "--broker", "mqtt://127.0.0.1:1", "--web", "nowhere",
                "--check").code == 2


async def test_requests_without_the_token_are_refused(tmp_path: Path) -> None:
    import aiohttp

    from pymiio.bridge.core import Bridge, Settings
    from pymiio.bridge.options import parse_broker
    from pymiio.bridge.service import Plan, Service
    from pymiio.bridge.web import Dashboard, WebSettings

    secret = "a-long-dashboard-token-0123456789"
    path = Inventory().path
    settings = Settings(parse_broker("mqtt://127.0.0.1:1"))
    service = Service(Bridge(settings, [Entry("plug", PLUG, TOKEN)]), Plan(), path)
    dashboard = Dashboard(service, WebSettings("127.0.0.1", 0, secret))
    await dashboard.start()
    url = dashboard.url.rstrip("/")
    same = {"Origin": url, "Content-Type": "application/json"}
    try:
        # unsafe: the jar keeps cookies of an address (127.0.0.1), not only of names
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{url}/") as page:  # the page itself holds no secret
                assert page.status == 200 and "pymiio bridge" in await page.text()
                assert "default-src 'self'" in page.headers["Content-Security-Policy"]
            async with http.get(f"{url}/api/devices") as answer:
                assert answer.status == 401
            async with http.post(f"{url}/api/devices/plug/set", data='{"power": false}',
                                 headers=same) as answer:
                assert answer.status == 401
            async with http.delete(f"{url}/api/devices/plug", headers=same) as answer:
                assert answer.status == 401
            assert "plug" in service.bridge.devices
            bearer = {"Authorization": f"Bearer {secret}"}
            async with http.get(f"{url}/api/devices", headers=bearer) as answer:
                listing = await answer.json()
                assert answer.status == 200 and listing[0]["name"] == "plug"
                assert TOKEN not in json.dumps(listing) and secret not in json.dumps(listing)
            async with http.post(f"{url}/api/devices/plug/set", data="{}", headers={
                    **bearer, "Origin": "http://elsewhere.example",
                    "Content-Type": "application/json"}) as answer:
                assert answer.status == 403  # another site's page, even with the token
            async with http.post(f"{url}/api/devices/plug/set", data="power=off", headers={
                    **bearer, "Content-Type": "application/x-www-form-urlencoded"}) as answer:
                assert answer.status == 415  # a plain form post never changes anything
            async with http.post(f"{url}/api/login", json={"token": "wrong"},
                                 headers=same) as answer:
                assert answer.status == 401
            async with http.post(f"{url}/api/login", json={"token": secret},
                                 headers=same) as answer:
                assert answer.status == 200 and secret not in await answer.text()
                assert "httponly" in answer.headers["Set-Cookie"].lower()
            async with http.get(f"{url}/api/bridge") as answer:  # the cookie now
                assert answer.status == 200
                assert (await answer.json())["devices"] == 1
    finally:
        await dashboard.stop()


async def test_a_loopback_dashboard_answers_only_to_loopback_names() -> None:
    import aiohttp

    from pymiio.bridge.core import Bridge, Settings
    from pymiio.bridge.options import parse_broker
    from pymiio.bridge.service import Plan, Service
    from pymiio.bridge.web import Dashboard, WebSettings

    service = Service(Bridge(Settings(parse_broker("mqtt://127.0.0.1:1")), []), Plan(),
                      Inventory().path)
    dashboard = Dashboard(service, WebSettings("127.0.0.1", 0))
    await dashboard.start()
    url = dashboard.url.rstrip("/")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/api/devices") as answer:
                assert answer.status == 200 and await answer.json() == []
            # a page on another site whose name was rebound to 127.0.0.1
            async with http.get(f"{url}/api/devices", headers={
                    "Host": "rebound.example"}) as answer:
                assert answer.status == 403
            async with http.post(f"{url}/api/devices", json={"name": "x"}, headers={
                    "Origin": "http://rebound.example"}) as answer:
                assert answer.status == 403
            async with http.post(f"{url}/api/devices", json={"name": "bad name!", "host":
                                 "127.0.0.9", "token": TOKEN}) as answer:
                assert answer.status == 400 and "bad device name" in (await answer.json())[
                    "error"]
            async with http.get(f"{url}/static/../../inventory.py") as answer:
                assert answer.status == 404
            async with http.post(f"{url}/api/devices", data=b"x" * 100_000, headers={
                    "Content-Type": "application/json"}) as answer:
                assert answer.status == 413
    finally:
        await dashboard.stop()


async def test_the_api_commands_renames_and_removes(private_dirs: Path) -> None:
    """Over real HTTP against a running service: commands on the MQTT command path (the same
    answers, the device changes), live state on the event stream, rename and remove follow
    the inventory at once."""
    import asyncio

    import aiohttp

    from pymiio.bridge.web import Dashboard, WebSettings
    from pymiio.simulator import Simulator, make_devices

    from .mqtt_broker import Broker
    from .test_bridge_service import serving

    lamp = f"{NET}.141.2"
    with Inventory.locked() as inventory:
        inventory.add(Entry("plug", PLUG, TOKEN))
        inventory.add(Entry("lamp", lamp, TOKEN))
    broker = Broker(private_dirs).start()
    fleet = make_devices(PLUG, token=TOKEN) + make_devices(lamp, token=TOKEN,
                                                           profile="philips.light.bulb")
    try:
        async with Simulator(fleet) as simulator, serving(broker) as service:
            dashboard = Dashboard(service, WebSettings("127.0.0.1", 0))
            await dashboard.start()
            url = dashboard.url.rstrip("/")
            try:
                async with aiohttp.ClientSession() as http:
                    await _api_tour(http, url, service, simulator.devices[0])
            finally:
                await dashboard.stop()
    finally:
        broker.remove()
    assert asyncio.get_running_loop()


async def _api_tour(http: Any, url: str, service: Any, plug: Any) -> None:
    import asyncio

    async def get(path: str) -> Any:
        async with http.get(url + path) as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()

    async def post(path: str, body: Any) -> tuple[int, Any]:
        async with http.post(url + path, data=json.dumps(body),
                             headers={"Content-Type": "application/json"}) as answer:
            return answer.status, await answer.json()

    async with asyncio.timeout(30):
        while not all(row["online"] and row["model"] for row in await get("/api/devices")):
            await asyncio.sleep(0.1)
    events = await http.get(url + "/api/events")
    try:
        assert await post("/api/devices/plug/set", {"power": False}) == (200, {"status": "ok"})
        assert plug.profile.props["power"] == "off"
        status, answer = await post("/api/devices/plug/set", {"colour": 1})
        assert status == 400 and answer["status"] == "error" and "colour" in answer["error"]
        async with asyncio.timeout(20):  # the change, live on the event stream
            while True:
                line = (await events.content.readline()).decode()
                if line.startswith("data: ") and (event := json.loads(line[6:]))[
                        "type"] == "state" and event["device"] == "plug":
                    assert event["values"]["power"] is False
                    break
    finally:
        events.close()
    detail = await get("/api/devices/plug")
    assert detail["values"]["power"] is False and "token" not in json.dumps(detail).lower()
    assert {p["name"] for p in detail["properties"] if p["writable"]} >= {"power"}
    assert any(entry["what"] == "response" for entry in detail["history"])
    lamp = await get("/api/devices/lamp")
    brightness = next(p for p in lamp["properties"] if p["name"] == "brightness")
    assert brightness["range"] == [1, 100, 1] and brightness["unit"] == "%"

    assert await post("/api/devices/plug/rename", {"name": "socket"}) == (
        200, {"status": "ok", "name": "socket"})
    assert set(Inventory().entries) == {"socket", "lamp"}
    assert {row["name"] for row in await get("/api/devices")} == {"socket", "lamp"}
    status, answer = await post("/api/devices/socket/rename", {"name": "lamp"})
    assert status == 400 and "exists already" in answer["error"]
    async with http.delete(url + "/api/devices/lamp") as answer:
        assert answer.status == 200
    assert set(Inventory().entries) == {"socket"} and set(service.bridge.devices) == {"socket"}
    async with http.get(url + "/api/devices/lamp") as answer:
        assert answer.status == 404
    status, answer = await post("/api/devices", {"name": "socket", "host": PLUG,
                                                 "token": TOKEN})
    assert status == 400 and "served already" in answer["error"]
    log = [line["message"] for line in (await get("/api/bridge"))["log"]]
    assert "plug: renamed to socket" in log and "lamp: removed from the inventory" in log
    assert any(m.startswith("plug: set '{\"power\": false}' (web): ok") for m in log)


async def test_a_device_event_reaches_the_device_history(private_dirs: Path) -> None:
    """An event the device pushes (published on BASE/<name>/event) is in its history."""
    import asyncio

    import aiohttp

    from pymiio.bridge.core import Bridge, Settings
    from pymiio.bridge.options import parse_broker
    from pymiio.bridge.service import Plan, Service
    from pymiio.bridge.web import Dashboard, WebSettings
    from pymiio.simulator import Simulator

    from .mqtt_broker import Broker
    from .test_push import TRAPS, _thing

    thing = _thing(f"{NET}.141.3")
    broker = Broker(private_dirs).start()
    settings = Settings(parse_broker(broker.url), interval=1.0, describe=lambda name: TRAPS)
    service = Service(Bridge(settings, [Entry("thing", thing.host, TOKEN, "pymiio.traps.v1")]),
                      Plan(interval=1.0), Inventory().path)
    stop = asyncio.Event()
    try:
        async with Simulator([thing]) as simulator:
            running = asyncio.create_task(service.run(stop))
            dashboard = Dashboard(service, WebSettings("127.0.0.1", 0))
            await dashboard.start()
            try:
                async with asyncio.timeout(20):
                    while not thing.subscribers:
                        await asyncio.sleep(0.02)
                thing.raise_event("alert", {"mode": 2})
                simulator.flush(thing)
                async with aiohttp.ClientSession() as http, asyncio.timeout(20):
                    while True:
                        async with http.get(f"{dashboard.url}api/devices/thing") as answer:
                            history = (await answer.json())["history"]
                        events = [e["value"] for e in history if e["what"] == "event"]
                        if events:
                            break
                        await asyncio.sleep(0.05)
                assert events == [{"event_type": "thing:alert", "mode": 2}]
            finally:
                await dashboard.stop()
                stop.set()
                await asyncio.wait_for(running, 15)
    finally:
        broker.remove()
