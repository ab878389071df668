"""What every token source yields: one record per device, with plain-data output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymiio.errors import TokenError
from pymiio.protocol.token import Token


@dataclass(frozen=True)
class TokenRecord:
    """A device and its token as some app or backup stored them."""

    token: Token
    name: str | None = None
    model: str | None = None
    ip: str | None = None
    mac: str | None = None
    device_id: int | None = None
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "ip": self.ip, "mac": self.mac,
                "device_id": self.device_id, "token": self.token.hex, "source": self.source}


@dataclass
class Extraction:
    """The records found, plus notes on what was looked at and held no tokens."""

    records: list[TokenRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, other: Extraction) -> None:
        self.records += other.records
        self.notes += other.notes

    def unique(self) -> list[TokenRecord]:
        """Records with duplicates (same device id or ip, same token) dropped, order kept."""
        seen: set[tuple[object, str]] = set()
        out = []
        for record in self.records:
            key = (record.device_id if record.device_id is not None else record.ip,
                   record.token.hex)
            if key not in seen:
                seen.add(key)
                out.append(record)
        return out


def make_record(token: object, source: str, **fields: object) -> TokenRecord | None:
    """A record from loosely typed app data; None when the token is missing or not a token."""
    if not isinstance(token, str) or not token.strip():
        return None
    try:
        parsed = Token(token.strip())
    except TokenError:
        return None
    if parsed.is_hidden:
        return None
    return TokenRecord(token=parsed, source=source, name=_text(fields.get("name")),
                       model=_text(fields.get("model")), ip=_text(fields.get("ip")),
                       mac=_text(fields.get("mac")), device_id=_int(fields.get("device_id")))


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
