"""SQLite settings for serving many requests from threads (and processes).

``configure_sqlite(engine)`` makes every new connection use write-ahead
logging (readers never block the writer), wait for locks instead of failing
at once (``busy_timeout``), and enforce foreign keys (SQLite ignores them by
default, which would let a write point at a row that does not exist).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

#: How long a connection waits for SQLite's lock before failing (milliseconds).
BUSY_TIMEOUT_MS = 10_000


def configure_sqlite(
    engine: Engine,
    *,
    wal: bool = True,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    foreign_keys: bool = True,
) -> Engine:
    """Set SQLite pragmas on every connection of ``engine`` (no-op for other databases)."""
    if engine.dialect.name != "sqlite":
        return engine
    memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            if wal and not memory:
                try:
                    cursor.execute("PRAGMA journal_mode = WAL")
                    cursor.execute("PRAGMA synchronous = NORMAL")
                except sqlite3.OperationalError:
                    pass  # a read-only file keeps its journal mode and stays readable
        finally:
            cursor.close()

    return engine
