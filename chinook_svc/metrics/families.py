"""Every metric family of the service, in a registry of its own: :class:`ServiceMetrics`.

One :class:`ServiceMetrics` per process.  It is the engine's
``EngineObserver`` (shed and overdue database calls, response-cache traffic)
and ``/aggregate``'s ``AggregateObserver`` (upstream calls, refusals); the
HTTP side reports each request to :meth:`ServiceMetrics.request_done`, the
database's statements come from SQLAlchemy's events
(:mod:`chinook_svc.metrics.statements`).  What can be read at any moment
(requests in flight, threads busy, calls waiting, the process's memory,
descriptors and CPU) is read by :meth:`ServiceMetrics.sample`, when a scrape
comes and, with several workers, every second.

Under ``--workers N`` each worker writes its values to files in the directory
``PROMETHEUS_MULTIPROC_DIR`` names (prometheus-client's multiprocess mode,
chosen when the library is imported): counters and histograms add up over
the workers, gauges marked ``livesum`` add up over the live ones, and
``liveall`` ones keep a ``pid`` label each.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from chinook_svc.restless import Cost, ThreadPoolRunner

#: Seconds: from a cached answer (well under a millisecond) to the statement timeout.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip
#: Methods counted by name; any other is counted as ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The status a request gets when its client went away before the answer (nginx's).
CLIENT_CLOSED = 499


def process_figures() -> tuple[float | None, float | None, float]:
    """This process's resident memory (bytes), open descriptors and CPU seconds.

    Memory and descriptors come from ``/proc`` (``None`` where there is none);
    CPU time from ``os.times``.
    """
    rss: float | None = None
    fds: float | None = None
    try:
        with open("/proc/self/statm", "rb") as statm:
            rss = float(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
        fds = float(len(os.listdir("/proc/self/fd")))
    except (OSError, ValueError, IndexError):
        pass
    times = os.times()
    return rss, fds, times.user + times.system


class ServiceMetrics:
    """The service's metric families, and the observer of the engine and of ``/aggregate``.

    Args:
        registry: where the families are registered (default: a new one).
        figures: reads this process's memory, descriptors and CPU time.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        figures: Callable[[], tuple[float | None, float | None, float]] = process_figures,
    ) -> None:
        disable_created_metrics()  # no *_created series beside every counter
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self._figures = figures
        self.requests = Counter(
            "chinook_http_requests", "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "chinook_http_request_duration_seconds", "Time to answer an HTTP request, by route",
            ["route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "chinook_http_requests_in_flight", "HTTP requests being answered",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.db_threads = Gauge(
            "chinook_db_threads", "Threads of a database thread pool",
            ["pool"], registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.db_busy = Gauge(
            "chinook_db_threads_busy", "Threads of a database thread pool running a call",
            ["pool"], registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.db_waiting = Gauge(
            "chinook_db_queue_depth", "Database calls waiting for a thread, by lane (cost)",
            ["pool", "cost"], registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.shed_calls = Counter(
            "chinook_requests_shed", "Requests refused 503: their lane's queue was full",
            ["pool", "cost"], registry=r,
        )  # fmt: skip
        self.overdue_calls = Counter(
            "chinook_db_deadline_exceeded", "Database calls answered 503 past their deadline",
            ["pool"], registry=r,
        )  # fmt: skip
        self.statement_seconds = Histogram(
            "chinook_db_statement_duration_seconds", "Time a SQL statement took (failed ones too)",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.db_errors = Counter(
            "chinook_db_errors", "Database errors, by kind", ["kind"], registry=r
        )
        self.cache_lookups = Counter(
            "chinook_cache_lookups", "Response-cache lookups, by result (hit, miss, bypassed)",
            ["result"], registry=r,
        )  # fmt: skip
        self.cache_evictions = Counter(
            "chinook_cache_evictions", "Response-cache entries gone, by reason",
            ["reason"], registry=r,
        )  # fmt: skip
        self.upstream_calls = Counter(
            "chinook_aggregate_calls", "/aggregate upstream calls, by source and outcome",
            ["source", "outcome"], registry=r,
        )  # fmt: skip
        self.upstream_seconds = Histogram(
            "chinook_aggregate_call_duration_seconds", "Time an /aggregate upstream call took",
            ["source"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.aggregate_refused = Counter(
            "chinook_aggregate_refused", "/aggregate requests refused (429, 503)",
            ["reason"], registry=r,
        )  # fmt: skip
        self.rss = Gauge(
            "process_resident_memory_bytes", "Resident memory of the process",
            registry=r, multiprocess_mode="liveall",
        )  # fmt: skip
        self.fds = Gauge(
            "process_open_fds", "Open file descriptors of the process",
            registry=r, multiprocess_mode="liveall",
        )  # fmt: skip
        self.cpu = Counter("process_cpu_seconds", "CPU time used (user and system)", registry=r)
        self._cpu_counted = 0.0
        self._answered: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[str, Any] = {}
        self._in_flight: Callable[[], int] | None = None
        self._runners: dict[int, ThreadPoolRunner] = {}

    # -- HTTP --------------------------------------------------------------------------

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count an answered request (``route`` is a template) and time it."""
        key = (route, method, status)
        counted = self._answered.get(key)
        if counted is None:
            label = method if method in METHODS else "other"
            counted = self._answered[key] = self.requests.labels(route, label, str(status))
        counted.inc()
        timed = self._timed.get(route)
        if timed is None:
            timed = self._timed[route] = self.request_seconds.labels(route)
        timed.observe(seconds)

    # -- what is read when sampled -------------------------------------------------------

    def watch(self, in_flight: Callable[[], int], runners: list[ThreadPoolRunner]) -> None:
        """Read ``in_flight()`` and these runners' threads and queues at every :meth:`sample`."""
        self._in_flight = in_flight
        for runner in runners:
            self._runners[id(runner)] = runner

    def sample(self) -> None:
        """Set the gauges from what they watch, and count the CPU time used since last time."""
        if self._in_flight is not None:
            self.in_flight.set(self._in_flight())
        for runner in self._runners.values():
            pool = runner.label
            self.db_threads.labels(pool).set(runner.pool.max)
            self.db_busy.labels(pool).set(runner.busy)
            for cost in Cost:
                self.db_waiting.labels(pool, cost.value).set(runner.waiting(cost))
        rss, fds, cpu = self._figures()
        if rss is not None:
            self.rss.set(rss)
        if fds is not None:
            self.fds.set(fds)
        if cpu > self._cpu_counted:
            self.cpu.inc(cpu - self._cpu_counted)
            self._cpu_counted = cpu

    # -- the engine's observer -----------------------------------------------------------

    def shed(self, pool: str, cost: str) -> None:
        """A call was refused: its lane was full."""
        self.shed_calls.labels(pool, cost).inc()

    def overdue(self, pool: str) -> None:
        """A call was answered 503 past its deadline."""
        self.overdue_calls.labels(pool).inc()

    def cache_lookup(self, result: str) -> None:
        """A response-cache lookup: ``hit``, ``miss`` or ``bypassed``."""
        self.cache_lookups.labels(result).inc()

    def cache_dropped(self, reason: str, count: int) -> None:
        """Response-cache entries went away."""
        self.cache_evictions.labels(reason).inc(count)

    def statement_error(self, kind: str) -> None:
        """A database error of ``kind`` (``restless.error_kind``)."""
        self.db_errors.labels(kind).inc()

    # -- /aggregate's observer -----------------------------------------------------------

    def upstream_call(self, source: str, outcome: str, seconds: float) -> None:
        """An upstream call ended."""
        self.upstream_calls.labels(source, outcome).inc()
        self.upstream_seconds.labels(source).observe(seconds)

    def refused(self, reason: str) -> None:
        """An aggregate request was refused."""
        self.aggregate_refused.labels(reason).inc()


__all__ = ["CLIENT_CLOSED", "LATENCY_BUCKETS", "METHODS", "ServiceMetrics", "process_figures"]
