"""``miio tokens cloud`` without the printing: a session (kept, or from a login), then the
devices of every region asked. A session kept for reuse lives in
``<config dir>/cloud-session.json`` (mode 0600); an expired one is replaced by a new login."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from pymiio.cloud.account import CloudLogin
from pymiio.cloud.api import Api, CloudDevice
from pymiio.errors import CloudError, ExpiredSession
from pymiio.paths import config_dir, read_input, write_private


def session_path() -> Path:
    return config_dir() / "cloud-session.json"


def load_session() -> CloudLogin | None:
    path = session_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(read_input(path, 65536, CloudError))
        return CloudLogin(str(data["user_id"]), str(data["ssecurity"]),
                       str(data["service_token"]), data.get("pass_token"))
    except (CloudError, ValueError, KeyError, TypeError, RecursionError):
        return None  # unreadable: log in again


def keep_session(session: CloudLogin) -> None:
    write_private(session_path(), json.dumps(session.as_dict()))


def logout() -> bool:
    path = session_path()
    if path.exists() or path.is_symlink():
        path.unlink()
        return True
    return False


def fetch_devices(regions: list[str], login: Callable[[], CloudLogin],
                  notes: list[str]) -> list[CloudDevice]:
    """Devices of every region that answers; a region that fails is a note, unless all do.
    An expired session is replaced by one new login."""
    session = load_session() or _fresh(login)
    found: list[CloudDevice] = []
    failed = 0
    for region in regions:
        try:
            found += _region(session, region)
        except ExpiredSession:
            session = _fresh(login)
            try:
                found += _region(session, region)
            except CloudError as exc:
                failed += 1
                notes.append(str(exc))
        except CloudError as exc:
            failed += 1
            notes.append(str(exc))
    if failed == len(regions):
        raise CloudError("; ".join(notes) or "no region answered")
    return found


def _fresh(login: Callable[[], CloudLogin]) -> CloudLogin:
    session = login()
    keep_session(session)
    return session


def _region(session: CloudLogin, region: str) -> list[CloudDevice]:
    timeout = float(os.environ.get("PYMIIO_CLOUD_TIMEOUT", "15") or 15)
    api = Api(session, region, timeout=min(max(timeout, 0.1), 120))
    try:
        return api.devices()
    finally:
        api.close()
