"""Issue 13, library items: each device object has an explicit life and every failure a user
can cause is one MiioError subclass, the same from both faces. Real UDP on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest

from pymiio import AsyncDevice, ClosedError, Device, UnreachableError
from pymiio.errors import AddressError, PayloadError
from pymiio.lan.client import DeviceState
from pymiio.lan.ids import FileIds
from pymiio.lan.transport import UdpEndpoint, shared_endpoint
from pymiio.protocol.session import MemoryIds, RetryPolicy
from pymiio.simulator import Simulator, make_devices

from .addresses import NET
from .conftest import TOKEN
from .helpers import simulator_thread

FAST = RetryPolicy(timeout=5.0, retries=30, first_attempt=0.05, min_attempt=0.03)


async def test_close_ends_a_call_in_flight_at_once() -> None:  # 13.1
    device = AsyncDevice(f"{NET}.80.1", TOKEN, timeout=60)  # nobody answers there
    call = asyncio.create_task(device.send("miIO.info"))
    while device.session.call is None:
        await asyncio.sleep(0)
    await device.close()
    with pytest.raises(ClosedError, match="closed while a call was in flight"):
        await asyncio.wait_for(call, 5)  # the call's own deadline is 60 s
    assert device.state is DeviceState.CLOSED
    await device.close()  # idempotent


async def test_two_first_calls_at_once_open_the_device_once() -> None:  # 13.2
    async with Simulator(make_devices(f"{NET}.80.2", token=TOKEN)):
        probe = shared_endpoint()
        device = AsyncDevice(f"{NET}.80.2", TOKEN, policy=FAST)
        assert await asyncio.gather(device.send("get_prop", ["power"]),
                                    device.send("get_prop", ["temperature"])) == [["on"], [42]]
        await device.close()
        named = AsyncDevice("localhost", TOKEN, port=9, timeout=0.3)  # a host name, no answer
        results = await asyncio.gather(named.handshake(), named.handshake(),
                                       return_exceptions=True)
        assert all(isinstance(r, UnreachableError) for r in results)
        await named.close()
        probe.release()
        assert probe.is_closed  # every device let go of its share of the endpoint


async def test_a_closed_device_refuses_instead_of_reopening() -> None:  # 13.3
    async with Simulator(make_devices(f"{NET}.80.3", token=TOKEN)):
        async with AsyncDevice(f"{NET}.80.3", TOKEN) as device:
            await device.send("get_prop", ["power"])
        with pytest.raises(ClosedError, match="closed"):
            await device.send("get_prop", ["power"])
        with pytest.raises(ClosedError):
            await device.open()
        with Device(f"{NET}.80.3", TOKEN) as sync_device:
            await asyncio.to_thread(sync_device.send, "get_prop", ["power"])
        with pytest.raises(ClosedError):
            await asyncio.to_thread(sync_device.send, "get_prop", ["power"])


async def test_two_device_objects_for_one_address_both_get_their_replies() -> None:  # 13.4
    async with Simulator(make_devices(f"{NET}.80.4", token=TOKEN)):
        first = AsyncDevice(f"{NET}.80.4", TOKEN, policy=FAST)
        second = AsyncDevice(f"{NET}.80.4", TOKEN, policy=FAST)
        for _ in range(10):
            assert await asyncio.gather(first.send("get_prop", ["power"]),
                                        second.send("get_prop", ["temperature"])) == [["on"],
                                                                                       [42]]
        await first.close()
        assert await second.send("get_prop", ["power"]) == ["on"]  # still routed
        await second.close()


class _Interrupting(MemoryIds):
    """Raises once, as Ctrl-C or a failing send would in the middle of a call."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error: BaseException | None = error

    def next_id(self, device_id: int, skip: int = 0) -> int:
        error, self.error = self.error, None
        if error is not None:
            raise error
        return super().next_id(device_id, skip)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError(105, "No buffer space")])
def test_an_interrupted_sync_call_leaves_the_device_usable(error: BaseException) -> None:  # 13.5
    with simulator_thread(make_devices(f"{NET}.80.5", token=TOKEN)):
        with Device(f"{NET}.80.5", TOKEN, ids=_Interrupting(error)) as device:
            with pytest.raises(type(error)):
                device.send("get_prop", ["power"])
            assert device.send("get_prop", ["power"]) == ["on"]


async def test_an_interrupted_async_call_leaves_the_device_usable() -> None:  # 13.5
    async with Simulator(make_devices(f"{NET}.80.6", token=TOKEN)):
        async with AsyncDevice(f"{NET}.80.6", TOKEN, ids=_Interrupting(OSError(5, "EIO"))) as dev:
            with pytest.raises(OSError):
                await dev.send("get_prop", ["power"])
            assert await dev.send("get_prop", ["power"]) == ["on"]


async def test_both_faces_raise_the_same_error_for_a_refused_send() -> None:  # 13.6
    async with AsyncDevice("127.255.255.255", TOKEN, timeout=1) as device:
        with pytest.raises(UnreachableError, match="cannot send"):
            await device.handshake()
    with Device("127.255.255.255", TOKEN, timeout=1) as sync_device:
        with pytest.raises(UnreachableError, match="cannot send"):
            await asyncio.to_thread(sync_device.handshake)


@pytest.mark.parametrize("host", ["10.0.0", "127.0.48", "127.0.48.300", "http://10.0.0.1",
                                  "a b", ""])
