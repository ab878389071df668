"""AsyncDevice and Device against the simulator, through real UDP on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pytest

from pymiio import (
    AsyncDevice,
    Device,
    DeviceError,
    MiioTimeoutError,
    RetryPolicy,
    TokenError,
    UnreachableError,
)
from pymiio.protocol.session import MemoryIds
from pymiio.simulator import Faults, Simulator, make_devices

from .addresses import NET
from .conftest import TOKEN
from .helpers import open_udp_sockets, simulator_thread

FAST = RetryPolicy(timeout=5.0, retries=30, first_attempt=0.05, min_attempt=0.03)


async def test_results_stay_with_their_requests_under_duplicates_and_late_replies() -> None:
    faults = Faults(duplicate=0.5, late=0.3, late_after=0.15, seed=11)
    async with Simulator(make_devices(f"{NET}.10.1", token=TOKEN), faults=faults):
        async with AsyncDevice(f"{NET}.10.1", TOKEN, policy=FAST) as device:
            for i in range(30):
                name = ("power", "temperature", "wifi_led")[i % 3]
                expected = {"power": "on", "temperature": 42, "wifi_led": "off"}[name]
                assert await device.send("get_prop", [name]) == [expected]


async def test_send_raw_keeps_the_callers_id() -> None:
    async with Simulator(make_devices(f"{NET}.10.2", token=TOKEN)):
        async with AsyncDevice(f"{NET}.10.2", TOKEN) as device:
            reply = await device.send_raw('{"id":4321,"method":"get_prop","params":["power"]}')
            assert reply == {"id": 4321, "result": ["on"]}
            reply = await device.send_raw({"id": 77, "method": "nope"})
            assert reply["id"] == 77 and reply["error"]["code"] == -32601


async def test_silent_host_is_unreachable_within_the_deadline() -> None:
    async with AsyncDevice(f"{NET}.10.3", TOKEN, timeout=1.0) as device:
        with pytest.raises(UnreachableError, match="did not answer the handshake"):
            await asyncio.wait_for(device.send("miIO.info"), 10)  # its own 1 s deadline ends it


async def test_unknown_host_name_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real DNS lookup: the resolver is made to fail as it does for an unknown name."""
    async def no_such_name(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_name)
    with pytest.raises(UnreachableError, match="cannot resolve 'plug.example'"):
        await AsyncDevice("plug.example", TOKEN).send("miIO.info")


async def test_device_errors_raise_at_once_and_retryable_ones_are_retried() -> None:
    devices = make_devices(f"{NET}.10.4", token=TOKEN)
    async with Simulator(devices):
        async with AsyncDevice(f"{NET}.10.4", TOKEN, retries=3) as device:
            with pytest.raises(DeviceError):
                await device.send("set_power", [])
            assert devices[0].stats.requests == 1
            with pytest.raises(DeviceError) as info:
                await device.send("get_prop", ["power"] * 20)  # -9999 every time
            assert info.value.code == -9999 and devices[0].stats.requests == 1 + 4


async def test_hidden_token_and_no_token_given() -> None:
    async with Simulator(make_devices(f"{NET}.10.5", token=TOKEN)):
        async with AsyncDevice(f"{NET}.10.5") as device:
            with pytest.raises(TokenError, match="hides its token"):
                await device.send("miIO.info")


def _count_timers(monkeypatch: pytest.MonkeyPatch, armed: list[float]) -> None:
    """Record in ``armed`` every timer the running loop sets from now on."""
    loop = asyncio.get_running_loop()
    real_call_at = loop.call_at

    def counting(when: float, callback: object, *args: object) -> asyncio.TimerHandle:
        armed.append(when)
        return real_call_at(when, callback, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "call_at", counting)


