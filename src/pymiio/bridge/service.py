"""The bridge as a long-running service: what it serves follows the inventory and the config.

A :class:`Service` runs a :class:`~pymiio.bridge.core.Bridge` and keeps what it serves in step
with the inventory file (its mtime, size and inode looked at once a second: a device added with
``miio devices add`` is served within a few seconds, a removed one stops being served) and with
the config file on SIGHUP (interval, offline-after, which devices, per-device intervals). Only
what changed is touched: the broker connection stays up and nothing unchanged is republished.
The dashboard adds, renames and removes devices through it too, so the inventory stays the one
place devices are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pymiio.bridge.core import Bridge, Settings
from pymiio.errors import BridgeError, InventoryError, MiioError, MiioTimeoutError, UsageError
from pymiio.inventory import Entry, Inventory

log = logging.getLogger("pymiio.bridge")
WATCH_EVERY = 1.0  # seconds between looks at the inventory file
CHECK_TIMEOUT = 10.0  # seconds `miio bridge --check` waits for the broker


@dataclass
class Plan:
    """What to serve and how often, as the command line and the config file say."""

    names: tuple[str, ...] | None = None  # None: every device of the inventory; () none
    interval: float = 10.0
    offline_after: int = 2
    intervals: dict[str, float] = field(default_factory=dict)  # per device


def wanted(inventory: Inventory, plan: Plan) -> dict[str, Entry]:
    """The inventory's devices the plan serves (those with an address and a token)."""
    return {name: entry for name, entry in inventory.entries.items()
            if entry.host and entry.token and (plan.names is None or name in plan.names)}


