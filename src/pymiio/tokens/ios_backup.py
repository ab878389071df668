"""iOS: an unencrypted iTunes / Finder backup, or a bare ``<userid>_mihome.sqlite``.

The Mi Home database is found through the backup's ``Manifest.db`` (files are stored under
hashed names). ``ZTOKEN`` is the token itself (32 hex) or, in newer app versions, 96 hex whose
first 32 bytes decrypt with AES-128-ECB under a key of 16 zero bytes to the token's 32 hex
characters.
"""

from __future__ import annotations

import plistlib
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import ECB

from pymiio.errors import BackupError
from pymiio.tokens.records import Extraction, make_record
from pymiio.tokens.sqlite_memory import SQLITE_MAGIC, open_bytes, read_file, table_rows

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
    """Find every Mi Home database in the backup through Manifest.db and read it."""
    _refuse_encrypted(folder)
    manifest_bytes = read_file(folder / "Manifest.db")
    if not manifest_bytes.startswith(SQLITE_MAGIC):
        raise BackupError(ENCRYPTED_HELP.format(path=folder))
    manifest = open_bytes(manifest_bytes, f"{folder}/Manifest.db")
    try:
        rows = manifest.execute(
            "SELECT fileID, relativePath FROM Files WHERE domain = ? AND relativePath LIKE ?",
            (DOMAIN, "Documents/%_mihome.sqlite")).fetchall()
    except Exception as exc:  # sqlite3.DatabaseError for a foreign Manifest.db
        raise BackupError(f"{folder}/Manifest.db is not an iOS backup manifest: {exc}") from None
    finally:
        manifest.close()
    if not rows:
        raise BackupError(f"{folder} holds no Mi Home data (no {DOMAIN} "
                          "Documents/<userid>_mihome.sqlite): is the app installed?")
    found = Extraction()
    for file_id, relative in rows:
        stored = next((p for p in (folder / file_id[:2] / file_id, folder / file_id)
                       if p.is_file()), None)
        if stored is None:
            found.notes.append(f"{relative} is listed in Manifest.db but missing from the backup")
            continue
        found.extend(read_mihome_sqlite(read_file(stored), relative))
    return found


def _refuse_encrypted(folder: Path) -> None:
    plist = folder / "Manifest.plist"
    if not plist.is_file():
        return
    try:
        info = plistlib.loads(plist.read_bytes())
    except (OSError, plistlib.InvalidFileException, ValueError):
        return
    if isinstance(info, dict) and info.get("IsEncrypted"):
        raise BackupError(ENCRYPTED_HELP.format(path=folder))