async def test_answered_calls_leave_their_timer_to_the_next(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19: a call answered in time does not cancel its retry timer; the next calls reuse
    it (it fires early, finds nothing due and is set again), so 30 quick calls arm a timer a
    few times, not 30 times, and every call still gets its answer."""
    armed: list[float] = []
    async with Simulator(make_devices(f"{NET}.10.9", token=TOKEN)):
        async with AsyncDevice(f"{NET}.10.9", TOKEN) as device:
            await device.send("get_prop", ["power"])
            _count_timers(monkeypatch, armed)
            results = [await device.send("get_prop", ["power"]) for _ in range(30)]
    assert results == [["on"]] * 30
    assert len(armed) <= 5  # the first call's timer may still be pending for all of them


async def test_a_first_call_sets_one_timer_for_hello_and_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19: a new device object's first call sends a hello (half a second to answer)
    and then its command (at least ``min_attempt``); one timer set ``min_attempt`` after the
    hello serves both, so a fleet of new objects sets one timer each instead of two."""
    armed: list[float] = []
    async with Simulator(make_devices(f"{NET}.10.12", token=TOKEN)):
        _count_timers(monkeypatch, armed)
        for _ in range(20):
            async with AsyncDevice(f"{NET}.10.12", TOKEN) as device:
                assert await device.send("get_prop", ["power"]) == ["on"]
    assert 20 <= len(armed) <= 25  # two each (40) before; a slow hello may add one


async def test_cancelled_call_does_not_confuse_the_next() -> None:
    async with Simulator(make_devices(f"{NET}.10.6", token=TOKEN), faults=Faults(delay=0.3)):
        async with AsyncDevice(f"{NET}.10.6", TOKEN, timeout=3) as device:
            await device.handshake()
            task = asyncio.create_task(device.send("get_prop", ["power"]))
            while device.session.call is None or device.session.call.done:
                await asyncio.sleep(0)  # until the command is in flight
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await device.send("get_prop", ["temperature"]) == [42]


async def test_thousand_devices_with_one_gather() -> None:
    devices = make_devices(f"{NET}.20.1", 1000, token=TOKEN, seed=2)
    async with Simulator(devices, broadcast=False):
        before = open_udp_sockets()
        # a loaded machine reserves a thousand devices' ids slowly: a deadline that bounds,
        # not one the first round must beat (it once ended in 'wrong token' under load)
        patient = RetryPolicy(timeout=60.0, retries=200, first_attempt=0.05, min_attempt=0.03)
        clients = [AsyncDevice(d.host, TOKEN, policy=patient) for d in devices]
        first = asyncio.gather(*(c.send("get_prop", ["power"]) for c in clients))
        while not any(c.session.call for c in clients):
            await asyncio.sleep(0)
        assert open_udp_sockets() <= before + 1  # one socket for the whole fleet
        assert await first == [["on"]] * 1000
        results = await asyncio.gather(*(c.send("get_prop", ["power"]) for c in clients))
        assert results == [["on"]] * 1000
        await asyncio.gather(*(c.close() for c in clients))
        assert open_udp_sockets() == before  # the shared socket went with the last close


async def test_twenty_percent_loss_thousand_consecutive_calls_succeed() -> None:
    faults = Faults(drop=0.2, seed=20)
    async with Simulator(make_devices(f"{NET}.10.7", token=TOKEN), faults=faults):
        lossy = RetryPolicy(timeout=5.0, retries=30, first_attempt=0.05, min_attempt=0.015)
        async with AsyncDevice(f"{NET}.10.7", TOKEN, policy=lossy, ids=MemoryIds()) as device:
            ok = 0
            for _ in range(1000):
                ok += await device.send("get_prop", ["power"]) == ["on"]
    assert ok == 1000


def test_vacuum_id_memory_across_two_processes() -> None:
    script = ("import sys; from pymiio import Device;"
              f"d = Device('{NET}.10.8', '{TOKEN}', timeout=1.5);"
              "print(d.send('get_status')[0]['battery'])")
    env = dict(os.environ)
    with simulator_thread(make_devices(f"{NET}.10.8", token=TOKEN, profile="vacuum")):
        for _ in range(2):  # the second process must not reuse the first one's ids
            done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                                  text=True, timeout=30)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == "100"


def test_without_persistence_a_vacuum_would_ignore_the_second_process() -> None:
    """The failure the id store prevents: the same ids from a fresh start are ignored."""
    with simulator_thread(make_devices(f"{NET}.10.9", token=TOKEN, profile="vacuum")):
        with Device(f"{NET}.10.9", TOKEN, ids=MemoryIds(), retries=0) as first:
            first.send("get_status")
        with Device(f"{NET}.10.9", TOKEN, ids=MemoryIds(), retries=0, timeout=0.5) as second:
            with pytest.raises(MiioTimeoutError):
                second.send("get_status")


def test_sync_device_works_inside_a_running_event_loop() -> None:
    with simulator_thread(make_devices(f"{NET}.10.10", token=TOKEN)):
        async def inside() -> object:
            with Device(f"{NET}.10.10", TOKEN) as device:
                return device.send("get_prop", ["power"])

        assert asyncio.run(inside()) == ["on"]
        with Device(f"{NET}.10.10", TOKEN) as device:
            assert device.info()["model"] == "chuangmi.plug.m1"
            assert device.handshake().device_id == device.hello.device_id  # type: ignore[union-attr]


def test_python_miio_and_pymiio_alternate_on_one_device() -> None:
    import miio

    with simulator_thread(make_devices(f"{NET}.10.11", token=TOKEN)):
        theirs = miio.Device(f"{NET}.10.11", TOKEN, timeout=2)
        with Device(f"{NET}.10.11", TOKEN) as ours:
            for i in range(10):
                state = "off" if i % 2 else "on"
                writer, reader = (ours, theirs) if i % 2 else (theirs, ours)
                assert writer.send("set_power", [state]) == ["ok"]
                assert reader.send("get_prop", ["power"]) == [state]
