"""A throwaway LAN of network namespaces: one bridge, a client host and device hosts.

Everything lives inside namespaces this helper creates (nothing touches the host's own
interfaces), and everything is deleted on exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def skip_unless_namespaces() -> None:
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed (make test installs it where apt is usable)")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    probe = f"pmprobe{os.getpid()}"
    if _ip("netns", "add", probe, check=False).returncode != 0:
        pytest.skip("creating network namespaces is not permitted here")
    _ip("netns", "del", probe, check=False)


@dataclass
class Lan:
    prefix: str                # e.g. "10.231.7"
    hosts: dict[str, str]      # namespace -> address

    def run(self, namespace: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", namespace, *argv]


@contextmanager
def lan(host_names: list[str]) -> Iterator[Lan]:
    """Namespaces ``host_names`` on one bridge, addresses .1, .2, … of a private /24."""
    skip_unless_namespaces()
    tag = f"{os.getpid() % 10000}"
    bridge_ns = f"pmlan{tag}"
    prefix = f"10.231.{os.getpid() % 250}"
    created = [bridge_ns]
    hosts: dict[str, str] = {}
    try:
        _ip("netns", "add", bridge_ns)
        _ip("-n", bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", bridge_ns, "link", "set", "br0", "up")
        for index, name in enumerate(host_names, start=1):
            ns = f"pm{name}{tag}"
            _ip("netns", "add", ns)
            created.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{index}",
                "netns", bridge_ns)
            _ip("-n", bridge_ns, "link", "set", f"p{index}", "master", "br0")
            _ip("-n", bridge_ns, "link", "set", f"p{index}", "up")
            address = f"{prefix}.{index}"
            _ip("-n", ns, "addr", "add", f"{address}/24", "brd", "+", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            hosts[ns] = address
        yield Lan(prefix, hosts)
    finally:
        for ns in reversed(created):
            _ip("netns", "del", ns, check=False)
