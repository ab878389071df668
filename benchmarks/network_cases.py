"""Cases that talk to simulated devices over loopback: round trip, fleet, loss, discovery,
and the simulator's own capacity. Every loop is bounded in count and time."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from benchmarks.common import (
    TOKEN,
    TOKEN_HEX,
    Row,
    address,
    device_process,
    interleaved_best,
    median_seconds,
    percentile,
    simulator,
)
from benchmarks.floor import HEAD, HELLO, FloorClient, FloorCodec

CALLS = 300
ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 54321))
print("ready", flush=True)
while True:
    data, addr = s.recvfrom(65535)
    s.sendto(data, addr)
"""


@contextmanager
def echo_server(host: str) -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-c", ECHO, host], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        process.stdout.readline()
        yield host
    finally:
        process.terminate()
        process.wait(10)


def roundtrip_case() -> list[Row]:
    """Case 2: one get_prop round trip against a simulated device in another process; the
    clients take turns (``interleaved_best``), ``CALLS`` calls a turn."""
    import miio

    from pymiio import AsyncDevice, Device

    with simulator(address("90.1")) as devices, echo_server(address("90.200")) as echo_host:
        host = devices[0]["host"]
        echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        echo.connect((echo_host, 54321))
        echo.settimeout(2)
        packet = FloorCodec(TOKEN).build(1, 1, b'{"id":1,"method":"get_prop","params":["power"]}')

        def bounce() -> None:
            echo.send(packet)
            echo.recv(4096)

        floor = FloorClient(host, TOKEN)
        sync = Device(host, TOKEN_HEX)
        sync.send("get_prop", ["power"])
        loop = asyncio.new_event_loop()
        device = AsyncDevice(host, TOKEN_HEX)

        async def calls() -> None:
            for _ in range(CALLS):
                await device.send("get_prop", ["power"])

        loop.run_until_complete(device.send("get_prop", ["power"]))
        minimal = _AsyncFloorClient(floor, loop)
        theirs = miio.Device(host, TOKEN_HEX, timeout=2)
        theirs.send("get_prop", ["power"])
        rows = {
            "raw UDP echo (same packet size)": bounce,
            "floor codec over a plain socket": lambda: floor.call("get_prop", ["power"]),
            "pymiio Device (sync)": lambda: sync.send("get_prop", ["power"]),
            "python-miio Device": lambda: theirs.send("get_prop", ["power"]),
        }
        turns: dict[str, Callable[[], object]] = {
            name: (lambda action=action: [action() for _ in range(CALLS)])
            for name, action in rows.items()}
        turns[ASYNC_FLOOR] = lambda: loop.run_until_complete(minimal.calls(CALLS))
        turns["pymiio AsyncDevice"] = lambda: loop.run_until_complete(calls())
        best = interleaved_best(turns, 9)
        loop.run_until_complete(device.close())
        minimal.close()
        loop.close()
        for closable in (echo, floor, sync):
            closable.close()
    order = ["raw UDP echo (same packet size)", "floor codec over a plain socket",
             "pymiio Device (sync)", ASYNC_FLOOR, "pymiio AsyncDevice", "python-miio Device"]
    return [Row(name, best[name] / CALLS) for name in order]


ASYNC_FLOOR = "asyncio floor (a future and a timer per call, floor codec)"


class _AsyncFloorClient:
    """The least an asyncio client can do for one device: the floor codec, a non-blocking
    socket read by the loop, a future and a retry timer per call."""

    def __init__(self, floor: FloorClient, loop: asyncio.AbstractEventLoop) -> None:
        self.floor, self.loop = floor, loop
        self.address = floor.sock.getpeername()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.waiting: asyncio.Future[bytes] | None = None
        self.next_id = 5000
        loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        data = self.sock.recvfrom(65535)[0]
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(data)

    async def calls(self, count: int) -> None:
        codec, floor = self.floor.codec, self.floor
        for _ in range(count):
            self.next_id = self.next_id % 9000 + 1
            payload = b'{"id":%d,"method":"get_prop","params":["power"]}' % self.next_id
            self.waiting = self.loop.create_future()
            self.sock.sendto(codec.build(floor.did, floor.stamp, payload), self.address)
            timer = self.loop.call_later(1.0, self.waiting.cancel)
            try:
                codec.parse(await self.waiting)
            finally:
                timer.cancel()

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


