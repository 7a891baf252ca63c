"""Where database calls run: the thread pools and their runners, made in one place.

:func:`database_threads` is the one factory of them, used by the service
(``chinook_svc.tap``), the mountable resource (``chinook_svc.web.mount``) and
``APIManager``:

* reads run in a pool as big as the engine's connection pool (a thread
  without a connection would only wait for one), or in the caller's pool;
* on SQLite, writes run in one thread of their own: writers queue there
  instead of contending for SQLite's single write lock ("database is
  locked"); elsewhere they share the read pool.

The reactor is always given: results are delivered to it, and it is never
looked up behind the caller's back.  Who starts and stops the pools is the
caller's choice: ``DatabaseService`` does for the service,
:meth:`DatabaseThreads.start_with` ties them to a reactor's run otherwise.
"""

from __future__ import annotations

from attrs import frozen
from sqlalchemy.engine import Engine
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads
from twisted.python.threadpool import ThreadPool

from ._engines import pool_size_for
from ._runner import Runner, ThreadPoolRunner


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
    runner: Runner
    write_runner: Runner
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
) -> DatabaseThreads:
    """The thread pools and runners for serving ``engine`` on ``reactor`` (not started).

    Args:
        reactor: receives the results of database calls.
        engine: the database; its connection pool sizes the read pool.
        pool: run reads in this pool instead (the caller starts and stops it).
        writes: whether anything writes (only then does SQLite get a writer thread).
    """
    owned: list[ThreadPool] = []
    if pool is None:
        pool = ThreadPool(minthreads=0, maxthreads=pool_size_for(engine), name="chinook-db")
        owned.append(pool)
    runner = ThreadPoolRunner(reactor, pool)
    writer = None
    write_runner: Runner = runner
    if writes and engine.dialect.name == "sqlite":
        writer = ThreadPool(minthreads=0, maxthreads=1, name="chinook-db-writer")
        owned.append(writer)
        write_runner = ThreadPoolRunner(reactor, writer)
    return DatabaseThreads(pool, writer, runner, write_runner, tuple(owned))


__all__ = ["DatabaseThreads", "database_threads"]
