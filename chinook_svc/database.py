"""Opening the database the service serves: engine options, the embedded sample, a ping.

Everything here blocks; call it before the reactor runs (``makeService``) or
from a worker thread.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from twisted.logger import Logger

from chinook_svc.restless import BUSY_TIMEOUT_MS, create_database_engine, is_memory_sqlite

log = Logger()

#: How long SQLite waits for a lock before failing (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = BUSY_TIMEOUT_MS


class SampleUnavailable(RuntimeError):
    """No database URL was given and this build has no embedded sample."""


def sample_database_url(data_dir: Path | None = None) -> str:
    """The URL of the embedded Chinook sample, materialised on first use.

    Args:
        data_dir: where to keep the sample (``None``: the sample's default,
            the user data directory or ``CHINOOK_DATA_DIR``).
    """
    try:
        sample: Any = importlib.import_module("chinook_svc.sample")
    except ModuleNotFoundError as e:
        if e.name != "chinook_svc.sample":
            raise
        raise SampleUnavailable(
            "no database given and the embedded sample is not installed; pass --db URL"
        ) from e
    path = None if data_dir is None else data_dir / sample.default_sample_path().name
    return str(sample.ensure_sample_database(path))


#: Database worker threads when none are asked for (SQLAlchemy's default pool size).
DEFAULT_THREADS = 5


def open_engine(
    url: str,
    *,
    pool_size: int | None = None,
    statement_timeout: float = 5.0,
    connect_timeout: float = 5.0,
) -> Engine:
    """A SQLAlchemy engine for the service (``restless.create_database_engine``).

    SQLite files get a ``busy_timeout``, foreign keys enforced and
    write-ahead logging (readers do not block behind a writer); in-memory
    SQLite gets one shared connection; database servers get a pool as big as
    the thread pool, ``pool_pre_ping``, connect timeouts and TCP keepalives;
    every database gets the per-statement timeout.

    Args:
        url: SQLAlchemy database URL.
        pool_size: connections (and worker threads) to keep (``None``: 5).
        statement_timeout: seconds one statement may run (0: no limit).
        connect_timeout: seconds to wait for a connection.
    """
    return create_database_engine(
        url,
        threads=pool_size or DEFAULT_THREADS,
        statement_timeout=statement_timeout,
        connect_timeout=connect_timeout,
    )


def ping(engine: Engine) -> None:
    """``SELECT 1`` (blocks; run it in a worker thread)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()


def describe(engine: Engine) -> str:
    """The engine's URL for logs, password hidden."""
    return engine.url.render_as_string(hide_password=True)


__all__ = [
    "SampleUnavailable",
    "describe",
    "is_memory_sqlite",
    "open_engine",
    "ping",
    "sample_database_url",
]
