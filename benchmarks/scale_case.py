"""The simulator at scale: 10,000 devices in one process. Time until the ready line, the
process's memory, and whether every device answers a sweep of hellos."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import TOKEN_HEX, Row, address, pin_devices
from benchmarks.floor import HELLO

COUNT = 10_000


def scale_case(first: str = "160.1") -> list[Row]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pymiio.cli.main", "simulate", "--host", address(first), "--count",
         str(COUNT), "--token", TOKEN_HEX, "--json", "--no-broadcast", "--duration", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=pin_devices)
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        elapsed = time.perf_counter() - start
        rss = 0.0
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                rss = int(line.split()[1]) / 1024
        answered = _sweep([device["host"] for device in ready["devices"]])
    finally:
        process.terminate()
        process.wait(30)
    return [Row("time to ready (start to the ready line)", elapsed),
            Row("memory (resident)", rss, "MB"),
            Row("devices that answered a hello sweep", answered, "count")]


def _sweep(hosts: list[str]) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    seen: set[str] = set()
    try:
        for attempt in range(3):
            for index, host in enumerate(hosts):
                if host not in seen:
                    sock.sendto(HELLO, (host, 54321))
                if index % 256 == 255:
                    _drain(sock, seen, 0.0)
            _drain(sock, seen, 1.0 + attempt)
            if len(seen) == len(hosts):
                break
    finally:
        sock.close()
    return len(seen)


def _drain(sock: socket.socket, seen: set[str], wait: float) -> None:
    sock.settimeout(wait or 0.001)
    while True:
        try:
            seen.add(sock.recvfrom(64)[1][0])
        except (TimeoutError, BlockingIOError):
            return
