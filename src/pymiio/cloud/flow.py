"""``miio tokens cloud`` without the printing: a session (kept, or from a login), then the
devices of every region asked. A session kept for reuse lives in
``<config dir>/cloud-session.json`` (mode 0600) with the account it belongs to; an expired
one is replaced by a new login."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pymiio.cloud.account import CloudLogin, timeout
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
        account = data.get("account")
        return CloudLogin(str(data["user_id"]), str(data["ssecurity"]),
                          str(data["service_token"]), data.get("pass_token"),
                          account if isinstance(account, str) else None)
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


def kept_for(account: str | None, credentials_given: bool) -> CloudLogin | None:
    """The kept login, when it may answer for this command: it belongs to the account it was
    made with, so another ``--username`` gets a new login, and so do credentials given on the
    command line (a password or ``--qr``), which a kept login cannot vouch for."""
    kept = load_session()
    if kept is None or credentials_given:
        return None
    if account is not None and kept.account != account:
        return None
    return kept


def fetch_devices(regions: list[str], login: Callable[[], CloudLogin], notes: list[str], *,
                  account: str | None = None,
                  credentials_given: bool = False) -> list[CloudDevice]:
    """Devices of every region that answers; a region that fails is a note, unless all do.
    Regions are asked at once, each within its own deadline, so a slow one delays nobody. An
    expired login is replaced by one new login, and the regions that said so asked again."""
    session = kept_for(account, credentials_given) or _fresh(login)
    outcomes = _regions(session, regions)
    expired = [r for r in regions if isinstance(outcomes[r], ExpiredSession)]
    if expired:
        session = _fresh(login)
        outcomes.update(_regions(session, expired))
    found: list[CloudDevice] = []
    failed = 0
    for region in regions:
        outcome = outcomes[region]
        if isinstance(outcome, CloudError):
            failed += 1
            notes.append(str(outcome))
        else:
            found += outcome
    if failed == len(regions):
        raise CloudError("; ".join(notes) or "no region answered")
    return found


def _fresh(login: Callable[[], CloudLogin]) -> CloudLogin:
    session = login()
    keep_session(session)
    return session


def _regions(session: CloudLogin,
             regions: list[str]) -> dict[str, list[CloudDevice] | CloudError]:
    """Every region's devices (or its error), asked in parallel threads."""
    with ThreadPoolExecutor(max_workers=len(regions) or 1,
                            thread_name_prefix="pymiio-region") as pool:
        futures = {region: pool.submit(_region, session, region) for region in regions}
        outcomes: dict[str, list[CloudDevice] | CloudError] = {}
        for region, future in futures.items():
            try:
                outcomes[region] = future.result()
            except CloudError as exc:
                outcomes[region] = exc
        return outcomes


def _region(session: CloudLogin, region: str) -> list[CloudDevice]:
    api = Api(session, region, timeout=timeout())
    try:
        return api.devices()
    finally:
        api.close()
