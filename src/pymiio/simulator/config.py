"""Simulator set-up from a TOML file (``miio simulate --config devices.toml``).

```toml
[faults]            # optional, same names as the command's options
drop = 0.1
seed = 7

[[device]]
host = "127.0.0.7"   # first address; with count, consecutive ones follow
count = 3
profile = "vacuum"   # plug | vacuum | airpurifier | bulb, or a model name
token = "…"          # optional; random per device otherwise
unprovisioned = false
props = { battery = 50 }
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pymiio.simulator.device import SimulatedDevice
from pymiio.simulator.faults import Faults
from pymiio.simulator.profiles import profile_from_mapping
from pymiio.simulator.server import SimulatorError, make_devices

_FAULT_KEYS = {"drop", "delay", "duplicate", "late", "late_after", "corrupt", "quirk", "seed"}


def load_config(path: Path) -> tuple[list[SimulatedDevice], dict[str, Any]]:
    """The devices a file describes and its ``[faults]`` table (to merge with options)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimulatorError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SimulatorError(f"{path} is not valid TOML: {exc}") from None
    faults = dict(document.get("faults", {}))
    unknown = set(faults) - _FAULT_KEYS
    if unknown:
        raise SimulatorError(f"{path}: unknown fault settings {sorted(unknown)}")
    entries = document.get("device", [])
    if not isinstance(entries, list) or not entries:
        raise SimulatorError(f"{path} has no [[device]] tables")
    devices: list[SimulatedDevice] = []
    seed = faults.get("seed")
    for entry in entries:
        try:
            devices += make_devices(
                str(entry["host"]), int(entry.get("count", 1)), token=entry.get("token"),
                profile=profile_from_mapping(entry),
                unprovisioned=bool(entry.get("unprovisioned", False)), seed=seed)
        except (KeyError, TypeError, ValueError) as exc:
            raise SimulatorError(f"{path}: bad [[device]] entry {entry!r}: {exc}") from None
    hosts = [device.host for device in devices]
    if len(set(hosts)) != len(hosts):
        raise SimulatorError(f"{path}: two devices share an address")
    return devices, faults


def build_faults(settings: dict[str, Any]) -> Faults:
    try:
        return Faults(**settings)
    except (TypeError, ValueError) as exc:
        raise SimulatorError(f"bad fault settings: {exc}") from None