def floor_fleet(hosts: list[str]) -> None:
    """The floor for a fleet: one socket, hello all, collect all, command all, collect all."""
    codec = FloorCodec(TOKEN)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", socket.SO_RCVBUF),
                    4 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    try:
        for host in hosts:
            sock.sendto(HELLO, (host, 54321))
        sessions: dict[str, tuple[int, int]] = {}
        while len(sessions) < len(hosts):
            data, (ip, _) = sock.recvfrom(64)
            _, _, _, did, stamp = HEAD.unpack_from(data)
            sessions[ip] = (did, stamp)
        for index, (ip, (did, stamp)) in enumerate(sessions.items()):
            payload = b'{"id":%d,"method":"get_prop","params":["power"]}' % (index + 1)
            sock.sendto(codec.build(did, stamp, payload), (ip, 54321))
        for _ in hosts:
            codec.parse(sock.recvfrom(4096)[0])
    finally:
        sock.close()


def pymiio_fleet(hosts: list[str]) -> None:
    from pymiio import AsyncDevice

    async def poll() -> None:
        devices = [AsyncDevice(host, TOKEN_HEX) for host in hosts]
        results = await asyncio.gather(*(d.send("get_prop", ["power"]) for d in devices))
        await asyncio.gather(*(d.close() for d in devices))
        assert len(results) == len(hosts)

    asyncio.run(poll())


def python_miio_fleet(hosts: list[str], workers: int = 0, failures: list[int] | None = None
                      ) -> None:
    """Poll with python-miio; its failures (it has crashed under load) are counted, not raised."""
    import miio

    def one(host: str) -> bool:
        try:
            miio.Device(host, TOKEN_HEX, timeout=2).send("get_prop", ["power"])
            return True
        except Exception:
            return False

    if workers:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, hosts))
    else:
        results = [one(host) for host in hosts]
    if failures is not None:
        failures.append(results.count(False))


def fleet_case(count: int, delay: float, first: str) -> list[Row]:
    """Case 3: poll every device of a fleet once (fresh sessions, handshakes included)."""
    options = ["--no-broadcast"] + (["--delay", str(delay)] if delay else [])
    with simulator(first, count, *options) as devices:
        hosts = [d["host"] for d in devices]
        slow = 3 if count * max(delay, 0.001) > 1 else 5
        best = interleaved_best({"floor": lambda: floor_fleet(hosts),
                                       "pymiio": lambda: pymiio_fleet(hosts)}, 9)
        rows = [Row("floor (one socket, send all, collect all)", best["floor"]),
                Row("pymiio AsyncDevice + asyncio.gather", best["pymiio"])]
        for name, workers in (("python-miio, 64 threads", 64), ("python-miio, sequential", 0)):
            failed: list[int] = []
            seconds = median_seconds(lambda w=workers, f=failed: python_miio_fleet(hosts, w, f),
                                     slow)
            note = f"{max(failed)} of {count} calls failed in its worst run" if any(failed) else ""
            rows.append(Row(name, seconds, note=note))
        return rows


def warm_fleet_case(count: int = 200, first: str = "114.1") -> list[Row]:
    """Case 3b: sweeps over a fleet whose sessions are open (no handshakes), in turns with
    two floors: one socket that sends every command and collects every reply, and the least
    an asyncio client can do (a task per device, a future and a timer per call)."""
    from pymiio import AsyncDevice
    from pymiio.lan.sweep import poll

    with simulator(address(first), count, "--no-broadcast") as devices:
        hosts = [d["host"] for d in devices]
        floor = _FloorFleet(hosts)
        loop = asyncio.new_event_loop()
        clients = [AsyncDevice(host, TOKEN_HEX) for host in hosts]

        async def sweep() -> None:
            results = await asyncio.gather(*(c.send("get_prop", ["power"]) for c in clients))
            assert len(results) == count

        async def engine() -> None:
            results = await poll(clients, "get_prop", ["power"])
            assert all(isinstance(result, list) for result in results)

        async def close() -> None:
            await asyncio.gather(*(c.close() for c in clients))

        loop.run_until_complete(sweep())  # handshakes and id reservations happen here
        try:
            best = interleaved_best({
                "floor": floor.sweep,
                "asyncio": lambda: loop.run_until_complete(floor.async_sweep()),
                "pymiio": lambda: loop.run_until_complete(sweep()),
                "engine": lambda: loop.run_until_complete(engine())})
        finally:
            loop.run_until_complete(close())
            loop.close()
            floor.close()
    return [Row("floor (one socket, send all, collect all)", best["floor"]),
            Row("asyncio floor (a task, a future and a timer per call)", best["asyncio"]),
            Row("pymiio AsyncDevice + asyncio.gather", best["pymiio"]),
            Row("pymiio sweep engine (lan/sweep.poll)", best["engine"])]


