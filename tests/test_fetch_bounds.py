"""Where specs come from, against hostile servers on loopback (issue 25 item 1, issue 26 items
4, 7, 14): made-up specs never answer for real models, every fetch has a deadline and a cap
on its decoded size, stuck fetches never take the default executor, and model names cannot
overwrite the instances list."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pymiio.errors import SpecError
from pymiio.knowledge import lookup
from pymiio.knowledge.model import DeviceModel
from pymiio.knowledge.spec_store import SpecStore, check_model
from pymiio.simulator import make_devices
from pymiio.simulator.profiles import profile_for

from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .helpers import simulator_thread
from .hostile_http import HostileServer, bomb, dribble, endless, wait_for
from .mqtt_broker import Broker
from .spec_server import SpecServer

TRAPS_FILE = Path(__file__).with_name("specs") / "traps.json"
PACKAGED = Path(__file__).resolve().parents[1] / "src" / "pymiio" / "knowledge" / "specs"
INSTANCES = [{"model": "pymiio.traps.v1", "version": 1, "type": "urn:traps:1",
              "status": "released"}]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network for specs: a loopback port nothing listens on."""
    import socket

    with socket.socket() as probe:  # a free port, closed again: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PYMIIO_MIOT_SPEC_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PYMIIO_MIOT_SPEC_TIMEOUT", "2")


# -- 25.1: made-up specs answer only for their own names ------------------------------------

def test_packaged_specs_carry_model_names_no_real_device_has() -> None:
    shipped = sorted(PACKAGED.glob("*.json"))
    assert shipped, "the simulator's made-up specs are gone"
    for path in shipped:
        assert path.stem.startswith("pymiio."), path.name
        assert "made up" in json.loads(path.read_text())["description"]


def test_a_real_3h_without_cache_or_network_gets_no_made_up_spec(offline: None) -> None:
    shown = miio("spec", "show", "zhimi.airpurifier.mb3")
    assert shown.code == 6 and shown.err.count("\n") == 1
    assert "no description of zhimi.airpurifier.mb3" in shown.err
    assert "made up" not in shown.err + shown.out
    assert SpecStore().cached("zhimi.airpurifier.mb3") is None
    host = f"{NET}.130.1"
    profile = profile_for("airpurifier")  # a simulated device claiming to be a real 3H
    profile.model = "zhimi.airpurifier.mb3"
    with simulator_thread(make_devices(host, token=TOKEN, profile=profile)):
        status = miio("status", host, "--token", TOKEN)
    assert status.code == 6 and "no description of zhimi.airpurifier.mb3" in status.err
    assert status.out == ""


def test_the_simulators_own_model_is_described_by_its_made_up_spec(offline: None) -> None:
    host = f"{NET}.130.2"
    with simulator_thread(make_devices(host, token=TOKEN, profile="airpurifier")):
        status = miio("status", host, "--token", TOKEN, "--json").json()
    assert {e["name"] for e in status} >= {"air-purifier:on", "environment:temperature"}
    shown = miio("spec", "show", "pymiio.airpurifier.v1", "--json").json()
    assert "made up" in shown["description"]


def test_spec_show_of_a_classic_model_shows_its_catalogue_entry(offline: None) -> None:
    shown = miio("spec", "show", "zhimi.airpurifier.v7", "--json").json()
    assert shown["urn"] is None and "classic" in shown["description"]
    assert {"power", "mode", "aqi"} <= {p["name"] for p in shown["properties"]}


# -- 26.14: model names never become the instances list -------------------------------------

@pytest.mark.parametrize("name", ["instances", "_instances", "a/b.c", "..", "x..y", ".a.b"])
def test_names_that_are_not_models_are_refused(name: str) -> None:
    with pytest.raises(SpecError, match="not a model name"):
        check_model(name)
    done = miio("spec", "import", str(TRAPS_FILE), "--model", name)
    assert done.code == 6 and "not a model name" in done.err


