"""``APIManager``: flask-restless's entry point, serving its APIs as a Twisted resource.

::

    manager = APIManager(engine, reactor=reactor)  # or runner=; threadpool=, url_prefix=
    manager.create_api(Album, methods=["GET"], results_per_page=10)
    site = Site(manager.resource())

Every database call runs in a thread pool: the one given, or one the manager
owns (sized like the engine's connection pool, started when the reactor runs
and stopped when it shuts down; ``_threads``).  The manager holds the state
its APIs share and nothing else does: the models' introspection and the
object loader's caches live as long as the manager.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Engine
from twisted.internet.interfaces import IReactorTime
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import IResource

from ._api import CollectionApi
from ._cache import ResponseCache
from ._collection import Collection
from ._generations import SharedGenerations
from ._http import WellFormed
from ._invalidation import Announcer
from ._loader import ObjectLoader
from ._openapi import openapi_document
from ._options import ApiOptions, Processor, attribute_names, legacy_options
from ._query import Limits
from ._routes import Registry, RestlessRoutes
from ._runner import Runner
from ._schema import Catalog
from ._shape import Shapes
from ._threads import DatabaseThreads, database_threads

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
            (needed unless ``runner`` is given).
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
        clock: the cache's clock (default: ``reactor``).
        generations: the write generations the cache shares with the other
            worker processes of the instance (default: its own).
        announcer: what each write transaction does so that other instances
            hear of it (``_invalidation``; default: nothing).
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
        clock: IReactorTime | None = None,
        generations: SharedGenerations | None = None,
        announcer: Announcer | None = None,
    ) -> None:
        self.engine = engine
        self.url_prefix = url_prefix
        self.limits = limits or Limits()
        self.registry = Registry()
        self._threads: DatabaseThreads | None = None
        if runner is None:
            if reactor is None:
                raise TypeError("APIManager needs reactor= (or runner=) to run database calls")
            self._threads = database_threads(reactor, engine, pool=threadpool)
            self._threads.start_with(reactor)
            runner = self._threads.runner
            write_runner = write_runner or self._threads.write_runner
        #: runs database reads
        self.runner: Runner = runner
        #: runs writes
        self.write_runner: Runner = write_runner or runner
        self.cache_ttl = cache_ttl
        #: the response cache, if ``cache_ttl`` asked for one
        self.cache: ResponseCache | None = None
        if cache_ttl:
            clock = clock or reactor
            if clock is None:
                raise TypeError("a response cache needs clock= (or reactor=)")
            self.cache = ResponseCache(clock, cache_ttl, generations=generations)
        self._announcer = announcer
        self._catalog = Catalog()
        self._objects = ObjectLoader()
        self._shapes = Shapes()
        self._pre = ApiOptions(collection_name="_", preprocessors=preprocessors or {}).preprocessors
        self._post = ApiOptions(
            collection_name="_", postprocessors=postprocessors or {}
        ).postprocessors

    # -- APIs ---------------------------------------------------------------------

    def create_api(self, model: type, **options: Any) -> CollectionApi:
        """Expose ``model`` with flask-restless 0.17's ``create_api`` options."""
        options = legacy_options(dict(options))
        for key in ("include_columns", "exclude_columns"):
            options[key] = attribute_names(model, options.get(key))
        options.setdefault("collection_name", model.__table__.name)  # type: ignore[attr-defined]
        if options.get("url_prefix") is None:
            options["url_prefix"] = self.url_prefix
        options.setdefault("limits", self.limits)
        api_options = ApiOptions(**options).with_processors(self._pre, self._post)
        collection = Collection(
            self.engine,
            model,
            api_options,
            catalog=self._catalog,
            objects=self._objects,
            shapes=self._shapes,
            announcer=self._announcer,
        )
        api = CollectionApi(collection)
        self.registry.add(api)
        return api

    # -- serving --------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the thread pools the manager owns (they finish their queued work first)."""
        if self._threads is not None:
            self._threads.stop()

    def routes(self) -> RestlessRoutes:
        """The Klein app serving every API created so far."""
        return RestlessRoutes(self.registry, self.runner, self.write_runner, self.cache)

    def resource(self) -> IResource:
        """A ``twisted.web`` resource serving every API created so far."""
        return WellFormed(self.routes().app.resource())

    def openapi(
        self,
        *,
        title: str = "REST API",
        version: str = "1",
        description: str | None = None,
        server_url: str = "/",
        mount: str = "",
        bearer: Iterable[str] = (),
    ) -> dict[str, Any]:
        """The OpenAPI 3.1 document of every API created so far (``_openapi``).

        ``mount`` is where :meth:`resource` is served under ``server_url``;
        ``bearer`` names the methods that need a bearer token.
        """
        return openapi_document(
            self.registry,
            title=title,
            version=version,
            description=description,
            limits=self.limits,
            server_url=server_url,
            mount=mount,
            bearer=frozenset(m.upper() for m in bearer),
        )


__all__ = ["APIManager"]
