"""Token recovery: from Mi Home databases, Android and iOS backups, Yeelight preferences and
Mi Home cache files. What a path holds is detected from its content, not its name."""

from __future__ import annotations

import stat
from pathlib import Path

from pymiio.errors import BackupError, MiioError
from pymiio.paths import check_regular
from pymiio.tokens.android_backup import MAGIC as ANDROID_MAGIC
from pymiio.tokens.android_backup import is_encrypted, read_android_backup
from pymiio.tokens.cache_scan import scan_cache
from pymiio.tokens.ios_backup import read_ios_backup, read_mihome_sqlite
from pymiio.tokens.mihome_db import read_mihome_db
from pymiio.tokens.records import Extraction, TokenRecord
from pymiio.tokens.sqlite_memory import SQLITE_MAGIC, open_bytes, read_file, tables
from pymiio.tokens.yeelight import read_yeelight_xml

KINDS = ("android-backup", "mihome-db", "ios-backup", "ios-sqlite", "yeelight-xml", "cache")


def detect(path: Path) -> str:
    """One of KINDS, from what ``path`` holds; BackupError for anything else (a FIFO or a
    device is refused before it is opened)."""
    try:
        info = check_regular(path, folders=True)
        if stat.S_ISDIR(info.st_mode):
            return "ios-backup" if (path / "Manifest.db").is_file() else "cache"
        with path.open("rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    except MiioError as exc:
        raise BackupError(str(exc)) from None
    if head.startswith(ANDROID_MAGIC):
        return "android-backup"
    if head.startswith(SQLITE_MAGIC):
        connection = open_bytes(read_file(path), str(path))
        try:
            names = tables(connection)
        finally:
            connection.close()
        if "devicerecord" in names:
            return "mihome-db"
        if "zdevice" in names:
            return "ios-sqlite"
        raise BackupError(f"{path} is an SQLite database without Mi Home tables")
    if head.lstrip().startswith((b"<?xml", b"<map")):
        return "yeelight-xml"
    raise BackupError(f"{path}: unknown kind of file; expected an adb backup (.ab), miio2.db, "
                      "an iOS backup folder or _mihome.sqlite, miot.xml, or a cache folder")


def extract(path: Path, password: str | None = None) -> Extraction:
    """Every device token ``path`` holds; BackupError when there is none, saying why."""
    kind = detect(path)
    if kind == "android-backup":
        found = read_android_backup(path, password)
    elif kind == "ios-backup":
        found = read_ios_backup(path)
    elif kind == "cache":
        found = scan_cache(path)
    else:
        reader = {"mihome-db": read_mihome_db, "ios-sqlite": read_mihome_sqlite,
                  "yeelight-xml": read_yeelight_xml}[kind]
        found = reader(read_file(path), path.name)
    if not found.records:
        raise BackupError("; ".join(found.notes) or f"no tokens found in {path}")
    return found


__all__ = ["KINDS", "Extraction", "TokenRecord", "detect", "extract", "is_encrypted"]
