"""Engines for serving: pool sizes, timeouts, recovery, and a health check.

:func:`create_database_engine` builds the engine a service should serve
from, on SQLite, PostgreSQL or MariaDB:

* **Pool** sized to the worker threads (``pool_size=threads``, no overflow,
  except one connection for SQLite's writer lane), a ping at checkout so
  that connections the server dropped are replaced (``_held.HeldConnections``,
  which also records which thread holds which connection), and a short
  ``pool_timeout``.
* **Connect timeout**: a database that is down answers 503 within seconds
  (psycopg waits at least 2 s, as libpq does), never a hang.
* **Statement timeout**, set on every new connection: PostgreSQL
  ``statement_timeout``, MariaDB ``max_statement_time`` (MySQL
  ``max_execution_time``), and on SQLite a progress handler that interrupts a
  statement running for longer.  A statement past it fails with an error that
  ``_dberrors`` maps to 503; the connection stays usable.
* **Recovery**: a disconnect invalidates the connection and every older one in
  the pool, so that requests succeed again as soon as the database is back.
* **Deadline**: the runner gives every call ``call_deadline(statement_timeout)``
  seconds; past it, ``held_connections(engine).abort(thread)`` breaks the
  thread's connection (a stalled server cannot enforce its own timeout), and
  TCP keepalives and ``tcp_user_timeout`` (PostgreSQL), read and write
  timeouts (MySQL) notice a peer that is gone.

Everything here blocks: call it from ``makeService`` or from a worker thread.
"""

from __future__ import annotations

import math
import time
from typing import Any

from attrs import frozen
from sqlalchemy import create_engine, event, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import QueuePool, StaticPool

from ._dberrors import is_unavailable
from ._held import HeldConnections, held_connections
from ._sqlite import SqliteAccess, configure_sqlite, open_sqlite_file

#: SQLite VM instructions between two looks at the clock.
SQLITE_PROGRESS_STEPS = 10_000
#: Seconds a database call may take beyond the statement timeout before the client gives up.
DEADLINE_MARGIN = 1.0


def call_deadline(statement_timeout: float) -> float | None:
    """Seconds one database call may take, client side (``None``: no statement timeout)."""
    return statement_timeout + DEADLINE_MARGIN if statement_timeout > 0 else None


def pool_size_for(engine: Engine) -> int:
    """How many worker threads an engine's connection pool can keep busy."""
    pool = engine.pool
    if isinstance(pool, QueuePool):
        return max(1, pool.size())
    return 1


def is_memory_sqlite(url: URL) -> bool:
    """Whether ``url`` names an in-memory SQLite database."""
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or "mode=memory" in database
    )


