"""A tar stream walker for backups: only what Android's ``adb backup`` writes, with caps.

CPython's ``tarfile`` parses pax headers in quadratic time before 3.11.10 (CVE-2024-6232: a
1.4 KB file takes minutes) and holds pax and GNU long-name headers of any size in memory. Here
every header is capped *before* it is read (pax and long names at 64 KiB, each header's
checksum verified), pax records are parsed in one linear pass, and a member is read only when
the caller wants it, into one buffer of its exact size (no copies), so memory stays bounded by
the member cap plus a chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from pymiio.errors import BackupError

BLOCK: Final = 512
MAX_EXTENDED: Final = 64 * 1024  # a pax header or a GNU long name / link
_REGULAR: Final = (b"0", b"\0", b"7")
_EXTENDED: Final = {b"x", b"g", b"L", b"K"}


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    is_file: bool


class ByteStream:
    """Exact reads over an iterator of chunks, holding at most one chunk besides the caller's
    buffer."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._offset = 0

    def _fill(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buffer, self._offset = chunk, 0
                return True
        return False

    def read_into(self, target: memoryview) -> int:
        """Fill ``target`` as far as the stream goes; returns the bytes written."""
        done = 0
        while done < len(target):
            if self._offset >= len(self._buffer) and not self._fill():
                break
            take = min(len(target) - done, len(self._buffer) - self._offset)
            target[done:done + take] = self._buffer[self._offset:self._offset + take]
            self._offset += take
            done += take
        return done

    def read(self, size: int) -> bytes:
        data = bytearray(size)
        got = self.read_into(memoryview(data))
        return bytes(data[:got])

    def skip(self, size: int) -> int:
        skipped = 0
        while skipped < size:
            if self._offset >= len(self._buffer) and not self._fill():
                break
            take = min(size - skipped, len(self._buffer) - self._offset)
            self._offset += take
            skipped += take
        return skipped


class TarWalker:
    """``for member in walker: ...`` yields each member; :meth:`read` takes the current one's
    content (up to a cap), otherwise it is skipped when the walk goes on."""

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self._left = 0  # content bytes of the current member not read yet
        self._padding = 0

    def __iter__(self) -> Iterator[Member]:
        while True:
            self._finish_current()
            member = self._next_member()
            if member is None:
                return
            yield member

    def read(self, member: Member, limit: int) -> bytes:
        """The whole content of ``member`` (the one just yielded), or BackupError past ``limit``."""
        if member.size > limit:
            raise BackupError(f"{member.name} in the backup is {member.size} bytes, more than "
                              f"the {limit} allowed")
        data = bytearray(member.size)
        got = self._stream.read_into(memoryview(data))
        self._left -= got
        if got < member.size:
            raise BackupError(f"the backup is truncated inside {member.name}")
        return bytes(data) if len(data) < 1 << 20 else data  # type: ignore[return-value]

    def _finish_current(self) -> None:
        want = self._left + self._padding
        if want and self._stream.skip(want) < want:
            raise BackupError("the backup's archive is truncated")
        self._left = self._padding = 0

    def _next_member(self) -> Member | None:
        long_name: str | None = None
        pax: dict[str, str] = {}
        for _ in range(64):  # extended headers before one member; more is not a real archive
            header = self._stream.read(BLOCK)
            if len(header) < BLOCK or header == bytes(BLOCK):
                return None  # end of archive (two zero blocks, or a plain end)
            _check_sum(header)
            kind = header[156:157]
            size = _size(header)
            if kind in _EXTENDED:
                if size > MAX_EXTENDED:
                    raise BackupError(f"the backup has an extended tar header of {size} bytes "
                                      f"(at most {MAX_EXTENDED} are read): refusing")
                body = self._stream.read(size)
                if len(body) < size:
                    raise BackupError("the backup's archive is truncated")
                self._stream.skip(-size % BLOCK)
                if kind == b"x":
                    pax = parse_pax(body)
                elif kind == b"L":
                    long_name = body.split(b"\0", 1)[0].decode("utf-8", "replace")
                continue
            name = pax.get("path") or long_name or _ustar_name(header)
            if "size" in pax:
                size = _decimal(pax["size"], "pax size")
            self._left, self._padding = size, -size % BLOCK
            return Member(name, size, kind in _REGULAR)
        raise BackupError("the backup's archive has too many extended headers in a row")


def parse_pax(body: bytes) -> dict[str, str]:
    """pax records ``"<length> <key>=<value>\\n"``, in one linear pass; malformed ones end it."""
    records: dict[str, str] = {}
    position = 0
    while position < len(body):
        space = body.find(b" ", position, position + 20)
        if space < 0:
            break
        digits = body[position:space]
        if not digits.isdigit() or len(digits) > 8:
            break
        length = int(digits)
        end = position + length
        if length <= len(digits) + 1 or end > len(body) or body[end - 1:end] != b"\n":
            break
        key, equals, value = body[space + 1:end - 1].partition(b"=")
        if equals:
            records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        position = end
    return records


def _check_sum(header: bytes) -> None:
    stored = header[148:156].split(b"\0", 1)[0].strip()
    try:
        expected = int(stored, 8) if stored else -1
    except ValueError:
        expected = -1
    actual = sum(header[:148]) + 32 * 8 + sum(header[156:])
    if expected != actual:
        raise BackupError("the backup's archive is corrupt (a tar header checksum fails)")


def _size(header: bytes) -> int:
    field = header[124:136]
    if field[0] & 0x80:  # GNU base-256
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise BackupError("the backup's archive is corrupt (a bad size field)") from None


def _decimal(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 15:
        raise BackupError(f"the backup's archive has a bad {what}: {text[:20]!r}")
    return int(text)


def _ustar_name(header: bytes) -> str:
    name = header[0:100].split(b"\0", 1)[0]
    if header[257:262] == b"ustar":
        prefix = header[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "replace")
