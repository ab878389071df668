"""Whole commands: ``miio status`` of a real-spec Air Purifier 3H (55 properties) as a process
of its own, against python-miio's ``AirPurifierMiot.status()`` in a process of its own and
``python -c pass``, all against one simulated device with that spec. The spec is imported into
a spec cache of the case's own; the three commands take turns, and each one's median counts."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import TOKEN_HEX, Row, compile_package, simulator

MODEL = "zhimi.airpurifier.mb3"
SPEC = Path(__file__).resolve().parents[2] / "shared" / "miot-specs" / f"{MODEL}.json"
PEER = """
import sys
from miio import AirPurifierMiot
status = AirPurifierMiot(sys.argv[1], sys.argv[2], model=sys.argv[3]).status()
assert status.aqi is not None
"""


def command_case(host: str, rounds: int = 15) -> list[Row]:
    if not SPEC.is_file():
        return [Row(f"miio status: skipped ({SPEC} is not here)", 0.0)]
    compile_package()
    folder = Path(tempfile.mkdtemp(prefix="pymiio-bench-status-"))
    env = {**os.environ, "PYMIIO_CACHE_DIR": str(folder / "cache"),
           "PYMIIO_CONFIG_DIR": str(folder / "config")}
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "miio"), "spec", "import", str(SPEC), "--model", MODEL],
                   env=env, check=True, capture_output=True)
    with simulator(host, 1, "--no-broadcast", "--model", MODEL, "--spec", str(SPEC)):
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "pymiio: miio status": [str(bindir / "miio"), "status", host, "--token", TOKEN_HEX,
                                    "--model", MODEL],
            "python-miio: AirPurifierMiot.status()": [sys.executable, "-c", PEER, host,
                                                      TOKEN_HEX, MODEL],
        }
        for argv in commands.values():  # warm the page cache and the bytecode caches
            subprocess.run(argv, env=env, check=True, capture_output=True)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, argv in commands.items():
                start = time.perf_counter()
                done = subprocess.run(argv, env=env, capture_output=True, check=False)
                times[name].append(time.perf_counter() - start)
                if done.returncode:
                    raise RuntimeError(f"{name} failed: {done.stderr.decode()[-300:]}")
    return [Row(name, statistics.median(values)) for name, values in times.items()]


if __name__ == "__main__":
    from benchmarks.common import pin_client

    pin_client()
    rows = command_case(sys.argv[1] if len(sys.argv) > 1 else "127.251.2.1")
    for row in rows:
        print(f"{row.name:45s} {row.value * 1e3:8.1f} ms {row.value / rows[2].value:.2f}x")
