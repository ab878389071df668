"""The bridge's dashboard (``miio bridge --web [HOST:]PORT``, docs/dashboard.md).

Served by the bridge process itself with aiohttp: static HTML/JS/CSS shipped in the package
(``bridge/static/``, no build step, nothing fetched from elsewhere), a JSON API and one
server-sent event stream. What the page shows comes from the bridge's feed (bridge/feed.py:
every message as it is published, polls, pushes, errors, the broker connection) and its log;
commands from the page go through the bridge's MQTT command path (``Bridge.command``), devices
are added, renamed and removed through the service (bridge/service.py), so the inventory stays
the one place they are kept.

Access: bound to loopback, requests must name a loopback host (a page on another site that
rebinds its name to 127.0.0.1 is refused). Bound to anything else, a token file is required and
every API request carries the token (the ``pymiio_web`` cookie the login sets, or
``Authorization: Bearer``). Every request that changes something is a JSON POST or a DELETE
from the page's own origin (``Origin`` must match ``Host``). Device tokens and the dashboard
token are never sent back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymiio.bridge.feed import Happening
from pymiio.errors import MiioError, UsageError
from pymiio.strict_json import dumps

if TYPE_CHECKING:
    from aiohttp import web

    from pymiio.bridge.core import Served
    from pymiio.bridge.service import Service

log = logging.getLogger("pymiio.bridge")
COOKIE = "pymiio_web"
MAX_BODY = 64 * 1024  # bytes of a request body
MAX_STREAMS = 32  # open event streams at once
STREAM_QUEUE = 512  # events waiting for one stream (the oldest dropped beyond)
HISTORY = 50  # events kept per device
LOG_TAIL = 200  # log lines kept for the page
FLUSH_EVERY = 0.5  # seconds between batched device-list updates
STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}


@dataclass
class WebSettings:
    host: str
    port: int
    token: str | None = field(default=None, repr=False)

    @property
    def loopback(self) -> bool:
        return _is_loopback(self.host)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def web_settings(text: str, token_file: Path | None) -> WebSettings:
    """``[HOST:]PORT`` and the token file; anything but loopback needs the token."""
    host, _, port_text = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"--web takes [HOST:]PORT, not {text[:64]!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--web: {port} is not a port")
    token = _read_token(token_file) if token_file is not None else None
    settings = WebSettings(host, port, token)
    if not settings.loopback and token is None:
        raise UsageError(f"the dashboard on {host} (not loopback) needs --web-token-file: "
                         "anyone who reaches it could control the devices")
    return settings


def _read_token(path: Path) -> str:
    from pymiio.paths import read_input

    token = read_input(path, 4096, UsageError).decode("utf-8", "replace").strip()
    if len(token) < 16:
        raise UsageError(f"the web token in {path} is shorter than 16 characters")
    with contextlib.suppress(OSError):
        if os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s is readable by other users; it holds the dashboard's token "
                        "(chmod 600 %s)", path, path)
    return token


# -- what the page shows ---------------------------------------------------------------------

@dataclass
class Seen:
    """The dashboard's notes on one device."""

    last_seen: float | None = None
    last_error: str | None = None
    error_at: float | None = None
    pushes: int = 0
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY))


class Rate:
    """Counts per second over the last minute (at most 61 buckets)."""

    def __init__(self) -> None:
        self._buckets: deque[list[int]] = deque(maxlen=61)

    def add(self, now: float) -> None:
        second = int(now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])

    def per_minute(self, now: float) -> int:
        return sum(count for second, count in self._buckets if now - second < 60)


