"""``twistd chinook``: the one place the service is wired.

``makeService`` is the only code that imports the global reactor; it hands
it to :func:`build_service`, which builds, in order: Settings → engine →
thread pools and runners (``restless.database_threads``: as big as the
connection pool, and SQLite's writer thread; bounded queues, a deadline per
call) and ``/healthz``'s own thread and connection → ``ChinookApp`` →
``TrackingSite`` (tracebacks never shown) → ``strports.service(listen, site)``,
all in one :class:`~chinook_svc.services.SequentialService`. The plugin
(``twisted/plugins/chinook_plugin.py``) and ``chinook.tac`` both call
``makeService``; :class:`Options` (generated from the settings' declarations,
``chinook_svc.options``) is re-exported here for the plugin.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from sqlalchemy.engine import Engine
from twisted.application import strports
from twisted.application.service import MultiService
from twisted.logger import Logger
from twisted.python import usage

from chinook_svc.aggregate import (
    AggregateRoutes,
    AggregateSettings,
    ConnectionPoolService,
    local_base_url,
    make_http_client,
    raise_open_file_limit,
)
from chinook_svc.auth import MIN_TOKEN_LENGTH, TokenError, read_token
from chinook_svc.config import Settings
from chinook_svc.database import (
    SampleUnavailable,
    describe,
    open_engine,
    open_health_engine,
    sample_database_url,
    tidy_sqlite_wal,
)
from chinook_svc.log_format import with_log_format
from chinook_svc.models import EditionError, detect_edition
from chinook_svc.options import Options
from chinook_svc.reflection import Choice, ReflectedModels, ReflectionError, reflect_models
from chinook_svc.restless import (
    SharedGenerations,
    WatchService,
    call_deadline,
    database_threads,
    default_queue_limit,
    invalidation_for,
    pool_size_for,
)
from chinook_svc.services import (
    AdoptedPortService,
    DatabaseService,
    DrainService,
    SequentialService,
    with_backlog,
)
from chinook_svc.web.access_log import open_access_log, stdout_relay
from chinook_svc.web.app import READ_ONLY, READ_WRITE, ChinookApp
from chinook_svc.web.cors import CorsPolicy
from chinook_svc.web.edge import EdgeLimits
from chinook_svc.web.health import HealthCheck, HealthService
from chinook_svc.web.site import InFlight, TrackingSite
from chinook_svc.workers import WorkerPoolService

log = Logger()


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
    stdout_fd: int = 1,
    generations: SharedGenerations | None = None,
) -> MultiService:
    """The whole service for ``settings`` on ``reactor``, not started.

    With ``settings.workers > 1`` this is the supervising parent of that many
    worker processes (``chinook_svc.workers``), which get ``given`` (the
    command-line values) and ``environ``; a worker passes ``adopt`` (the
    inherited listening socket's descriptor and family) instead of binding,
    ``generations``, the write generations its response cache shares with the
    other workers, and ``stdout_fd``, its access log's standard output.
    Once the engine is open, any failure disposes of it before it propagates.

    Raises:
        usage.UsageError: the database cannot be opened or served, or the
            listen description is bad.
    """
    if settings.reflect and settings.db_url is None:
        raise usage.UsageError("--db URL is required: which database should be reflected?")
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
    with ExitStack() as on_failure:
        on_failure.callback(engine.dispose)
        # /healthz checks the database on a connection of its own.
        health_engine = open_health_engine(
            engine, url, statement_timeout=settings.statement_timeout, **file_options(settings)
        )
        if health_engine is not engine:
            on_failure.callback(health_engine.dispose)
        service = _serve(settings, reactor, engine, health_engine, adopt, stdout_fd, generations)
        on_failure.pop_all()  # built: its services dispose of the engines on stop
    return service


def _serve(
    settings: Settings,
    reactor: Any,
    engine: Engine,
    health_engine: Engine,
    adopt: tuple[int, socket.AddressFamily] | None,
    stdout_fd: int = 1,
    generations: SharedGenerations | None = None,
) -> MultiService:
    """The service tree around open engines (the caller disposes of them if this raises)."""
    token = api_token(settings)
    # Bounded queues, and a deadline after which a call's connection is broken.
    threads = database_threads(
        reactor,
        engine,
        writes=settings.allow_writes,
        queue_limit=settings.queue_limit or default_queue_limit(pool_size_for(engine)),
        heavy_limit=settings.heavy_threads,
        deadline=call_deadline(settings.statement_timeout),
    )
    # /healthz never waits behind API work: a thread of its own.
    health, health_threads = HealthCheck.dedicated(health_engine, reactor, load=threads.runner.load)
    try:
        aggregate_settings = aggregate_settings_for(settings)
    except ValueError as e:
        raise usage.UsageError(f"aggregate: {e}") from None
    aggregate_settings = fit_open_file_limit(aggregate_settings)
    http_agent, http_pool = make_http_client(reactor, aggregate_settings)
    aggregate = AggregateRoutes(aggregate_settings, http_agent, reactor, verbose=settings.debug)
    models = served_models(settings, engine)
    announcer, make_watcher, mechanism = invalidation_for(
        str(engine.url.render_as_string(hide_password=False)),
        redis=settings.cache_redis,
        poll=settings.cache_poll,
    )
    try:
        app = ChinookApp(
            engine,
            threads.runner,
            reactor,
            write_runner=threads.write_runner,
            allow_writes=settings.allow_writes,
            token=token,
            auth_reads=settings.auth_reads,
            cache_ttl=settings.cache_ttl,
            generations=generations,
            announcer=announcer,
            aggregate=aggregate.resource(),
            aggregate_settings=aggregate_settings,
            cors=CorsPolicy(
                settings.cors_origins, READ_WRITE if settings.allow_writes else READ_ONLY
            ),
            health=health,
            models=models,
        )
    except EditionError as e:
        raise usage.UsageError(str(e)) from None
    except Exception as e:  # the driver's errors: refused, no such file, bad password ...
        raise usage.UsageError(f"cannot read database {describe(engine)}: {e}") from None
    in_flight = InFlight()
    access_log = open_access_log(settings.access_log, reactor, settings.log_format, stdout_fd)
    site = TrackingSite(
        app.resource(),
        in_flight,
        reactor=reactor,
        verbose=settings.debug,
        access_log=access_log,
        limits=edge_limits(settings),
        body_policy=app.body_policy,
    )
    try:
        listening = (
            strports.service(
                with_backlog(settings.listen, settings.listen_backlog), site, reactor=reactor
            )
            if adopt is None
            else AdoptedPortService(reactor, *adopt, site)
        )
    except (ValueError, KeyError, TypeError) as e:
        raise usage.UsageError(f"bad listen endpoint {settings.listen!r}: {e}") from None
    top = SequentialService()
    DatabaseService(engine, threads.pool, threads.writer).setServiceParent(top)
    health_owned = None if health_engine is engine else health_engine
    HealthService(health_threads, health_owned).setServiceParent(top)
    ConnectionPoolService(http_pool).setServiceParent(top)
    DrainService(in_flight, reactor, settings.shutdown_timeout).setServiceParent(top)
    cache = app.manager.cache
    if cache is not None and make_watcher is not None:
        # Other instances' writes: the cache is bypassed until the watcher is connected.
        WatchService(reactor, cache, make_watcher, mechanism).setServiceParent(top)
    listening.setServiceParent(top)
    return top


def served_models(settings: Settings, engine: Engine) -> ReflectedModels | None:
    """The reflected models ``twistd restless`` serves (``None``: Chinook's, detected later).

    Raises:
        usage.UsageError: nothing can be served, or the schema cannot be read.
    """
    if not settings.reflect:
        return None
    try:
        return reflect_models(engine, Choice.of(settings))
    except ReflectionError as e:
        raise usage.UsageError(str(e)) from None
    except Exception as e:  # the driver's errors: refused, no such file, bad password ...
        raise usage.UsageError(f"cannot read database {describe(engine)}: {e}") from None


def edge_limits(settings: Settings) -> EdgeLimits:
    """The HTTP edge's limits: the settings' deadlines, the edge's defaults for the rest."""
    return EdgeLimits(head_timeout=settings.head_timeout, body_timeout=settings.body_timeout)


def aggregate_settings_for(settings: Settings) -> AggregateSettings:
    """``/aggregate``'s sources and limits: options over the ``[aggregate]`` table.

    Without configured sources, the built-in demo sources call this service's
    own API (when it listens on TCP).

    Raises:
        ValueError: a source or a limit is not acceptable.
    """
    configured = AggregateSettings.from_options(
        settings.aggregate_sources,
        defaults=AggregateSettings.from_table(settings.table("aggregate")),
        timeout=settings.aggregate_timeout,
        deadline=settings.aggregate_deadline,
        concurrency=settings.aggregate_concurrency,
        max_in_flight=settings.aggregate_max_in_flight,
        per_client=settings.aggregate_per_client,
        per_host=settings.aggregate_per_host,
        max_bytes=settings.aggregate_max_bytes,
    )
    try:
        return configured.or_demo(local_base_url(settings.listen))
    except ValueError:
        return configured  # not a TCP listener: no demo


def fit_open_file_limit(aggregate: AggregateSettings) -> AggregateSettings:
    """Raise the open-file limit to the hard limit (logged); fit the fan-out's bounds in it."""
    limit = raise_open_file_limit()
    log.info(
        "{summary}",
        summary=limit.describe(),
        before=limit.before,
        after=limit.after,
        hard=limit.hard,
    )
    fitted = aggregate.within_descriptors(limit.after)
    if fitted.max_in_flight < aggregate.max_in_flight:
        log.warn(
            "Upstream calls in flight lowered from {wanted} to {fitted} to fit the open-file "
            "limit of {limit}",
            wanted=aggregate.max_in_flight,
            fitted=fitted.max_in_flight,
            limit=limit.after,
        )
    return fitted


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
        if settings.reflect:
            served_models(settings, engine)
        else:
            detect_edition(engine)
    except EditionError as e:
        raise usage.UsageError(str(e)) from None
    except usage.UsageError:
        raise
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
        with_backlog(settings.listen, settings.listen_backlog),
        settings.workers,
        options,
        environ,
        stop_timeout=settings.shutdown_timeout + 5.0,
        after_stop=lambda: tidy_sqlite_wal(url, **file_options(settings)),
        access_out=stdout_relay(settings.access_log),
    ).setServiceParent(top)
    return top


def command_service(options: Options, command: str) -> MultiService:
    """The service ``twistd <command>`` runs, on the global reactor.

    A database that cannot be served ends twistd with a one-line message
    (``SystemExit``) rather than a traceback.
    """
    from twisted.internet import reactor

    try:
        service = build_service(
            options.settings, reactor, given=options.given, environ=options._environ
        )
    except usage.UsageError as e:
        raise SystemExit(f"twistd {command}: {e}") from None
    return with_log_format(service, options.settings.log_format, getattr(options, "parent", None))


def makeService(options: Options) -> MultiService:
    """The service ``twistd chinook`` runs (:func:`command_service`)."""
    return command_service(options, "chinook")


__all__ = ["Options", "build_service", "command_service", "makeService"]
