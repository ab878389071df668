"""Sweeps (lan/sweep.py): many devices driven from one task, through the simulator on real
sockets. Where time matters the loop runs on a virtual clock (tests/virtual_time.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pymiio import AsyncDevice, ClosedError, DeviceError, RetryPolicy, UnreachableError
from pymiio.knowledge.lookup import describe
from pymiio.knowledge.spec_store import load_spec_file
from pymiio.lan import sweep
from pymiio.lan.transport import shared_endpoint
from pymiio.protocol.session import MemoryIds
from pymiio.simulator import Faults, Simulator, make_devices
from pymiio.simulator.profiles import spec_profile

from .addresses import NET
from .conftest import TOKEN
from .virtual_time import run_virtual

SHARED = Path(__file__).resolve().parents[2] / "shared" / "miot-specs"
PURIFIER = SHARED / "zhimi.airpurifier.mb3.json"


def _hosts(first: str, count: int) -> list[str]:
    return [device.host for device in make_devices(first, count, token=TOKEN)]


async def test_a_sweep_polls_every_device_and_ids_persist(private_dirs: Path) -> None:
    """Fresh devices: the first hello names each device, its ids are reserved from the id
    store (on disk, in a worker thread) and the command follows; a second sweep continues
    with the next ids, and a device never sees an id twice."""
    simulated = make_devices(f"{NET}.30.1", 120, token=TOKEN)
    async with Simulator(simulated):
        devices = [AsyncDevice(d.host, TOKEN) for d in simulated]
        try:
            first = await sweep.poll(devices, "get_prop", ["power", "temperature"])
            second = await sweep.poll(devices, "get_prop", ["power"])
        finally:
            await asyncio.gather(*(d.close() for d in devices))
    assert first == [["on", 42]] * 120
    assert second == [["on"]] * 120
    assert all(d.stats.requests == 2 and d.stats.repeated_id_drops == 0 for d in simulated)
    stored = {path.name for path in (private_dirs / "cache" / "ids").iterdir()
              if not path.name.startswith(".")}
    assert stored == {f"{d.device_id:08x}" for d in simulated}


def test_loss_is_retried_with_fresh_ids_and_a_silent_device_times_out() -> None:
    """20 % of datagrams lost each way: every call still succeeds (retries with fresh ids:
    the simulated devices ignore an id they have seen). A device that never answers ends in
    UnreachableError at its own deadline, and holds nobody else up."""
    policy = RetryPolicy(timeout=5.0, retries=30, first_attempt=0.05, min_attempt=0.03)
    simulated = make_devices(f"{NET}.31.1", 40, token=TOKEN)

    async def main() -> tuple[list[object], float, float]:
        loop = asyncio.get_running_loop()
        async with Simulator(simulated, faults=Faults(drop=0.2, seed=5)):
            ids = MemoryIds()
            devices = [AsyncDevice(d.host, TOKEN, policy=policy, ids=ids) for d in simulated]
            silent = AsyncDevice(f"{NET}.31.200", TOKEN, policy=policy, ids=ids)
            started = loop.time()
            try:
                results = await sweep.poll([*devices, silent], "get_prop", ["power"])
                finished = loop.time()
                again = await sweep.poll(devices, "get_prop", ["power"])
            finally:
                await asyncio.gather(*(d.close() for d in [*devices, silent]))
            assert again == [["on"]] * 40
            return results, started, finished

    results, started, finished = run_virtual(main())
    assert results[:40] == [["on"]] * 40
    assert isinstance(results[40], UnreachableError)
    assert "did not answer the handshake" in str(results[40])
    assert finished - started == pytest.approx(5.0, abs=0.01)  # the silent device's deadline
    assert sum(d.stats.requests for d in simulated) >= 80
    assert any(d.stats.hellos > 1 for d in simulated)  # some calls were retried


def test_a_slow_device_is_expired_and_answered_by_one_timer() -> None:
    """Devices that answer after 0.3 s, first attempts of 0.05 s: every call is retried
    (the one timer fired), and a late reply to an earlier attempt still completes its call."""
    policy = RetryPolicy(timeout=5.0, retries=30, first_attempt=0.05, min_attempt=0.05,
                         max_attempt=0.1)
    simulated = make_devices(f"{NET}.32.1", 10, token=TOKEN)

    async def main() -> list[object]:
        async with Simulator(simulated, faults=Faults(delay=0.3)):
            ids = MemoryIds()
            devices = [AsyncDevice(d.host, TOKEN, policy=policy, ids=ids) for d in simulated]
            try:
                return await sweep.poll(devices, "get_prop", ["power"])
            finally:
                await asyncio.gather(*(d.close() for d in devices))

    assert run_virtual(main()) == [["on"]] * 10
    assert all(d.stats.hellos > 1 for d in simulated)


async def test_device_errors_come_back_in_place() -> None:
    simulated = make_devices(f"{NET}.33.1", 3, token=TOKEN)
    async with Simulator(simulated):
        devices = [AsyncDevice(d.host, TOKEN) for d in simulated]
        try:
            results = await sweep.poll(devices, "no_such_method")
            assert all(isinstance(r, DeviceError) and r.code == -32601 for r in results)
            assert await sweep.poll([], "miIO.info") == []
            assert await sweep.run([]) == []
        finally:
            await asyncio.gather(*(d.close() for d in devices))


@pytest.mark.skipif(not PURIFIER.is_file(), reason="../shared/miot-specs is not here")
async def test_status_of_real_spec_devices_matches_the_single_device_path() -> None:
    """The Air Purifier 3H's real spec (55 properties, several batches each): a sweep reads
    what ``AsyncDevice.status`` reads, device by device."""
    model = load_spec_file(PURIFIER, "zhimi.airpurifier.mb3")
    simulated = make_devices(f"{NET}.34.1", 8, token=TOKEN, profile=spec_profile(model))
    async with Simulator(simulated):
        devices = [AsyncDevice(d.host, TOKEN) for d in simulated]
        try:
            swept = await sweep.status([(d, model) for d in devices], limit=3)
            one = [await d.status(model) for d in devices]
        finally:
            await asyncio.gather(*(d.close() for d in devices))
    assert all(isinstance(readings, list) for readings in swept)
    assert [[(r.prop.name, r.value, r.error) for r in readings] for readings in swept] == \
        [[(r.prop.name, r.value, r.error) for r in readings] for readings in one]
    assert len(one[0]) == len(model.status_properties()) > 30


async def test_single_calls_take_turns_with_a_sweep_on_the_same_devices() -> None:
    """A command sent through the device object while a sweep runs waits for the device's
    turn and gets its own answer; the sweep's calls get theirs."""
    simulated = make_devices(f"{NET}.35.1", 20, token=TOKEN)
    async with Simulator(simulated, faults=Faults(delay=0.02)):
        devices = [AsyncDevice(d.host, TOKEN) for d in simulated]
        try:
            await sweep.poll(devices, "miIO.info")
            swept = asyncio.ensure_future(sweep.poll(devices, "get_prop", ["temperature"]))
            singles = [devices[i].send("get_prop", ["power"]) for i in (0, 5, 5, 19)]
            results = await asyncio.gather(*singles)
            assert await swept == [[42]] * 20
            assert results == [["on"]] * 4
            # and the other way round: a sweep reaching a device whose turn is taken
            busy = asyncio.ensure_future(devices[3].send("get_prop", ["wifi_led"]))
            await asyncio.sleep(0)
            assert await sweep.poll(devices[:5], "get_prop", ["power"]) == [["on"]] * 5
            assert await busy == ["off"]
        finally:
            await asyncio.gather(*(d.close() for d in devices))
    assert all(d.stats.repeated_id_drops == 0 for d in simulated)


