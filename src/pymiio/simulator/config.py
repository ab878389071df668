"""Simulator set-up from a TOML file (``miio simulate --config devices.toml``).

```toml
[faults]            # optional, same names as the command's options
drop = 0.1
seed = 7

[[device]]
host = "127.0.0.7"   # first address; with count, consecutive ones follow
count = 3
profile = "vacuum"   # a built-in profile or a known model (miio simulate --help lists them)
token = "…"          # optional; random per device otherwise
unprovisioned = false
props = { battery = 50 }
```
"""

from __future__ import annotations

import ipaddress
import math
import tomllib
from pathlib import Path
from typing import Any

from pymiio.address import check_ipv4
from pymiio.errors import MiioError, SimulatorError
from pymiio.paths import read_regular
from pymiio.protocol.token import Token
from pymiio.simulator.device import SimulatedDevice
from pymiio.simulator.faults import Faults
from pymiio.simulator.profiles import profile_from_mapping
from pymiio.simulator.server import LOOPBACK, make_devices

_FAULT_KEYS = {"drop", "delay", "duplicate", "late", "late_after", "corrupt", "quirk", "seed"}
_ENTRY_KEYS = {"host", "count", "profile", "model", "token", "unprovisioned", "props", "miot",
               "actions", "id_memory", "max_props", "fw_ver", "hw_ver", "family"}
MAX_DEVICES = 65_536  # a /16 of loopback addresses
MAX_CONFIG = 4 * 1024 * 1024


def load_config(path: Path, *, allow_non_loopback: bool = False,
                ) -> tuple[list[SimulatedDevice], dict[str, Any]]:
    """The devices a file describes and its ``[faults]`` table (to merge with options).

    Everything is checked before anything is built: types, ranges, the device count (at most
    MAX_DEVICES in all) and, unless allowed, that every address is on loopback.
    """
    try:
        document = tomllib.loads(read_regular(path, MAX_CONFIG).decode("utf-8"))
    except OSError as exc:
        raise SimulatorError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SimulatorError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise SimulatorError(f"{path} is nested too deeply") from None
    except MiioError as exc:
        raise SimulatorError(f"cannot read {path}: {exc}") from None
    faults = document.get("faults", {})
    if not isinstance(faults, dict):
        raise SimulatorError(f"{path}: [faults] must be a table")
    check_faults(faults, str(path))
    entries = document.get("device", [])
    if not isinstance(entries, list) or not entries:
        raise SimulatorError(f"{path} has no [[device]] tables")
    total = 0
    for number, entry in enumerate(entries, start=1):
        total += _check_entry(entry, f"{path}: [[device]] #{number}", allow_non_loopback)
        if total > MAX_DEVICES:
            raise SimulatorError(f"{path}: more than {MAX_DEVICES} devices in all")
    devices: list[SimulatedDevice] = []
    seed = faults.get("seed")
    for entry in entries:
        devices += make_devices(
            str(entry["host"]), int(entry.get("count", 1)), token=entry.get("token"),
            profile=profile_from_mapping(entry),
            unprovisioned=bool(entry.get("unprovisioned", False)), seed=seed)
    hosts = [device.host for device in devices]
    if len(set(hosts)) != len(hosts):
        raise SimulatorError(f"{path}: two devices share an address")
    return devices, dict(faults)


def check_faults(faults: dict[str, Any], where: str) -> None:
    unknown = set(faults) - _FAULT_KEYS
    if unknown:
        raise SimulatorError(f"{where}: unknown fault settings {sorted(unknown)}")
    for name in ("drop", "duplicate", "late", "corrupt"):
        if name in faults:
            _number(faults[name], f"{where}: faults.{name}", 0.0, 1.0)
    for name in ("delay", "late_after"):
        if name in faults:
            _number(faults[name], f"{where}: faults.{name}", 0.0, 3600.0)
    if "seed" in faults:
        _whole(faults["seed"], f"{where}: faults.seed", -(2**63), 2**63)
    if "quirk" in faults and not isinstance(faults["quirk"], str):
        raise SimulatorError(f"{where}: faults.quirk is a name")


def _check_entry(entry: Any, where: str, allow_non_loopback: bool) -> int:
    """Check one [[device]] table; returns how many devices it makes."""
    if not isinstance(entry, dict):
        raise SimulatorError(f"{where} is not a table")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise SimulatorError(f"{where}: unknown keys {sorted(unknown)}")
    host = entry.get("host")
    if not isinstance(host, str):
        raise SimulatorError(f"{where}: host is required, as text")
    try:
        check_ipv4(host, "device address")
    except MiioError as exc:
        raise SimulatorError(f"{where}: {exc}") from None
    count = _whole(entry.get("count", 1), f"{where}: count", 1, MAX_DEVICES)
    if not allow_non_loopback:
        last = ipaddress.IPv4Address(host) + min(count * 2, MAX_DEVICES * 2)
        if ipaddress.IPv4Address(host) not in LOOPBACK or last not in LOOPBACK:
            raise SimulatorError(f"{where}: refusing to serve {host}: outside 127.0.0.0/8 "
                                 "(use --allow-non-loopback only inside a test network "
                                 "namespace)")
    for name in ("profile", "model", "fw_ver", "hw_ver", "family"):
        if name in entry and (not isinstance(entry[name], str) or len(entry[name]) > 128):
            raise SimulatorError(f"{where}: {name} is a short text")
    if "token" in entry:
        try:
            Token(entry["token"]) if isinstance(entry["token"], str) else Token(b"")
        except MiioError as exc:
            raise SimulatorError(f"{where}: token: {exc}") from None
    if "unprovisioned" in entry and not isinstance(entry["unprovisioned"], bool):
        raise SimulatorError(f"{where}: unprovisioned is true or false")
    if not isinstance(entry.get("props", {}), dict):
        raise SimulatorError(f"{where}: props is a table")
    for name, low, high in (("id_memory", 0, 100_000), ("max_props", 1, 10_000)):
        if name in entry:
            _whole(entry[name], f"{where}: {name}", low, high)
    for key, ids in (("miot", ("siid", "piid")), ("actions", ("siid", "aiid"))):
        items = entry.get(key, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise SimulatorError(f"{where}: {key} is a list of tables")
        for item in items:
            for name in ids:
                _whole(item.get(name), f"{where}: {key}.{name}", 1, 999)
    return count


def _whole(value: Any, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise SimulatorError(f"{what} must be a whole number from {low} to {high}, "
                             f"not {str(value)[:40]}")
    return value


def _number(value: Any, what: str, low: float, high: float) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or not low <= value <= high:
        raise SimulatorError(f"{what} must be a number from {low:g} to {high:g}, "
                             f"not {str(value)[:40]}")
    return float(value)


def build_faults(settings: dict[str, Any]) -> Faults:
    try:
        return Faults(**settings)
    except (TypeError, ValueError) as exc:
        raise SimulatorError(f"bad fault settings: {exc}") from None
