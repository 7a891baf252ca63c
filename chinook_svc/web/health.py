"""What ``/healthz`` answers: the database's state, checked apart from the API's work.

A load balancer pulls an instance whose health check fails, so the check
must say whether the *database* answers, not whether the API's queue is
long.  :class:`HealthCheck` runs ``SELECT 1`` (``engines.check_database``)
through a runner of its own, one thread with its own connection
(:meth:`HealthCheck.dedicated`, made by ``restless.database_threads``), so
it never waits behind API work; probes
that arrive while a check runs share its answer, so a hung database holds at
most one thread.  A check that takes longer than ``timeout`` is "unavailable".

The API's load is reported beside it (``"load"``: ``"normal"``, ``"busy"``,
``"saturated"``): a saturated but healthy service answers 200.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import frozen
from sqlalchemy.engine import Engine
from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chinook_svc.restless import (
    DatabaseHealth,
    DatabaseThreads,
    Runner,
    check_database,
    database_threads,
)

#: Seconds a health check may take before the database counts as unavailable.
HEALTH_TIMEOUT = 5.0


@frozen
class HealthReport:
    """One answer of :meth:`HealthCheck.check`.

    Attributes:
        database_ok: the database answered ``SELECT 1`` in time.
        load: the API runner's load (``"normal"``, ``"busy"``, ``"saturated"``).
    """

    database_ok: bool
    load: str


class HealthCheck:
    """``SELECT 1`` on a runner of its own, shared by concurrent probes, with a timeout.

    Args:
        engine: the database to check (a connection of its own, ideally).
        runner: where the check runs (one thread of its own, ideally).
        clock: times the check out.
        timeout: seconds to wait for the database.
        load: the API runner's load report (``None``: always ``"normal"``).
    """

    log = Logger()

    def __init__(
        self,
        engine: Engine,
        runner: Runner,
        clock: IReactorTime,
        *,
        timeout: float = HEALTH_TIMEOUT,
        load: Callable[[], str] | None = None,
    ) -> None:
        self._engine = engine
        self._runner = runner
        self._clock = clock
        self._timeout = timeout
        self._load = load
        self._waiters: list[Deferred[DatabaseHealth]] = []
        self._running = False

    async def check(self) -> HealthReport:
        """Whether the database answers now, and the API's load."""
        waiter: Deferred[DatabaseHealth] = Deferred()
        self._waiters.append(waiter)
        if not self._running:
            self._running = True
            self._runner.run(check_database, self._engine).addBoth(self._settle)
        try:
            health = await waiter.addTimeout(self._timeout, self._clock)
        except CancelledError:  # the prober went away
            self._forget(waiter)
            raise
        except TimeoutError:
            self._forget(waiter)
            self.log.warn("Health check: the database did not answer in {seconds} s",
                          seconds=self._timeout)  # fmt: skip
            return HealthReport(False, self.load())
        if not health.ok:
            self.log.warn("Health check failed: {error}", error=health.error)
        return HealthReport(health.ok, self.load())

    def _forget(self, waiter: Deferred[DatabaseHealth]) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    def _settle(self, result: DatabaseHealth | Failure) -> None:
        self._running = False
        if isinstance(result, Failure):
            error = result.getErrorMessage() or result.type.__name__  # type: ignore[union-attr]
            result = DatabaseHealth(ok=False, seconds=0.0, error=error, unavailable=True)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.called:
                waiter.callback(result)

    def load(self) -> str:
        """The API's load."""
        return "normal" if self._load is None else self._load()

    @classmethod
    def dedicated(
        cls,
        engine: Engine,
        reactor: Any,
        *,
        timeout: float = HEALTH_TIMEOUT,
        load: Callable[[], str] | None = None,
    ) -> tuple[HealthCheck, DatabaseThreads]:
        """A check on one thread of its own (its threads are returned: start and stop them).

        Args:
            engine: an engine for the check alone (``pool_size=1``), so that it
                never waits for a connection the API holds; a check past
                ``timeout`` gets its connection broken.
            reactor: receives the thread's results and times the check.
            timeout: seconds to wait for the database.
            load: the API runner's load report.
        """
        threads = database_threads(
            reactor, engine, writes=False, queue_limit=1, deadline=timeout, name="health check"
        )
        return cls(engine, threads.runner, reactor, timeout=timeout, load=load), threads


class HealthService(Service):
    """Starts the health check's thread; on stop, stops it and closes its engine.

    Args:
        threads: the health check's thread pool and runner.
        engine: its engine, disposed on stop (``None``: it shares the API's).
    """

    def __init__(self, threads: DatabaseThreads, engine: Engine | None) -> None:
        self.threads = threads
        self.engine = engine

    def startService(self) -> None:
        """Start the thread pool."""
        super().startService()
        self.threads.start()

    def stopService(self) -> None:
        """Stop the thread pool and close the engine's connection."""
        super().stopService()
        self.threads.stop()
        if self.engine is not None:
            self.engine.dispose()


__all__ = ["HEALTH_TIMEOUT", "HealthCheck", "HealthReport", "HealthService"]
