"""Opening the database the service serves: engine options, the embedded sample, a ping.

Everything here blocks; call it before the reactor runs (``makeService``) or
from a worker thread.
"""

from __future__ import annotations

import importlib
import urllib.parse
from pathlib import Path
from typing import Any

from attrs import frozen
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from twisted.logger import Logger

from chinook_svc.restless import (
    BUSY_TIMEOUT_MS,
    SqliteAccess,
    create_database_engine,
    is_memory_sqlite,
)

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


@frozen
class FilePolicy:
    """How the service opens a SQLite file.

    Attributes:
        path: the file.
        access: read-only (a user's file, writes off), read-write (a user's
            file, writes on; never created), or created when missing (the
            embedded sample, the service's own).
        wal: switch it to write-ahead logging (the sample; a user's file only
            with writes on and ``sqlite_wal``).
    """

    path: Path
    access: SqliteAccess
    wal: bool


def _sample_path(data_dir: Path | None) -> Path | None:
    try:
        sample: Any = importlib.import_module("chinook_svc.sample")
    except ModuleNotFoundError:
        return None
    default: Path = sample.default_sample_path()
    return default if data_dir is None else data_dir / default.name


def file_policy(
    url: str, *, writes: bool = False, sqlite_wal: bool = False, data_dir: Path | None = None
) -> FilePolicy | None:
    """How ``url``'s SQLite file is opened (``None``: not a SQLite file).

    Args:
        url: the database URL.
        writes: the service writes (POST/PATCH/PUT/DELETE are on).
        sqlite_wal: the owner asked for write-ahead logging (with writes only).
        data_dir: where the embedded sample lives (``None``: its default).
    """
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or is_memory_sqlite(parsed):
        return None
    if database.startswith("file:"):
        database = urllib.parse.unquote(urllib.parse.urlsplit(database).path)
    path = Path(database).expanduser().absolute()
    sample = _sample_path(data_dir)
    if sample is not None and path == sample.expanduser().absolute():
        return FilePolicy(path, SqliteAccess.CREATE, wal=True)
    if writes:
        return FilePolicy(path, SqliteAccess.READ_WRITE, wal=sqlite_wal)
    return FilePolicy(path, SqliteAccess.READ_ONLY, wal=False)


def open_engine(
    url: str,
    *,
    pool_size: int | None = None,
    statement_timeout: float = 5.0,
    connect_timeout: float = 5.0,
    writes: bool = False,
    sqlite_wal: bool = False,
    data_dir: Path | None = None,
) -> Engine:
    """A SQLAlchemy engine for the service (``restless.create_database_engine``).

    SQLite files get a ``busy_timeout`` and foreign keys enforced.  A user's
    file is never changed by reading it: with writes off it is opened
    read-only and its journal mode is left as it is; with writes on it is
    written but its journal mode changes only if ``sqlite_wal`` asks for
    write-ahead logging.  A user's file is never created.  The embedded
    sample is the service's own and uses write-ahead logging.  In-memory
    SQLite gets one shared connection; database servers get a pool as big as
    the thread pool, connect timeouts and TCP keepalives; every database
    gets the per-statement timeout.

    Args:
        url: SQLAlchemy database URL.
        pool_size: connections (and worker threads) to keep (``None``: 5).
        statement_timeout: seconds one statement may run (0: no limit).
        connect_timeout: seconds to wait for a connection.
        writes: the service writes to the database.
        sqlite_wal: switch a user's SQLite file to write-ahead logging (with
            ``writes`` only).
        data_dir: where the embedded sample lives (to recognise it).

    Raises:
        FileNotFoundError: a user's SQLite file that does not exist.
    """
    policy = file_policy(url, writes=writes, sqlite_wal=sqlite_wal, data_dir=data_dir)
    sqlite: dict[str, Any] = {}
    if policy is not None:
        if policy.access is not SqliteAccess.CREATE and not policy.path.is_file():
            raise FileNotFoundError(f"no such SQLite database file: {policy.path}")
        sqlite = {"sqlite_access": policy.access, "sqlite_wal": policy.wal}
    return create_database_engine(
        url,
        threads=pool_size or DEFAULT_THREADS,
        statement_timeout=statement_timeout,
        connect_timeout=connect_timeout,
        **sqlite,
    )


def open_health_engine(engine: Engine, url: str, **options: Any) -> Engine:
    """An engine of one connection for the health check (``engine`` itself for in-memory SQLite).

    Args:
        engine: the API's engine.
        url: its URL.
        options: ``open_engine``'s other arguments, as for ``engine``.
    """
    if is_memory_sqlite(engine.url):
        return engine  # one shared connection: there is no other
    return open_engine(url, pool_size=1, **options)


def tidy_sqlite_wal(
    url: str, *, writes: bool = False, sqlite_wal: bool = False, data_dir: Path | None = None
) -> None:
    """Open and close a write-ahead-logged SQLite file once more (after the workers have gone).

    Workers closing their SQLite connections at the same moment may each
    leave the write-ahead log to the other; the last connection closed
    checkpoints it and removes the ``-wal`` and ``-shm`` files.  A file the
    service did not put in WAL mode (a user's file, which is opened read-only
    with writes off) is not touched.
    """
    options: dict[str, Any] = {"writes": writes, "sqlite_wal": sqlite_wal, "data_dir": data_dir}
    policy = file_policy(url, **options)
    if policy is None or not policy.wal:
        return
    engine = open_engine(url, pool_size=1, **options)
    try:
        with engine.connect():
            pass
    except Exception as e:  # a database gone away: nothing to tidy
        log.warn("Could not tidy up {db}: {error}", db=describe(engine), error=str(e))
    finally:
        engine.dispose()


def ping(engine: Engine) -> None:
    """``SELECT 1`` (blocks; run it in a worker thread)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()


def describe(engine: Engine) -> str:
    """The engine's URL for logs, password hidden."""
    return engine.url.render_as_string(hide_password=True)


__all__ = [
    "FilePolicy",
    "SampleUnavailable",
    "describe",
    "file_policy",
    "is_memory_sqlite",
    "open_engine",
    "open_health_engine",
    "ping",
    "sample_database_url",
    "tidy_sqlite_wal",
]
