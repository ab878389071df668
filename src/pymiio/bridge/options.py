"""What a bridge is told: broker URL and credentials, topics, interval, devices. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pymiio.errors import UsageError

_TOPIC_PART = re.compile(r"[^#+\x00]{1,200}")


@dataclass
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_broker(url: str) -> BrokerAddress:
    """``mqtt://[user:password@]host[:port]`` or ``mqtts://…`` (TLS, default port 8883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise UsageError(f"the broker is mqtt://host[:port] or mqtts://host[:port], not "
                         f"{_shown(url)}")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError:
        raise UsageError(f"bad port in {_shown(url)}") from None
    return BrokerAddress(parts.hostname, port, parts.scheme == "mqtts",
                         unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password else None)


def read_password(path: Path) -> str:
    from pymiio.paths import read_input

    return read_input(path, 4096, UsageError).decode("utf-8", "replace").strip("\r\n")


def check_topic(text: str, what: str) -> str:
    if not _TOPIC_PART.fullmatch(text) or text.startswith("/") or text.endswith("/"):
        raise UsageError(f"{what} {text!r} is not a usable MQTT topic prefix")
    return text


def _shown(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password:
        url = url.replace(f":{parts.password}@", ":***@", 1)
    return repr(url[:120])
