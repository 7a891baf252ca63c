"""``twistd chinook``: command-line options and the one place the service is wired.

``makeService`` is the only code that imports the global reactor; it hands
it to :func:`build_service`, which builds, in order: Settings → engine →
thread pool (as big as the connection pool) → runner → ``ChinookApp`` →
``TrackingSite`` (tracebacks never shown) → ``strports.service(listen, site)``,
all in one :class:`~chinook_svc.services.SequentialService`. The plugin
(``twisted/plugins/chinook_plugin.py``) and ``chinook.tac`` both call
``makeService``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from twisted.application import strports
from twisted.application.service import MultiService
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.threadpool import ThreadPool

from chinook_svc.aggregate import (
    AggregateRoutes,
    AggregateSettings,
    ConnectionPoolService,
    local_base_url,
    make_http_client,
)
from chinook_svc.auth import MIN_TOKEN_LENGTH, TokenError, read_token
from chinook_svc.config import DEFAULT_LISTEN, Settings, load_settings
from chinook_svc.database import (
    SampleUnavailable,
    describe,
    open_engine,
    open_health_engine,
    sample_database_url,
    tidy_sqlite_wal,
)
from chinook_svc.models import EditionError, detect_edition
from chinook_svc.restless.engines import call_deadline, held_connections
from chinook_svc.restless.manager import pool_size_for
from chinook_svc.restless.runner import (
    ThreadPoolRunner,
    default_heavy_limit,
    default_queue_limit,
)
from chinook_svc.services import (
    AdoptedPortService,
    DatabaseService,
    DrainService,
    SequentialService,
)
from chinook_svc.web.app import ChinookApp
from chinook_svc.web.health import HealthCheck, HealthService
from chinook_svc.web.site import InFlight, TrackingSite
from chinook_svc.workers import WorkerPoolService

log = Logger()


class Options(usage.Options):
    """Options of ``twistd chinook``; each overrides its ``CHINOOK_*`` variable.

    Args:
        environ: the environment to read ``CHINOOK_*`` from (default:
            ``os.environ``); tests pass their own.
    """

    synopsis = "[--listen ENDPOINT] [--db URL] [--config FILE] [options]"
    longdesc = (
        "Serve a Chinook database as a flask-restless 0.17 compatible JSON API. "
        "Without --db, the embedded Chinook sample is served. Precedence: options, "
        "then CHINOOK_* environment variables, then the config file, then defaults."
    )
    optParameters = [
        [
            "listen",
            None,
            None,
            f"Endpoint to listen on (default {DEFAULT_LISTEN}) [CHINOOK_LISTEN]",
        ],
        ["db", None, None, "SQLAlchemy database URL (default: the embedded sample) [CHINOOK_DB]"],
        ["config", None, None, "config.cfg or .toml config file [CHINOOK_CONFIG]"],
        ["access-log", None, None, "Append an access log to this file [CHINOOK_ACCESS_LOG]"],
        [
            "statement-timeout",
            None,
            None,
            "Seconds one SQL statement may run, 0: no limit (default 5) "
            "[CHINOOK_STATEMENT_TIMEOUT]",
        ],
        [
            "cache-ttl",
            None,
            None,
            "Keep GET answers in memory this many seconds; writes "
            "empty the cache (default: no cache) [CHINOOK_CACHE_TTL]",
        ],
        [
            "threads",
            None,
            None,
            "Database worker threads (default: connection pool size) [CHINOOK_THREADS]",
        ],
        ["queue-limit", None, None, "Requests that may wait for a database thread, per lane "
         "(cheap, heavy); more are refused with 503 (default: 4 per thread, at least 16) "
         "[CHINOOK_QUEUE_LIMIT]"],
        ["heavy-threads", None, None, "Database threads heavy reads (searches, large pages, "
         "functions) may hold at once (default: 1 on SQLite, else all but one) "
         "[CHINOOK_HEAVY_THREADS]"],
        ["data-dir", None, None, "Where the embedded sample is kept [CHINOOK_DATA_DIR]"],
        [
            "workers",
            None,
            None,
            "Server processes sharing the socket (default 1) [CHINOOK_WORKERS]",
        ],
        [
            "api-token-file",
            None,
            None,
            "File with the bearer token writes must carry "
            "[CHINOOK_API_TOKEN_FILE; or the token itself in CHINOOK_API_TOKEN]",
        ],
        ["aggregate-timeout", None, None, "Seconds each /aggregate call may take (default 2) "
         "[CHINOOK_AGGREGATE_TIMEOUT]"],
        ["aggregate-deadline", None, None, "Seconds a whole /aggregate request may take "
         "(default 5) [CHINOOK_AGGREGATE_DEADLINE]"],
        ["aggregate-concurrency", None, None, "Upstream calls in flight at once (default 16) "
         "[CHINOOK_AGGREGATE_CONCURRENCY]"],
        ["aggregate-max-bytes", None, None, "Largest upstream body (default 1048576) "
         "[CHINOOK_AGGREGATE_MAX_BYTES]"],
    ]  # fmt: skip
    optFlags = [
        ["debug", None, "Log more (never shows tracebacks to clients) [CHINOOK_DEBUG]"],
        ["allow-writes", None, "Serve POST/PATCH/PUT/DELETE, behind the bearer token "
         "[CHINOOK_ALLOW_WRITES]"],
        ["auth-reads", None, "Reads need the bearer token too [CHINOOK_AUTH_READS]"],
        ["sqlite-wal", None, "With --allow-writes, switch a SQLite file to write-ahead "
         "logging (default: its journal mode is left alone) [CHINOOK_SQLITE_WAL]"],
    ]  # fmt: skip

    settings: Settings

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self["aggregate-source"] = []
        self._environ = os.environ if environ is None else environ

    def opt_aggregate_source(self, value: str) -> None:
        """Upstream of /aggregate, NAME=URL, repeatable [CHINOOK_AGGREGATE_SOURCES, ;-separated]"""
        self["aggregate-source"].append(value)

    def postOptions(self) -> None:
        """Merge options, environment and config file into :attr:`settings`."""
        given: dict[str, Any] = dict(self)
        # An absent flag is "not given", so that it does not override CHINOOK_DEBUG.
        for flag in ("debug", "allow-writes", "auth-reads", "sqlite-wal"):
            given[flag] = True if self[flag] else None
        given["aggregate-source"] = list(self["aggregate-source"]) or None
        self.given = given
        self.settings = load_settings(given, self._environ)


def api_token(settings: Settings) -> bytes | None:
    """The bearer token the settings call for (``None`` when nothing needs one).

    Raises:
        usage.UsageError: writes or authenticated reads are on and no
            usable token was given.
    """
    if not (settings.allow_writes or settings.auth_reads):
        return None
    if settings.api_token is not None:
        token = settings.api_token.encode("utf-8")
        if len(token) < MIN_TOKEN_LENGTH:
            raise usage.UsageError(
                f"CHINOOK_API_TOKEN must be at least {MIN_TOKEN_LENGTH} characters"
            )
        return token
    if settings.api_token_file is None:
        raise usage.UsageError(
            "--allow-writes and --auth-reads need a bearer token: "
            "--api-token-file FILE or the CHINOOK_API_TOKEN environment variable"
        )
    try:
        return read_token(settings.api_token_file)
    except TokenError as e:
        raise usage.UsageError(str(e)) from None


def build_service(
    settings: Settings,
    reactor: Any,
    *,
    adopt: tuple[int, socket.AddressFamily] | None = None,
    given: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> MultiService:
    """The whole service for ``settings`` on ``reactor``, not started.

    With ``settings.workers > 1`` this is the supervising parent of that many
    worker processes (``chinook_svc.workers``), which get ``given`` (the
    command-line values) and ``environ``; a worker passes ``adopt`` (the
    inherited listening socket's descriptor and family) instead of binding.

    Raises:
        usage.UsageError: the database cannot be opened or served, or the
            listen description is bad.
    """
    try:
        url = settings.db_url or sample_database_url(settings.data_dir)
    except SampleUnavailable as e:
        raise usage.UsageError(str(e)) from None
    except OSError as e:
        raise usage.UsageError(f"cannot prepare the embedded sample: {e}") from None
    if settings.workers > 1 and adopt is None:
        return _supervisor(settings, reactor, url, given or {}, environ or {})
    try:
        engine = open_engine(
            url,
            pool_size=settings.threads,
            statement_timeout=settings.statement_timeout,
            **file_options(settings),
        )
    except ModuleNotFoundError as e:
        raise usage.UsageError(
            f"cannot open database: no driver {e.name!r}; "
            "pip install 'chinook-svc[postgres]' or 'chinook-svc[mysql]'"
        ) from None
    except Exception as e:  # SQLAlchemy's errors: unknown dialect, bad URL arguments ...
        raise usage.UsageError(f"cannot open database: {e}") from None
    token = api_token(settings)
    threads = pool_size_for(engine)
    pool = ThreadPool(minthreads=0, maxthreads=threads, name="chinook-db")
    queue_limit = settings.queue_limit or default_queue_limit(threads)
    in_process = engine.dialect.name == "sqlite"
    heavy_limit = settings.heavy_threads or default_heavy_limit(threads, in_process=in_process)
    # Every call gets a client-side deadline; past it its connection is broken.
    limits: dict[str, Any] = {
        "queue_limit": queue_limit,
        "deadline": call_deadline(settings.statement_timeout),
        "abort": held_connections(engine).abort,
    }
    runner = ThreadPoolRunner(reactor, pool, heavy_limit=heavy_limit, **limits)
    # /healthz checks the database on a thread and a connection of its own.
    health_engine = open_health_engine(
        engine, url, statement_timeout=settings.statement_timeout, **file_options(settings)
    )
    health, health_pool = HealthCheck.dedicated(
        health_engine, reactor, load=runner.load, abort=held_connections(health_engine).abort
    )
    writer = None
    if settings.allow_writes and engine.dialect.name == "sqlite":
        # SQLite has one write lock: writes queue in one thread instead of contending for it.
        writer = ThreadPool(minthreads=0, maxthreads=1, name="chinook-db-writer")
    try:
        aggregate_settings = aggregate_settings_for(settings)
    except ValueError as e:
        engine.dispose()
        raise usage.UsageError(f"aggregate: {e}") from None
    http_client, http_pool = make_http_client(reactor, aggregate_settings)
    aggregate = AggregateRoutes(aggregate_settings, http_client, reactor)
    try:
        app = ChinookApp(
            engine,
            runner,
            reactor,
            write_runner=runner if writer is None else ThreadPoolRunner(reactor, writer, **limits),
            allow_writes=settings.allow_writes,
            token=token,
            auth_reads=settings.auth_reads,
            cache_ttl=settings.cache_ttl,
            aggregate=aggregate.resource(),
            health=health,
        )
    except EditionError as e:
        engine.dispose()
        raise usage.UsageError(str(e)) from None
    except Exception as e:  # the driver's errors: refused, no such file, bad password ...
        engine.dispose()
        raise usage.UsageError(f"cannot read database {describe(engine)}: {e}") from None
    in_flight = InFlight()
    site = TrackingSite(
        app.resource(),
        in_flight,
        reactor=reactor,
        verbose=settings.debug,
        access_log=settings.access_log,
    )
    try:
        listening = (
            strports.service(settings.listen, site, reactor=reactor)
            if adopt is None
            else AdoptedPortService(reactor, *adopt, site)
        )
    except (ValueError, KeyError, TypeError) as e:
        engine.dispose()
        raise usage.UsageError(f"bad listen endpoint {settings.listen!r}: {e}") from None
    top = SequentialService()
    DatabaseService(engine, pool, writer).setServiceParent(top)
    HealthService(health_pool, None if health_engine is engine else health_engine).setServiceParent(
        top
    )
    ConnectionPoolService(http_pool).setServiceParent(top)
    DrainService(in_flight, reactor, settings.shutdown_timeout).setServiceParent(top)
    listening.setServiceParent(top)
    return top


def aggregate_settings_for(settings: Settings) -> AggregateSettings:
    """``/aggregate``'s sources and limits: options over the ``[aggregate]`` table.

    Without configured sources, the built-in demo sources call this service's
    own API (when it listens on TCP).

    Raises:
        ValueError: a source or a limit is not acceptable.
    """
    configured = AggregateSettings.from_options(
        settings.aggregate_sources,
        timeout=settings.aggregate_timeout,
        deadline=settings.aggregate_deadline,
        concurrency=settings.aggregate_concurrency,
        max_bytes=settings.aggregate_max_bytes,
        defaults=AggregateSettings.from_table(settings.table("aggregate")),
    )
    try:
        return configured.or_demo(local_base_url(settings.listen))
    except ValueError:
        return configured  # not a TCP listener: no demo


def file_options(settings: Settings) -> dict[str, Any]:
    """``open_engine``'s arguments deciding how a SQLite file is opened."""
    return {
        "writes": settings.allow_writes,
        "sqlite_wal": settings.sqlite_wal,
        "data_dir": settings.data_dir,
    }


def _supervisor(
    settings: Settings, reactor: Any, url: str, given: Mapping[str, Any], environ: Mapping[str, str]
) -> MultiService:
    """The parent of ``settings.workers`` worker processes: checks the database, then supervises."""
    try:
        engine = open_engine(url, pool_size=1, **file_options(settings))
    except Exception as e:
        raise usage.UsageError(f"cannot open database: {e}") from None
    try:
        detect_edition(engine)
    except EditionError as e:
        raise usage.UsageError(str(e)) from None
    except Exception as e:
        raise usage.UsageError(f"cannot read database {describe(engine)}: {e}") from None
    finally:
        engine.dispose()
    api_token(settings)  # fail here, once, rather than in every worker
    try:
        aggregate_settings_for(settings)
    except ValueError as e:
        raise usage.UsageError(f"aggregate: {e}") from None
    options = {**given, "db": url, "workers": None}
    top = MultiService()
    WorkerPoolService(
        reactor,
        settings.listen,
        settings.workers,
        options,
        environ,
        stop_timeout=settings.shutdown_timeout + 5.0,
        after_stop=lambda: tidy_sqlite_wal(url, **file_options(settings)),
    ).setServiceParent(top)
    return top


def makeService(options: Options) -> MultiService:
    """The service ``twistd chinook`` runs, on the global reactor.

    A database that cannot be served ends twistd with a one-line message
    (``SystemExit``) rather than a traceback.
    """
    from twisted.internet import reactor

    try:
        return build_service(
            options.settings, reactor, given=options.given, environ=options._environ
        )
    except usage.UsageError as e:
        raise SystemExit(f"twistd chinook: {e}") from None


__all__ = ["Options", "build_service", "makeService"]
