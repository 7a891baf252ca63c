"""The long-lived parts of the service, as Twisted services with an orderly stop.

``makeService`` (``chinook_svc.tap``) puts them in one
:class:`SequentialService`::

    DatabaseService  (thread pool + engine)     starts first, stops last
    DrainService     (waits for in-flight requests)
    listening port   (strports.service)         starts last, stops first

so that on SIGTERM the port closes first, requests already accepted finish
(up to a bound), and only then the thread pool stops and the engine closes
its connections (which is when SQLite removes its ``-wal``/``-shm`` files).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from chinook_svc.database import describe
from chinook_svc.web.site import InFlight


class SequentialService(MultiService):
    """A ``MultiService`` that stops its children one at a time, last added first.

    ``MultiService`` stops all children at once; here each child's stop
    (and the Deferred it returns) completes before the next one starts.
    """

    def stopService(self) -> Deferred[None]:
        """Stop the children in reverse order, each after the previous one has stopped."""
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop_children(list(reversed(list(self)))))

    async def _stop_children(self, children: list[IService]) -> None:
        for child in children:
            result: Any = child.stopService()
            if isinstance(result, Deferred):
                await result


class DatabaseService(Service):
    """Owns the database thread pools and the engine: starts the pools, stops all.

    Args:
        engine: disposed (every pooled connection closed) on stop.
        pool: the read pool, started on start, stopped on stop.
        writer: an extra pool for writes (SQLite's single writer), if any.
    """

    log = Logger()

    def __init__(self, engine: Engine, pool: ThreadPool, writer: ThreadPool | None = None) -> None:
        self.engine = engine
        self.pool = pool
        self.writer = writer

    def _pools(self) -> list[ThreadPool]:
        return [self.pool] if self.writer is None else [self.pool, self.writer]

    def startService(self) -> None:
        """Start the thread pools."""
        super().startService()
        for pool in self._pools():
            pool.start()
        self.log.info(
            "Serving {db} with {threads} database thread(s){writer}",
            db=describe(self.engine),
            threads=self.pool.max,
            writer="" if self.writer is None else " and one writer thread",
        )

    def stopService(self) -> None:
        """Stop the thread pools (their threads are idle by now), then close all connections."""
        super().stopService()
        for pool in self._pools():
            if pool.started:
                pool.stop()
        self.engine.dispose()
        self.log.info("Database closed")


#: Connections the kernel queues before the service accepts them (Twisted's default: 50).
DEFAULT_BACKLOG = 1024
#: Endpoint types whose description takes ``backlog=``.
BACKLOG_ENDPOINTS = frozenset({"tcp", "tcp6", "ssl", "unix"})


def with_backlog(listen: str, backlog: int | None = None) -> str:
    """The endpoint description ``listen`` with a listen backlog, unless it names one.

    Only ``tcp``, ``tcp6``, ``ssl`` and ``unix`` endpoints take a backlog;
    other descriptions are returned unchanged.  ``None``:
    :data:`DEFAULT_BACKLOG`.  (The kernel caps it at ``net.core.somaxconn``.)
    """
    kind = listen.split(":", 1)[0].strip().lower()
    if kind not in BACKLOG_ENDPOINTS or ":backlog=" in listen:
        return listen
    return f"{listen}:backlog={backlog or DEFAULT_BACKLOG}"


def accept_one_at_a_time(port: Any) -> None:
    """Make a shared listening port take one new connection per readiness event.

    Twisted accepts up to ``numberAccepts`` (growing by 20) connections each
    time the socket is readable, so the worker that wakes first would take a
    whole burst of connections (wrk's 32, a proxy's pool) and keep them for
    their keep-alive lifetime while the others idle.  One at a time, every
    worker woken by the same event gets its share.
    """
    if not hasattr(port, "numberAccepts"):
        return
    accept = port.doRead

    def do_read() -> Any:
        port.numberAccepts = 1
        return accept()

    port.doRead = do_read


class AdoptedPortService(Service):
    """Serves ``factory`` on an inherited listening socket (a worker process's).

    Args:
        reactor: provides ``IReactorSocket``.
        fd: the listening socket's file descriptor.
        family: its address family.
        factory: the protocol factory (the site).
    """

    def __init__(self, reactor: Any, fd: int, family: Any, factory: Any) -> None:
        self.reactor = reactor
        self.fd = fd
        self.family = family
        self.factory = factory
        self.port: Any = None

    def startService(self) -> None:
        """Start accepting connections on the socket, one per wake-up."""
        super().startService()
        self.port = self.reactor.adoptStreamPort(self.fd, self.family, self.factory)
        accept_one_at_a_time(self.port)

    def stopService(self) -> Any:
        """Stop accepting (other workers go on accepting on the same socket)."""
        super().stopService()
        if self.port is None:
            return None
        port, self.port = self.port, None
        return port.stopListening()


class DrainService(Service):
    """On stop, waits until no request is in flight, at most ``timeout`` seconds.

    Args:
        in_flight: the site's request counter.
        clock: times the upper bound.
        timeout: the upper bound, in seconds.
    """

    def __init__(self, in_flight: InFlight, clock: IReactorTime, timeout: float) -> None:
        self.in_flight = in_flight
        self.clock = clock
        self.timeout = timeout

    def stopService(self) -> Deferred[bool]:
        """A Deferred that fires when the requests are done (``True``) or time is up (``False``)."""
        super().stopService()
        return self.in_flight.wait(self.clock, self.timeout)


__all__ = [
    "DEFAULT_BACKLOG",
    "AdoptedPortService",
    "DatabaseService",
    "DrainService",
    "SequentialService",
    "with_backlog",
]
