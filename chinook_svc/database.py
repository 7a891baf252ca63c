"""Opening the database the service serves: engine options, the embedded sample, a ping.

Everything here blocks; call it before the reactor runs (``makeService``) or
from a worker thread.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool
from twisted.logger import Logger

from chinook_svc.restless.sqlite import configure_sqlite

log = Logger()

#: How long SQLite waits for a lock before failing (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 5000


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


def is_memory_sqlite(url: URL) -> bool:
    """Whether ``url`` names an in-memory SQLite database."""
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or "mode=memory" in database
    )


def open_engine(url: str, *, pool_size: int | None = None) -> Engine:
    """A SQLAlchemy engine for the service.

    SQLite files get a ``busy_timeout``, foreign keys enforced and
    write-ahead logging (readers do not block behind a writer); in-memory
    SQLite gets one shared connection;
    database servers get ``pool_pre_ping`` so that connections the server
    dropped are replaced instead of failing a request.

    Args:
        url: SQLAlchemy database URL.
        pool_size: connections to keep (``None``: SQLAlchemy's default).
    """
    parsed = make_url(url)
    options: dict[str, Any] = {}
    if is_memory_sqlite(parsed):
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif pool_size is not None:
        options["pool_size"] = pool_size
    if parsed.get_backend_name() != "sqlite":
        options["pool_pre_ping"] = True
    engine = create_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        configure_sqlite(engine, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
    return engine


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
