"""Discovery across a real broadcast domain: namespaces joined by veth pairs and a bridge."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from ..conftest import TOKEN
from .lan import lan

pytestmark = pytest.mark.netns

DISCOVER = """
import asyncio, json, sys
from pymiio.lan.discovery import discover_all
mode = sys.argv[1]
options = {"bind": sys.argv[2]}
if mode == "mdns":
    options["mdns"] = True
found = asyncio.run(discover_all(timeout=float(sys.argv[3]), **options))
print(json.dumps([d.as_dict() for d in found]))
"""


def _start_simulator(command: list[str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        error = process.stderr.read() if process.stderr else ""
        raise AssertionError(f"simulator did not start: {error}")
    assert json.loads(line)["ready"]
    return process


def test_broadcast_with_bind_and_mdns_across_a_bridge() -> None:
    with lan(["client", "dev1", "dev2"]) as net:
        (client, client_ip), *device_hosts = net.hosts.items()
        sims = []
        try:
            for index, (ns, address) in enumerate(device_hosts):
                extra = ["--unprovisioned"] if index == 0 else []
                sims.append(_start_simulator(net.run(
                    ns, sys.executable, "-m", "pymiio.cli.main", "simulate", "--host", address,
                    "--token", TOKEN, "--model", "airpurifier", "--allow-non-loopback", "--mdns",
                    "--json", "--duration", "60", *extra)))
            time.sleep(1.0)  # let the mDNS announcements go out
            found = _discover(net.run(client, sys.executable, "-c", DISCOVER, "broadcast",
                                      client_ip, "2"))
            assert sorted(d["ip"] for d in found) == sorted(a for _, a in device_hosts)
            revealed = {d["ip"]: d["token"] for d in found}
            assert revealed == {device_hosts[0][1]: TOKEN, device_hosts[1][1]: None}

            by_mdns = _discover(net.run(client, sys.executable, "-c", DISCOVER, "mdns",
                                        client_ip, "4"))
            assert sorted(d["ip"] for d in by_mdns) == sorted(a for _, a in device_hosts)
            assert {d["model"] for d in by_mdns} == {"pymiio.airpurifier.v1"}
            assert all("hello" in d["sources"] and d["stamp"] for d in by_mdns)
        finally:
            for sim in sims:
                sim.terminate()
                sim.communicate(timeout=10)


def _discover(command: list[str]) -> list[dict[str, object]]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: list[dict[str, object]] = json.loads(done.stdout)
    return result