def create_database_engine(
    url: str | URL,
    *,
    threads: int,
    statement_timeout: float = 5.0,
    connect_timeout: float = 5.0,
    sqlite_access: SqliteAccess = SqliteAccess.CREATE,
    sqlite_wal: bool | None = None,
    **engine_options: Any,
) -> Engine:
    """An engine ready to serve ``url`` from ``threads`` worker threads.

    Timeouts are passed the way psycopg (3 or 2), PyMySQL/mysqlclient and
    Python's sqlite3 take them; other drivers get the pool settings only.

    Args:
        url: a SQLAlchemy database URL (``sqlite:///file``,
            ``postgresql+psycopg://...``, ``mysql+pymysql://...``).
        threads: the size of the thread pool that runs database calls.
        statement_timeout: seconds one SQL statement may run (0: no limit).
        connect_timeout: seconds to wait for a new connection.
        sqlite_access: how a SQLite file is opened: read-only, read-write
            (never created), or created when missing (the default).
        sqlite_wal: put a SQLite file in write-ahead-log mode (``None``: only
            a file opened with ``SqliteAccess.CREATE``; never a read-only one).
        engine_options: further ``create_engine`` arguments (they win).

    Returns:
        The engine; give ``pool_size_for(engine)`` threads to its thread pool.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    pre_ping = bool(engine_options.pop("pool_pre_ping", backend != "sqlite"))
    options: dict[str, Any] = {}
    if backend == "sqlite":
        if is_memory_sqlite(parsed):
            # One connection, shared: every thread sees the same database.
            options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            # The readers' connections, plus one for the writer lane.
            options.update(pool_size=threads, max_overflow=1, pool_timeout=connect_timeout)
    else:
        options.update(
            pool_size=threads,
            max_overflow=0,
            pool_timeout=max(connect_timeout, 1.0),
            pool_recycle=3600,
            connect_args=_server_connect_args(parsed, statement_timeout, connect_timeout),
        )
        if backend in ("mysql", "mariadb") and "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    options.update(engine_options)
    engine = create_engine(parsed, **options)
    HeldConnections(engine, pre_ping=pre_ping)
    if backend == "sqlite":
        wal = sqlite_access is SqliteAccess.CREATE if sqlite_wal is None else sqlite_wal
        open_sqlite_file(engine, sqlite_access)
        configure_sqlite(engine, wal=wal and sqlite_access is not SqliteAccess.READ_ONLY)
        if statement_timeout > 0:
            interrupt_slow_sqlite(engine, statement_timeout)
    elif backend in ("mysql", "mariadb") and statement_timeout > 0:
        _mysql_statement_timeout(engine, statement_timeout)
    return engine


def _server_connect_args(
    url: URL, statement_timeout: float, connect_timeout: float
) -> dict[str, Any]:
    backend, driver = url.get_backend_name(), url.get_driver_name()
    args: dict[str, Any] = {}
    if backend == "postgresql" and driver in ("psycopg", "psycopg2"):
        args["connect_timeout"] = max(1, math.ceil(connect_timeout))
        # Dead peers are noticed by TCP keepalives, not only by the next query, and
        # data the peer never acknowledges fails the connection (tcp_user_timeout).
        args.update(keepalives=1, keepalives_idle=10, keepalives_interval=2, keepalives_count=3)
        unacknowledged = statement_timeout + connect_timeout if statement_timeout > 0 else 30.0
        args["tcp_user_timeout"] = round(unacknowledged * 1000)
        if statement_timeout > 0:
            setting = f"-c statement_timeout={max(1, round(statement_timeout * 1000))}"
            given = url.query.get("options")
            args["options"] = f"{given} {setting}" if isinstance(given, str) else setting
    elif backend in ("mysql", "mariadb"):
        args["connect_timeout"] = max(1, math.ceil(connect_timeout))
        if statement_timeout > 0:
            # The client gives up on a silent server a little after the server would.
            wait = math.ceil(statement_timeout + connect_timeout)
            args.update(read_timeout=wait, write_timeout=wait)
    return args


def _mysql_statement_timeout(engine: Engine, seconds: float) -> None:
    """``max_statement_time`` (MariaDB) or ``max_execution_time`` (MySQL) per connection."""

    @event.listens_for(engine, "connect")
    def _limit(dbapi_connection: Any, connection_record: Any) -> None:
        server = str(dbapi_connection.get_server_info())
        cursor = dbapi_connection.cursor()
        try:
            if "mariadb" in server.lower():
                cursor.execute("SET SESSION max_statement_time = %s", (float(seconds),))
            else:
                cursor.execute("SET SESSION max_execution_time = %s", (round(seconds * 1000),))
        finally:
            cursor.close()


def interrupt_slow_sqlite(engine: Engine, seconds: float) -> None:
    """Interrupt any SQLite statement of ``engine`` that runs longer than ``seconds``.

    A trace callback notes when each statement starts; a progress handler,
    called every :data:`SQLITE_PROGRESS_STEPS` virtual-machine instructions,
    interrupts the statement once it is over time.  SQLite then raises
    ``OperationalError("interrupted")`` and the connection stays usable.
    """

    @event.listens_for(engine, "connect")
    def _deadline(dbapi_connection: Any, connection_record: Any) -> None:
        started = [time.monotonic()]

        def statement_started(statement: str) -> None:
            started[0] = time.monotonic()

        def over_time() -> int:
            return 1 if time.monotonic() - started[0] > seconds else 0

        dbapi_connection.set_trace_callback(statement_started)
        dbapi_connection.set_progress_handler(over_time, SQLITE_PROGRESS_STEPS)


@frozen
class DatabaseHealth:
    """The answer of :func:`check_database`.

    Attributes:
        ok: the database answered.
        seconds: how long it took to answer (or to fail).
        error: the exception class when it did not answer (never the SQL or URL).
        unavailable: the failure means "down or too slow" (503), not a bug.
    """

    ok: bool
    seconds: float
    error: str | None = None
    unavailable: bool = False


def check_database(engine: Engine) -> DatabaseHealth:
    """Run ``SELECT 1`` through the pool (blocks; call it from a worker thread).

    A connection that died since its last use is replaced first
    (``pool_pre_ping``), so this answers for the database, not for a stale
    connection.
    """
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            conn.execute(select(1)).scalar_one()
    except sa_exc.SQLAlchemyError as e:
        return DatabaseHealth(
            ok=False,
            seconds=time.monotonic() - started,
            error=type(e).__name__,
            unavailable=is_unavailable(e) or isinstance(e, sa_exc.OperationalError),
        )
    return DatabaseHealth(ok=True, seconds=time.monotonic() - started)


__all__ = [
    "DEADLINE_MARGIN",
    "SQLITE_PROGRESS_STEPS",
    "DatabaseHealth",
    "HeldConnections",
    "call_deadline",
    "check_database",
    "create_database_engine",
    "held_connections",
    "interrupt_slow_sqlite",
    "is_memory_sqlite",
    "pool_size_for",
]
