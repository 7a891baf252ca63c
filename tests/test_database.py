"""``open_engine``: SQLite waits for locks (WAL only where allowed), memory one connection.

How a user's SQLite file is opened (read-only, never created, journal mode
kept) is tested in ``test_sqlite_untouched.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import StaticPool

from chinook_svc.database import (
    SQLITE_BUSY_TIMEOUT_MS,
    describe,
    is_memory_sqlite,
    open_engine,
    ping,
)
from chinook_svc.restless import pool_size_for
from chinook_svc.restless._held import held_connections

from .service_support import make_tiny_chinook


def test_sqlite_file_uses_wal_and_busy_timeout(tmp_path: Path) -> None:
    """With writes and ``sqlite_wal``, every connection is in WAL mode and waits for locks."""
    url = make_tiny_chinook(tmp_path / "x.db")
    engine = open_engine(url, writes=True, sqlite_wal=True)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert (
            connection.execute(text("PRAGMA busy_timeout")).scalar_one() == SQLITE_BUSY_TIMEOUT_MS
        )
    engine.dispose()


def test_pool_size(tmp_path: Path) -> None:
    """pool_size sets the connection pool, which sizes the worker threads."""
    engine = open_engine(make_tiny_chinook(tmp_path / "x.db"), pool_size=7)
    assert pool_size_for(engine) == 7


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_memory_sqlite_is_one_shared_connection(url: str) -> None:
    """In-memory SQLite has one connection shared by all threads, so one worker thread."""
    engine = open_engine(url)
    assert is_memory_sqlite(engine.url)
    assert isinstance(engine.pool, StaticPool)
    assert pool_size_for(engine) == 1
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    with engine.connect() as connection:  # the same database, not a new empty one
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 0


def test_servers_pre_ping() -> None:
    """Database servers get a ping at checkout, so dropped connections are replaced."""
    engine = open_engine("postgresql+psycopg://u:secret@127.0.0.1:1/db")
    assert held_connections(engine).pre_ping
    assert "secret" not in describe(engine)


def test_ping_fails_when_database_cannot_open(tmp_path: Path) -> None:
    """ping raises when the database cannot be reached (the file went away)."""
    engine = open_engine(make_tiny_chinook(tmp_path / "x.db"))
    (tmp_path / "x.db").unlink()
    with pytest.raises(Exception, match="unable to open database file"):
        ping(engine)


def test_ping_postgres(postgres_url: str) -> None:
    """ping works against the PostgreSQL server (pre-ping engine)."""
    engine = open_engine(postgres_url)
    ping(engine)
    engine.dispose()


def test_ping_mysql(mysql_url: str) -> None:
    """ping works against the MariaDB server (pre-ping engine)."""
    engine = open_engine(mysql_url)
    ping(engine)
    engine.dispose()
