"""Issue 14, network and devices: ordinary network errors, hostile replies, impostors and
concurrent commands end with the same one-line errors from both faces."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pymiio import AsyncDevice, Device, PayloadError, UnreachableError
from pymiio.protocol import HELLO, build_packet, hello_reply, parse_packet
from pymiio.protocol.session import Call, MemoryIds, RetryPolicy, Session
from pymiio.protocol.token import Token
from pymiio.simulator import make_devices
from pymiio.simulator.device import SimulatedDevice

from .addresses import NET
from .cli_runner import miio
from .conftest import OTHER_TOKEN, TOKEN
from .helpers import simulator_thread


def _closed_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


async def test_a_closed_port_is_unreachable_from_both_faces() -> None:  # 14.11
    port = _closed_port()
    async with AsyncDevice("127.0.0.1", TOKEN, port=port, timeout=0.5) as device:
        with pytest.raises(UnreachableError):
            await device.handshake()
    with Device("127.0.0.1", TOKEN, port=port, timeout=0.5) as sync_device:
        with pytest.raises(UnreachableError, match="Connection refused"):
            await asyncio.to_thread(sync_device.handshake)


@pytest.mark.parametrize(("code", "kind", "at_once"), [
    (errno.EHOSTUNREACH, UnreachableError, False),   # ICMP administratively prohibited
    (errno.ECONNREFUSED, UnreachableError, False),   # the device closed its port
    (errno.EACCES, UnreachableError, True),          # a broadcast address, a firewall
    (errno.ENETUNREACH, UnreachableError, True),
    (errno.EMSGSIZE, PayloadError, True),
])
def test_send_failures_map_to_one_error_class(code: int, kind: type[Exception],
                                              at_once: bool) -> None:  # 14.11
    session = Session(Token(TOKEN), MemoryIds(), RetryPolicy(timeout=1.0))
    call = Call({"method": "x", "params": []})
    session.start(call, 0.0)
    session.send_failed(OSError(code, os.strerror(code)), 0.0)
    assert call.done is at_once
    while not call.done:
        session.expire(session.timer or 0.0)
    assert isinstance(call.error, kind) and os.strerror(code) in str(call.error)


@pytest.fixture
def odd_device() -> Iterator[SimulatedDevice]:
    """A device whose replies the test rewrites (``replies`` maps a method to a raw body)."""
    [device] = make_devices(f"{NET}.95.1", token=TOKEN, profile="airpurifier")
    device.replies = {}  # type: ignore[attr-defined]
    original = device.handle

    def handle(data: bytes, now: float, *source: object) -> list[bytes]:
        if len(data) > 32:
            request = json.loads(parse_packet(data, device.token).payload or b"{}")
            body = device.replies.get(request.get("method"))  # type: ignore[attr-defined]
            if body is not None:
                text = body.replace("ID", str(request["id"]))
                return [build_packet(device.token, device.device_id, 5, text.encode())]
        return original(data, now)

    device.handle = handle  # type: ignore[method-assign]
    with simulator_thread([device]):
        yield device


@pytest.mark.parametrize("result", ['{"a": 1}', '[1, 2]', '[{"code": "x"}]', "[]", "null"])
def test_miot_results_of_the_wrong_shape_are_payload_errors(odd_device: SimulatedDevice,
                                                            result: str) -> None:  # 14.12
    odd_device.replies["get_properties"] = '{"id":ID,"result":' + result + "}"  # type: ignore
    done = miio("miot", "get", f"{NET}.95.1", "2.1", "--token", TOKEN, "--timeout", "1")
    assert done.code in (5, 6) and done.err.startswith("error: ")
    assert "Traceback" not in done.err


def test_a_huge_error_code_and_foreign_ids_do_not_crash(odd_device: SimulatedDevice) -> None:
    odd_device.replies["miIO.info"] = '{"id":ID,"error":{"code":1e999,"message":"x"}}'  # type: ignore
    done = miio("info", f"{NET}.95.1", "--token", TOKEN)
    assert done.code == 5 and "device error -1" in done.err  # 14.12


def test_a_reply_that_is_not_json_never_shows_the_token(odd_device: SimulatedDevice) -> None:
    odd_device.replies["miIO.info"] = 'oops {"token":"' + TOKEN + '","id":ID'  # type: ignore
    for debug in ((), ("--debug",)):
        done = miio("info", f"{NET}.95.1", "--token", TOKEN, "--timeout", "0.6", *debug)
        assert done.code == 6, done.err  # 14.13
        assert TOKEN not in done.err + done.out and "2b00…33cf" in done.err


def test_send_json_prints_valid_json_for_numbers_json_cannot_hold(
        odd_device: SimulatedDevice) -> None:  # 14.16
    odd_device.replies["get_prop"] = '{"id":ID,"result":[1e999, -1e999, 5]}'  # type: ignore
    done = miio("send", f"{NET}.95.1", "get_prop", '["a","b","c"]', "--token", TOKEN, "--json")
    assert done.code == 0 and json.loads(done.out) == [None, None, 5]
    assert "Infinity" not in done.out


def test_an_impostor_cannot_replace_a_stored_token(private_dirs: Path) -> None:  # 14.14
    [real] = make_devices(f"{NET}.96.1", token=TOKEN, unprovisioned=True)
    with simulator_thread([real]):
        assert miio("discover", f"{NET}.96.1", "--save").code == 0
    impostor = SimulatedDevice(host=f"{NET}.96.2", device_id=real.device_id,
                               token=Token(OTHER_TOKEN), profile=real.profile.clone(),
                               provisioned=False)
    with simulator_thread([impostor]):
        done = miio("discover", f"{NET}.96.2", "--save")
    assert done.code == 0 and "kept the stored token" in done.err
    [entry] = miio("devices", "list", "--json", "--show-tokens").json()
    assert (entry["host"], entry["token"]) == (f"{NET}.96.1", TOKEN)


ADD = ("import sys; from pymiio.cli.main import main;"
       "sys.exit(main(['devices', 'add', sys.argv[1], '--host', '127.0.0.9', '--no-check']))")


def test_parallel_devices_add_keeps_every_entry() -> None:  # 14.15
    processes = [subprocess.Popen([sys.executable, "-c", ADD, f"dev{index}"], env=os.environ,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for index in range(20)]
    for process in processes:
        assert process.wait(60) == 0
    names = {entry["name"] for entry in miio("devices", "list", "--json").json()}
    assert names == {f"dev{index}" for index in range(20)}


def test_saving_many_found_devices_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    from pymiio import inventory
    from pymiio.cli.cmd_discover import _save
    from pymiio.lan.discovery import DiscoveredDevice

    writes: list[Any] = []
    real_write = inventory.write_private
    monkeypatch.setattr(inventory, "write_private",
                        lambda *args: (writes.append(args), real_write(*args)))
    found = [DiscoveredDevice(f"127.1.{i // 250}.{i % 250 + 1}", 1000 + i, token=Token(TOKEN))
             for i in range(3000)]
    _save(found)
    assert len(writes) == 1  # 14.15
    assert len(json.loads(writes[0][1])["devices"]) == 3000


@pytest.mark.parametrize("args", [
    ("discover", "127.0.0.1", "--bind", "10.1.2.3"),
    ("discover", "--network", "127.0.0.0/30", "--bind", "10.1.2.3"),
    ("discover", "--bind", "notanip"),
    ("send", "127.0.0.1", "x", "--timeout", "nan"),
    ("send", "127.0.0.1", "x", "--timeout", "inf"),
    ("send", "127.0.0.1", "x", "--timeout", "-1"),
])
def test_bad_bind_addresses_and_timeouts_are_usage_errors(args: tuple[str, ...]) -> None:
    done = miio(*args)  # 14.16
    assert done.code == 2 and "Traceback" not in done.err


def test_classic_bindip_to_a_foreign_address_is_a_usage_error() -> None:  # 14.16
    from .cli_runner import miio_cli

    done = miio_cli("--discover", "127.0.0.1", "--bindip", "10.1.2.3")
    assert done.code == 2 and done.err.startswith("error: cannot send from 10.1.2.3")


def test_a_held_id_lock_delays_a_call_boundedly(private_dirs: Path) -> None:  # 14.16
    lock_dir = private_dirs / "cache" / "ids"
    lock_dir.mkdir(parents=True)
    holder = os.open(lock_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with simulator_thread(make_devices(f"{NET}.97.1", token=TOKEN)):
            done = miio("send", f"{NET}.97.1", "get_prop", '["power"]', "--token", TOKEN,
                        "--timeout", "1")
        assert done.code == 0, done.err
    finally:
        os.close(holder)


def test_hello_floods_and_garbage_leave_a_call_intact() -> None:
    """Many hello replies and garbage before the real reply: the call completes."""
    session = Session(Token(TOKEN), MemoryIds())
    call = Call({"method": "x", "params": []})
    session.start(call, 0.0)
    [command] = session.receive(hello_reply(7, 5, None), 0.01)
    for _ in range(1000):
        session.receive(hello_reply(7, 5, None), 0.02)
        session.receive(HELLO, 0.02)
        session.receive(b"\x21\x31" + os.urandom(60), 0.02)
    request_id = json.loads(parse_packet(command, Token(TOKEN)).payload or b"{}")["id"]
    session.receive(build_packet(Token(TOKEN), 7, 5, json.dumps(
        {"id": request_id, "result": ["ok"]}).encode()), 0.03)
    assert call.reply == {"id": request_id, "result": ["ok"]}
