"""The running bridge: devices polled and pushed to MQTT, commands from MQTT to devices.

Topics (BASE = the base topic, docs/bridge.md): ``BASE/bridge/state`` (retained, the Last
Will says offline), ``BASE/bridge/devices``, ``BASE/<name>`` (retained state keyed by property
names), ``BASE/<name>/availability``, ``BASE/<name>/set``, ``.../set/<property>``,
``.../action``, ``.../get`` and the feedback on ``BASE/<name>/response``.

The MQTT connection is a loop (aiomqtt does not reconnect by itself): on every (re)connect the
bridge subscribes again and republishes everything retained, from memory, because a broker
restarted without persistence has lost it. A broker that refuses the credentials is fatal (one
error line), anything else is retried with back-off. Devices are polled each in its own task,
spread over the interval; one that stops answering goes offline after ``offline_after`` missed
polls and back online when it answers. A misbehaving device never stalls the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymiio.bridge import ha
from pymiio.bridge.availability import (
    FLAP_LIMIT,
    FLAP_WINDOW,
    PROBE_FIRST,
    PROBE_MAX,
    UNSTABLE_FOR,
    Availability,
    Link,
)
from pymiio.bridge.feed import Feed
from pymiio.bridge.options import BrokerAddress
from pymiio.errors import BridgeError, MiioError, MiioTimeoutError, UsageError
from pymiio.inventory import Entry
from pymiio.knowledge.lookup import describe_soon, model_of
from pymiio.knowledge.model import Action, DeviceModel, Property
from pymiio.knowledge.operations import Change, Reading, Subscription, Tracker, subscribe_request
from pymiio.lan.client import AsyncDevice
from pymiio.lan.sweep import Batch
from pymiio.lan.waiting import sleep_until
from pymiio.protocol.pushes import Follower
from pymiio.protocol.rpc import info_of
from pymiio.strict_json import dumps

log = logging.getLogger("pymiio.bridge")
ONLINE = json.dumps({"state": "online"})
OFFLINE = json.dumps({"state": "offline"})
MAX_STALE = 10_000  # stale discovery configs remembered while device ids are learnt
POLL_TICK = 0.1  # poll start times are whole ticks: devices sharing a tick wake together
FIRST_ROUND = 512  # devices asked for their miIO.info at once when the bridge starts
PUBLISHING = 64  # retained (QoS 1) publishes awaiting the broker at once
# Bounds on what MQTT clients can make the bridge hold (issue 26; docs/bridge.md "Limits"):
MAX_PAYLOAD = 64 * 1024  # bytes of one command; a larger one is refused unread
COMMANDS_PER_DEVICE = 16  # commands waiting for one device; more are answered "busy" at once
QUEUED_BYTES = 16 * 1024 * 1024  # payload bytes waiting across all devices; more: "busy"
INCOMING_BACKLOG = 1000  # messages received but not yet routed; aiomqtt drops the excess
REFUSALS_BACKLOG = 1000  # refusals ("busy", "too large") waiting to be published; more dropped
ANSWER_LIMIT = 200  # characters of an error on /response (so at most that much bad input)
TRANSACTION_LIMIT = 256  # characters of a transaction (as JSON) a /response echoes
REDISCOVER_SETTLE = 0.5  # seconds a burst of Home Assistant birth messages has to end
STOP_PUBLISH_TIMEOUT = 5.0  # seconds the offline state may take to publish at a stop
INFO_EVERY = 600.0  # seconds between a device's miIO.info (Wi-Fi signal, firmware) refreshes


# a queued command: the topic's parts after the device name, the payload, where it came from
# (mqtt, web) and, for a caller awaiting it, the future its answer goes to
Command = tuple[list[str], bytes, str, "asyncio.Future[Any] | None"]


@dataclass
class Settings:
    broker: BrokerAddress
    base: str = "pymiio"
    prefix: str = "homeassistant"
    interval: float = 10.0
    offline_after: int = 2
    cafile: str | None = None
    describe: Callable[[str], DeviceModel] | None = None
    client_id: str | None = None
    probe: tuple[float, float] = (PROBE_FIRST, PROBE_MAX)  # an offline device: first, longest
    info_every: float = INFO_EVERY  # a device's miIO.info again after this long (bridge clock)


@dataclass
class Served:
    """One device the bridge serves."""

    entry: Entry
    device: AsyncDevice
    model: DeviceModel | None = None
    values: dict[str, Any] = field(default_factory=dict)
    published: str | None = None
    availability: Availability = field(default_factory=Availability)  # online, probes, flaps
    firmware: str | None = None
    subscription: Subscription = field(default_factory=Subscription)  # miIO.sub: when next
    follower: Follower[Change] | None = None  # this bridge's view of the device's pushes
    draining: bool = False  # a task publishes what the follower holds
    commands: asyncio.Queue[Command] = field(
        default_factory=lambda: asyncio.Queue(COMMANDS_PER_DEVICE), repr=False)
    worker: asyncio.Task[None] | None = field(default=None, repr=False)  # runs ``commands``
    refused: int = 0  # commands answered "busy" since its queue was last empty
    announced: bool = False  # discovery published on the current connection
    config: tuple[DeviceModel, ha.Identity, str, str] | None = None  # built from; topic, text
    interval: float | None = None  # this device's own poll interval (the config file's)
    rssi: int | None = None  # miIO.info's ap.rssi, as last read
    info_due: float | None = None  # when miIO.info is read again (the bridge's clock)
    info_task: asyncio.Task[None] | None = field(default=None, repr=False)  # one at a time

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def online(self) -> bool | None:
        """True or False once known (what ``availability`` reports), None before."""
        link = self.availability.link
        return None if link is Link.UNKNOWN else link is Link.ONLINE


class Bridge:
    def __init__(self, settings: Settings, entries: list[Entry],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock  # monotonic; any zero (the machine's boot, a test's fake clock)
        self._rng = random.Random()  # probe jitter
        timeout = max(0.5, min(5.0, settings.interval * 0.8))
        self.devices = {e.name: Served(e, AsyncDevice(e.host or "", e.token, timeout=timeout))
                        for e in entries}
        self.client: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self.connected = asyncio.Event()
        self.feed = Feed()  # what the bridge does, for the dashboard (bridge/feed.py)
        self._listing_due = False
        self._stale: dict[str, str] = {}  # retained discovery topics to clear -> owner
        self._sweeping = False  # listening to the retained discovery configs
        self._stale_found = False  # found since the last clearing began
        self._clearing = False  # a task clears what the sweep found
        self._epoch = 0.0  # when polling started (loop time): the poll grid counts from it
        self._reads = Batch()  # the polls of one tick run as one sweep (lan/sweep.py)
        self._described: dict[str, asyncio.Future[DeviceModel]] = {}  # once per model
        self._asking = asyncio.Semaphore(FIRST_ROUND)
        self._acknowledging = asyncio.Semaphore(PUBLISHING)
        # answers the message loop gives without waiting (it never waits for a publish)
        self._refusals: asyncio.Queue[tuple[str, str]] = asyncio.Queue(REFUSALS_BACKLOG)
        # log lines about refused input, throttled per bridge: ignored (retained, unknown
        # device, too large) at info; read and refused (a bad value) as warnings
        self._ignored_log = _Throttled()
        self._queued_bytes = 0  # payload bytes of the commands waiting, all devices together
        self._refused_log = _Throttled(level=logging.WARNING)
        self._inbox: asyncio.Queue[Any] | None = None  # the connection's received messages
        self._rediscover = asyncio.Event()  # Home Assistant said it is back (again)
        self._births = 0  # birth messages since the last republish

    # -- running --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; then publish offline and return."""
        self.repoll()
        self._spawn(self._publish_refusals())
        self._spawn(self._rediscover_forever())
        try:
            await self._connection_loop(stop)
        finally:
            pollers = list(self._pollers.values())
            pollers += [s.worker for s in self.devices.values() if s.worker is not None]
            for task in (*pollers, *self._tasks):
                task.cancel()
            await asyncio.gather(*pollers, *self._tasks, return_exceptions=True)
            await self._reads.aclose()
            for served in self.devices.values():
                if served.follower is not None:
                    served.follower.close()
            await asyncio.gather(*(s.device.close() for s in self.devices.values()))

    def repoll(self) -> None:
        """(Re)start polling every device on a fresh grid: at start, and when the interval
        changed (a poller asleep for the old interval must not sleep it out)."""
        for task in self._pollers.values():
            task.cancel()
        self._epoch = asyncio.get_running_loop().time()
        self._pollers = {name: asyncio.create_task(self._poll_forever(served, index))
                         for index, (name, served) in enumerate(self.devices.items())}

    async def serve(self, entry: Entry, interval: float | None = None) -> None:
        """Serve one more device (or one whose address or token changed) from now on."""
        old = self.devices.get(entry.name)
        if old is not None:
            await self.drop(entry.name, forget=False)
        timeout = max(0.5, min(5.0, (interval or self.settings.interval) * 0.8))
        served = Served(entry, AsyncDevice(entry.host or "", entry.token, timeout=timeout),
                        interval=interval)
        self.devices[entry.name] = served
        self._pollers[entry.name] = asyncio.create_task(
            self._poll_forever(served, len(self.devices) - 1))
        log.info("%s: served (%s)", entry.name, entry.host)
        self.feed.emit("served", entry.name)
        self._list_soon()

    async def drop(self, name: str, forget: bool = True) -> None:
        """Stop serving a device; ``forget`` also removes what was retained for it (its
        state, availability and discovery), so Home Assistant drops its entities."""
        served = self.devices.pop(name, None)
        task = self._pollers.pop(name, None)
        if served is None:
            return
        for work in (task, served.worker):
            if work is not None:
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        await served.device.close()
        if forget:
            topic = f"{self.settings.base}/{name}"
            if served.entry.device_id is not None:  # its whole device config, cleared
                await self._publish(ha.config_topic(self.settings.prefix, ha.device_object_id(
                    self.settings.base, served.entry.device_id)), "", retain=True)
            for retained in (topic, f"{topic}/availability", f"{topic}/vacuum"):
                await self._publish(retained, "", retain=True)
            log.info("%s: no longer served", name)
            self.feed.emit("dropped", name)
            self._list_soon()

    async def _connection_loop(self, stop: asyncio.Event) -> None:
        import aiomqtt

        delay = 0.5
        failures = 0  # attempts failed since the connection was last up: only the first warns
        while not stop.is_set():
            connected = False
            client = self._client()
            try:
                async with client:
                    connected = True
                    self.client = client
                    delay = 0.5
                    await self._on_connect(client)
                    self.connected.set()
                    log.info("connected to the broker %s:%d%s", self.settings.broker.host,
                             self.settings.broker.port, " again" if failures else "")
                    failures = 0
                    self.feed.emit("broker", connected=True)
                    if await self._until_stop_or_disconnect(client, stop):
                        await client.publish(f"{self.settings.base}/bridge/state", OFFLINE,
                                             qos=1, retain=True, timeout=STOP_PUBLISH_TIMEOUT)
                        return
            except aiomqtt.MqttCodeError as exc:
                # CONNACK codes; once connected, paho's 4 is "not connected" (a publish
                # when the broker went away at the moment of a stop), not a refusal
                if not connected and getattr(exc, "rc", None) in (4, 5, 134, 135):
                    raise BridgeError(f"the broker refused the credentials: {exc}") from None
                self._lost(exc, delay, failures)
                failures += 1
            except aiomqtt.MqttError as exc:
                self._lost(exc, delay, failures)
                failures += 1
            finally:
                _settle(client)
                self.client = None
                self.connected.clear()
                for served in self.devices.values():
                    served.announced = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)

    def _lost(self, exc: Exception, delay: float, failures: int) -> None:
        """One warning when the connection breaks (or the first attempt fails); the attempts
        that follow while the broker stays away are debug lines, not a line every retry."""
        cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        reason = str(cause)  # text: a record holding the exception would hold its frames
        log.log(logging.WARNING if not failures else logging.DEBUG,
                "MQTT connection lost (%s); reconnecting in %.1f s", reason, delay)
        self.feed.emit("broker", connected=False, error=reason)

    def _client(self) -> Any:
        import aiomqtt

        broker = self.settings.broker
        context = None
        if broker.tls:
            context = ssl.create_default_context(cafile=self.settings.cafile)
        client = aiomqtt.Client(
            broker.host, broker.port, username=broker.username, password=broker.password,
            identifier=self.settings.client_id, tls_context=context, keepalive=30,
            max_queued_incoming_messages=INCOMING_BACKLOG, logger=_mqtt_log,
            queue_type=self._inbox_type(),
            will=aiomqtt.Will(f"{self.settings.base}/bridge/state", OFFLINE, qos=1,
                              retain=True))
        client.pending_calls_threshold = 1000  # refusals go out 100 at a time: no warning
        return client

    def _inbox_type(self) -> type[asyncio.Queue[Any]]:
        """aiomqtt's queue of received messages, made by the client: its class remembers
        the instance, for :meth:`_messages` to drain."""
        bridge = self

        class Inbox(asyncio.Queue[Any]):
            def __init__(self, maxsize: int = 0) -> None:
                super().__init__(maxsize)
                bridge._inbox = self

            def put_nowait(self, item: Any) -> None:
                if not bridge._aside(item):  # what is not a command takes no place here
                    super().put_nowait(item)

        return Inbox

    async def _until_stop_or_disconnect(self, client: Any, stop: asyncio.Event) -> bool:
        """True when stopped on purpose, False when the connection broke."""
        messages = asyncio.create_task(self._messages(client))
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({messages, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (messages, stopping):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await messages
        if messages in done and messages.exception() is not None:
            raise messages.exception()  # type: ignore[misc]
        return stopping in done

    async def _on_connect(self, client: Any) -> None:
        base = self.settings.base
        await client.subscribe(f"{base}/+/set")
        await client.subscribe(f"{base}/+/set/+")
        await client.subscribe(f"{base}/+/action")
        await client.subscribe(f"{base}/+/get")
        await client.subscribe(f"{self.settings.prefix}/status")
        # The retained discovery configs on the broker: this bridge's own stale ones are
        # cleared (_sweep). The broker sends them right after the subscription, before the
        # echo of the bridge's own config published next: that echo ends the sweep.
        await client.subscribe(f"{self.settings.prefix}/+/+/config")
        self._sweeping = True
        await client.publish(f"{base}/bridge/state", ONLINE, qos=1, retain=True)
        await self._publish_devices()
        await self._publish(*self._bridge_config(), retain=True)

        async def republish(served: Served) -> None:
            await self._publish_discovery(served)
            await self._publish_state(served, force=True)
            published = served.availability.published
            if published is not Link.UNKNOWN:
                await self._publish(f"{base}/{served.name}/availability",
                                    ONLINE if published is Link.ONLINE else OFFLINE,
                                    retain=True)

        # devices side by side (the publishes awaiting the broker stay bounded, _publish):
        # one after another, thousands of devices kept the commands waiting for seconds
        await asyncio.gather(*(republish(served)  # a reload may serve more meanwhile
                               for served in list(self.devices.values())))

    async def _messages(self, client: Any) -> None:
        """Every message routed as it comes. aiomqtt's iterator costs a few turns of the
        event loop per message while its client reads one message per turn, so a flood
        would outrun it: each wake-up drains the inbox instead."""
        inbox = self._inbox
        async for message in client.messages:
            await self._receive(message)
            while inbox is not None and not inbox.empty():
                await self._receive(inbox.get_nowait())

    def _aside(self, message: Any) -> bool:
        """Whether ``message`` is one that is not a command, handled here as it arrives
        (True), outside the backlog of received commands, whose cap is for what clients
        send: Home Assistant's birth messages, the retained discovery configs the start-up
        sweep reads (a thousand of this bridge's own, and a neighbour's thousands: a
        zigbee2mqtt on the same broker) and the echoes of the configs the bridge publishes.
        The bridge's own start-up traffic must never crowd out a user's command. Called by
        aiomqtt as each message is read: never waits, never raises."""
        prefix = self.settings.prefix
        topic = str(message.topic)
        if not topic.startswith(prefix + "/"):
            return False
        try:
            if topic == f"{prefix}/status":
                if bytes(message.payload or b"").strip().lower() == b"online":
                    self._births += 1  # Home Assistant restarted: republished by a task of
                    self._rediscover.set()  # its own, a burst once (_rediscover_forever)
                return True
            if not topic.endswith("/config"):
                return False
            if message.retain:
                self._sweep(topic, bytes(message.payload or b""))
            elif self._sweeping and topic == ha.config_topic(
                    prefix, ha.bridge_object_id(self.settings.base)):
                self._sweeping = False  # every retained config seen: stop listening
                self._spawn(self._stop_sweeping())
        except Exception:  # a bug here must not break aiomqtt's reading
            log.exception("a message on %s could not be handled", _shown(topic))
        return True

    async def _receive(self, message: Any) -> None:
        """A command (what :meth:`_aside` did not take): routed to its device's queue."""
        topic = str(message.topic)
        payload = bytes(message.payload or b"")
        if message.retain:  # a command left on the broker: never replayed (docs/bridge.md)
            self._ignored_log.info("ignored a retained command on %s", _shown(topic))
            return
        self._route(topic, payload)

    async def _rediscover_forever(self) -> None:
        """Discovery and state again after Home Assistant's birth message, outside the message
        loop and one republish at a time: a burst of births (or a flood) becomes one
        republish, plus at most one more for those that came while it ran."""
        while True:
            await self._rediscover.wait()
            await asyncio.sleep(REDISCOVER_SETTLE)
            self._rediscover.clear()
            births, self._births = self._births, 0
            log.info("Home Assistant is back (%d birth message%s): republishing discovery",
                     births, "" if births == 1 else "s")
            await self._publish(*self._bridge_config(), retain=True)
            for served in list(self.devices.values()):
                await self._publish_discovery(served)
                await self._publish_state(served, force=True)

    def _route(self, topic: str, payload: bytes, source: str = "mqtt",
               done: asyncio.Future[Any] | None = None) -> dict[str, Any] | None:
        """A command into its device's queue (``done`` gets its answer), or refused at once
        (the refusal is returned); None when there is no such device. Never waits: one
        device's flood must not delay the others, nor the reading of the broker's messages."""
        parts = topic[len(self.settings.base) + 1:].split("/")
        served = self.devices.get(parts[0])
        if served is None or len(parts) < 2:
            self._ignored_log.info("ignored a command for an unknown device on %s (%s)",
                           _shown(topic), source)
            return None
        if len(payload) > MAX_PAYLOAD:
            self._ignored_log.info("%s: refused a command of %d bytes on %s (%s)", served.name,
                           len(payload), _shown(topic), source)
            return self._refuse(served, None, f"the command is too large ({len(payload)} "
                                              f"bytes; at most {MAX_PAYLOAD})")
        if self._queued_bytes + len(payload) > QUEUED_BYTES:  # a flood over many devices
            self._ignored_log.info("%s: refused a command: %d bytes of commands are waiting",
                                   served.name, self._queued_bytes)
            return self._refuse(served, None, f"the bridge is busy ({self._queued_bytes} bytes "
                                              "of commands are waiting); try again later")
        try:
            served.commands.put_nowait((parts[1:], payload, source, done))
            self._queued_bytes += len(payload)
        except asyncio.QueueFull:
            if not served.refused:
                log.info("%s: %d commands waiting; refusing more until they are done",
                         served.name, COMMANDS_PER_DEVICE)
            served.refused += 1
            request = _payload(payload) if b'"transaction"' in payload else None  # to echo
            return self._refuse(served, request, f"{served.name} is busy "
                                f"({COMMANDS_PER_DEVICE} commands are waiting); try again later")
        if served.worker is None or served.worker.done():
            served.worker = asyncio.create_task(self._serve_commands(served))
        return None

    def _refuse(self, served: Served, request: Any, error: str) -> dict[str, Any]:
        """An error answer given without waiting: queued for publishing (the message loop
        must route faster than a flood arrives; dropped when too many wait), and returned."""
        topic, text, answer = self._answer(served, request, error)
        with contextlib.suppress(asyncio.QueueFull):
            self._refusals.put_nowait((topic, text))
        return answer

    async def _publish_refusals(self) -> None:
        """The refusals, published a batch at a time (one turn of the loop for many)."""
        queue = self._refusals
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < 100:
                batch.append(queue.get_nowait())
            await asyncio.gather(*(self._publish(topic, text) for topic, text in batch))

    async def _serve_commands(self, served: Served) -> None:
        """One device's commands, one at a time in arrival order. Cancelled (a stop, the
        device dropped), it leaves what is queued undone: whoever awaits one is told."""
        queue = served.commands
        done: asyncio.Future[Any] | None = None
        try:
            while True:
                parts, payload, source, done = await queue.get()
                self._queued_bytes -= len(payload)
                answer = await self._command(served, parts, payload, source)
                if done is not None and not done.done():
                    done.set_result(answer)
                done = None
                if served.refused and queue.empty():
                    log.info("%s: caught up; %d commands were refused as busy", served.name,
                             served.refused)
                    served.refused = 0
        finally:
            waiting = [done]
            while not queue.empty():
                _, payload, _, future = queue.get_nowait()
                self._queued_bytes -= len(payload)
                waiting.append(future)
            for future in waiting:
                if future is not None and not future.done():
                    future.set_result({"status": "error", "error": f"{served.name} is no "
                                       "longer served; the command was not carried out"})

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- publishing -----------------------------------------------------------------------

    async def _publish(self, topic: str, payload: str, retain: bool = False) -> None:
        """Publish if connected; what is retained is republished from memory on reconnect."""
        import aiomqtt

        self.feed.emit("publish", topic=topic, payload=payload)
        client = self.client
        if client is None:
            return
        if not retain:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(topic, payload, qos=0)
            return
        async with self._acknowledging:  # aiomqtt's cost per publish grows with those pending
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(topic, payload, qos=1, retain=True)

    async def _publish_devices(self) -> None:
        listing = [{"name": s.name, "model": s.model.model if s.model else s.entry.model,
                    "device_id": s.entry.device_id, "address": s.entry.host,
                    "availability": s.availability.state,
                    "properties": [p.name for p in s.model.properties] if s.model else [],
                    "actions": [a.name for a in s.model.actions] if s.model else []}
                   for s in self.devices.values()]
        await self._publish(f"{self.settings.base}/bridge/devices", dumps(listing),
                            retain=True)

    def _bridge_config(self) -> tuple[str, str]:
        topic, payload = ha.bridge_discovery(self.settings.base, self.settings.prefix)
        return topic, dumps(payload)

    async def _publish_discovery(self, served: Served) -> None:
        """The device's one discovery config (device-based, docs/bridge.md)."""
        if served.model is None or served.entry.device_id is None or self.client is None:
            return
        served.announced = True
        who = ha.Identity(served.name, served.entry.device_id, served.model.model,
                          served.firmware, self.settings.base, self.settings.prefix)
        if served.config is None or served.config[0] is not served.model or \
                served.config[1] != who:
            # built once (about a millisecond a device): HA's restarts republish it as it is
            topic, payload = ha.discovery(served.model, who)
            served.config = (served.model, who, topic,
                             "" if payload is None else dumps(payload))
        await self._publish(served.config[2], served.config[3], retain=True)
        if self._stale:
            await self._clear_stale()

    def _sweep(self, topic: str, payload: bytes) -> None:
        """A retained discovery config found on the broker: cleared (by a task, a burst
        judged together) when this bridge published it and no longer serves it (a device
        removed while the bridge was away, or an entity config of the per-entity discovery
        earlier versions used)."""
        if not payload:
            return
        owner = ha.retained_owner(topic, payload, self.settings.base, self.settings.prefix)
        if owner is not None and len(self._stale) < MAX_STALE:
            self._stale[topic] = owner
            self._stale_found = True
            if not self._clearing:
                self._clearing = True
                self._spawn(self._clear_found())

    async def _clear_found(self) -> None:
        try:
            while self._stale_found:
                self._stale_found = False
                await asyncio.sleep(0)  # what was read in the same pass, together
                await self._clear_stale()
        finally:
            self._clearing = False

    async def _stop_sweeping(self) -> None:
        import aiomqtt

        client = self.client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.unsubscribe(f"{self.settings.prefix}/+/+/config")

    async def _clear_stale(self) -> None:
        """Clear the stale configs found, once every served device's id is known (a device
        config is judged by its id; until then it may still be a served device's)."""
        ids = [s.entry.device_id for s in self.devices.values()]
        served = {ha.device_object_id(self.settings.base, i) for i in ids if i is not None}
        for topic, owner in list(self._stale.items()):
            component, object_id = owner.split("/", 1)
            if component == "device" and object_id in served:
                self._stale.pop(topic, None)  # a device served again
            elif component != "device" or None not in ids:
                if self._stale.pop(topic, None) is None:
                    continue  # cleared meanwhile (found and judged by another caller)
                log.info("cleared the stale discovery config %s", _shown(topic))
                await self._publish(topic, "", retain=True)

    async def _publish_state(self, served: Served, force: bool = False) -> None:
        """The state, every key Home Assistant reads included (null until read), from the
        end of the first poll of a described device on, whether it read anything or not (a
        retained state of an earlier run stays until then)."""
        if served.model is None and not served.values:
            return
        values = served.values if served.model is None else {
            **ha.blank_state(served.model), **served.values}
        text = dumps(values)
        if force or text != served.published:
            served.published = text
            topic = f"{self.settings.base}/{served.name}"
            await self._publish(topic, text, retain=True)
            if served.model is not None:
                for suffix, derived in ha.derived_states(served.model, values).items():
                    await self._publish(f"{topic}/{suffix}", dumps(derived), retain=True)

    async def _set_online(self, served: Served, answered: bool) -> None:
        """A poll or probe was answered (or missed): availability published as
        ``Availability`` decides (not at every flip of a flapping device)."""
        now, settings = self.clock(), self.settings
        availability = served.availability
        availability.offline_after = settings.offline_after
        availability.probe_first, availability.probe_max = settings.probe
        before, was_unstable = availability.link, availability.state == "unstable"
        if answered:
            availability.answered(now)
        else:
            availability.missed(now)
        link = availability.link
        unstable = availability.unstable(now)
        if unstable and not was_unstable:
            log.warning("%s flips between online and offline too often (more than %d times "
                        "in %.0f s): reported unstable for %.0f s", served.name, FLAP_LIMIT,
                        FLAP_WINDOW, UNSTABLE_FOR)
            self._list_soon()
        elif was_unstable and not unstable:
            log.warning("%s: stable again (%s)", served.name, link.value)
            self._list_soon()
        elif link is not before and not unstable and (before is not Link.UNKNOWN or
                                                        link is Link.OFFLINE):
            log.info("%s: %s", served.name, "online again" if answered else "offline")
        published = availability.to_publish(now)
        if published is not None:
            await self._publish(f"{settings.base}/{served.name}/availability",
                                ONLINE if published is Link.ONLINE else OFFLINE, retain=True)

    # -- polling ----------------------------------------------------------------------------

    async def _poll_forever(self, served: Served, index: int) -> None:
        """The first poll at once (every device's state as soon as it answers), then polls
        spread over the interval, so a thousand devices are not polled at once, yet on a grid
        of ``POLL_TICK``: the devices of one tick wake in one pass of the loop and are polled
        by one sweep (``Batch``), which costs far less CPU than a wake-up for each device (a
        thousand devices every 10 s: 10 wake-ups a second instead of 100)."""
        loop = asyncio.get_running_loop()
        interval = served.interval or self.settings.interval
        offset = int(interval * index / max(1, len(self.devices)) / POLL_TICK) * POLL_TICK
        due = self._epoch
        first = True
        with contextlib.suppress(TimeoutError):  # states go out as they are read, not all at
            await asyncio.wait_for(self.connected.wait(), interval)  # once on connecting
        while True:
            await sleep_until(due)
            try:
                await self.refresh(served)
            except Exception:  # one device's bug never stops the others
                log.exception("%s: poll failed", served.name)
            if served.availability.link is Link.OFFLINE:  # probed with back-off and jitter
                due = loop.time() + served.availability.next_probe(self._rng)
                continue
            interval = served.interval or self.settings.interval
            if first:  # later rounds on the device's place in the grid
                first, due = False, self._epoch + offset
            due += interval * max(1, math.ceil((loop.time() - due) / interval))

    async def refresh(self, served: Served) -> None:
        try:
            model = await self._model(served)
            readings = await self._reads.status(served.device, model)
        except MiioError as exc:
            if not isinstance(exc, MiioTimeoutError):
                log.info("%s: %s", served.name, exc)
            self.feed.emit("error", served.name, error=str(exc))
            if served.published is None:  # described, never read: every key, null
                await self._publish_state(served)
            await self._set_online(served, False)
            return
        self.feed.emit("poll", served.name)
        if not served.announced:  # described while the broker was away
            await self._publish_discovery(served)
        self._take(served, readings)
        await self._publish_state(served)  # before the availability: never online, stateless
        await self._set_online(served, True)
        self._info_soon(served)
        if model.kind == "miot" and served.subscription.due(self.clock(),
                                                            served.device.session.device_stamp):
            await self._subscribe(served)

    def _take(self, served: Served, readings: list[Reading]) -> None:
        for reading in readings:
            if reading.error is None:
                served.values[reading.prop.name] = reading.value

    async def _model(self, served: Served) -> DeviceModel:
        if served.model is not None:
            return served.model
        entry, device = served.entry, served.device
        async with self._asking:  # a thousand devices starting: a bounded number at once
            info = info_of(await self._reads.send(device, "miIO.info"))
        self._take_info(served, info)
        # later refreshes spread over the period, so devices described together do not
        # all ask again together
        served.info_due = self.clock() + self.settings.info_every * self._rng.uniform(0.5, 1.0)
        served.model = await self._describe(entry.model, info)
        hello = device.hello
        if entry.device_id is None and hello is not None:
            entry.device_id = hello.device_id
        self._list_soon()
        await self._publish_discovery(served)
        return served.model

    @staticmethod
    def _take_info(served: Served, info: dict[str, Any]) -> None:
        """What the bridge keeps of ``miIO.info``: the firmware and the Wi-Fi signal."""
        served.firmware = info.get("fw_ver") if isinstance(info.get("fw_ver"), str) else None
        access_point = info.get("ap")
        rssi = access_point.get("rssi") if isinstance(access_point, dict) else None
        served.rssi = rssi if type(rssi) is int else None

    def _info_soon(self, served: Served) -> None:
        """Read ``miIO.info`` again when it is due (every ``info_every`` per device, after an
        answered poll), never more than one at a time per device: the Wi-Fi signal and the
        firmware the dashboard shows (and the discovery config's firmware) stay current."""
        if served.info_due is None or self.clock() < served.info_due or (
                served.info_task is not None and not served.info_task.done()):
            return
        served.info_task = asyncio.create_task(self._refresh_info(served))
        self._tasks.add(served.info_task)
        served.info_task.add_done_callback(self._tasks.discard)

    async def _refresh_info(self, served: Served) -> None:
        firmware = served.firmware
        try:
            async with self._asking:
                info = info_of(await self._reads.send(served.device, "miIO.info"))
        except MiioError as exc:
            log.debug("%s: miIO.info failed (%s); asked again in %.0f s", served.name, exc,
                      self.settings.info_every)
        else:
            self._take_info(served, info)
            if served.firmware != firmware:
                log.info("%s: firmware %s (was %s)", served.name, served.firmware, firmware)
                await self._publish_discovery(served)
        finally:
            served.info_due = self.clock() + self.settings.info_every

    async def _describe(self, model: str | None, info: dict[str, Any]) -> DeviceModel:
        """The description of ``model`` (else of the model ``info`` reports), made once for
        every device of that model; a failure is not kept (the next poll asks again)."""
        describe = self.settings.describe
        assert describe is not None
        name = model_of(model, lambda: info)
        pending = self._described.get(name)
        if pending is None:
            pending = asyncio.ensure_future(describe_soon(describe, name))
            self._described[name] = pending

            def forget_failure(done: asyncio.Future[DeviceModel]) -> None:
                if done.cancelled() or done.exception() is not None:
                    self._described.pop(name, None)

            pending.add_done_callback(forget_failure)
        return await asyncio.shield(pending)

    def _list_soon(self) -> None:
        """Republish the device list once for a burst of newly described devices (a thousand
        devices described in one poll round must not publish a thousand lists)."""
        if not self._listing_due:
            self._listing_due = True

            async def later() -> None:
                await asyncio.sleep(1.0)
                self._listing_due = False
                await self._publish_devices()

            self._spawn(later())

    async def _subscribe(self, served: Served) -> None:
        """Ask a MIoT device to push its changes (at once on the first poll, then every ten
        minutes and after a reboot: ``Subscription``); they are published as they come."""
        assert served.model is not None
        if served.follower is None:
            served.follower = served.device.session.pushes.follow(Tracker(served.model).push)
            served.follower.wake = lambda: self._pushed(served)
        try:
            await served.device.send(*subscribe_request(time.time()))
        except MiioError as exc:
            log.info("%s: miIO.sub failed (%s); polling until it is renewed", served.name, exc)
            served.subscription.done(self.clock(), ok=False)
        else:
            served.subscription.done(self.clock())

    def _pushed(self, served: Served) -> None:
        """Pushes arrived: one task publishes them (a flood is published as it drains, not a
        task per push)."""
        self.feed.emit("push", served.name)
        if not served.draining:
            served.draining = True
            self._spawn(self._drain(served))

    async def _drain(self, served: Served) -> None:
        """Changes into the retained state (published once per drain), events each on
        ``BASE/<name>/event``, not retained: ``{"event_type": name, <argument>: value}``."""
        follower = served.follower
        try:
            while follower is not None and follower.items:
                changed = False
                while (change := follower.pop()) is not None:
                    if change.source == "event":
                        await self._publish_event(served, change)
                    else:
                        served.values[change.name] = change.value
                        changed = True
                if changed:
                    await self._publish_state(served)
        finally:
            served.draining = False

    async def _publish_event(self, served: Served, change: Change) -> None:
        arguments = change.value if isinstance(change.value, dict) else {}
        payload = {"event_type": change.name,
                   **{k: v for k, v in arguments.items() if k != "event_type"}}
        log.info("%s: event %s %s", served.name, change.name,
                 json.dumps(arguments, ensure_ascii=False, default=str)[:200])
        await self._publish(f"{self.settings.base}/{served.name}/event",
                            dumps(payload))

    # -- commands ---------------------------------------------------------------------------

    async def command(self, name: str, kind: str, payload: bytes,
                      source: str = "web") -> dict[str, Any] | None:
        """A command from elsewhere than MQTT (the dashboard), on the MQTT commands' own path
        (the device's queue): ``kind`` is ``set``, ``set/<property>``, ``action`` or ``get``.
        The answer, or None for a device the bridge does not serve."""
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        refused = self._route(f"{self.settings.base}/{name}/{kind}", payload, source, done)
        if refused is not None or name not in self.devices:
            return refused
        return await done

    async def _command(self, served: Served, parts: list[str], payload: bytes,
                       source: str = "mqtt") -> dict[str, Any]:
        """One command (``parts``: the topic after the device name) carried out, answered."""
        kind = parts[0]
        what = f"{'/'.join(parts)} {_shown(payload.decode('utf-8', 'replace').strip(), 200)}"
        request: Any = None
        try:
            request = _payload(payload)
            if _long_transaction(request):
                raise UsageError(f"the transaction is too long (at most {TRANSACTION_LIMIT} "
                                 "characters of JSON)")
            if kind == "get":
                await self.refresh(served)
                await self._publish_state(served, force=True)
                log.info("%s: get (%s): ok", served.name, source)
                return {"status": "ok"}
            model = await self._model(served)
            if kind == "set":
                values = _set_values(request, parts[1] if len(parts) > 1 else None)
                await served.device.set(model, values)
                readings = await served.device.get(model, list(values))
                self._take(served, readings)
                await self._publish_state(served)
            elif kind == "action":
                name, args = _action(request)
                if isinstance(args, dict):  # Home Assistant's send_command: by name
                    args = _named_arguments(model.action(name), args)
                await served.device.run(model, name, args)
                self._spawn(self.refresh(served))
            log.info("%s: %s (%s): ok", served.name, what, source)
            return await self._respond(served, request, None)
        except MiioError as exc:  # the log says what /response says, no more (errors echo)
            self._refused_log.emit("%s: %s (%s): refused: %s", served.name, what, source,
                          _cut(" ".join(str(exc).split()), ANSWER_LIMIT))
            return await self._respond(served, request, str(exc))
        except Exception as exc:  # a bug: reported, never fatal
            log.exception("%s: command failed", served.name)
            return await self._respond(served, request, f"internal error: {exc}")

    async def _respond(self, served: Served, request: Any, error: str | None) -> dict[str, Any]:
        topic, text, answer = self._answer(served, request, error)
        await self._publish(topic, text)
        return answer

    def _answer(self, served: Served, request: Any,
                error: str | None) -> tuple[str, str, dict[str, Any]]:
        """The /response topic and payload: ok or a short error, the transaction echoed."""
        answer: dict[str, Any] = {"status": "ok"} if error is None else {
            "status": "error", "error": _cut(" ".join(error.split()), ANSWER_LIMIT)}
        if isinstance(request, dict) and "transaction" in request and \
                not _long_transaction(request):
            answer["transaction"] = request["transaction"]
        return f"{self.settings.base}/{served.name}/response", dumps(answer), answer


class _Throttled:
    """Lines about refused input (at ``level``), at most ``burst`` a minute: a flood of bad
    commands must not become a flood of log lines. The next line says how many were left out."""

    def __init__(self, burst: int = 20, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, level: int = logging.INFO) -> None:
        self.burst, self.window, self.clock, self.level = burst, window, clock, level
        self._since, self._lines, self._left_out = -math.inf, 0, 0

    def info(self, message: str, *args: Any) -> None:
        self.emit(message, *args)

    def emit(self, message: str, *args: Any) -> None:
        if not log.isEnabledFor(self.level):
            return
        now = self.clock()
        if now - self._since >= self.window:
            self._since, self._lines = now, 0
        if self._lines >= self.burst:
            self._left_out += 1
            return
        self._lines += 1
        if self._left_out:
            message += " (and %d similar, not logged)"
            args = (*args, self._left_out)
            self._left_out = 0
        log.log(self.level, message, *args)


class _QueueFullFilter(logging.Filter):
    """aiomqtt warns once per message it drops from a full backlog: said once a minute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._next = -math.inf
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "queue is full" not in record.getMessage():
            return True
        self._dropped += 1
        now = self.clock()
        if now < self._next:
            return False
        self._next = now + 60.0
        record.msg, record.args = ("MQTT messages arrive faster than they are handled: "
                                   "dropped %d", (self._dropped,))
        self._dropped = 0
        return True


_mqtt_log = log.getChild("mqtt")  # aiomqtt's own lines; paho's debug lines stay off
_mqtt_log.setLevel(logging.WARNING)
_mqtt_log.addFilter(_QueueFullFilter())


def _settle(client: Any) -> None:
    """aiomqtt keeps an unexpected disconnection as the exception of a future of its own,
    which only its message iterator retrieves: when the connection broke while the bridge
    was doing something else (subscribing at connect), the future is dropped unretrieved and
    asyncio prints "Future exception was never retrieved" when it is collected. Retrieved
    here, once the client is done with (the reason is in the warning already)."""
    gone = getattr(client, "_disconnected", None)
    if isinstance(gone, asyncio.Future) and gone.done() and not gone.cancelled():
        gone.exception()


def _shown(text: str, limit: int = 120) -> str:
    """Text from the broker, for a log line: quoted, escapes visible, cut to ``limit``."""
    return repr(_cut(text, limit))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _long_transaction(request: Any) -> bool:
    """Whether the request's ``transaction`` is too long to echo (and so refused)."""
    return (isinstance(request, dict) and "transaction" in request
            and len(json.dumps(request["transaction"])) > TRANSACTION_LIMIT)


def _payload(payload: bytes) -> Any:
    """A JSON payload, or the plain text when it is not JSON."""
    text = payload.decode("utf-8", "replace").strip()
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _set_values(request: Any, prop: str | None) -> dict[str, Any]:
    if prop is not None:
        return {prop: request if not isinstance(request, dict) else request.get("value")}
    if not isinstance(request, dict):
        raise UsageError('set takes a JSON object like {"brightness": 55}')
    values = {k: v for k, v in request.items() if k != "transaction"}
    if not values:
        raise UsageError("set needs at least one property")
    return values


def _action(request: Any) -> tuple[str, list[Any] | dict[str, Any]]:
    """The action's name and its arguments: a list in order, or (Home Assistant's vacuum
    ``send_command``: ``{"command": name, <argument>: value, ...}``) a dict by name."""
    if isinstance(request, str) and request:
        return request, []
    if isinstance(request, dict) and isinstance(request.get("command"), str) and \
            request["command"]:  # first: HA's params may have a "name" of their own
        return request["command"], {k: v for k, v in request.items()
                                    if k not in ("command", "transaction")}
    if isinstance(request, dict) and isinstance(request.get("name"), str):
        args = request.get("args", [])
        return request["name"], args if isinstance(args, list) else [args]
    raise UsageError('action takes a name, {"name": "goto", "args": [25500, 25500]} or '
                     '{"command": "goto", "x": 25500, "y": 25500}')


def _named_arguments(action: Action, named: dict[str, Any]) -> list[Any]:
    """Arguments given by name (each input's full or bare name: ``vacuum:room-ids`` or
    ``room-ids``) in the order of the action's inputs. A lone ``params`` that is no input's
    name holds them: a list in order, or an object by name."""
    inputs = action.inputs

    def input_named(key: str) -> Property | None:
        return next((p for p in inputs if key in (p.name, p.name.rsplit(":", 1)[-1])), None)

    if set(named) == {"params"} and input_named("params") is None:
        params = named["params"]
        if not isinstance(params, dict):
            return params if isinstance(params, list) else [params]
        named = params
    given: dict[str, Any] = {}
    for key, value in named.items():
        prop = input_named(str(key))
        if prop is None:
            takes = ", ".join(p.name for p in inputs) or "no arguments"
            raise UsageError(f"{action.name} has no argument {_shown(str(key), 40)} (it takes "
                             f"{takes})")
        given[prop.name] = value
    missing = [p.name for p in inputs if p.name not in given]
    if missing:
        raise UsageError(f"{action.name} needs {', '.join(missing)}")
    return [given[p.name] for p in inputs]
