"""Android ``adb backup`` files (.ab), versions 1 to 5, read as a stream with no outside tools.

Header lines, then (optionally) AES-256-CBC under a master key unlocked by the password, then
(optionally) zlib, giving a tar stream. The stream is decrypted, inflated and walked in chunks;
only the Mi Home database and the Yeelight preferences are read, into memory, and nothing is
written to disk. Limits on header lines, PBKDF2 rounds, inflated size, tar header sizes
(``tar_stream``) and member size keep a hostile backup from exhausting memory or hanging the
tool.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from pymiio.errors import BackupError, WrongPasswordError
from pymiio.tokens.mihome_db import read_mihome_db
from pymiio.tokens.records import Extraction
from pymiio.tokens.tar_stream import ByteStream, TarWalker
from pymiio.tokens.yeelight import read_yeelight_xml

MAGIC: Final = b"ANDROID BACKUP\n"
MAX_LINE: Final = 4096
MAX_ROUNDS: Final = 1_000_000
MAX_INFLATED: Final = 4 * 1024**3
MAX_MEMBER: Final = 64 * 1024**2  # miio2.db is kilobytes; this keeps peak memory near 2x this
CHUNK: Final = 256 * 1024

READERS: Final[dict[str, Callable[[bytes, str], Extraction]]] = {
    "apps/com.xiaomi.smarthome/db/miio2.db": read_mihome_db,
    "apps/com.yeelight.cherry/sp/miot.xml": read_yeelight_xml,
}


@dataclass(frozen=True)
class Header:
    version: int
    compressed: bool
    encrypted: bool


@dataclass(frozen=True)
class _KeyParams:
    user_salt: bytes
    checksum_salt: bytes
    rounds: int
    user_iv: bytes
    master_blob: bytes


def read_header(handle: BinaryIO) -> Header:
    if handle.readline(len(MAGIC)) != MAGIC:
        raise BackupError("not an Android backup (no 'ANDROID BACKUP' header)")
    version = _int_line(handle, "version")
    if not 1 <= version <= 5:
        raise BackupError(f"unsupported Android backup version {version} (1 to 5 are known)")
    compressed = _line(handle, "compression")
    if compressed not in ("0", "1"):
        raise BackupError(f"bad compression flag {compressed!r} in the backup header")
    encryption = _line(handle, "encryption")
    if encryption not in ("none", "AES-256"):
        raise BackupError(f"unsupported backup encryption {encryption!r}")
    return Header(version, compressed == "1", encryption == "AES-256")


def is_encrypted(path: Path) -> bool:
    with _open(path) as handle:
        return read_header(handle).encrypted


def read_android_backup(path: Path, password: str | None = None, *,
                        max_inflated: int = MAX_INFLATED,
                        max_member: int = MAX_MEMBER) -> Extraction:
    """Tokens from the Mi Home and Yeelight data inside an adb backup."""
    with _open(path) as handle:
        header = read_header(handle)
        chunks: Iterator[bytes] = _file_chunks(handle)
        if header.encrypted:
            if password is None:
                raise WrongPasswordError("the backup is encrypted: give its password")
            key, iv = _unlock(_key_params(handle), password, header.version)
            chunks = _decrypt(chunks, key, iv)
        chunks = _inflate(chunks, max_inflated) if header.compressed else _limit(
            chunks, max_inflated)
        return _read_members(ByteStream(chunks), max_member, str(path))


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None


def _line(handle: BinaryIO, what: str) -> str:
    raw = handle.readline(MAX_LINE)
    if not raw.endswith(b"\n"):
        raise BackupError(f"the backup header is truncated or corrupt (at the {what} line)")
    return raw[:-1].decode("ascii", "replace").strip()


def _int_line(handle: BinaryIO, what: str) -> int:
    text = _line(handle, what)
    if not text.isdigit():
        raise BackupError(f"bad {what} {text!r} in the backup header")
    return int(text)


def _hex_line(handle: BinaryIO, what: str) -> bytes:
    try:
        return bytes.fromhex(_line(handle, what))
    except ValueError:
        raise BackupError(f"bad {what} in the backup's encryption header") from None


def _key_params(handle: BinaryIO) -> _KeyParams:
    params = _KeyParams(
        user_salt=_hex_line(handle, "user password salt"),
        checksum_salt=_hex_line(handle, "master key checksum salt"),
        rounds=_int_line(handle, "PBKDF2 rounds"),
        user_iv=_hex_line(handle, "user key IV"),
        master_blob=_hex_line(handle, "master key blob"))
    if not 1 <= params.rounds <= MAX_ROUNDS:
        raise BackupError(f"implausible PBKDF2 rounds {params.rounds} in the backup header")
    if len(params.user_iv) != 16 or not params.master_blob or len(params.master_blob) % 16:
        raise BackupError("corrupt encryption header (IV or master key blob)")
    return params


def _pbkdf2(secret: bytes, salt: bytes, rounds: int) -> bytes:
    return PBKDF2HMAC(hashes.SHA1(), 32, salt, rounds).derive(secret)


def java_key_bytes(master_key: bytes) -> bytes:
    """The master key as Android hashes it for the checksum (backup version >= 2): each byte
    cast to a Java char (bytes >= 0x80 become U+FF80..U+FFFF), then UTF-8 encoded."""
    return "".join(chr(b if b < 0x80 else 0xFF00 | b) for b in master_key).encode("utf-8")


def _unlock(params: _KeyParams, password: str, version: int) -> tuple[bytes, bytes]:
    """The master key and IV, after checking the password against the key's checksum."""
    user_key = _pbkdf2(password.encode("utf-8"), params.user_salt, params.rounds)
    decryptor = Cipher(AES(user_key), CBC(params.user_iv)).decryptor()
    blob = decryptor.update(params.master_blob) + decryptor.finalize()
    wrong = WrongPasswordError("wrong password: the backup's master key does not unlock")
    pad = blob[-1]
    if not 1 <= pad <= 16 or blob[-pad:] != bytes((pad,)) * pad:
        raise wrong
    fields, rest = [], blob[:-pad]
    for _ in range(3):
        if not rest or len(rest) < 1 + rest[0]:
            raise wrong
        fields.append(rest[1:1 + rest[0]])
        rest = rest[1 + rest[0]:]
    master_iv, master_key, checksum = fields
    forms = [java_key_bytes(master_key)] + ([master_key] if version == 1 else [])
    if not any(_pbkdf2(form, params.checksum_salt, params.rounds) == checksum for form in forms):
        raise WrongPasswordError(
            "wrong password: the master-key checksum does not match")
    if len(master_key) != 32 or len(master_iv) != 16:
        raise BackupError("corrupt master key in the backup header")
    return master_key, master_iv


