"""Whether a device is online, as the bridge reports it: misses, probes and flapping. Pure.

Rules (Xiaomi's own LAN code, ``../shared/research/next.md`` section 2):
- a device that missed ``offline_after`` polls in a row is offline; one answer makes it online;
- an offline device is probed with back-off: 10 s, doubling to 50 s, each ±10 % (jitter, so a
  fleet that went away together does not come back in lock-step);
- a device that flips online/offline more than 10 times in 120 s is *unstable* for 300 s: its
  availability is not republished at every flip (that would flood MQTT and Home Assistant's
  history); when the period ends, its current state is published once. Home Assistant's
  availability payload stays ``online``/``offline``; ``unstable`` is said in the bridge's
  device listing and in the log.

The caller gives the time (any monotonic clock) and a random source, so tests use fake ones.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Final

PROBE_FIRST: Final = 10.0
PROBE_MAX: Final = 50.0
JITTER: Final = 0.1
FLAP_WINDOW: Final = 120.0
FLAP_LIMIT: Final = 10  # more flips than this within the window: unstable
UNSTABLE_FOR: Final = 300.0


class Link(enum.Enum):
    UNKNOWN = "unknown"  # not asked yet
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass
class Availability:
    """One device's availability. ``answered``/``missed`` after each poll or probe; then
    ``to_publish`` says what, if anything, to publish now."""

    offline_after: int = 2
    probe_first: float = PROBE_FIRST
    probe_max: float = PROBE_MAX
    link: Link = Link.UNKNOWN
    misses: int = 0
    published: Link = Link.UNKNOWN  # what MQTT was last told
    unstable_until: float | None = None
    flips: deque[float] = field(default_factory=lambda: deque(maxlen=FLAP_LIMIT + 1))
    _probe: float = 0.0

    def answered(self, now: float) -> None:
        self.misses = 0
        self._probe = 0.0
        self._set(Link.ONLINE, now)

    def missed(self, now: float) -> None:
        self.misses += 1
        if self.misses >= self.offline_after:
            self._set(Link.OFFLINE, now)

    def _set(self, link: Link, now: float) -> None:
        if link is self.link:
            return
        if self.link is not Link.UNKNOWN:
            self.flips.append(now)
            recent = [t for t in self.flips if now - t <= FLAP_WINDOW]
            if len(recent) > FLAP_LIMIT:
                self.unstable_until = now + UNSTABLE_FOR
        self.link = link

    def unstable(self, now: float) -> bool:
        """True while the device is reported unstable; the period ends by itself."""
        if self.unstable_until is not None and now >= self.unstable_until:
            self.unstable_until = None
            self.flips.clear()
        return self.unstable_until is not None

    @property
    def state(self) -> str:
        """For the device listing: online, offline, unstable or unknown."""
        return "unstable" if self.unstable_until is not None else self.link.value

    def to_publish(self, now: float) -> Link | None:
        """The availability to publish now (and remember as published), None for nothing."""
        if self.link is Link.UNKNOWN or self.link is self.published or self.unstable(now):
            return None
        self.published = self.link
        return self.link

    def next_probe(self, rng: random.Random) -> float:
        """Seconds until the next probe of an offline device: back-off with jitter."""
        self._probe = (min(self.probe_max, self._probe * 2) if self._probe
                       else self.probe_first)
        return self._probe * rng.uniform(1 - JITTER, 1 + JITTER)
