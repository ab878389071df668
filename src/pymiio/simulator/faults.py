"""Fault injection: the network and firmware misbehaviour a client must survive.

Every decision draws from one ``random.Random(seed)``, so a run with ``--seed`` is repeatable.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

# Firmware JSON quirks (PROTOCOL.md §5): each turns a valid reply into what some firmware sends.
QUIRKS: Final[dict[str, Callable[[str], str]]] = {
    "trailing-nul": lambda text: text + "\x00\x00",
    "control-chars": lambda text: text + "\r\n\x01",
    "empty-list": lambda text: text.replace("[]", "[,]"),
    "double-comma": lambda text: text.replace(",", ",,", 1),
    "leading-zero": lambda text: re.sub(r":(\d)", r":0\1", text),
    "empty-result": lambda text: re.sub(r'"result":(\[.*\]|\{.*\}|[^,}]*)', '"result":', text),
    "not-json": lambda text: "garbage<" + text,
}


@dataclass
class Faults:
    """Probabilities (0..1) and delays (seconds) of each fault; all off by default."""

    drop: float = 0.0          # each datagram in and each reply out is lost with this chance
    delay: float = 0.0         # every reply waits this long
    duplicate: float = 0.0     # a reply is sent twice
    late: float = 0.0          # a reply is held back by ``late_after`` seconds
    late_after: float = 1.5
    corrupt: float = 0.0       # a reply's checksum is broken
    quirk: str | None = None   # a name from QUIRKS, or "cycle" for each in turn
    seed: int | None = None
    rng: random.Random = field(init=False, repr=False)
    _cycle: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.quirk is not None and self.quirk != "cycle" and self.quirk not in QUIRKS:
            raise ValueError(f"unknown quirk {self.quirk!r}; known: cycle, {', '.join(QUIRKS)}")
        for name in ("drop", "duplicate", "late", "corrupt"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability between 0 and 1")
        self.rng = random.Random(self.seed)

    @property
    def active(self) -> bool:
        """Whether any datagram fault is on; when none is, the simulator skips every hook."""
        return bool(self.drop or self.delay or self.duplicate or self.late or self.corrupt)

    def chance(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability

    def apply_quirk(self, text: str) -> str:
        if self.quirk is None:
            return text
        if self.quirk == "cycle":
            names = list(QUIRKS)
            name = names[self._cycle % len(names)]
            self._cycle += 1
            return QUIRKS[name](text)
        return QUIRKS[self.quirk](text)

    def corrupt_checksum(self, packet: bytes) -> bytes:
        if not self.chance(self.corrupt):
            return packet
        broken = bytearray(packet)
        broken[16] ^= 0xFF
        return bytes(broken)

    def schedule(self, packet: bytes) -> list[tuple[float, bytes]]:
        """When and what to send for one reply: nothing, once, twice, on time or late."""
        if self.chance(self.drop):
            return []
        when = self.delay + (self.late_after if self.chance(self.late) else 0.0)
        plan = [(when, packet)]
        if self.chance(self.duplicate):
            plan.append((when + 0.001, packet))
        return plan