async def test_malformed_addresses_are_refused_before_sending(host: str) -> None:  # 13.17
    with pytest.raises(AddressError):
        await AsyncDevice(host, TOKEN).handshake()
    with pytest.raises(AddressError):
        Device(host, TOKEN).handshake()


async def test_commands_that_cannot_be_built_fail_at_once() -> None:  # 14.10
    async with Simulator(make_devices(f"{NET}.80.7", token=TOKEN)):
        async with AsyncDevice(f"{NET}.80.7", TOKEN, timeout=60) as device:
            with pytest.raises(PayloadError, match="too large"):
                await asyncio.wait_for(device.send("x", ["a" * 70000]), 5)
            with pytest.raises(PayloadError, match="cannot be sent as JSON"):
                await asyncio.wait_for(device.send("x", [{1, 2}]), 5)
            with pytest.raises(PayloadError, match="too large"):
                await asyncio.wait_for(device.send("x", ["a" * 65480]), 5)
            assert await device.send("get_prop", ["power"]) == ["on"]
        with Device(f"{NET}.80.7", TOKEN, timeout=60) as sync_device:
            with pytest.raises(PayloadError, match="too large"):
                await asyncio.to_thread(sync_device.send, "x", ["a" * 70000])
            with pytest.raises(PayloadError, match="cannot be sent as JSON"):
                await asyncio.to_thread(sync_device.send, "x", [float("nan")])


def test_the_id_store_hands_out_distinct_ids_to_threads(tmp_path: Path) -> None:  # 13.8
    store = FileIds(tmp_path, block=7)
    results: list[list[int]] = [[] for _ in range(4)]

    def take(out: list[int]) -> None:
        for index in range(500):
            out.append(store.next_id(5, skip=100 if index % 50 == 0 else 0))

    threads = [threading.Thread(target=take, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [value for out in results for value in out]
    assert len(taken) == 2000 and len(set(taken)) == 2000


class _WatchedIds(FileIds):
    """Records which threads touched the disk."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.disk_threads: set[int] = set()

    def _reserve(self, device_id: int, count: int) -> int:
        self.disk_threads.add(threading.get_ident())
        return super()._reserve(device_id, count)


async def test_the_id_store_does_no_disk_work_on_the_event_loop(tmp_path: Path) -> None:  # 13.8
    ids = _WatchedIds(tmp_path)
    async with Simulator(make_devices(f"{NET}.80.8", token=TOKEN)):
        async with AsyncDevice(f"{NET}.80.8", TOKEN, ids=ids, policy=FAST) as device:
            for _ in range(250):  # crosses several blocks
                await device.send("get_prop", ["power"])
    assert ids.disk_threads and threading.get_ident() not in ids.disk_threads


class _CountingSocket:
    """A socket that counts its reads, and those that found nothing queued."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.reads, self.empty = sock, 0, 0

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        self.reads += 1
        try:
            return self.sock.recvfrom(size)  # type: ignore[return-value]
        except BlockingIOError:
            self.empty += 1
            raise

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


async def test_a_wake_up_reads_as_many_datagrams_as_calls_await() -> None:  # issue 19
    """One call waiting: one read per wake-up, never a read that finds the socket empty (on
    this path it costs more than the rest of a round trip). Datagrams left queued are read on
    the next wake-up; a listener (discovery) takes everything queued."""
    endpoint = await UdpEndpoint.open(("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    counting = _CountingSocket(endpoint._sock)  # type: ignore[arg-type]
    endpoint._sock = counting  # type: ignore[assignment]
    got: list[bytes] = []
    endpoint.add_route(sender.getsockname(), got.append)
    try:
        for data in (b"one", b"two", b"three"):
            sender.sendto(data, endpoint.local_address)  # loopback: queued when sendto returns
        endpoint.awaiting = 1
        endpoint._drain()
        assert got == [b"one"] and counting.empty == 0
        endpoint.awaiting = 0  # a late reply or a push: still read, one at a time
        endpoint._drain()
        assert got == [b"one", b"two"] and counting.empty == 0
        endpoint.awaiting = 4  # a fleet: read until the socket is empty
        endpoint._drain()
        assert got == [b"one", b"two", b"three"] and counting.empty == 1
        heard: list[bytes] = []
        endpoint.listener = lambda data, source: heard.append(data)
        endpoint.awaiting = 0
        for data in (b"a", b"b"):
            stranger.sendto(data, endpoint.local_address)
        endpoint._drain()
        assert heard == [b"a", b"b"] and counting.reads == 7
    finally:
        endpoint._sock = counting.sock  # type: ignore[assignment]
        sender.close()
        stranger.close()
        endpoint.close()


async def test_a_failing_handler_does_not_stop_the_drain() -> None:  # 13.11
    endpoint = await UdpEndpoint.open(("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    got: list[bytes] = []

    def handler(data: bytes) -> None:
        if data == b"boom":
            raise RuntimeError("handler bug")
        got.append(data)

    endpoint.add_route(sender.getsockname(), handler)
    try:
        for data in (b"one", b"boom", b"two", b"three"):
            sender.sendto(data, endpoint.local_address)
        for _ in range(100):
            if len(got) == 3:
                break
            await asyncio.sleep(0.01)
        assert got == [b"one", b"two", b"three"]
    finally:
        sender.close()
        endpoint.close()
