"""The simulator's documented behaviours, each through real UDP on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from pymiio import AsyncDevice, DeviceError, Token, UnreachableError, WrongTokenError
from pymiio.protocol import HELLO, build_packet, encode_request, parse_packet
from pymiio.simulator import Faults, Simulator, SimulatorError, make_devices
from pymiio.simulator.config import load_config

from .addresses import NET
from .conftest import OTHER_TOKEN, TOKEN
from .helpers import exchange, simulator_thread


async def test_hello_reply_carries_id_uptime_and_hidden_token() -> None:
    devices = make_devices(f"{NET}.3.1", token=TOKEN)
    async with Simulator(devices):
        [(data, source)] = await asyncio.to_thread(exchange, f"{NET}.3.1", HELLO)
        first = parse_packet(data)
        assert source == (f"{NET}.3.1", 54321)
        assert first.is_hello and first.device_id == devices[0].device_id
        assert first.revealed_token is None and first.checksum == b"\xff" * 16
        # the stamp as uptime is tested under a fake clock in test_pairing.py


async def test_unprovisioned_reveals_until_config_router() -> None:
    async with Simulator(make_devices(f"{NET}.3.2", token=TOKEN, unprovisioned=True)):
        async with AsyncDevice(f"{NET}.3.2") as device:  # no token: learnt from the hello
            hello = await device.handshake()
            assert hello.token == Token(TOKEN)
            assert await device.send("miIO.config_router",
                                     {"ssid": "home", "passwd": "secret", "uid": 1}) == ["ok"]
            assert (await device.handshake()).token is None


async def test_packet_signed_with_another_token_is_dropped() -> None:
    devices = make_devices(f"{NET}.3.3", token=TOKEN)
    async with Simulator(devices):
        hello = parse_packet((await asyncio.to_thread(exchange, f"{NET}.3.3", HELLO))[0][0])
        bad = build_packet(Token(OTHER_TOKEN), hello.device_id, hello.stamp,
                           encode_request(1, "miIO.info"))
        assert await asyncio.to_thread(exchange, f"{NET}.3.3", bad, timeout=0.3) == []
        assert devices[0].stats.checksum_drops == 1
        async with AsyncDevice(f"{NET}.3.3", OTHER_TOKEN, timeout=2.0) as device:
            with pytest.raises(WrongTokenError, match="a wrong token"):
                await device.send("miIO.info")


async def test_info_and_legacy_properties() -> None:
    async with Simulator(make_devices(f"{NET}.3.4", token=TOKEN)):
        async with AsyncDevice(f"{NET}.3.4", TOKEN) as device:
            info = await device.info()
            assert {"model", "fw_ver", "hw_ver", "mac", "ap", "netif", "life", "token"} <= set(info)
            assert info["model"] == "chuangmi.plug.m1" and info["token"] == TOKEN
            assert info["netif"]["localIp"] == f"{NET}.3.4"
            assert await device.send("get_prop", ["power", "temperature"]) == ["on", 42]
            assert await device.send("set_power", ["off"]) == ["ok"]
            assert await device.send("get_prop", ["power"]) == ["off"]
            assert await device.send("toggle") == ["ok"]
            assert await device.send("get_prop", ["power"]) == ["on"]
            with pytest.raises(DeviceError) as bad:
                await device.send("set_power", [])
            assert bad.value.code == -5001
            with pytest.raises(DeviceError) as unknown:
                await device.send("no_such_method")
            assert unknown.value.code == -32601 and unknown.value.meaning == "unknown method"
            with pytest.raises(DeviceError) as many:
                await device.send("get_prop", ["power"] * 17)
            assert many.value.code == -9999


async def test_miot_properties_and_actions() -> None:
    async with Simulator(make_devices(f"{NET}.3.5", token=TOKEN, profile="airpurifier")):
        async with AsyncDevice(f"{NET}.3.5", TOKEN) as device:
            got = await device.get_properties([{"did": "power", "siid": 2, "piid": 1},
                                               {"did": "x", "siid": 9, "piid": 9}])
            assert got == [{"did": "power", "siid": 2, "piid": 1, "code": 0, "value": True},
                           {"did": "x", "siid": 9, "piid": 9, "code": -4003}]
            codes = await device.set_properties([
                {"did": "p", "siid": 2, "piid": 1, "value": False},   # writable
                {"did": "pm", "siid": 3, "piid": 4, "value": 1},      # read-only
                {"did": "m", "siid": 2, "piid": 4, "value": "x"}])    # wrong type
            assert [c["code"] for c in codes] == [0, -4002, -4005]
            assert (await device.get_properties([{"did": "p", "siid": 2, "piid": 1}]))[0][
                "value"] is False
            assert await device.action(4, 1) == {"code": 0, "out": []}
            assert (await device.action(9, 9))["code"] == -4003
            # 20 properties: the client batches (15 + 5), the device never sees too many.
            many = [{"did": str(i), "siid": 2, "piid": 1} for i in range(20)]
            assert len(await device.get_properties(many)) == 20
            with pytest.raises(DeviceError) as too_many:
                await device.send("get_properties", many)
            assert too_many.value.code == -9999


async def test_vacuum_ignores_a_repeated_id() -> None:
    devices = make_devices(f"{NET}.3.6", token=TOKEN, profile="vacuum")
    async with Simulator(devices):
        hello = parse_packet((await asyncio.to_thread(exchange, f"{NET}.3.6", HELLO))[0][0])
        packet = build_packet(Token(TOKEN), hello.device_id, hello.stamp,
                              encode_request(4242, "get_status"))
        assert len(await asyncio.to_thread(exchange, f"{NET}.3.6", packet)) == 1
        assert await asyncio.to_thread(exchange, f"{NET}.3.6", packet, timeout=0.3) == []
        assert devices[0].stats.repeated_id_drops == 1


async def test_loopback_broadcast_is_answered_from_each_device_address() -> None:
    devices = make_devices(f"{NET}.4.1", 3, token=TOKEN)
    neighbour = make_devices(f"{NET}.4.101", 30, token=TOKEN)  # as another run's would
    async with Simulator(neighbour), Simulator(devices):
        answers = await asyncio.to_thread(exchange, "127.255.255.255", HELLO, expect=3,
                                          sources={d.host for d in devices})
        assert sorted(source for _, source in answers) == [
            (f"{NET}.4.1", 54321), (f"{NET}.4.2", 54321), (f"{NET}.4.3", 54321)]


def test_refuses_addresses_outside_loopback() -> None:
    with pytest.raises(SimulatorError, match="outside 127.0.0.0/8"):
        Simulator(make_devices("192.168.1.10"))


async def test_thousand_devices_in_one_process_answer_a_hello_each() -> None:
    devices = make_devices(f"{NET}.8.1", 1000, token=TOKEN, seed=1)
    async with Simulator(devices, broadcast=False):
        answered = await asyncio.to_thread(_hello_each, [d.host for d in devices])
    assert answered == {d.host: d.device_id for d in devices}


def _hello_each(hosts: list[str]) -> dict[str, int]:
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    found: dict[str, int] = {}
    try:
        for _ in range(3):  # bounded: a few rounds for datagrams the kernel dropped
            for host in hosts:
                if host not in found:
                    sock.sendto(HELLO, (host, 54321))
                    try:
                        while True:
                            sock.settimeout(0 if len(found) else 0.5)
                            data, (source, _) = sock.recvfrom(64)
                            found[source] = parse_packet(data).device_id
                    except (BlockingIOError, TimeoutError):
                        pass
            sock.settimeout(0.5)
            deadline = time.monotonic() + 1
            while len(found) < len(hosts) and time.monotonic() < deadline:
                try:
                    data, (source, _) = sock.recvfrom(64)
                    found[source] = parse_packet(data).device_id
                except TimeoutError:
                    break
    finally:
        sock.close()
    return found


def test_profiles_from_a_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "devices.toml"
    config.write_text(f"""