def test_a_model_named_instances_cannot_overwrite_the_instances_list(
        monkeypatch: pytest.MonkeyPatch, private_dirs: Path) -> None:
    server = SpecServer(INSTANCES, {"urn:traps:1": json.loads(TRAPS_FILE.read_text())})
    with server.running() as url:
        monkeypatch.setenv("PYMIIO_MIOT_SPEC_URL", url)
        assert miio("spec", "import", str(TRAPS_FILE), "--model", "instances").code == 6
        assert miio("spec", "fetch", "pymiio.traps.v1").code == 0
        kept = private_dirs / "cache" / "specs"
        assert json.loads((kept / "_instances.json").read_text()) == {"instances": INSTANCES}
        (kept / "pymiio.traps.v1.json").unlink()
        server.mode = "500"  # the kept list is used: only the spec itself is fetched again
        before = len(server.requests)
        assert "answered HTTP 500" in miio("spec", "fetch", "pymiio.traps.v1").err
        assert all("instances" not in r for r in server.requests[before:])


# -- 26.7 and 26.4: size caps on decoded bytes, and deadlines -------------------------------

PEAK = ("int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
        " // 1024")
FETCH = """
import sys
from pathlib import Path
from pymiio.errors import MiioError
from pymiio.knowledge.spec_store import SpecStore
try:
    SpecStore(Path(sys.argv[1]), sys.argv[2], timeout=60).fetch("pymiio.traps.v1")
    outcome = "fetched"
except MiioError as exc:
    outcome = str(exc)
print(""" + PEAK + """, outcome)
"""


@pytest.mark.parametrize("answer", [bomb, endless(600)], ids=["gzip-bomb", "600-MB"])
def test_a_huge_answer_stops_at_the_cap_in_bounded_memory(tmp_path: Path, answer: object) -> None:
    server = HostileServer({"/miot-spec-v2/instances": answer})  # type: ignore[dict-item]
    with server.running() as url:
        done = subprocess.run([sys.executable, "-c", FETCH, str(tmp_path), url],
                              capture_output=True, text=True, timeout=120)
    peak, message = done.stdout.split(" ", 1)
    assert "sent more than 67108864 bytes" in message and message.count("\n") == 1
    assert done.stderr == ""  # nothing left pending for the loop to complain about
    assert int(peak) < 256, f"peak {peak} MB"


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_a_dribbling_server_ends_at_the_deadline(monkeypatch: pytest.MonkeyPatch,
                                                 in_headers: bool) -> None:
    """150 bytes at one per 0.2 s would take 30 s; the fetch gives up after its 1 s."""
    body = json.dumps({"instances": INSTANCES}).encode().ljust(150)
    server = HostileServer({"/miot-spec-v2/instances": dribble(body, 0.2,
                                                               in_headers=in_headers)})
    with server.running() as url:
        monkeypatch.setenv("PYMIIO_MIOT_SPEC_URL", url)
        monkeypatch.setenv("PYMIIO_MIOT_SPEC_TIMEOUT", "1")
        done = miio("spec", "fetch", "pymiio.traps.v1")
    assert done.code == 6 and "did not answer within 1 s" in done.err
    assert done.err.count("\n") == 1


def test_redirects_are_followed_a_few_times_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def loop(handler: object) -> None:
        handler.send_response(302)  # type: ignore[attr-defined]
        handler.send_header("Location", "/miot-spec-v2/instances?again=1")  # type: ignore
        handler.send_header("Content-Length", "0")  # type: ignore[attr-defined]
        handler.end_headers()  # type: ignore[attr-defined]

    server = HostileServer({"/miot-spec-v2/instances": loop})
    with server.running() as url:
        monkeypatch.setenv("PYMIIO_MIOT_SPEC_URL", url)
        done = miio("spec", "fetch", "pymiio.traps.v1")
    assert done.code == 6 and "redirected more than 5 times" in done.err
    assert len(server.requests) == 6