class Monitor(logging.Handler):
    """Everything the page shows that the bridge does not keep itself, from its feed and its
    log; pushed to each open event stream."""

    def __init__(self, service: Service, clock: Any = time.time) -> None:
        super().__init__(logging.INFO)
        self.service = service
        self.clock = clock
        self.started = clock()
        self.seen: dict[str, Seen] = {}
        self.polls, self.pushes, self.errors = Rate(), Rate(), Rate()
        self.error_count = 0
        self.broker: dict[str, Any] = {"connected": False, "since": None, "error": None}
        self.logs: deque[dict[str, Any]] = deque(maxlen=LOG_TAIL)
        self.streams: set[asyncio.Queue[dict[str, Any]]] = set()
        self._dirty: set[str] = set()
        self._sequence = 0  # numbers the state events, so a page orders them against a fetch
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    @property
    def bridge(self) -> Any:
        return self.service.bridge

    def note(self, name: str) -> Seen:
        seen = self.seen.get(name)
        if seen is None:
            seen = self.seen[name] = Seen()
        return seen

    # the bridge's feed
    def __call__(self, happening: Happening) -> None:
        now, name = self.clock(), happening.device
        kind, data = happening.kind, happening.data
        if kind == "publish":
            self._published(data["topic"], data["payload"], now)
        elif kind == "broker":
            self.broker = {"connected": data["connected"], "since": now,
                           "error": data.get("error")}
            self._send({"type": "bridge"})
        elif name is not None:
            seen = self.note(name)
            if kind == "poll":
                seen.last_seen = now
                self.polls.add(now)
            elif kind == "push":
                seen.last_seen, seen.pushes = now, seen.pushes + 1
                self.pushes.add(now)
            elif kind == "error":
                seen.last_error, seen.error_at = data.get("error"), now
                self.errors.add(now)
                self.error_count += 1
            elif kind == "dropped":
                self.seen.pop(name, None)
                self._send({"type": "dropped", "device": name})
                return
            self._dirty.add(name)

    def _published(self, topic: str, payload: str, now: float) -> None:
        base = self.bridge.settings.base
        if not topic.startswith(base + "/"):
            return
        name, _, leaf = topic[len(base) + 1:].partition("/")
        if name not in self.bridge.devices:
            return
        try:
            value = json.loads(payload) if payload else None
        except ValueError:
            return
        if leaf == "" and isinstance(value, dict):
            self._sequence += 1
            self._send({"type": "state", "device": name, "values": value,
                        "seq": self._sequence})
        elif leaf == "availability":
            self._dirty.add(name)
            self._remember(name, {"what": "availability", "value": value}, now)
        elif leaf in ("event", "response"):
            self._remember(name, {"what": leaf, "value": value}, now)

    def _remember(self, name: str, entry: dict[str, Any], now: float) -> None:
        entry["at"] = now
        self.note(name).history.append(entry)
        self._send({"type": "history", "device": name, "entry": entry})

    # the log
    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = {"at": record.created, "level": record.levelname.lower(),
                    "message": record.getMessage()[:1000]}
        except Exception:  # a bad format string in someone's log call
            return
        if threading.get_ident() == self._thread:
            self._log_line(line)
        else:  # logged from a worker thread (a reload reading files)
            self._loop.call_soon_threadsafe(self._log_line, line)

    def _log_line(self, line: dict[str, Any]) -> None:
        self.logs.append(line)
        self._send({"type": "log", "line": line})

    # the streams
    def _send(self, event: dict[str, Any]) -> None:
        for queue in self.streams:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()  # the oldest goes: a slow page misses, never blocks
            queue.put_nowait(event)

    def flush(self) -> None:
        """The devices whose row changed, as one event (a thousand devices polled each second
        are two events a second, not a thousand)."""
        if self._dirty and self.streams:
            rows = [self.summary(self.bridge.devices[n]) for n in sorted(self._dirty)
                    if n in self.bridge.devices]
            self._send({"type": "devices", "items": rows})
        self._dirty.clear()

    # what the API answers
    def summary(self, served: Served) -> dict[str, Any]:
        seen = self.seen.get(served.name) or Seen()
        return {"name": served.name,
                "model": served.model.model if served.model else served.entry.model,
                "address": served.entry.host, "online": served.online,
                "mode": "pushed" if served.follower is not None else "polled",
                "last_seen": seen.last_seen, "firmware": served.firmware,
                "rssi": served.rssi, "last_error": seen.last_error,
                "error_at": seen.error_at, "pushes": seen.pushes}

    def detail(self, served: Served) -> dict[str, Any]:
        model = served.model
        return {**self.summary(served), "values": served.values,
                "kind": model.kind if model else None,
                "properties": [_property(p) for p in model.properties] if model else [],
                "actions": [{"name": a.name, "description": a.description,
                             "inputs": [_property(p) for p in a.inputs]}
                            for a in model.actions] if model else [],
                "history": list((self.seen.get(served.name) or Seen()).history),
                "interval": served.interval or self.bridge.settings.interval,
                "seq": self._sequence}

    def status(self) -> dict[str, Any]:
        now = self.clock()
        settings = self.bridge.settings
        return {"broker": {**self.broker, "host": settings.broker.host,
                           "port": settings.broker.port},
                "base_topic": settings.base, "uptime": now - self.started,
                "devices": len(self.bridge.devices),
                "online": sum(1 for s in self.bridge.devices.values() if s.online),
                "polls_per_minute": self.polls.per_minute(now),
                "pushes_per_minute": self.pushes.per_minute(now),
                "errors_per_minute": self.errors.per_minute(now),
                "errors": self.error_count, "interval": settings.interval,
                "log": list(self.logs)}


