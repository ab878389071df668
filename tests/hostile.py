"""Small generators of hostile inputs (no large files in the repository)."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def tar_header(name: str, size: int, kind: bytes = b"0") -> bytes:
    """One ustar header block with a correct checksum."""
    header = bytearray(512)
    header[0:len(name)] = name.encode()
    header[100:108] = b"0000644\0"
    header[108:116] = header[116:124] = b"0000000\0"
    header[124:136] = f"{size:011o}\0".encode()
    header[136:148] = b"00000000000\0"
    header[156:157] = kind
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    return bytes(header)


def tar_member(name: str, data: bytes, kind: bytes = b"0") -> bytes:
    return tar_header(name, len(data), kind) + data + bytes(-len(data) % 512)


def backup_of(tar: bytes) -> bytes:
    """An uncompressed, unencrypted adb backup around ``tar``."""
    return b"ANDROID BACKUP\n5\n0\nnone\n" + tar + bytes(1024)


def write_compressed_backup(path: Path, chunks: Iterator[bytes]) -> Path:
    """A compressed adb backup streamed from ``chunks`` of tar data (never all in memory)."""
    compressor = zlib.compressobj()
    with path.open("wb") as handle:
        handle.write(b"ANDROID BACKUP\n5\n1\nnone\n")
        for chunk in chunks:
            handle.write(compressor.compress(chunk))
        handle.write(compressor.compress(bytes(1024)) + compressor.flush())
    return path


def zero_member(name: str, size: int, prefix: bytes = b"SQLite format 3\0") -> Iterator[bytes]:
    """A member of ``size`` bytes: ``prefix``, then zeros."""
    yield tar_header(name, size)
    yield prefix
    block = bytes(1 << 20)
    left = size - len(prefix)
    while left:
        take = min(left, len(block))
        yield block[:take]
        left -= take
    yield bytes(-size % 512)


def database(statements: list[str]) -> bytes:
    connection = sqlite3.connect(":memory:")
    for statement in statements:
        connection.execute(statement)
    connection.commit()
    data = connection.serialize()
    connection.close()
    return data


def virtual_devicerecord(rows: int | None) -> bytes:
    """``devicerecord`` as FTS5 with external content over a recursive view: endless (or
    ``rows`` fake records) when queried."""
    limit = "" if rows is None else f" LIMIT {rows}"
    return database([
        "CREATE VIEW v(rowid, token, name, model) AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
        f"SELECT x + 1 FROM c{limit}) SELECT x, printf('%032x', x), 'fake', 'fake.model' FROM c",
        "CREATE VIRTUAL TABLE devicerecord USING fts5(token, name, model, content='v', "
        "content_rowid='rowid')",
    ])


def deep_binary_plist(depth: int) -> bytes:
    """A binary plist of ``depth`` nested one-element arrays."""
    objects = [b"\xa1" + struct.pack(">H", index + 1) for index in range(depth)] + [b"\xa0"]
    offsets, body = [], b"bplist00"
    for obj in objects:
        offsets.append(len(body))
        body += obj
    table = len(body)
    body += b"".join(struct.pack(">I", offset) for offset in offsets)
    return body + bytes(6) + bytes([4, 2]) + struct.pack(">QQQ", len(objects), 0, table)


def ios_file_id(relative: str) -> str:
    return hashlib.sha1(f"AppDomain-com.xiaomi.mihome-{relative}".encode()).hexdigest()


async def flood_unknown_pushes(simulator: Any, device: Any, count: int, seconds: float,
                               items: int = 250, size: int = 200) -> int:
    """A hostile MIoT device: up to ``count`` ``properties_changed`` pushes to its subscribers
    within ``seconds``, each naming ``items`` (siid, piid) pairs its spec lacks (new ones every
    time) with values of ``size`` characters: about 60 KB a datagram. Returns how many went."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    value = "x" * size
    sent = 0
    while sent < count and loop.time() < deadline:
        base = 1000 + sent * items
        device.push("properties_changed", [
            {"did": str(device.device_id), "siid": 900 + (base + i) // 1000,
             "piid": 1 + (base + i) % 1000, "value": value} for i in range(items)])
        sent += 1
        if sent % 10 == 0:
            simulator.flush(device)
            await asyncio.sleep(0.002)  # let the peer drain its socket, as a real sender would
    simulator.flush(device)
    return sent


def peak_rss_mb(pid: int) -> int:
    """The peak resident memory (VmHWM) of process ``pid``, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines()
                    if line.startswith("VmHWM")).split()[1]) // 1024
