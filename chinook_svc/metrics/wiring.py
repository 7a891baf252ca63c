"""The metrics of a process, wired: what ``tap.build_service`` asks for, and the services they need.

A single process (or a worker) gets :func:`process_instruments`: its
:class:`~chinook_svc.metrics.families.ServiceMetrics` (observer of the
engine and of ``/aggregate``), the root resource wrapped to count requests
and serve ``/metrics``, and :class:`MetricsService` (the thread that renders
scrapes, and with several workers the sampling of gauges every
:data:`SAMPLE_SECONDS`).  With ``--metrics-listen`` the page is served on
that endpoint instead of the API's port.

The parent of ``--workers N`` gets :func:`supervisor_instruments`: a
:class:`SharedDirectory` made when the service starts and removed when it
stops (after the workers), named to every worker in
``PROMETHEUS_MULTIPROC_DIR``; each worker then writes its values there, and
a scrape, whichever process answers it, reads them all.  With
``--metrics-listen`` the parent serves that scrape itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from twisted.application import strports
from twisted.application.service import IService, Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import IResource
from twisted.web.server import Site

from chinook_svc.aggregate import UNWATCHED, AggregateObserver
from chinook_svc.restless import UNOBSERVED, EngineObserver
from chinook_svc.services import SequentialService

from .families import ServiceMetrics
from .http import MeasuredRoot, MetricsPage, admin_root
from .statements import time_statements

if TYPE_CHECKING:
    from chinook_svc.settings import Settings

#: prometheus-client's multiprocess mode reads the directory from this variable.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds between two samplings of a worker's gauges (a scrape sees them this fresh).
SAMPLE_SECONDS = 1.0


class MetricsService(Service):
    """Owns the thread scrapes are rendered in and, if asked, samples gauges periodically.

    Args:
        pool: the rendering thread's pool.
        clock: times the sampling.
        sample: called every ``interval`` seconds while running (``None``: never).
    """

    def __init__(
        self, pool: ThreadPool, clock: Any, sample: Any = None, interval: float = SAMPLE_SECONDS
    ) -> None:
        self.pool = pool
        self._loop = None if sample is None else LoopingCall(sample)
        if self._loop is not None:
            self._loop.clock = clock
        self._interval = interval

    def startService(self) -> None:
        """Start the thread pool and the sampling."""
        super().startService()
        self.pool.start()
        if self._loop is not None:
            self._loop.start(self._interval, now=True)

    def stopService(self) -> None:
        """Stop sampling and the pool."""
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self.pool.started:
            self.pool.stop()


class SharedDirectory(Service):
    """The workers' metric files: a fresh directory on start, removed on stop.

    Args:
        base: where to make it (default: the system's temporary directory).
    """

    log = Logger()

    def __init__(self, base: str | None = None) -> None:
        self.base = base
        self.path: str | None = None

    def startService(self) -> None:
        """Make the directory."""
        super().startService()
        self.path = tempfile.mkdtemp(prefix="chinook-metrics-", dir=self.base)
        self.log.info("Workers' metrics in {path}", path=self.path)

    def stopService(self) -> None:
        """Remove the directory and everything in it."""
        super().stopService()
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None

    def environ(self) -> dict[str, str]:
        """What a worker's environment needs to write there."""
        return {} if self.path is None else {MULTIPROC_ENV: self.path}

    def worker_exited(self, pid: int) -> None:
        """Forget a dead worker's gauges (its counters still count)."""
        if self.path is not None:
            mark_process_dead(pid, self.path)


class _SharedFiles(Collector):
    """Collects the metric files of every worker in a directory (none before it exists)."""

    def __init__(self, path: Any) -> None:
        self._path = path

    def collect(self) -> Iterable[Any]:
        """The merged families of every process's files."""
        path = self._path()
        return [] if path is None else MultiProcessCollector(None, path).collect()


def _shared_registry(path: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SharedFiles(path))
    return registry


class _QuietSite(Site):
    """The admin endpoint's site: no traceback shown, no line logged per scrape."""

    displayTracebacks = False

    def log(self, request: Any) -> None:
        """Nothing: scrapes are not worth a log line each."""


def _render_pool() -> ThreadPool:
    return ThreadPool(minthreads=0, maxthreads=1, name="chinook-metrics")


def _admin_service(listen: str, page: IResource, reactor: Any) -> IService:
    try:
        service: IService = strports.service(listen, _QuietSite(admin_root(page)), reactor=reactor)
    except (ValueError, KeyError, TypeError) as e:
        raise usage.UsageError(f"bad metrics listen endpoint {listen!r}: {e}") from None
    return service


class Instruments:
    """The metrics of one serving process, as ``tap.build_service`` wires them.

    Args:
        reactor: the reactor (delivers rendered pages, times sampling).
        enabled: whether there are metrics at all.
        listen: serve ``/metrics`` on this endpoint instead of the API's port.
        shared: the workers' directory, in a worker (``None``: a single process).
        worker: a worker of ``--workers N``: with ``listen``, the parent
            serves ``/metrics`` and the worker does not.
        token: the bearer token ``/metrics`` on the API's port needs (``None``: none).
    """

    def __init__(
        self,
        reactor: Any,
        *,
        enabled: bool,
        listen: str | None = None,
        shared: str | None = None,
        token: bytes | None = None,
        worker: bool = False,
    ) -> None:
        self.metrics = ServiceMetrics() if enabled else None
        self._token = token
        self._services: list[IService] = []
        self._page: MetricsPage | None = None
        if self.metrics is None:
            return
        pool = _render_pool()
        registry = self.metrics.registry if shared is None else _shared_registry(lambda: shared)
        page = MetricsPage(registry, reactor, pool, self.metrics.sample)
        sample = None if shared is None else self.metrics.sample
        self._services.append(MetricsService(pool, reactor, sample))
        if listen is None:
            self._page = page
        elif not worker:
            self._services.append(_admin_service(listen, page, reactor))

    @property
    def observer(self) -> EngineObserver:
        """The engine's observer."""
        return self.metrics if self.metrics is not None else UNOBSERVED

    @property
    def aggregate_observer(self) -> AggregateObserver:
        """``/aggregate``'s observer."""
        return self.metrics if self.metrics is not None else UNWATCHED

    def wrap(self, root: IResource, engine: Engine, in_flight: Any, threads: Any) -> IResource:
        """The site's root: ``root``, its requests counted (and ``/metrics`` beside it).

        Also times ``engine``'s statements, and samples the requests in flight
        (``in_flight.count``) and ``threads``' runners (``runner``, ``write_runner``).
        """
        if self.metrics is None:
            return root
        time_statements(engine, self.metrics)
        self.metrics.watch(lambda: in_flight.count, [threads.runner, threads.write_runner])
        return MeasuredRoot(root, self.metrics, self._page, token=self._token)

    def add_services(self, parent: Any) -> None:
        """Add the services these metrics need to ``parent`` (before the API's port)."""
        for service in self._services:
            service.setServiceParent(parent)


def process_instruments(
    reactor: Any, settings: Settings, worker: bool, token: bytes | None
) -> Instruments:
    """A single process's metrics, or a worker's (then the parent serves ``metrics_listen``).

    A worker writes to the directory its parent named in ``PROMETHEUS_MULTIPROC_DIR``
    (prometheus-client read the same variable when it was imported).
    """
    return Instruments(
        reactor,
        enabled=settings.metrics,
        listen=settings.metrics_listen,
        shared=os.environ.get(MULTIPROC_ENV) if worker else None,
        token=token if settings.auth_reads else None,
        worker=worker,
    )


class WorkerHooks:
    """What the parent of ``--workers N`` gives its worker pool: environment, exit hook."""

    def __init__(self, directory: SharedDirectory | None) -> None:
        self._directory = directory

    def environ(self) -> dict[str, str]:
        """More environment for a worker (the shared directory's name)."""
        return {} if self._directory is None else self._directory.environ()

    def worker_exited(self, pid: int) -> None:
        """A worker exited: forget its gauges."""
        if self._directory is not None:
            self._directory.worker_exited(pid)

    def as_arguments(self) -> dict[str, Any]:
        """``WorkerPoolService``'s keyword arguments for these hooks."""
        return {"extra_environ": self.environ, "worker_exited": self.worker_exited}


def supervisor_instruments(
    reactor: Any, settings: Settings
) -> tuple[SequentialService, WorkerHooks]:
    """The parent's service, with the workers' metrics, and the hooks for its worker pool.

    The service (to which the caller adds the worker pool last) stops its
    children last added first: the workers, then the admin endpoint serving
    their metrics (with ``metrics_listen``), then their shared directory.
    """
    parent = SequentialService()
    if not settings.metrics:
        return parent, WorkerHooks(None)
    directory = SharedDirectory()
    directory.setServiceParent(parent)
    if settings.metrics_listen is not None:
        pool = _render_pool()
        page = MetricsPage(_shared_registry(lambda: directory.path), reactor, pool)
        MetricsService(pool, reactor).setServiceParent(parent)
        _admin_service(settings.metrics_listen, page, reactor).setServiceParent(parent)
    return parent, WorkerHooks(directory)


__all__ = [
    "MULTIPROC_ENV",
    "SAMPLE_SECONDS",
    "Instruments",
    "MetricsService",
    "SharedDirectory",
    "WorkerHooks",
    "process_instruments",
    "supervisor_instruments",
]
