"""Where MIoT specs come from: a cache in the user's cache dir, filled from miot-spec.org.

``miio spec fetch MODEL`` resolves the model to its device URN through the instances list
(``/miot-spec-v2/instances?status=all``: a ``released`` entry wins over newer debug or preview
ones, otherwise the highest version) and downloads ``/miot-spec-v2/instance?type=URN``. The base
URL is ``PYMIIO_MIOT_SPEC_URL`` when set (tests point it at a stand-in server on loopback).
Once cached, a model needs no network again. Every request has an overall deadline and a cap on
its decoded size (:mod:`pymiio.bounded_http`), and a server that answers 404, 500, garbage, a
dribble or a gzip bomb is a one-line SpecError. Concurrent fetches of one model (the bridge
describing many devices of it) share one download, and fetches waiting for one that failed
share its error.

Model names are checked before they become file names (``vendor.kind.version``: letters,
digits, ``-`` and ``_`` between dots); the instances list is kept as ``_instances.json``,
which no model name can be. The specs shipped in ``knowledge/specs/`` were made up for the
simulator: they carry model names of their own (``pymiio.…``, which no real device reports)
and are never read for any other model.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from pymiio.errors import SpecError
from pymiio.knowledge.miot_spec import MAX_SPEC, parse_spec_text
from pymiio.knowledge.model import DeviceModel
from pymiio.knowledge.spec_cache import parsed
from pymiio.paths import cache_dir, read_input, write_private

T = TypeVar("T")
DEFAULT_URL: Final = "https://miot-spec.org"
TIMEOUT: Final = 10.0
INSTANCES_LIFETIME: Final = 7 * 24 * 3600
MAX_INSTANCES: Final = 64 * 1024 * 1024
MAX_REDIRECTS: Final = 5
_MODEL: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+")
_PACKAGED: Final = Path(__file__).with_name("specs")
SIMULATED: Final = "pymiio."  # the prefix of the made-up specs' model names
INSTANCES_FILE: Final = "_instances.json"  # no model name starts with "_"
_locks: dict[tuple[Path, str], threading.Lock] = {}
_failures: dict[tuple[Path, str], tuple[float, str]] = {}
_locks_guard = threading.Lock()


def check_model(model: str) -> str:
    if len(model) > 128 or not _MODEL.fullmatch(model):
        raise SpecError(f"not a model name: {model[:60]!r} (like zhimi.airpurifier.mb3)")
    return model


def _once(directory: Path, name: str, work: Callable[[], T]) -> T:
    """``work()`` for one (directory, name) at a time. Callers that waited while it failed
    get the same error at once instead of trying again each in turn (ten devices of models
    whose fetch hangs end together at one deadline, not ten deadlines one after another)."""
    key = (directory, name)
    started = time.monotonic()
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        failed = _failures.get(key)
        if failed is not None and failed[0] >= started:
            raise SpecError(failed[1])
        try:
            return work()
        except SpecError as exc:
            _failures[key] = (time.monotonic(), str(exc))
            raise


def choose_urn(instances: Any, model: str) -> str:
    """The device URN for ``model`` in an instances list: released first, then highest
    version (and, at equal version, the newest ``ts``)."""
    entries = instances.get("instances") if isinstance(instances, dict) else None
    if not isinstance(entries, list):
        raise SpecError("the instances list is not in miot-spec.org's shape")
    candidates = [e for e in entries if isinstance(e, dict) and e.get("model") == model
                  and isinstance(e.get("type"), str)]
    if not candidates:
        raise SpecError(f"miot-spec.org lists no spec for {model}: it may be a classic miIO "
                        "device (see `miio send`), or import a spec file with `miio spec import`")

    def rank(entry: dict[str, Any]) -> tuple[int, int, float]:
        version = entry.get("version")
        ts = entry.get("ts")
        return (entry.get("status") == "released",
                version if type(version) is int else 0,
                ts if isinstance(ts, int | float) else 0)

    return str(max(candidates, key=rank)["type"])


class SpecStore:
    """The spec cache (``<cache dir>/specs/<model>.json``) and its fetcher."""

    def __init__(self, directory: Path | None = None, base_url: str | None = None,
                 timeout: float = TIMEOUT) -> None:
        self.directory = directory if directory is not None else cache_dir() / "specs"
        self.base_url = (base_url or os.environ.get("PYMIIO_MIOT_SPEC_URL")
                         or DEFAULT_URL).rstrip("/")
        self.timeout = _timeout(timeout)

    def path(self, model: str) -> Path:
        return self.directory / f"{check_model(model)}.json"

    def cached(self, model: str) -> DeviceModel | None:
        """The cached spec, else None. A made-up spec shipped for the simulator answers only
        for its own ``pymiio.…`` model name, never for a real model."""
        path = self.path(model)
        if path.is_file():  # parsed once per version of the file (knowledge/spec_cache.py)
            return parsed(_read(path), model, parse_spec_text)
        path = _PACKAGED / f"{model}.json"
        if model.startswith(SIMULATED) and path.is_file():
            return parse_spec_text(_read(path), model)
        return None

    def load(self, model: str) -> DeviceModel:
        """Cached, else fetched (and cached); parallel loads of one model fetch once."""
        found = self.cached(model)
        if found is not None:
            return found
        return _once(self.directory, model, lambda: self.cached(model) or self.fetch(model))

    def fetch(self, model: str) -> DeviceModel:
        check_model(model)
        urn = choose_urn(self._instances(), model)
        text = self._get("/miot-spec-v2/instance", {"type": urn}, MAX_SPEC)
        parsed = parse_spec_text(text, model)
        self._save(self.path(model), text)
        return parsed

    def import_file(self, source: Path, model: str) -> DeviceModel:
        text = _read(source)
        parsed = parse_spec_text(text, check_model(model))
        self._save(self.path(model), text)
        return parsed

    def forget(self, model: str) -> bool:
        path = self.path(model)
        if path.exists():
            path.unlink()
            return True
        return False

    def _instances(self) -> Any:
        return _once(self.directory, INSTANCES_FILE, self._instances_locked)

    def _instances_locked(self) -> Any:
        path = self.directory / INSTANCES_FILE
        try:
            fresh = time.time() - path.stat().st_mtime < INSTANCES_LIFETIME
        except OSError:
            fresh = False
        if fresh:
            try:
                return json.loads(_read(path, MAX_INSTANCES))
            except (ValueError, RecursionError, SpecError):
                pass  # a broken cache is fetched again
        text = self._get("/miot-spec-v2/instances", {"status": "all"}, MAX_INSTANCES)
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            raise SpecError(f"{self.base_url} answered the instances list with something that "
                            "is not JSON") from None
        self._save(path, text)
        return document

    def _get(self, path: str, params: dict[str, str], limit: int) -> bytes:
        """One GET (a few redirects followed) within the timeout overall, at most ``limit``
        decoded bytes."""
        from pymiio.bounded_http import Fetcher

        url = f"{self.base_url}{path}"
        with Fetcher(SpecError, timeout=self.timeout, limit=limit, what=url) as fetcher:
            answer = fetcher.get_following(url, MAX_REDIRECTS, params=params)
        if answer.status != 200:
            raise SpecError(f"{url} answered HTTP {answer.status}")
        return answer.body

    def _save(self, path: Path, data: bytes | str) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        write_private(path, text)


def _timeout(default: float) -> float:
    """``PYMIIO_MIOT_SPEC_TIMEOUT`` seconds when set and sane, else ``default``."""
    try:
        value = float(os.environ.get("PYMIIO_MIOT_SPEC_TIMEOUT", default))
    except ValueError:
        return default
    return value if 0 < value <= 300 else default


def _read(path: Path, limit: int = MAX_SPEC) -> bytes:
    return read_input(path, limit, SpecError)


def load_spec_file(path: Path, model: str) -> DeviceModel:
    """A spec file given on the command line (``--spec``), as the model ``model``."""
    return parsed(_read(path), model, parse_spec_text)