def _property(prop: Any) -> dict[str, Any]:
    from pymiio.bridge.ha_tables import UNITS

    return {"name": prop.name, "description": prop.description, "format": prop.format,
            "readable": prop.readable, "writable": prop.writable,
            "unit": UNITS.get(prop.unit, prop.unit) if prop.unit else None,
            "range": list(prop.range) if prop.range else None,
            "choices": [{"value": c.value, "label": c.description} for c in prop.choices]}


# -- the server -----------------------------------------------------------------------------

class Dashboard:
    def __init__(self, service: Service, settings: WebSettings) -> None:
        self.service = service
        self.settings = settings
        self.monitor = Monitor(service)
        self._runner: Any = None
        self._flusher: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None
        self.url = ""

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{file}", self._static)
        app.router.add_post("/api/login", self._login)
        app.router.add_get("/api/devices", self._devices)
        app.router.add_post("/api/devices", self._add)
        app.router.add_get("/api/devices/{name}", self._device)
        app.router.add_delete("/api/devices/{name}", self._remove)
        app.router.add_post("/api/devices/{name}/rename", self._rename)
        app.router.add_post("/api/devices/{name}/{kind:set|action|get}", self._command)
        app.router.add_get("/api/bridge", self._bridge)
        app.router.add_get("/api/events", self._events)
        self._unsubscribe = self.service.bridge.feed.subscribe(self.monitor)
        logger = logging.getLogger("pymiio.bridge")
        logger.addHandler(self.monitor)
        if logger.getEffectiveLevel() > logging.INFO:  # the page's log tail says what happens
            logger.setLevel(logging.INFO)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        port = self._runner.addresses[0][1]
        host = self.settings.host
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
        self._flusher = asyncio.create_task(self._flush())
        log.info("dashboard on %s", self.url)

    async def stop(self) -> None:
        logging.getLogger("pymiio.bridge").removeHandler(self.monitor)
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        for queue in list(self.monitor.streams):
            queue.put_nowait({"type": "closing"}) if not queue.full() else None
        if self._runner is not None:
            await self._runner.cleanup()

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            self.monitor.flush()

    # -- access ------------------------------------------------------------------------------

    @property
    def _guard(self) -> Any:
        from aiohttp import web

        @web.middleware
        async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
            problem = self._refusal(request)
            if problem is not None:
                status, message = problem
                return web.json_response({"error": message}, status=status)
            try:
                return await handler(request)  # type: ignore[no-any-return]
            except MiioError as exc:
                return web.json_response({"error": " ".join(str(exc).split())}, status=400)
        return guard

    def _refusal(self, request: web.Request) -> tuple[int, str] | None:
        if self.settings.token is None and not _is_loopback(_host_name(request.host or "")):
            return 403, "this dashboard answers to a loopback address only"
        changes = request.method not in ("GET", "HEAD", "OPTIONS")
        if changes:
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"{request.scheme}://{request.host}":
                return 403, "cross-origin requests are refused"
            if request.method == "POST" and request.content_type != "application/json":
                return 415, "send JSON (Content-Type: application/json)"
        token = self.settings.token
        if token is None or not request.path.startswith("/api/") or request.path == \
                "/api/login":
            return None
        given = request.cookies.get(COOKIE) or ""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header[7:].strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return 401, "the dashboard's token is missing or wrong"
        return None

    async def _login(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        body = await _json(request)
        given = body.get("token") if isinstance(body, dict) else None
        token = self.settings.token
        if token is None:
            return web.json_response({"status": "ok"})
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(),
                                                                 token.encode()):
            return web.json_response({"error": "wrong token"}, status=401)
        response = web.json_response({"status": "ok"})
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
        return response

    # -- pages -------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return _static_file("index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        name = request.match_info["file"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return _static_file(name)

    # -- the API -----------------------------------------------------------------------------

    def _served(self, request: web.Request) -> Served:
        from aiohttp import web

        served = self.service.bridge.devices.get(request.match_info["name"])
        if served is None:
            raise web.HTTPNotFound(text=json.dumps({"error": "no such device"}),
                                   content_type="application/json")
        return served

    async def _devices(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        return web.json_response([self.monitor.summary(s)
                                  for s in self.service.bridge.devices.values()],
                                 dumps=_dumps)

    async def _device(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        return web.json_response(self.monitor.detail(self._served(request)), dumps=_dumps)

    async def _bridge(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        return web.json_response(self.monitor.status(), dumps=_dumps)

    async def _command(self, request: web.Request) -> web.StreamResponse:
        """set: ``{"brightness": 55}``; action: ``{"name": "start", "args": []}``; get."""
        from aiohttp import web

        served = self._served(request)
        body = await _json(request)
        answer = await self.service.bridge.command(
            served.name, request.match_info["kind"], json.dumps(body).encode())
        return web.json_response(answer or {"status": "error", "error": "not served"},
                                 status=200 if answer and answer["status"] == "ok" else 400,
                                 dumps=_dumps)

    async def _add(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        body = await _json(request)
        fields = [body.get(k) if isinstance(body, dict) else None
                  for k in ("name", "host", "token")]
        if not all(isinstance(f, str) and f for f in fields):
            raise UsageError("a device needs a name, an address and a token")
        name, host, token = (str(f).strip() for f in fields)
        if name in self.service.bridge.devices:
            raise UsageError(f"a device named {name!r} is served already")
        entry = await self.service.add(name, host, token)
        return web.json_response({"status": "ok", "name": entry.name, "model": entry.model})

    async def _remove(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        served = self._served(request)
        await self.service.remove(served.name)
        return web.json_response({"status": "ok"})

    async def _rename(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        served = self._served(request)
        body = await _json(request)
        new = body.get("name") if isinstance(body, dict) else None
        if not isinstance(new, str) or not new.strip():
            raise UsageError("rename needs the new name")
        await self.service.rename(served.name, new.strip())
        return web.json_response({"status": "ok", "name": new.strip()})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: state, history, device rows, log lines, the broker."""
        from aiohttp import web

        if len(self.monitor.streams) >= MAX_STREAMS:
            return web.json_response({"error": "too many open pages"}, status=503)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store"})
        await response.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_QUEUE)
        self.monitor.streams.add(queue)
        try:
            await response.write(b": hello\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event["type"] == "closing":
                    break
                await response.write(f"data: {_dumps(event)}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.monitor.streams.discard(queue)
        return response


def _host_name(host: str) -> str:
    """The name in a Host header: ``[::1]:8099`` -> ``::1``, ``127.0.0.1:8099`` ->
    ``127.0.0.1``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _json(request: web.Request) -> Any:
    from aiohttp import web

    try:
        return await request.json()
    except web.HTTPRequestEntityTooLarge:
        raise
    except ValueError:
        raise UsageError("the request body is not JSON") from None


def _dumps(value: Any) -> str:
    """Strict JSON (a device's NaN is null): a browser's JSON.parse refuses NaN."""
    return dumps(value)


def _static_file(name: str) -> web.StreamResponse:
    from aiohttp import web

    body = resources.files("pymiio.bridge").joinpath("static", name).read_bytes()
    return web.Response(body=body, content_type=STATIC[name], charset="utf-8",
                        headers={"Cache-Control": "no-cache",
                                 "Content-Security-Policy": "default-src 'self'; "
                                 "frame-ancestors 'none'",
                                 "X-Content-Type-Options": "nosniff"})
