"""Reading an SQLite database without touching its file: bytes in, a read-only connection out.

Backups hold databases as tar members, never written to disk; files on disk are read once and
opened from memory too, so a database is never modified and no journal files appear beside it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path

from pymiio.errors import BackupError

SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_DATABASE = 512 * 1024 * 1024


def open_bytes(data: bytes, label: str) -> sqlite3.Connection:
    """A query-only connection to an in-memory copy of ``data``."""
    if not data.startswith(SQLITE_MAGIC):
        raise BackupError(f"{label} is not an SQLite database")
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(data)
        connection.execute("PRAGMA query_only = ON")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise BackupError(f"{label} is a corrupt SQLite database: {exc}") from None
    return connection


def read_file(path: Path, limit: int = MAX_DATABASE) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise BackupError(f"{path} is {size} bytes, more than the {limit} a database may be")
        return path.read_bytes()
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None


def tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(row[0]).lower() for row in rows}


def columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]).lower() for row in connection.execute(f'PRAGMA table_info("{table}")')}


def select_rows(connection: sqlite3.Connection, table: str,
                wanted: Mapping[str, tuple[str, ...]]) -> list[dict[str, object]]:
    """Rows of ``table`` with each wanted field taken from the first column that exists.

    ``wanted`` maps a field to candidate column names; missing ones come back as None, so app
    versions that renamed or dropped a column still read.
    """
    present = columns(connection, table)
    picks = {name: next((c for c in options if c.lower() in present), None)
             for name, options in wanted.items()}
    chosen = [(name, column) for name, column in picks.items() if column is not None]
    if not chosen:
        return []
    selected = ", ".join(f'"{column}"' for _, column in chosen)
    query = f'SELECT {selected} FROM "{table}"'
    try:
        rows = connection.execute(query).fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot read table {table}: {exc}") from None
    return [{**dict.fromkeys(wanted), **{name: row[i] for i, (name, _) in enumerate(chosen)}}
            for row in rows]


def table_rows(data: bytes, label: str, table: str, wanted: Mapping[str, tuple[str, ...]],
               kind: str) -> list[dict[str, object]]:
    """The wanted fields of every row of ``table`` in the database ``data`` holds.

    ``kind`` names the database for the error when the table is missing.
    """
    connection = open_bytes(data, label)
    try:
        if table.lower() not in tables(connection):
            raise BackupError(f"{label} has no {table} table: not a {kind}")
        return select_rows(connection, table, wanted)
    finally:
        connection.close()
