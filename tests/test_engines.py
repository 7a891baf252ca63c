"""``create_database_engine``: pools sized to the threads, timeouts set on every connection.

What each backend's connections are told is read back from the database
itself (``SHOW statement_timeout``, ``@@max_statement_time``, SQLite's
pragmas), so the tests check the effect, not the arguments.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool, StaticPool

from chinook_svc.restless import pool_size_for as public_pool_size_for
from chinook_svc.restless._engines import (
    DatabaseHealth,
    check_database,
    create_database_engine,
    held_connections,
    pool_size_for,
)


def test_sqlite_file_pool_and_pragmas(tmp_path: Path) -> None:
    """A SQLite file: one connection per thread plus the writer's; WAL, foreign keys, busy wait."""
    engine = create_database_engine(f"sqlite:///{tmp_path / 'x.db'}", threads=6)
    try:
        assert isinstance(engine.pool, QueuePool)
        assert (engine.pool.size(), engine.pool._max_overflow) == (6, 1)
        assert pool_size_for(engine) == public_pool_size_for(engine) == 6
        with engine.connect() as conn:
            pragmas = [
                conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
        assert pragmas == ["wal", 1, 10_000]
    finally:
        engine.dispose()


def test_sqlite_memory_is_one_shared_connection() -> None:
    """In-memory SQLite: one connection, shared by every thread (so one worker thread)."""
    engine = create_database_engine("sqlite://", threads=8)
    try:
        assert isinstance(engine.pool, StaticPool) and pool_size_for(engine) == 1
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (42)")
        seen: list[int] = []

        def read() -> None:
            with engine.connect() as conn:
                seen.append(conn.exec_driver_sql("SELECT x FROM t").scalar_one())

        worker = threading.Thread(target=read)
        worker.start()
        worker.join(5)
        assert seen == [42]
    finally:
        engine.dispose()


def test_sqlite_statement_timeout_interrupts_only_slow_statements(tmp_path: Path) -> None:
    """A statement over the SQLite timeout is interrupted; quick ones before and after run."""
    engine = create_database_engine(
        f"sqlite:///{tmp_path / 'x.db'}", threads=1, statement_timeout=0.2
    )
    endless = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    )
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
            with pytest.raises(Exception, match="interrupted"):
                conn.exec_driver_sql(endless).scalar()
            assert conn.exec_driver_sql("SELECT 2").scalar() == 2
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_pool_and_statement_timeout(postgres_url: str) -> None:
    """PostgreSQL: pool_size = threads, no overflow, pre-ping; statement_timeout per connection."""
    engine = create_database_engine(
        postgres_url + "?options=-c%20application_name%3Dchinook-test",
        threads=3,
        statement_timeout=1.5,
    )
    try:
        assert (
            engine.pool.size(),
            engine.pool._max_overflow,
            held_connections(engine).pre_ping,
        ) == (
            3,
            0,
            True,
        )
        assert pool_size_for(engine) == 3
        with engine.connect() as conn:
            settings = [
                conn.execute(text(f"SHOW {name}")).scalar()
                for name in ("statement_timeout", "application_name")
            ]
        assert settings == ["1500ms", "chinook-test"]
    finally:
        engine.dispose()
    unlimited = create_database_engine(postgres_url, threads=1, statement_timeout=0)
    try:
        with unlimited.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        unlimited.dispose()


@pytest.mark.mysql
def test_mariadb_pool_timeout_and_charset(mysql_url: str) -> None:
    """MariaDB: pool_size = threads, pre-ping; max_statement_time and utf8mb4 per connection."""
    engine = create_database_engine(mysql_url, threads=4, statement_timeout=1.5)
    try:
        assert (
            engine.pool.size(),
            engine.pool._max_overflow,
            held_connections(engine).pre_ping,
        ) == (
            4,
            0,
            True,
        )
        with engine.connect() as conn:
            row = conn.execute(text("SELECT @@max_statement_time, @@character_set_client")).one()
        assert (float(row[0]), row[1]) == (1.5, "utf8mb4")
    finally:
        engine.dispose()


def test_check_database(tmp_path: Path) -> None:
    """check_database answers ok for a working database, 'unavailable' for one it cannot open."""
    engine = create_database_engine(f"sqlite:///{tmp_path / 'x.db'}", threads=1)
    missing = create_database_engine(f"sqlite:///{tmp_path / 'no' / 'such.db'}", threads=1)
    try:
        health = check_database(engine)
        assert health.ok and health.error is None
        down = check_database(missing)
        assert down == DatabaseHealth(ok=False, seconds=down.seconds, error="OperationalError",
                                      unavailable=True)  # fmt: skip
    finally:
        engine.dispose()
        missing.dispose()
