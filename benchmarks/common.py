"""Shared benchmark plumbing: simulators in their own processes, timing, and result rows."""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.addresses import NET  # this run's own 127.X.0.0/16 block (make test's lock)

TOKEN_HEX = "2b00042f7481c7b056c4b410d28f33cf"
TOKEN = bytes.fromhex(TOKEN_HEX)
REPEATS = 7

logging.getLogger("miio").setLevel(logging.CRITICAL)


def compile_package() -> None:
    """Write pymiio's bytecode, as installing a package does (pip compiles it; an editable
    install under PYTHONDONTWRITEBYTECODE would otherwise compile every module on every
    start, which python-miio's installed package never does)."""
    import compileall

    import pymiio

    compileall.compile_dir(str(Path(pymiio.__file__).parent), quiet=1)


def address(suffix: str) -> str:
    """An address in this run's own block (``"90.1"`` -> ``127.X.90.1``): a ``make test`` or
    another ``make bench`` on the machine at the same time has blocks of its own."""
    return f"{NET}.{suffix}"


@dataclass
class Row:
    name: str
    value: float          # seconds (lower is better) unless ``unit`` says otherwise
    unit: str = "s"
    note: str = ""


@contextmanager
def simulator(host: str, count: int = 1, *options: str) -> Iterator[list[dict[str, Any]]]:
    """Simulated devices in a separate process (so client and devices do not share a core)."""
    with device_process(["-m", "pymiio.cli.main", "simulate", "--host", host, "--count",
                         str(count), "--token", TOKEN_HEX, "--json", "--duration", "1800",
                         *options]) as devices:
        yield devices


@contextmanager
def device_process(arguments: list[str]) -> Iterator[list[dict[str, Any]]]:
    """A Python process on the device core that prints a ready line with its devices."""
    process = subprocess.Popen(
        [sys.executable, *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=pin_devices)
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        yield ready["devices"]
    finally:
        process.terminate()
        process.wait(30)


def _cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def pin_client() -> str:
    """Pin this process to the first core and simulators to the second, so that where the
    scheduler happens to put them does not change the results from run to run."""
    cores = _cores()
    if len(cores) < 2:
        return "not pinned (one core)"
    os.sched_setaffinity(0, {cores[0]})
    global _DEVICE_CORE
    _DEVICE_CORE = cores[1]
    return f"client on core {cores[0]}, simulated devices on core {cores[1]}"


_DEVICE_CORE: int | None = None


def pin_devices() -> None:
    if _DEVICE_CORE is not None:
        os.sched_setaffinity(0, {_DEVICE_CORE})


def median_seconds(action: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median wall time of ``action`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_best(cases: dict[str, Callable[[], object]], rounds: int = 15
                     ) -> dict[str, float]:
    """The best (shortest) round of each case, the cases taking turns round by round.

    On a shared or virtual machine the speed drifts over seconds and other work steals whole
    rounds; turns give every case the same drift (one case's block of runs after another's
    would not), and interference only ever makes a round slower, so the best round is the
    case's own cost (as ``timeit`` advises)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, action in cases.items():
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