class Service:
    def __init__(self, bridge: Bridge, plan: Plan, inventory_path: Path,
                 reread: Callable[[], Plan] | None = None) -> None:
        self.bridge = bridge
        self.plan = plan
        self.path = inventory_path
        self._reread = reread
        self._seen: tuple[int, int, int] | None = self._stamp()
        self._wake = asyncio.Event()
        self._reload_due = False
        self._lock = asyncio.Lock()
        for name, served in bridge.devices.items():
            served.interval = plan.intervals.get(name)

    def request_reload(self) -> None:
        """SIGHUP: read the config file and the inventory again (soon, in the service's loop)."""
        self._reload_due = True
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        watcher = asyncio.create_task(self._watch(stop))
        try:
            await self.bridge.run(stop)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), WATCH_EVERY)
            self._wake.clear()
            try:
                if self._reload_due:
                    self._reload_due = False
                    await self.reload()
                elif self._stamp() != self._seen:
                    await self.sync()
            except Exception:  # a bug here must not stop the bridge
                log.exception("reloading failed")

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size, info.st_ino

    async def reload(self) -> None:
        """The config file again (when there is one), then the inventory."""
        if self._reread is not None:
            try:
                plan = await asyncio.to_thread(self._reread)
            except MiioError as exc:
                log.error("reload: %s; the bridge keeps its running settings", exc)
                return
            self._apply(plan)
        log.info("reloaded")
        await self.sync(force=True)

    def _apply(self, plan: Plan) -> None:
        old, settings = self.plan, self.bridge.settings
        self.plan = plan
        settings.offline_after = plan.offline_after
        changes = []
        if plan.interval != old.interval:
            changes.append(f"interval {old.interval:g} s -> {plan.interval:g} s")
        if plan.intervals != old.intervals:
            changes.append("per-device intervals")
        if plan.names != old.names:
            changes.append("the devices served")
        settings.interval = plan.interval
        for name, served in self.bridge.devices.items():
            served.interval = plan.intervals.get(name)
        if plan.interval != old.interval or plan.intervals != old.intervals:
            self.bridge.repoll()
        if changes:
            log.info("reload: %s", ", ".join(changes))

    async def sync(self, force: bool = False) -> None:
        """Serve what the inventory holds now: new devices, changed ones again, removed ones
        no more. Unchanged devices are left alone."""
        async with self._lock:
            stamp = self._stamp()
            if stamp == self._seen and not force:
                return
            try:
                inventory = await asyncio.to_thread(Inventory, self.path)
            except InventoryError as exc:
                log.error("the inventory cannot be read (%s); serving what was served", exc)
                self._seen = stamp
                return
            self._seen = stamp
            want = wanted(inventory, self.plan)
            missing = sorted(set(self.plan.names or ()) - set(inventory.entries))
            if missing:
                log.warning("no device named %s in the inventory", ", ".join(missing))
            for name in [n for n in self.bridge.devices if n not in want]:
                await self.bridge.drop(name)
            for name, entry in want.items():
                served = self.bridge.devices.get(name)
                if served is None or (served.entry.host, served.entry.token) != (
                        entry.host, entry.token):
                    await self.bridge.serve(entry, self.plan.intervals.get(name))

    # -- changes from the dashboard --------------------------------------------------------

    async def add(self, name: str, host: str, token: str) -> Entry:
        """Check ``host`` answers with ``token``, then keep it in the inventory and serve it."""
        from pymiio.inventory import _entry
        from pymiio.lan.client import AsyncDevice

        _entry(name, {"host": host, "token": token}, error=UsageError)  # checked first
        device = AsyncDevice(host, token, timeout=3.0)
        try:
            info = await device.info()
            hello = device.hello
        finally:
            await device.close()
        model = info.get("model") if isinstance(info.get("model"), str) else None
        entry = Entry(name, host, token, model, hello.device_id if hello else None)

        def save() -> Entry:
            with Inventory.locked(self.path) as inventory:
                return inventory.add(entry)

        saved = await asyncio.to_thread(save)
        self._include(name)
        log.info("%s: added (%s, %s)", name, host, model or "model unknown")
        await self.sync(force=True)
        return saved

    async def remove(self, name: str) -> None:
        def change() -> None:
            with Inventory.locked(self.path) as inventory:
                inventory.remove(name)

        await asyncio.to_thread(change)
        if self.plan.names is not None:  # not named any more: no "no device named" warnings
            self.plan.names = tuple(n for n in self.plan.names if n != name)
        self.plan.intervals.pop(name, None)
        log.info("%s: removed from the inventory", name)
        await self.sync(force=True)

    async def rename(self, name: str, new: str) -> None:
        from pymiio.inventory import _entry

        _entry(new, {}, error=UsageError)

        def change() -> None:
            with Inventory.locked(self.path) as inventory:
                old = inventory.entries.get(name)
                if old is None:
                    raise InventoryError(f"no device named {name!r} in the inventory")
                if new in inventory.entries:
                    raise UsageError(f"a device named {new!r} exists already")
                inventory.remove(name)
                inventory.add(Entry(new, old.host, old.token, old.model, old.device_id))

        await asyncio.to_thread(change)
        if self.plan.names is not None and name in self.plan.names:
            self.plan.names = (*(n for n in self.plan.names if n != name), new)
        if name in self.plan.intervals:
            self.plan.intervals[new] = self.plan.intervals.pop(name)
        log.info("%s: renamed to %s", name, new)
        await self.sync(force=True)

    def _include(self, name: str) -> None:
        if self.plan.names is not None and name not in self.plan.names:
            self.plan.names = (*self.plan.names, name)


async def check_broker(settings: Settings) -> None:
    """Connect to the broker once and leave (``miio bridge --check``): BridgeError when it
    refuses the credentials, MiioTimeoutError when it cannot be reached."""
    import ssl

    import aiomqtt

    broker = settings.broker
    context = ssl.create_default_context(cafile=settings.cafile) if broker.tls else None
    client = aiomqtt.Client(broker.host, broker.port, username=broker.username,
                            password=broker.password, tls_context=context, timeout=CHECK_TIMEOUT)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with client:
                pass
    except aiomqtt.MqttCodeError as exc:
        if getattr(exc, "rc", None) in (4, 5, 134, 135):
            raise BridgeError(f"the broker refused the credentials: {exc}") from None
        raise MiioTimeoutError(f"the broker {broker.host}:{broker.port} cannot be reached: "
                               f"{exc}") from None
    except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
        raise MiioTimeoutError(f"the broker {broker.host}:{broker.port} cannot be reached: "
                               f"{exc or 'no answer'}") from None
