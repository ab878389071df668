"""Test helpers: a simulator running in its own thread (for blocking peers such as python-miio),
and raw UDP exchanges on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from pymiio.simulator import Simulator

S = TypeVar("S")


@contextmanager
def simulator_thread(devices: list[Any], **options: Any) -> Iterator[Simulator]:
    """Serve ``devices`` from a background event loop for the duration of the block."""
    loop = asyncio.new_event_loop()
    simulator = Simulator(devices, **options)
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(simulator.start())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(simulator.stop())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(30)
    if failure:
        raise failure[0]
    try:
        yield simulator
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def exchange(host: str, data: bytes, port: int = 54321, timeout: float = 0.5,
             expect: int = 1, sources: set[str] | None = None,
             ) -> list[tuple[bytes, tuple[str, int]]]:
    """Send one datagram and collect up to ``expect`` answers until ``timeout``. With
    ``sources``, answers from other addresses (another test run's simulator sharing loopback)
    are read and ignored, at most 10,000 of them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(timeout)
    answers = []
    try:
        sock.sendto(data, (host, port))
        for _ in range(10_000):
            if len(answers) >= expect:
                break
            try:
                answer = sock.recvfrom(65535)
            except TimeoutError:
                break
            if sources is None or answer[1][0] in sources:
                answers.append(answer)
    finally:
        sock.close()
    return answers


def open_udp_sockets() -> int:
    """UDP sockets this process has open (counted from /proc, public and exact)."""
    links = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.add(os.readlink(f"/proc/self/fd/{fd}"))
        except FileNotFoundError:  # the listing's own descriptor, closed since
            continue
    return sum(1 for link in links if link.startswith("socket:"))


@asynccontextmanager
async def running(service: S) -> AsyncIterator[S]:
    """``service.run(stop)`` (a bridge, a bridge service) in a task for the block, stopped
    after it and given 15 s to end."""
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))  # type: ignore[attr-defined]
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
