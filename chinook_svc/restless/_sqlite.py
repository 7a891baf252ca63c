"""SQLite settings for serving many requests from threads (and processes).

``configure_sqlite(engine)`` makes every new connection wait for locks
instead of failing at once (``busy_timeout``), enforce foreign keys (SQLite
ignores them by default, which would let a write point at a row that does
not exist) and, when asked to, use write-ahead logging (readers never block
the writer).

``open_sqlite_file(engine, access)`` decides how the file is opened: read-only
(``mode=ro``: nothing is ever written, the journal mode stays as found),
read-write without creating it (``mode=rw``), or created when missing
(``mode=rwc``, for a database the service owns).  The engine's URL stays as
given; the SQLite URI is built only when connecting.
"""

from __future__ import annotations

import enum
import os
import re
import sqlite3
import urllib.parse
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

#: How long a connection waits for SQLite's lock before failing (milliseconds).
BUSY_TIMEOUT_MS = 10_000


class SqliteAccess(enum.Enum):
    """How a SQLite file is opened (SQLite URI ``mode``)."""

    READ_ONLY = "ro"  # a file the service must not change
    READ_WRITE = "rw"  # written, never created
    CREATE = "rwc"  # the service's own file: created when missing


def configure_sqlite(
    engine: Engine,
    *,
    wal: bool = True,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    foreign_keys: bool = True,
) -> Engine:
    """Set SQLite pragmas on every connection of ``engine`` (no-op for other databases).

    Args:
        engine: the engine.
        wal: switch the file to write-ahead logging (a change to the file
            itself, which stays in WAL mode; never do it to a file the
            service does not own unless its owner asked for it).
        busy_timeout_ms: how long to wait for a lock.
        foreign_keys: enforce foreign keys (a per-connection setting).
    """
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


_MODE = re.compile(r"([?&])mode=[^&]*")


def sqlite_uri(filename: str, access: SqliteAccess) -> str:
    """The SQLite URI opening ``filename`` (a path, or already a ``file:`` URI) with ``access``."""
    if filename.startswith("file:"):
        uri = _MODE.sub(r"\1", filename).replace("?&", "?").replace("&&", "&").rstrip("?&")
    else:
        uri = "file:" + urllib.parse.quote(os.path.abspath(filename))
    return f"{uri}{'&' if '?' in uri else '?'}mode={access.value}"


def open_sqlite_file(engine: Engine, access: SqliteAccess) -> Engine:
    """Open ``engine``'s SQLite file with ``access`` (memory databases are left alone)."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:") or "mode=memory" in database:
        return engine

    @event.listens_for(engine, "do_connect")
    def _open(dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        filename = cargs[0] if cargs else cparams.pop("database")
        cargs[:] = [sqlite_uri(str(filename), access)]
        cparams["uri"] = True

    return engine


__all__ = [
    "BUSY_TIMEOUT_MS",
    "SqliteAccess",
    "configure_sqlite",
    "open_sqlite_file",
    "sqlite_uri",
]
