"""Issue 26 items 2 and 4 together: a bridge asked to stop (SIGTERM, as systemd does) while a
device's spec fetch is stuck on a server dribbling one byte at a time stops at once. It said
'stopped' and then waited for the fetch's deadline before the process ended (the describers'
threads were joined at exit). A real ``miio bridge`` child, a real Mosquitto, a hostile
loopback HTTP server; the bound below is far under the fetch's deadline, not a timing test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pymiio.inventory import Entry, Inventory
from pymiio.simulator import make_devices

from .addresses import NET
from .conftest import TOKEN
from .helpers import simulator_thread
from .hostile_http import HostileServer, dribble, wait_for
from .mqtt_broker import PASSWORD, USER, Broker

PURIFIER = f"{NET}.177.1"
FETCH_DEADLINE = 120  # seconds: the stop must not wait for it


def test_sigterm_during_a_stuck_spec_fetch_stops_the_bridge(broker: Broker,
                                                            private_dirs: Path) -> None:
    server = HostileServer({"/miot-spec-v2/instances": dribble(b"x" * 100_000, every=0.5)})
    with Inventory.locked() as inventory:  # a real model: its spec must be fetched
        inventory.add(Entry("purifier", PURIFIER, TOKEN, "zhimi.airpurifier.ma4"))
    password = private_dirs / "password"
    password.write_text(PASSWORD)
    log = private_dirs / "bridge.log"
    with server.running() as base, simulator_thread(
            make_devices(PURIFIER, token=TOKEN, profile="airpurifier")), log.open("wb") as err:
        env = {**os.environ, "PYMIIO_MIOT_SPEC_URL": base,
               "PYMIIO_MIOT_SPEC_TIMEOUT": str(FETCH_DEADLINE)}
        process = subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "bridge", "--broker",
             f"mqtt://127.0.0.1:{broker.port}", "--username", USER, "--password-file",
             str(password)], env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            assert wait_for(lambda: bool(server.requests) and b"connected to the broker"
                            in log.read_bytes(), 60)  # the fetch has begun, and hangs
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=FETCH_DEADLINE / 3)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            server.release.set()
    assert process.returncode == 0, log.read_text()
    assert "bridge: stopped" in log.read_text()