class _FloorFleet:
    """The floors' side of warm sweeps: sessions learnt once, then commands out, replies in."""

    def __init__(self, hosts: list[str]) -> None:
        self.codec = FloorCodec(TOKEN)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        for host in hosts:
            self.sock.sendto(HELLO, (host, 54321))
        self.sessions: dict[str, tuple[int, int]] = {}
        while len(self.sessions) < len(hosts):
            data, (ip, _) = self.sock.recvfrom(64)
            self.sessions[ip] = HEAD.unpack_from(data)[3:5]
        self.next_id = 0
        self.waiting: dict[str, asyncio.Future[object]] = {}

    def _request(self, ip: str) -> None:
        did, stamp = self.sessions[ip]
        self.next_id += 1
        payload = b'{"id":%d,"method":"get_prop","params":["power"]}' % self.next_id
        self.sock.sendto(self.codec.build(did, stamp, payload), (ip, 54321))

    def sweep(self) -> None:
        for ip in self.sessions:
            self._request(ip)
        for _ in self.sessions:
            self.codec.parse(self.sock.recvfrom(4096)[0])

    async def async_sweep(self) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        loop.add_reader(self.sock.fileno(), self._readable)
        try:
            await asyncio.gather(*(self._one(ip) for ip in self.sessions))
        finally:
            loop.remove_reader(self.sock.fileno())
            self.sock.settimeout(5)

    async def _one(self, ip: str) -> object:
        self.waiting[ip] = future = asyncio.get_running_loop().create_future()
        timer = asyncio.get_running_loop().call_later(1.0, future.cancel)
        try:
            self._request(ip)
            return await future
        finally:
            timer.cancel()

    def _readable(self) -> None:
        while True:
            try:
                data, (ip, _) = self.sock.recvfrom(4096)
            except BlockingIOError:
                return
            future = self.waiting.pop(ip, None)
            if future is not None and not future.done():
                future.set_result(self.codec.parse(data))

    def close(self) -> None:
        self.sock.close()


def loss_case(pymiio_calls: int = 1000, peer_calls: int = 50) -> list[Row]:
    """Case 4: 20 % of datagrams lost each way; each client with its default settings."""
    import miio
    from miio.exceptions import DeviceException

    from pymiio import Device, MiioError

    rows = []
    with simulator(address("92.1"), 1, "--drop", "0.2", "--seed", "4") as devices:
        host = devices[0]["host"]
        ours = Device(host, TOKEN_HEX)
        rows += _loss_rows("pymiio Device", pymiio_calls,
                           lambda: ours.send("get_prop", ["power"]), MiioError)
        ours.close()
        theirs = miio.Device(host, TOKEN_HEX)
        rows += _loss_rows("python-miio Device", peer_calls,
                           lambda: theirs.send("get_prop", ["power"]), DeviceException)
    return rows


def _loss_rows(name: str, calls: int, action: object,
               failure: type[Exception]) -> list[Row]:
    assert callable(action)
    times, ok = [], 0
    for _ in range(calls):
        start = time.perf_counter()
        try:
            action()
            ok += 1
        except failure:
            pass
        times.append(time.perf_counter() - start)
    note = f"{calls} calls"
    return [Row(f"{name}: success", 100 * ok / calls, "%", note),
            Row(f"{name}: p50 per call", percentile(times, 0.5), "s", note),
            Row(f"{name}: p99 per call", percentile(times, 0.99), "s", note)]


def discovery_case(count: int = 200) -> list[Row]:
    """Case 5: one device by address; ``count`` devices by loopback broadcast."""
    from pymiio.lan.discovery import discover

    rows = []
    with simulator(address("94.1"), count) as devices:
        ours = {d["host"] for d in devices}  # broadcasts reach other runs' devices too
        rows += _discover_one_rows(devices[0]["host"])

        def floor_all() -> None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(3)
            sock.sendto(HELLO, ("127.255.255.255", 54321))
            seen = set()
            while len(seen) < count:
                found = sock.recvfrom(64)[1][0]
                if found in ours:
                    seen.add(found)
            sock.close()

        async def pymiio_all() -> None:
            seen = 0
            async for found in discover(broadcast="127.255.255.255", timeout=5):
                seen += found.ip in ours
                if seen == count:
                    return
            raise RuntimeError(f"pymiio found only {seen} of {count}")

        best = interleaved_best({"floor": floor_all,
                                       "pymiio": lambda: asyncio.run(pymiio_all())}, 9)
        rows.append(Row(f"{count} by broadcast: floor (one hello, collect all)",
                        best["floor"]))
        rows.append(Row(f"{count} by broadcast: pymiio discover (until the last)",
                        best["pymiio"]))
    return rows


