"""Where database calls run: the thread pools and their runners, made in one place.

:func:`database_threads` is the one factory of them, used by the service
(``chinook_svc.tap``), the mountable resource (``chinook_svc.web.mount``) and
``APIManager``:

* reads run in a pool as big as the engine's connection pool (a thread
  without a connection would only wait for one), or in the caller's pool;
* on SQLite, writes run in one thread of their own: writers queue there
  instead of contending for SQLite's single write lock ("database is
  locked"); elsewhere they share the read pool;
* the runners admit work as the caller asks (``_runner.ThreadPoolRunner``):
  at most ``queue_limit`` calls waiting per lane (more are refused with a
  503 at once), heavy reads on at most ``heavy_limit`` threads (by default
  one on SQLite, whose heavy reads are Python work holding the interpreter
  lock, else all threads but one), and with a ``deadline`` a call past it
  answers 503 while the thread's database connection is broken
  (``_held.HeldConnections``) so that the thread comes back.

The reactor is always given: results are delivered to it, and it is never
looked up behind the caller's back.  Who starts and stops the pools is the
caller's choice: ``DatabaseService`` does for the service,
:meth:`DatabaseThreads.start_with` ties them to a reactor's run otherwise.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen
from sqlalchemy.engine import Engine
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads
from twisted.python.threadpool import ThreadPool

from ._engines import pool_size_for
from ._held import held_connections
from ._observe import UNOBSERVED, EngineObserver
from ._runner import ThreadPoolRunner, default_heavy_limit


@frozen
class DatabaseThreads:
    """The pools database calls run in and the runners that hop onto them.

    Attributes:
        pool: the pool reads (and, but on SQLite, writes) run in.
        writer: SQLite's one writer thread, if writes get their own.
        runner: runs reads.
        write_runner: runs writes.
        owned: the pools made here (the caller's own pool is not among them).
    """

    pool: ThreadPool
    writer: ThreadPool | None
    runner: ThreadPoolRunner
    write_runner: ThreadPoolRunner
    owned: tuple[ThreadPool, ...]

    def start(self) -> None:
        """Start the pools made here (those not started yet)."""
        for pool in self.owned:
            if not pool.started:
                pool.start()

    def stop(self) -> None:
        """Stop the pools made here; they finish their queued work first."""
        for pool in self.owned:
            if pool.started:
                pool.stop()

    def start_with(self, reactor: IReactorCore) -> None:
        """Start the pools made here when ``reactor`` runs, and stop them at its shutdown."""
        if self.owned:
            reactor.callWhenRunning(self.start)
            reactor.addSystemEventTrigger("during", "shutdown", self.stop)


def database_threads(
    reactor: IReactorFromThreads,
    engine: Engine,
    *,
    pool: ThreadPool | None = None,
    writes: bool = True,
    queue_limit: int | None = None,
    heavy_limit: int | None = None,
    deadline: float | None = None,
    name: str = "database",
    observer: EngineObserver = UNOBSERVED,
) -> DatabaseThreads:
    """The thread pools and runners for serving ``engine`` on ``reactor`` (not started).

    Args:
        reactor: receives the results of database calls (and, if it is a
            clock too, times their deadlines).
        engine: the database; its connection pool sizes the read pool.
        pool: run reads in this pool instead (the caller starts and stops it).
        writes: whether anything writes (only then does SQLite get a writer thread).
        queue_limit: calls that may wait per lane (``None``: no limit).
        heavy_limit: threads heavy reads may hold at once (``None``: one on
            SQLite, else all but one).
        deadline: seconds a call may take, waiting or running, before it
            answers 503 and its connection is broken (``None``: no limit).
        name: what the log calls this work (the pools' names follow from it).
        observer: told about the runners' shed and overdue calls.
    """
    owned: list[ThreadPool] = []
    prefix = "chinook-db" if name == "database" else f"chinook-{name.replace(' ', '-')}"
    if pool is None:
        pool = ThreadPool(minthreads=0, maxthreads=pool_size_for(engine), name=prefix)
        owned.append(pool)
    in_process = engine.dialect.name == "sqlite"
    limits: dict[str, Any] = {
        "queue_limit": queue_limit,
        "deadline": deadline,
        "abort": None if deadline is None else held_connections(engine).abort,
        "name": name,
        "observer": observer,
    }
    if heavy_limit is None:
        heavy_limit = default_heavy_limit(pool.max, in_process=in_process)
    runner = ThreadPoolRunner(reactor, pool, heavy_limit=heavy_limit, **limits)
    writer = None
    write_runner = runner
    if writes and in_process:
        writer = ThreadPool(minthreads=0, maxthreads=1, name=f"{prefix}-writer")
        owned.append(writer)
        write_runner = ThreadPoolRunner(reactor, writer, **limits)
    return DatabaseThreads(pool, writer, runner, write_runner, tuple(owned))


__all__ = ["DatabaseThreads", "database_threads"]
