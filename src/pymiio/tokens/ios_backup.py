"""iOS: an unencrypted iTunes / Finder backup, or a bare ``<userid>_mihome.sqlite``.

The Mi Home database is found through the backup's ``Manifest.db`` (files are stored under
hashed names). ``ZTOKEN`` is the token itself (32 hex) or, in newer app versions, 96 hex whose
first 32 bytes decrypt with AES-128-ECB under a key of 16 zero bytes to the token's 32 hex
characters.
"""

from __future__ import annotations

import plistlib
import re
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import ECB

from pymiio.errors import BackupError, MiioError
from pymiio.paths import read_regular
from pymiio.tokens.records import Extraction, make_record
from pymiio.tokens.sqlite_memory import (
    SQLITE_MAGIC,
    bounded_query,
    open_bytes,
    read_file,
    table_rows,
    tables,
)

_FILE_ID: Final = re.compile(r"[0-9a-f]{40}")  # SHA-1 of domain-path: nothing else is a file
MAX_PLIST: Final = 4 * 1024 * 1024

DOMAIN = "AppDomain-com.xiaomi.mihome"
COLUMNS = {"token": ("ZTOKEN",), "name": ("ZNAME",), "model": ("ZMODEL",),
           "ip": ("ZLOCALIP",), "mac": ("ZMAC",), "device_id": ("ZDID",)}
ENCRYPTED_HELP = ("{path} is an encrypted iOS backup, which pymiio does not read. Make an "
                  "unencrypted one: in Finder (or iTunes) select the device, untick 'Encrypt "
                  "local backup', and choose 'Back Up Now'")


def decrypt_ztoken(value: str) -> str:
    """The token hex of a ZTOKEN: as is for 32 hex, decrypted for 96 hex."""
    text = value.strip()
    if len(text) != 96:
        return text
    try:
        block = bytes.fromhex(text[:64])
    except ValueError:
        return text
    decryptor = Cipher(AES(bytes(16)), ECB()).decryptor()
    return (decryptor.update(block) + decryptor.finalize()).decode("ascii", "replace")


def read_mihome_sqlite(data: bytes, label: str) -> Extraction:
    rows = table_rows(data, label, "ZDEVICE", COLUMNS, "Mi Home database")
    found = Extraction()
    for row in rows:
        token = row.pop("token")
        text = decrypt_ztoken(token) if isinstance(token, str) else token
        record = make_record(text, label, **row)
        if record is not None:
            found.records.append(record)
    if not found.records:
        found.notes.append(f"{label} lists {len(rows)} device(s) but no readable tokens")
    return found


def read_ios_backup(folder: Path) -> Extraction:
    """Find every Mi Home database in the backup through Manifest.db and read it.

    Manifest.db comes from the backup too: only 40-hex file ids are accepted, so a row cannot
    name a file outside the folder (``../x``, an absolute path); bad rows are skipped with a
    note."""
    _refuse_encrypted(folder)
    manifest_bytes = read_file(folder / "Manifest.db")
    if not manifest_bytes.startswith(SQLITE_MAGIC):
        raise BackupError(ENCRYPTED_HELP.format(path=folder))
    label = f"{folder}/Manifest.db"
    manifest = open_bytes(manifest_bytes, label)
    try:
        if "files" not in tables(manifest):
            raise BackupError(f"{label} is not an iOS backup manifest (no Files table)")
        rows = bounded_query(
            manifest, "SELECT fileID, relativePath FROM Files WHERE domain = ? AND "
            "relativePath LIKE ?", (DOMAIN, "Documents/%_mihome.sqlite"), label)
    finally:
        manifest.close()
    if not rows:
        raise BackupError(f"{folder} holds no Mi Home data (no {DOMAIN} "
                          "Documents/<userid>_mihome.sqlite): is the app installed?")
    found = Extraction()
    for file_id, relative in rows:
        shown = str(relative)[:120]
        if not isinstance(file_id, str) or not _FILE_ID.fullmatch(file_id):
            found.notes.append(f"skipped {shown}: Manifest.db gives it a file id that is not "
                               "40 hex digits")
            continue
        stored = next((p for p in (folder / file_id[:2] / file_id, folder / file_id)
                       if p.is_file()), None)
        if stored is None:
            found.notes.append(f"{shown} is listed in Manifest.db but missing from the backup")
            continue
        try:
            found.extend(read_mihome_sqlite(read_file(stored), shown))
        except BackupError as exc:
            found.notes.append(f"skipped {shown}: {exc}")
    return found


def _refuse_encrypted(folder: Path) -> None:
    plist = folder / "Manifest.plist"
    if not plist.is_file():
        return
    try:
        info = plistlib.loads(read_regular(plist, MAX_PLIST))
    except (OSError, MiioError, plistlib.InvalidFileException, ValueError, RecursionError,
            TypeError, KeyError, IndexError, OverflowError):
        return  # an unreadable plist says nothing about encryption; Manifest.db will tell
    if isinstance(info, dict) and info.get("IsEncrypted"):
        raise BackupError(ENCRYPTED_HELP.format(path=folder))