def _discover_one_rows(host: str, calls: int = 100) -> list[Row]:
    """One address, per call: the floor, pymiio on its own and while a device holds the shared
    endpoint open, and python-miio's handshake; the four take turns (``interleaved_best``)."""
    from miio.miioprotocol import MiIOProtocol

    from pymiio.lan.discovery import discover_one
    from pymiio.lan.transport import shared_endpoint

    def floor_one() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(2)
        sock.sendto(HELLO, (host, 54321))
        sock.recvfrom(64)
        sock.close()

    async def asyncio_one() -> None:
        """The least an asyncio hello can do with a socket of its own: register it with
        the loop, one future, one timer, unregister and close."""
        loop = asyncio.get_running_loop()
        for _ in range(calls):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            answer: asyncio.Future[bytes] = loop.create_future()
            loop.add_reader(sock.fileno(), lambda s=sock, f=answer: f.done() or f.set_result(
                s.recvfrom(64)[0]))
            timer = loop.call_later(2, answer.cancel)
            try:
                sock.sendto(HELLO, (host, 54321))
                HEAD.unpack_from(await answer)
            finally:
                timer.cancel()
                loop.remove_reader(sock.fileno())
                sock.close()

    async def ours() -> None:
        for _ in range(calls):
            await discover_one(host)

    async def borrowing() -> None:
        held = shared_endpoint()  # as an open AsyncDevice would
        try:
            await ours()
        finally:
            held.release()

    loop = asyncio.new_event_loop()  # as an async caller would: inside a running loop
    try:
        best = interleaved_best({
            "floor": lambda: [floor_one() for _ in range(calls)],
            "asyncio": lambda: loop.run_until_complete(asyncio_one()),
            "ours": lambda: loop.run_until_complete(ours()),
            "borrowing": lambda: loop.run_until_complete(borrowing()),
            "python-miio": lambda: [MiIOProtocol.discover(host) for _ in range(calls)],
        })
    finally:
        loop.close()
    return [
        Row("one address: floor (one hello, one reply)", best["floor"] / calls),
        Row("one address: asyncio floor (a socket of its own per call)", best["asyncio"] / calls),
        Row("one address: pymiio discover_one", best["ours"] / calls,
            note="its own socket for the call"),
        Row("one address: pymiio discover_one, a device open", best["borrowing"] / calls,
            note="borrows the open shared endpoint"),
        Row("one address: python-miio MiIOProtocol.discover", best["python-miio"] / calls),
    ]


def throughput_case(devices_count: int = 50, window: int = 64, seconds: float = 0.5,
                    rounds: int = 9) -> list[Row]:
    """Case 7: requests per second answered by 50 devices in one process, kept busy by one
    client with ``window`` requests in flight: pymiio's simulator and the minimal device loop
    (``benchmarks/device_floor.py``), both running, measured in turns; the best round of
    each counts (see ``interleaved_best``)."""
    floor_args = ["-m", "benchmarks.device_floor", address("97.1"), str(devices_count)]
    with simulator(address("96.1"), devices_count, "--no-broadcast") as ours, \
            device_process(floor_args) as floor:
        loads = {"floor": _Load(floor, window), "pymiio": _Load(ours, window)}
        rates: dict[str, list[float]] = {name: [] for name in loads}
        for _ in range(rounds):
            for name, load in loads.items():
                rates[name].append(load.run(seconds))
        for load in loads.values():
            load.close()
    return [
        Row(f"floor: minimal device loop ({devices_count} devices)",
            max(rates["floor"]), "req/s"),
        Row(f"pymiio simulator ({devices_count} devices)", max(rates["pymiio"]), "req/s"),
    ]


class _Load:
    """One client socket keeping every device busy: ``window`` requests in flight, a new one
    sent for each answer. Bounded by the window and by the time given to :meth:`run`."""

    def __init__(self, devices: list[dict[str, object]], window: int) -> None:
        codec = FloorCodec(TOKEN)
        self.window = window
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2)
        self.packets = []
        for device in devices:
            address = (str(device["host"]), 54321)
            self.sock.sendto(HELLO, address)
            _, _, _, did, stamp = HEAD.unpack_from(self.sock.recvfrom(64)[0])
            payload = b'{"id":1,"method":"get_prop","params":["power"]}'
            self.packets.append((codec.build(did, stamp, payload), address))

    def run(self, seconds: float) -> float:
        """Answers per second over ``seconds``; the window drains before it returns."""
        packets, count = self.packets, len(self.packets)
        for index in range(self.window):
            self.sock.sendto(*packets[index % count])
        answered, sent = 0, self.window
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            try:
                self.sock.recvfrom(4096)
            except TimeoutError:
                break
            answered += 1
            self.sock.sendto(*packets[sent % count])
            sent += 1
        elapsed = time.perf_counter() - start
        self.sock.settimeout(0.2)
        for _ in range(self.window):  # collect the window still in flight
            try:
                self.sock.recvfrom(4096)
            except TimeoutError:
                break
        self.sock.settimeout(2)
        return answered / elapsed

    def close(self) -> None:
        self.sock.close()
