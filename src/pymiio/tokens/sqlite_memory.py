"""Reading an SQLite database without touching its file: bytes in, a read-only connection out.

Backups hold databases as tar members, never written to disk; files on disk are read once and
opened from memory too, so a database is never modified and no journal files appear beside it.

A database from a backup of unknown origin is hostile until proven otherwise: only plain tables
are read (a virtual table or a view named like the one wanted could compute rows forever),
the schema is untrusted (``trusted_schema = OFF``), rows are capped, every query has a time
budget (a progress handler, which also lets Ctrl-C through), temporary storage stays in
memory, and SQLite's heap is capped (HEAP_LIMIT; the pragma can only lower the process-wide
limit, so it stays in force once a database has been read).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

from pymiio.errors import BackupError
from pymiio.paths import read_input

SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_DATABASE = 64 * 1024 * 1024
MAX_ROWS = 10_000
QUERY_BUDGET = 5.0  # seconds per query
HEAP_LIMIT = 192 * 1024 * 1024


def open_bytes(data: bytes, label: str) -> sqlite3.Connection:
    """A query-only, untrusted-schema connection to an in-memory copy of ``data``."""
    if not data.startswith(SQLITE_MAGIC):
        raise BackupError(f"{label} is not an SQLite database")
    if len(data) > MAX_DATABASE:
        raise BackupError(f"{label} is {len(data)} bytes, more than the {MAX_DATABASE} a "
                          "database may be")
    connection = sqlite3.connect(":memory:")
    try:
        for pragma in ("temp_store = MEMORY", "trusted_schema = OFF", "cell_size_check = ON"):
            connection.execute(f"PRAGMA {pragma}")
        connection.deserialize(data)
        connection.execute("PRAGMA query_only = ON")
        connection.execute("PRAGMA temp_store = MEMORY")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise BackupError(f"{label} is a corrupt SQLite database: {exc}") from None
    return connection


def read_file(path: Path, limit: int = MAX_DATABASE) -> bytes:
    return read_input(path, limit, BackupError)


def tables(connection: sqlite3.Connection) -> set[str]:
    """Plain tables only: virtual tables (FTS over a recursive view…) are never queried."""
    rows = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(name).lower() for name, sql in rows
            if not str(sql or "").lstrip().upper().startswith("CREATE VIRTUAL")}


class _Budget:
    """SQLite's progress handler: aborts a query past its time budget."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.expired = False

    def __call__(self) -> int:
        if time.monotonic() > self.deadline:
            self.expired = True
            return 1
        return 0


def bounded_query(connection: sqlite3.Connection, query: str, params: tuple[object, ...] = (),
                  label: str = "the database") -> list[tuple[object, ...]]:
    """At most MAX_ROWS rows of ``query``, within QUERY_BUDGET seconds and a capped heap."""
    budget = _Budget(QUERY_BUDGET)
    connection.set_progress_handler(budget, 10_000)
    _cap_heap(connection)
    try:
        rows = connection.execute(f"{query} LIMIT {MAX_ROWS + 1}", params).fetchall()
    except sqlite3.DatabaseError as exc:
        if budget.expired:
            raise BackupError(f"reading {label} took longer than {QUERY_BUDGET:g} s: "
                              "refusing (a hostile database?)") from None
        raise BackupError(f"cannot read {label}: {exc}") from None
    finally:
        connection.set_progress_handler(None, 0)
    if len(rows) > MAX_ROWS:
        raise BackupError(f"{label} has more than {MAX_ROWS} rows: refusing")
    return rows


def _cap_heap(connection: sqlite3.Connection) -> None:
    """Lower SQLite's hard heap limit to HEAP_LIMIT unless it is lower already."""
    row = connection.execute("PRAGMA hard_heap_limit").fetchone()
    current = int(row[0]) if row else 0
    if current == 0 or current > HEAP_LIMIT:
        connection.execute(f"PRAGMA hard_heap_limit = {HEAP_LIMIT}")


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
    rows = bounded_query(connection, f'SELECT {selected} FROM "{table}"', (),
                         f"table {table}")
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