def test_a_cancelled_sweep_leaves_devices_usable() -> None:
    """Cancelling a sweep ends its calls, frees every device's turn and the endpoint's count
    of awaited replies; the devices answer the next call."""
    simulated = make_devices(f"{NET}.36.1", 6, token=TOKEN)

    async def main() -> None:
        async with Simulator(simulated, faults=Faults(delay=1.0)):
            ids = MemoryIds()
            devices = [AsyncDevice(d.host, TOKEN, ids=ids) for d in simulated]
            held = shared_endpoint()
            try:
                await sweep.poll(devices, "get_prop", ["power"])
                blocker = asyncio.ensure_future(devices[2].send("get_prop", ["power"]))
                await asyncio.sleep(0)
                task = asyncio.ensure_future(sweep.poll(devices, "get_prop", ["power"],
                                                        limit=4))
                await asyncio.sleep(0.5)
                assert held.awaiting == 4  # three of the sweep's calls and the blocker
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert held.awaiting == 1
                assert await blocker == ["on"]
                assert held.awaiting == 0
                assert all(not d._turns.busy for d in devices)
                assert await sweep.poll(devices, "get_prop", ["power"]) == [["on"]] * 6
            finally:
                held.release()
                await asyncio.gather(*(d.close() for d in devices))

    run_virtual(main())