def _file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def _decrypt(chunks: Iterator[bytes], key: bytes, iv: bytes) -> Iterator[bytes]:
    """AES-256-CBC, holding back the last block until the end to strip PKCS#7 padding."""
    decryptor = Cipher(AES(key), CBC(iv)).decryptor()
    held = b""
    for chunk in chunks:
        plain = held + decryptor.update(chunk)
        held, out = plain[-16:], plain[:-16]
        if out:
            yield out
    try:
        held += decryptor.finalize()
    except ValueError:
        raise BackupError("the backup is truncated (encrypted data ends mid-block)") from None
    pad = held[-1] if held else 0
    if not 1 <= pad <= 16 or held[-pad:] != bytes((pad,)) * pad:
        raise BackupError("the backup is truncated or corrupt (bad padding at the end)")
    if held[:-pad]:
        yield held[:-pad]


def _inflate(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    inflater = zlib.decompressobj()
    total = 0
    try:
        for chunk in chunks:
            data = chunk
            while data:
                out = inflater.decompress(data, CHUNK)
                data = inflater.unconsumed_tail
                total += len(out)
                if total > limit:
                    raise BackupError(f"the backup inflates past {limit} bytes: refusing")
                if out:
                    yield out
                if inflater.eof:
                    return
    except zlib.error as exc:
        raise BackupError(f"the backup's compressed data is corrupt: {exc}") from None
    if not inflater.eof:
        raise BackupError("the backup is truncated (the compressed stream ends early)")


def _limit(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise BackupError(f"the backup is larger than {limit} bytes: refusing")
        yield chunk


def _read_members(stream: ByteStream, max_member: int, label: str) -> Extraction:
    found = Extraction()
    seen: set[str] = set()
    walker = TarWalker(stream)
    for member in walker:
        name = member.name.removeprefix("./")
        reader = READERS.get(name)
        if reader is None or not member.is_file:
            continue
        found.extend(reader(walker.read(member, max_member), name))
        seen.add(name)
    if not seen:
        found.notes.append(
            f"{label} holds neither the Mi Home database nor the Yeelight preferences: make it "
            "with `adb backup -noapk com.xiaomi.smarthome -f backup.ab`")
    return found
