"""The bridge's config file (``miio bridge --config bridge.toml``) and its logs.

The file is TOML. Every option of ``miio bridge`` is a top-level key named like the option
without its dashes (``broker``, ``base-topic = "home"``, ``interval = 30``, ``device =
["kitchen", "lamp"]``, ``web = "127.0.0.1:8099"``); what the command line gives wins over the
file. Per-device settings go in tables: ``[devices.kitchen-plug]`` with ``interval = 5``.
Everything is checked when the file is read: an unknown key, a wrong type or a bad value is one
error line naming the key (exit 2), never a bridge that starts with half a config.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymiio.errors import UsageError
from pymiio.literal_text import LiteralFormatter, json_safe

MAX_SIZE = 1024 * 1024
DEVICE_KEYS = {"interval": (1.0, 3600.0)}  # per-device overrides and their bounds


@dataclass
class ConfigFile:
    """What a config file says: top-level options (by option name) and per-device tables."""

    path: Path
    options: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, dict[str, float]] = field(default_factory=dict)

    def intervals(self) -> dict[str, float]:
        """Each device's own poll interval, where its table gives one."""
        return {name: table["interval"] for name, table in self.devices.items()
                if "interval" in table}


def read_config(path: Path, known: set[str]) -> ConfigFile:
    """The file at ``path``; ``known`` holds the option names it may set."""
    from pymiio.paths import read_input

    raw = read_input(path, MAX_SIZE, UsageError)
    try:
        document = tomllib.loads(raw.decode("utf-8-sig"))  # a byte-order mark is read past
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    config = ConfigFile(path)
    for key, value in document.items():
        if key == "devices":
            config.devices = _device_tables(path, value)
        elif key in known:
            config.options[key] = value
        else:
            raise UsageError(f"{path}: unknown key {key!r}; the keys are the options of "
                             f"`miio bridge` ({', '.join(sorted(known))}) and [devices.NAME]")
    return config


def _device_tables(path: Path, tables: Any) -> dict[str, dict[str, float]]:
    if not isinstance(tables, dict):
        raise UsageError(f"{path}: 'devices' holds one table per device: [devices.NAME]")
    out: dict[str, dict[str, float]] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise UsageError(f"{path}: [devices.{name}] is not a table")
        settings: dict[str, float] = {}
        for key, value in table.items():
            if key not in DEVICE_KEYS:
                raise UsageError(f"{path}: [devices.{name}] has an unknown key {key!r} "
                                 f"(known: {', '.join(DEVICE_KEYS)})")
            low, high = DEVICE_KEYS[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    low <= value <= high):
                raise UsageError(f"{path}: [devices.{name}] {key} is a number of seconds "
                                 f"from {low:g} to {high:g}, not {value!r}")
            settings[key] = float(value)
        out[name] = settings
    return out


# -- logs -----------------------------------------------------------------------------------

class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors (``--log-format json``); the characters
    JSON may leave raw but a terminal obeys (C1 controls, bidi overrides: a device's model, an
    error's text) are ``\\u`` escapes, so ``journalctl`` shows them inert."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json_safe(json.dumps(entry, ensure_ascii=False))


def setup_logging(log_format: str, level: str = "info") -> logging.Handler:
    """The bridge's log on stderr: ``text`` (``bridge: message``, outside text such as a
    device's model with its control characters written out) or ``json``. The handler sits on
    the library's logger, so the warnings of the parts the bridge drives (a device pushing what
    its description lacks, ids that cannot persist) are lines of the same log, in its format,
    instead of bare lines from Python's last resort. Returns the handler (replacing one set up
    before, so a test running two bridges keeps one)."""
    library = logging.getLogger("pymiio")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else LiteralFormatter("bridge: %(message)s"))
    handler.set_name("pymiio-bridge-log")
    for old in list(library.handlers):
        # the CLI's own warning lines ("warning: …") would say the library's warnings twice
        if old.get_name() in ("pymiio-bridge-log", "pymiio-warnings"):
            library.removeHandler(old)
    library.addHandler(handler)
    logging.getLogger("pymiio.bridge").setLevel(getattr(logging, level.upper()))
    return handler