async def test_stuck_fetches_leave_the_default_executor_free(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten devices of unknown models wait for a spec server that dribbles: the default
    executor (request-id reservation uses it) still runs work, and every description ends
    in an error at its deadline."""
    release = threading.Event()
    body = json.dumps({"instances": INSTANCES}).encode().ljust(300)
    server = HostileServer({"/miot-spec-v2/instances": dribble(body, 0.5, release)})
    with server.running() as url:
        monkeypatch.setenv("PYMIIO_MIOT_SPEC_URL", url)
        monkeypatch.setenv("PYMIIO_MIOT_SPEC_TIMEOUT", "1")
        store = SpecStore()
        describing = [asyncio.ensure_future(lookup.describe_soon(
            lookup.describe, f"acme.thing.v{i}", store)) for i in range(10)]
        assert await asyncio.to_thread(wait_for, lambda: len(server.requests) >= 1)
        free = await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 30)
        assert free == "free" and not any(task.done() for task in describing)
        outcomes = await asyncio.wait_for(
            asyncio.gather(*describing, return_exceptions=True), 120)
        release.set()
    assert all(isinstance(o, SpecError) and "no description" in str(o) for o in outcomes)


def test_parallel_loads_of_one_model_fetch_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    server = SpecServer(INSTANCES, {"urn:traps:1": json.loads(TRAPS_FILE.read_text())})
    with server.running() as url:
        monkeypatch.setenv("PYMIIO_MIOT_SPEC_URL", url)
        store = SpecStore()
        loaded: list[object] = []
        threads = [threading.Thread(target=lambda: loaded.append(store.load("pymiio.traps.v1")))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(loaded) == 8
    assert sum("/miot-spec-v2/instance?" in r for r in server.requests) == 1


async def test_the_bridge_serves_healthy_devices_while_spec_fetches_hang(
        broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten devices of models nobody has described wait for a spec server that dribbles (each
    fetch may take 30 s): all ten are being described at once, yet the default executor stays
    free (request-id reservation needs it) and the plug beside them is polled and its change
    published."""
    from pymiio.bridge.core import Bridge, Settings
    from pymiio.bridge.options import parse_broker
    from pymiio.inventory import Entry

    from .test_bridge import _values, watching

    release = threading.Event()
    body = json.dumps({"instances": INSTANCES}).encode().ljust(600)
    server = HostileServer({"/miot-spec-v2/instances": dribble(body, 0.1, release)})
    plug = f"{NET}.131.1"
    [healthy] = make_devices(plug, token=TOKEN)
    stuck = make_devices(f"{NET}.131.11", 10, token=TOKEN)
    for number, device in enumerate(stuck):
        device.profile.model = f"acme.stuck.v{number}"
    describing: list[str] = []

    def counted(model: str) -> DeviceModel:
        describing.append(model)  # where it runs: the thread the bridge gave it
        return lookup.describe(model)

    with server.running() as url, simulator_thread([healthy, *stuck]):
        monkeypatch.setenv("PYMIIO_MIOT_SPEC_URL", url)
        monkeypatch.setenv("PYMIIO_MIOT_SPEC_TIMEOUT", "30")
        entries = [Entry("plug", plug, TOKEN)] + [
            Entry(f"stuck-{n}", d.host, TOKEN) for n, d in enumerate(stuck)]
        settings = Settings(parse_broker(broker.url), base="hung", interval=1.0,
                            describe=counted, client_id="test-hung")
        stop = asyncio.Event()
        async with watching(broker) as mqtt:
            bridge = asyncio.create_task(Bridge(settings, entries).run(stop))
            try:
                # all ten described at once (on the default executor, six threads here, the
                # ten could never all start), the one instances fetch dribbling
                assert await asyncio.to_thread(wait_for, lambda: len(
                    [m for m in describing if m.startswith("acme.stuck.")]) == 10)
                free = await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 20)
                assert free == "free"
                assert await asyncio.to_thread(wait_for, lambda: len(server.requests) == 1)
                healthy.toggle("power")  # switched off while the fetch dribbles
                state = await mqtt.wait(lambda s: (_values(s, "hung/plug") or {}).get(
                    "power") is False and s["hung/plug"], timeout=60)
                assert state["power"] is False and not release.is_set()
            finally:
                stop.set()
                await asyncio.wait_for(bridge, 15)
        release.set()


def test_ctrl_c_during_a_dribbling_fetch_ends_it(tmp_path: Path) -> None:
    """SIGINT while the instances list dribbles (60 s of it, and a 60 s deadline): the
    command exits 130 and its request stops with it, not at the deadline."""
    import os
    import signal

    release = threading.Event()
    body = json.dumps({"instances": INSTANCES}).encode().ljust(600)
    server = HostileServer({"/miot-spec-v2/instances": dribble(body, 0.1, release)})
    with server.running() as url:
        env = {**os.environ, "PYMIIO_MIOT_SPEC_URL": url, "PYMIIO_MIOT_SPEC_TIMEOUT": "60",
               "PYMIIO_CACHE_DIR": str(tmp_path / "cache")}
        process = subprocess.Popen([sys.executable, "-m", "pymiio.cli.main", "spec", "fetch",
                                    "pymiio.traps.v1"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for(lambda: len(server.requests) >= 1)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=30)
        finally:
            process.kill()
            release.set()
    assert process.returncode == 130 and "Traceback" not in err
