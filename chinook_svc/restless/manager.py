"""``APIManager``: flask-restless's entry point, serving its APIs as a Twisted resource.

::

    manager = APIManager(engine)          # optionally reactor=, threadpool=, url_prefix=
    manager.create_api(Album, methods=["GET"], results_per_page=10)
    site = Site(manager.resource())

Every database call runs in a thread pool: the one given, or one the manager
owns (sized like the engine's connection pool, started when the reactor runs
and stopped when it shuts down).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Engine
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import IResource

from .cache import ResponseCache
from .endpoint import Endpoint
from .engines import pool_size_for
from .http import WellFormed
from .options import ApiOptions, Processor
from .query import Limits
from .routes import Registry, RestlessRoutes
from .runner import Runner, ThreadPoolRunner

# SQLite has no DECIMAL type; SQLAlchemy converts its floats with the column's
# scale, which is what we want, and warns each time it does so.
warnings.filterwarnings(
    "ignore", message=r"Dialect sqlite\+pysqlite does \*not\* support Decimal objects natively"
)


class APIManager:
    """Creates flask-restless APIs for SQLAlchemy models and serves them.

    Args:
        engine: the SQLAlchemy engine every API reads and writes through.
        reactor: the reactor that receives results from the thread pool
            (default: the global reactor, imported only if needed).
        threadpool: the pool database calls run in (default: one the
            manager owns, sized like the engine's connection pool).
        runner: run database calls with this instead (tests inject a
            synchronous one); overrides ``reactor`` and ``threadpool``.
        write_runner: run writes with this (default: ``runner`` if given;
            else, on SQLite, one writer thread the manager owns, elsewhere
            the read pool).
        url_prefix: default prefix of every API's URLs.
        preprocessors, postprocessors: universal processors, run before
            each API's own (0.17's ``APIManager`` arguments).
        limits: default bounds on the ``q`` parameter.
        cache_ttl: keep successful GET answers this many seconds and serve
            them from memory (``None``: no response cache); writes through
            this manager empty the cache.
        clock: the cache's clock (default: the reactor).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        reactor: Any = None,
        threadpool: ThreadPool | None = None,
        runner: Runner | None = None,
        write_runner: Runner | None = None,
        url_prefix: str = "/api",
        preprocessors: Mapping[str, Sequence[Processor]] | None = None,
        postprocessors: Mapping[str, Sequence[Processor]] | None = None,
        limits: Limits | None = None,
        cache_ttl: float | None = None,
        clock: Any = None,
    ) -> None:
        self.engine = engine
        self.url_prefix = url_prefix
        self.limits = limits or Limits()
        self.registry = Registry()
        self._reactor = reactor
        self._threadpool = threadpool
        self._owns_pool = False
        self._runner = runner
        self._write_runner: Runner | None = write_runner or runner
        self._writer_pool: ThreadPool | None = None
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._cache: ResponseCache | None = None
        self._pre = ApiOptions(collection_name="_", preprocessors=preprocessors or {}).preprocessors
        self._post = ApiOptions(
            collection_name="_", postprocessors=postprocessors or {}
        ).postprocessors

    # -- APIs ---------------------------------------------------------------------

    def create_api(self, model: type, **options: Any) -> Endpoint:
        """Expose ``model`` with flask-restless 0.17's ``create_api`` options."""
        options.setdefault("collection_name", model.__table__.name)  # type: ignore[attr-defined]
        if options.get("url_prefix") is None:
            options["url_prefix"] = self.url_prefix
        options.setdefault("limits", self.limits)
        api_options = ApiOptions(**options).with_processors(self._pre, self._post)
        endpoint = self._make_endpoint(model, api_options)
        self.registry.add(endpoint)
        return endpoint

    def _make_endpoint(self, model: type, options: ApiOptions) -> Endpoint:
        return Endpoint(self.engine, model, options)

    # -- serving --------------------------------------------------------------------

    @property
    def runner(self) -> Runner:
        """The runner database calls go through (created on first use)."""
        if self._runner is None:
            reactor = self._reactor
            if reactor is None:
                from twisted.internet import reactor as global_reactor

                reactor = self._reactor = global_reactor
            pool = self._threadpool
            if pool is None:
                pool = self._threadpool = ThreadPool(
                    minthreads=0, maxthreads=pool_size_for(self.engine), name="chinook-db"
                )
                self._owns_pool = True
                reactor.callWhenRunning(pool.start)
                reactor.addSystemEventTrigger("during", "shutdown", self.stop)
            self._runner = ThreadPoolRunner(reactor, pool)
        return self._runner

    @property
    def write_runner(self) -> Runner:
        """The runner writes go through.

        On SQLite, one dedicated thread: writers queue there instead of
        contending for SQLite's single write lock (no "database is locked").
        Elsewhere, the same pool as reads.
        """
        if self._write_runner is None:
            runner = self.runner
            if self.engine.dialect.name != "sqlite":
                self._write_runner = runner
            else:
                pool = self._writer_pool = ThreadPool(
                    minthreads=0, maxthreads=1, name="chinook-db-writer"
                )
                reactor = self._reactor
                reactor.callWhenRunning(pool.start)
                self._write_runner = ThreadPoolRunner(reactor, pool)
        return self._write_runner

    def stop(self) -> None:
        """Stop the thread pools the manager owns (they finish their queued work first)."""
        if self._owns_pool and self._threadpool is not None and self._threadpool.started:
            self._threadpool.stop()
        if self._writer_pool is not None and self._writer_pool.started:
            self._writer_pool.stop()

    @property
    def cache(self) -> ResponseCache | None:
        """The response cache, if ``cache_ttl`` asked for one."""
        if self._cache is None and self.cache_ttl:
            clock = self._clock
            if clock is None:
                from twisted.internet import reactor as clock
            self._cache = ResponseCache(clock, self.cache_ttl)
        return self._cache

    def routes(self) -> RestlessRoutes:
        """The Klein app serving every API created so far."""
        return RestlessRoutes(self.registry, self.runner, self.write_runner, self.cache)

    def resource(self) -> IResource:
        """A ``twisted.web`` resource serving every API created so far."""
        return WellFormed(self.routes().app.resource())


__all__ = ["APIManager", "pool_size_for"]