[faults]
seed = 3

[[device]]
host = "{NET}.5.1"
count = 2
profile = "vacuum"
token = "{TOKEN}"
props = {{ battery = 55 }}

[[device]]
host = "{NET}.5.10"
profile = "plug"
model = "acme.custom.v1"
unprovisioned = true
""")
    devices, faults = load_config(config)
    assert [d.host for d in devices] == [f"{NET}.5.1", f"{NET}.5.2", f"{NET}.5.10"]
    assert devices[0].profile.props["battery"] == 55 and devices[0].profile.id_memory
    assert devices[2].profile.model == "acme.custom.v1" and not devices[2].provisioned
    assert faults == {"seed": 3}
    (tmp_path / "bad.toml").write_text("[[device]]\nport = 1\n")
    with pytest.raises(SimulatorError, match=r"\[\[device\]\] #1: unknown keys \['port'\]"):
        load_config(tmp_path / "bad.toml")


@pytest.mark.parametrize(("body", "message"), [
    ('host = "127.0.0.5"\ncount = 20000000', "count must be a whole number from 1 to 65536"),
    ('host = "127.0.0.5"\ncount = -5', "count must be a whole number"),
    ('host = "127.0.0.5"\ncount = 1e400', "count must be a whole number"),
    ('host = "127.0.0.5"\ncount = true', "count must be a whole number"),
    ('host = "10.1.2.3"', "outside 127.0.0.0/8"),
    ('host = "127.255.255.250"\ncount = 60000', "outside 127.0.0.0/8"),
    ('host = "127.0.0"', "not an IPv4 device address"),
    ('host = "127.0.0.5"\ntoken = "abc"', "token"),
    ('host = "127.0.0.5"\nmiot = [{siid = "x", piid = 1}]', "miot.siid must be a whole number"),
    ('host = "127.0.0.5"\nmax_props = 0', "max_props must be"),
])
def test_hostile_simulator_configs_are_refused_before_anything_is_built(
        tmp_path: Path, body: str, message: str) -> None:  # 14.17
    path = tmp_path / "hostile.toml"
    path.write_text("[[device]]\n" + body + "\n")
    with pytest.raises(SimulatorError, match=re.escape(message)):
        load_config(path)


def test_hostile_fault_settings_and_deep_nesting_are_refused(tmp_path: Path) -> None:  # 14.17
    path = tmp_path / "faults.toml"
    path.write_text('[faults]\ndrop = 1e400\n[[device]]\nhost = "127.0.0.5"\n')
    with pytest.raises(SimulatorError, match="faults.drop must be a number"):
        load_config(path)
    path.write_text("x = " + "[" * 50000 + "]" * 50000 + "\n")
    with pytest.raises(SimulatorError, match="nested too deeply|not valid TOML"):
        load_config(path)


# -- python-miio, the independent peer, as a client ------------------------------------

def test_python_miio_client_against_the_simulator() -> None:
    import miio

    with simulator_thread(make_devices(f"{NET}.6.1", token=TOKEN)):
        device = miio.Device(f"{NET}.6.1", TOKEN, timeout=2)
        info = device.info()
        assert info.model == "chuangmi.plug.m1"
        assert device.send("get_prop", ["power", "temperature"]) == ["on", 42]


def test_python_miio_with_the_wrong_token_gets_no_answer() -> None:
    import miio
    from miio.exceptions import DeviceException

    devices = make_devices(f"{NET}.6.2", token=TOKEN)
    with simulator_thread(devices):
        device = miio.Device(f"{NET}.6.2", OTHER_TOKEN, timeout=0.5)
        with pytest.raises(DeviceException):
            device.send("get_prop", ["power"], retry_count=0)
    assert devices[0].stats.checksum_drops >= 1


# -- fault injection ---------------------------------------------------------------------

async def test_faults_are_deterministic_with_a_seed() -> None:
    def outcomes(seed: int) -> list[bool]:
        faults = Faults(drop=0.5, seed=seed)
        return [faults.chance(faults.drop) for _ in range(50)]

    assert outcomes(7) == outcomes(7) != outcomes(8)


async def test_delay_duplicate_and_late_replies() -> None:
    faults = Faults(delay=0.2, duplicate=1.0, seed=1)
    async with Simulator(make_devices(f"{NET}.7.1", token=TOKEN), faults=faults):
        answers = await asyncio.to_thread(exchange, f"{NET}.7.1", HELLO, timeout=1, expect=2)
        assert len(answers) == 2 and answers[0][0] == answers[1][0]  # a duplicate
    late = Faults(late=1.0, late_after=0.4, seed=1)
    async with Simulator(make_devices(f"{NET}.7.2", token=TOKEN), faults=late):
        assert await asyncio.to_thread(exchange, f"{NET}.7.2", HELLO, timeout=0.2) == []
        assert len(await asyncio.to_thread(exchange, f"{NET}.7.2", HELLO, timeout=1)) == 1


async def test_dropped_datagrams_and_corrupt_checksums() -> None:
    async with Simulator(make_devices(f"{NET}.7.3", token=TOKEN), faults=Faults(drop=1.0)):
        async with AsyncDevice(f"{NET}.7.3", TOKEN, timeout=0.5) as device:
            with pytest.raises(UnreachableError, match="did not answer the handshake"):
                await device.handshake()
    async with Simulator(make_devices(f"{NET}.7.4", token=TOKEN), faults=Faults(corrupt=1.0)):
        async with AsyncDevice(f"{NET}.7.4", TOKEN, timeout=0.5) as device:
            with pytest.raises(WrongTokenError, match="checksum that does not match"):
                await device.send("get_prop", ["power"])


@pytest.mark.parametrize("quirk", ["trailing-nul", "control-chars", "double-comma",
                                   "leading-zero"])
async def test_each_repairable_quirk_reaches_the_client_intact(quirk: str) -> None:
    async with Simulator(make_devices(f"{NET}.7.5", token=TOKEN), faults=Faults(quirk=quirk)):
        async with AsyncDevice(f"{NET}.7.5", TOKEN) as device:
            assert await device.send("get_prop", ["power", "temperature"]) == ["on", 42]


async def test_a_reply_that_is_not_json_is_a_payload_error_with_the_raw_text() -> None:
    from pymiio import PayloadError

    async with Simulator(make_devices(f"{NET}.7.6", token=TOKEN), faults=Faults(quirk="not-json")):
        async with AsyncDevice(f"{NET}.7.6", TOKEN, timeout=1.0) as device:
            with pytest.raises(PayloadError, match="not valid JSON") as info:
                await device.send("get_prop", ["power"])
            assert "garbage<" in str(info.value.raw)


async def test_empty_result_and_empty_list_quirks_are_read_as_null_and_empty() -> None:
    async with Simulator(make_devices(f"{NET}.7.7", token=TOKEN),
                         faults=Faults(quirk="empty-result")):
        async with AsyncDevice(f"{NET}.7.7", TOKEN) as device:
            assert await device.send("get_prop", ["power"]) is None
    async with Simulator(make_devices(f"{NET}.7.8", token=TOKEN, profile="airpurifier"),
                         faults=Faults(quirk="empty-list")):
        async with AsyncDevice(f"{NET}.7.8", TOKEN) as device:
            assert (await device.action(4, 1)) == {"code": 0, "out": []}


def test_simulate_command_json_ready_line_and_clean_stop() -> None:
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "pymiio.cli.main", "simulate", "--host", f"{NET}.9.1", "--count",
         "2", "--json", "--seed", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["ready"] is True
        assert [d["host"] for d in ready["devices"]] == [f"{NET}.9.1", f"{NET}.9.2"]
        assert len({d["device_id"] for d in ready["devices"]}) == 2
        assert all(len(d["token"]) == 32 for d in ready["devices"])
        answer = exchange(f"{NET}.9.2", HELLO)
        assert parse_packet(answer[0][0]).device_id == ready["devices"][1]["device_id"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "simulator stopped" in err


@pytest.mark.parametrize("params", [
    [{"siid": [2], "piid": 1}], [{"siid": {"a": 1}, "piid": 1}], [{"siid": 2, "piid": None}],
    [[2, 1]], "x", [{"siid": 1e400, "piid": 1}]])
def test_malformed_miot_params_get_an_error_reply_not_a_traceback(
        params: object, caplog: pytest.LogCaptureFixture) -> None:  # 14.17
    [device] = make_devices("127.0.0.2", token=TOKEN, profile="airpurifier")
    reply = device.dispatch_request({"id": 5, "method": "get_properties", "params": params})
    assert reply == {"id": 5, "error": {"code": -5005, "message": "params error"}}
    action = device.dispatch_request({"id": 6, "method": "action",
                                      "params": {"siid": [4], "aiid": 1}})
    assert action is not None and action["error"]["code"] == -5005
    assert "Traceback" not in caplog.text