def test_closing_a_device_during_a_sweep_ends_only_its_job() -> None:
    simulated = make_devices(f"{NET}.37.1", 4, token=TOKEN)

    async def main() -> list[object]:
        async with Simulator(simulated, faults=Faults(delay=0.2)):
            ids = MemoryIds()
            devices = [AsyncDevice(d.host, TOKEN, ids=ids) for d in simulated]
            try:
                task = asyncio.ensure_future(sweep.poll(devices, "get_prop", ["power"]))
                await asyncio.sleep(0.1)
                await devices[1].close()
                results = await task
                again = await sweep.poll(devices, "get_prop", ["power"])
                assert isinstance(again[1], ClosedError)
                return results
            finally:
                await asyncio.gather(*(d.close() for d in devices))

    results = run_virtual(main())
    assert results[0] == results[2] == results[3] == ["on"]
    assert isinstance(results[1], ClosedError)


async def test_device_names_are_resolved_and_bad_jobs_end_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A device given by name opens (a lookup) before its call; an operation that fails
    before sending ends its own job only."""
    simulated = make_devices(f"{NET}.38.1", 2, token=TOKEN)

    async def resolve(host: str, port: int) -> tuple[str, int]:
        return {"kitchen": simulated[0].host}[host], port

    monkeypatch.setattr("pymiio.lan.client.resolve", resolve)

    def broken() -> sweep.ops.Step[object]:
        raise ValueError("a bug in the operation")
        yield "never", None  # pragma: no cover

    def malformed() -> sweep.ops.Step[object]:
        yield "get_prop", ["power"]
        yield "not a (method, params) pair"  # type: ignore[misc]

    async with Simulator(simulated):
        named, plain = AsyncDevice("kitchen", TOKEN), AsyncDevice(simulated[1].host, TOKEN)
        try:
            results = await sweep.run([(named, sweep._one("get_prop", ["power"])),
                                       (plain, broken()), (plain, malformed())])
        finally:
            await named.close()
            await plain.close()
    assert results[0] == ["on"]
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], TypeError)


async def test_a_batch_gathers_the_operations_of_one_pass_into_one_sweep(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Pollers waking together each ask for their device's status; one sweep answers all,
    each caller gets its own readings or its own exception (a closed device)."""
    simulated = make_devices(f"{NET}.39.1", 12, token=TOKEN)
    model = describe("chuangmi.plug.m1")
    batch = sweep.Batch(limit=5)
    sizes: list[int] = []
    real_run = sweep.run

    async def counted(jobs: list[sweep.Job], *, limit: int) -> list[object]:
        sizes.append(len(jobs))
        return await real_run(jobs, limit=limit)

    monkeypatch.setattr(sweep, "run", counted)
    async with Simulator(simulated):
        devices = [AsyncDevice(d.host, TOKEN) for d in simulated]
        await devices[11].close()
        try:
            outcomes = await asyncio.gather(*(batch.status(d, model) for d in devices),
                                            return_exceptions=True)
            later = await batch.run(devices[0], sweep._one("get_prop", ["power"]))
        finally:
            await batch.aclose()
            await asyncio.gather(*(d.close() for d in devices))
    assert sizes == [12, 1]
    assert later == ["on"]
    for readings in outcomes[:11]:
        assert isinstance(readings, list)
        assert {r.prop.name: r.value for r in readings}["power"] is True
    assert isinstance(outcomes[11], ClosedError)


async def test_devices_that_know_the_device_but_not_its_ids_reserve_them_first() -> None:
    """After a bare handshake a device object knows the device id but holds no request ids:
    its first sweep call reserves them (together with the others', in one worker job)
    before the command goes out."""
    simulated = make_devices(f"{NET}.40.1", 30, token=TOKEN)
    async with Simulator(simulated):
        devices = [AsyncDevice(d.host, TOKEN) for d in simulated]
        try:
            await asyncio.gather(*(d.handshake() for d in devices))
            results = await asyncio.wait_for(sweep.poll(devices, "get_prop", ["power"]), 30)
        finally:
            await asyncio.gather(*(d.close() for d in devices))
    assert results == [["on"]] * 30
    assert all(d.stats.requests == 1 and d.stats.repeated_id_drops == 0 for d in simulated)
