"""The bridge at scale: 1,000 or 5,000 simulated devices polled every 10 s. How long after its
start every device's state is published, the bridge's CPU share of one core and its memory
over a window of steady polling, and the latency from an MQTT ``/set`` to its ``/response``,
against the floor (benchmarks/bridge_floor.py) measured the same way."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import TOKEN_HEX, Row, percentile, simulator

INTERVAL = 10.0
WINDOW = 30.0  # three poll rounds
SETS = 200


def _free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _wait_states(port: int, prefix: str, count: int, limit: float) -> None:
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(f"{prefix}/+")
        seen: set[str] = set()
        async with asyncio.timeout(limit):
            async for message in client.messages:
                seen.add(str(message.topic))
                if len(seen) >= count:
                    return


async def _latencies(port: int, prefix: str, names: list[str]) -> list[float]:
    import aiomqtt

    times: list[float] = []
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(f"{prefix}/+/response")
        rng = random.Random(3)
        for index in range(SETS):
            name = rng.choice(names)
            start = time.perf_counter()
            await client.publish(f"{prefix}/{name}/set/power", "on" if index % 2 else "off")
            async with asyncio.timeout(5):
                async for message in client.messages:
                    if str(message.topic) == f"{prefix}/{name}/response":
                        break
            times.append(time.perf_counter() - start)
    return times


def _measure(command: list[str], env: dict[str, str], port: int, prefix: str,
             names: list[str], pin: Any) -> dict[str, float]:
    started = time.monotonic()
    log = os.environ.get("PYMIIO_BENCH_LOG")  # where the process's stderr goes, if anywhere
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=open(f"{log}.{prefix}", "w") if log else subprocess.DEVNULL,  # noqa: SIM115
                               preexec_fn=pin)
    try:
        asyncio.run(_wait_states(port, prefix, len(names), INTERVAL * 3 + 10))
        published = time.monotonic() - started
        time.sleep(INTERVAL)  # one more round: start-up work is over
        cpu, wall = _cpu_seconds(process.pid), time.monotonic()
        time.sleep(WINDOW)  # steady polling only
        share = (_cpu_seconds(process.pid) - cpu) / (time.monotonic() - wall)
        latencies = asyncio.run(_latencies(port, prefix, names))
        return {"start": published, "cpu": share, "rss": _rss_mb(process.pid),
                "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}
    finally:
        process.terminate()
        process.wait(30)


def bridge_case(count: int, first: str) -> list[Row]:
    """The bridge and its floor in turn, each with ``count`` devices from ``first`` on."""
    from benchmarks.common import _cores

    broker = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(broker).exists():
        return [Row("bridge: skipped (mosquitto is not installed)", 0.0)]
    folder = Path(tempfile.mkdtemp(prefix="pymiio-bench-bridge-"))
    folder.chmod(0o755)
    port = _free_port()
    (folder / "m.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                                   "persistence false\nmax_queued_messages 100000\n")
    mosquitto = subprocess.Popen([broker, "-c", str(folder / "m.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cores = _cores()

    def pin() -> None:
        if len(cores) > 1:
            os.sched_setaffinity(0, {cores[0]})

    try:
        time.sleep(0.3)
        with simulator(first, count, "--no-broadcast") as ready:
            hosts = {f"d{index}": device["host"] for index, device in enumerate(ready)}
            config = folder / "config"
            env = {**os.environ, "PYMIIO_CONFIG_DIR": str(config),
                   "PYMIIO_CACHE_DIR": str(folder / "cache")}
            write_inventory(config, hosts)
            (folder / "hosts.json").write_text(json.dumps(hosts))
            names = list(hosts)
            ours = _measure([sys.executable, "-m", "pymiio.cli.main", "bridge", "--broker",
                             f"mqtt://127.0.0.1:{port}", "--interval", str(INTERVAL)],
                            env, port, "pymiio", names, pin)
            floor = _measure([sys.executable, "-m", "benchmarks.bridge_floor", str(port),
                              str(folder / "hosts.json"), str(INTERVAL)],
                             env, port, "floor", names, pin)
    finally:
        mosquitto.terminate()
        mosquitto.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    return [
        Row("floor: every state published after start", floor["start"]),
        Row("pymiio bridge: every state published after start", ours["start"]),
        Row("floor: CPU share of one core", floor["cpu"] * 100, "%"),
        Row("pymiio bridge: CPU share of one core", ours["cpu"] * 100, "%"),
        Row("floor: memory", floor["rss"], "MB"),
        Row("pymiio bridge: memory", ours["rss"], "MB"),
        Row("floor: /set → response p50", floor["p50"]),
        Row("floor: /set → response p99", floor["p99"]),
        Row("pymiio bridge: /set → response p50", ours["p50"]),
        Row("pymiio bridge: /set → response p99", ours["p99"]),
    ]


if __name__ == "__main__":
    from benchmarks.common import address, pin_client

    pin_client()
    for row in bridge_case(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, address("130.1")):
        print(row)


def write_inventory(config: Path, hosts: dict[str, str]) -> None:
    """An inventory of simulated plugs (name -> address) in ``config``."""
    from pymiio.inventory import Entry, Inventory

    saved = os.environ.get("PYMIIO_CONFIG_DIR")
    os.environ["PYMIIO_CONFIG_DIR"] = str(config)
    try:
        with Inventory.locked(config / "devices.json") as inventory:
            for name, host in hosts.items():
                inventory.add(Entry(name, host, TOKEN_HEX, "chuangmi.plug.m1"))
    finally:
        if saved is None:
            os.environ.pop("PYMIIO_CONFIG_DIR", None)
        else:
            os.environ["PYMIIO_CONFIG_DIR"] = saved
