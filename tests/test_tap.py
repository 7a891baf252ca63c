"""``twistd chinook`` wiring, in the style of mimic's ``test_tap.py``.

The plugin is found and points at ``chinook_svc.tap``; ``build_service``
builds the service tree on a ``MemoryReactorClock`` (which records
``listenTCP`` instead of binding a port), so the ``Site``, the thread pool and
the listening endpoint can be inspected without a network.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IServiceMaker, MultiService
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import IPlugin, getPlugins
from twisted.python.usage import UsageError

from chinook_svc import tap
from chinook_svc.aggregate import ConnectionPoolService
from chinook_svc.config import Settings
from chinook_svc.services import DatabaseService, DrainService, SequentialService
from chinook_svc.web.health import HealthService
from chinook_svc.web.site import TrackingSite

from .service_support import make_tiny_chinook


@pytest.fixture
def tiny_url(tmp_path: Path) -> str:
    """URL of a tiny Chinook database."""
    return make_tiny_chinook(tmp_path / "tiny.db")


def parts(
    service: MultiService,
) -> tuple[DatabaseService, DrainService, StreamServerEndpointService]:
    """The database, drain and listening children of the service, in start order."""
    database, health, upstreams, drain, listening = list(service)
    assert isinstance(health, HealthService)
    assert isinstance(upstreams, ConnectionPoolService)
    assert isinstance(database, DatabaseService)
    assert isinstance(drain, DrainService)
    assert isinstance(listening, StreamServerEndpointService)
    return database, drain, listening


@pytest.fixture
def built(tiny_url: str) -> Any:
    """A function building the service for settings, on a memory reactor; engines disposed after."""
    made: list[MultiService] = []

    def build(**settings: Any) -> tuple[MultiService, MemoryReactorClock]:
        reactor = MemoryReactorClock()
        service = tap.build_service(Settings(**{"db_url": tiny_url, **settings}), reactor)
        made.append(service)
        return service, reactor

    yield build
    for service in made:
        parts(service)[0].engine.dispose()


def test_plugin_is_found() -> None:
    """twisted.plugins has a 'chinook' IServiceMaker whose makeService is tap.makeService."""
    from twisted.plugins import chinook_plugin

    plugin = chinook_plugin.chinook
    assert IPlugin.providedBy(plugin)
    assert IServiceMaker.providedBy(plugin)
    assert plugin.tapname == "chinook"
    assert plugin.options is tap.Options
    assert plugin.makeService is tap.makeService
    assert "chinook" in {p.tapname for p in getPlugins(IServiceMaker)}


def test_plugin_package_has_no_init() -> None:
    """twisted/ and twisted/plugins/ are namespace directories: no __init__.py in either."""
    root = Path(__file__).resolve().parent.parent
    assert (root / "twisted" / "plugins" / "chinook_plugin.py").is_file()
    assert not (root / "twisted" / "__init__.py").exists()
    assert not (root / "twisted" / "plugins" / "__init__.py").exists()


def test_service_tree(built: Any) -> None:
    """The service is a SequentialService: database, drain, then the listening port."""
    service, _ = built()
    assert isinstance(service, SequentialService)
    _, drain, listening = parts(service)
    assert drain.timeout == Settings().shutdown_timeout
    assert isinstance(listening.factory, TrackingSite)
    assert listening.factory.in_flight is drain.in_flight


@pytest.mark.parametrize("debug", [False, True])
def test_site_never_displays_tracebacks(built: Any, debug: bool) -> None:
    """The Site hides tracebacks, with and without --debug; --debug only logs more."""
    service, _ = built(debug=debug)
    site = parts(service)[2].factory
    assert site.displayTracebacks is False
    assert site.verbose is debug


def test_listens_where_told(built: Any) -> None:
    """Starting the service listens on the --listen endpoint; stopping closes the database."""
    service, reactor = built(listen="tcp:8765:interface=127.0.0.2")
    service.startService()
    ((port, factory, _, interface),) = reactor.tcpServers
    assert (port, interface) == (8765, "127.0.0.2")
    assert isinstance(factory, TrackingSite)
    database = parts(service)[0]
    assert database.pool.started
    stopped = service.stopService()
    assert stopped.called
    assert not database.pool.started


def test_default_listen(built: Any) -> None:
    """By default the service listens on 127.0.0.1:8080 only."""
    service, reactor = built()
    service.startService()
    ((port, _, _, interface),) = reactor.tcpServers
    assert (port, interface) == (8080, "127.0.0.1")
    service.stopService()


def test_threads_follow_the_connection_pool(built: Any) -> None:
    """Worker threads = connection pool size (SQLAlchemy's 5), or --threads for both."""
    database = parts(built()[0])[0]
    assert database.pool.max == database.engine.pool.size() == 5
    database = parts(built(threads=3)[0])[0]
    assert database.pool.max == database.engine.pool.size() == 3


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"listen": "tcp:notaport"}, "bad listen endpoint 'tcp:notaport'"),
        ({"listen": "nosuchtransport:1"}, "bad listen endpoint"),
    ],
)
def test_bad_listen(tiny_url: str, settings: dict[str, str], message: str) -> None:
    """A listen description Twisted cannot parse is a UsageError."""
    with pytest.raises(UsageError, match=message):
        tap.build_service(Settings(db_url=tiny_url, **settings), MemoryReactorClock())


def empty_database(path: Path) -> Path:
    """A SQLite file holding one table that is not Chinook's."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE other (x INTEGER)")
    return path


def test_database_without_chinook(tmp_path: Path) -> None:
    """A database without Chinook tables is a UsageError that says how to load the sample."""
    db = empty_database(tmp_path / "empty.db")
    with pytest.raises(UsageError, match="load-sample"):
        tap.build_service(Settings(db_url=f"sqlite:///{db}"), MemoryReactorClock())


def test_unreachable_database(tmp_path: Path) -> None:
    """A SQLite file that does not exist is a UsageError naming it (never created)."""
    url = f"sqlite:///{tmp_path}/no/such/dir/x.db"
    with pytest.raises(UsageError, match="cannot open database: no such SQLite database file"):
        tap.build_service(Settings(db_url=url), MemoryReactorClock())


def test_without_db_uses_the_embedded_sample(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_url: str
) -> None:
    """With no --db, the service serves ensure_sample_database(), kept in --data-dir."""
    calls: list[Path | None] = []
    fake = types.ModuleType("chinook_svc.sample")
    fake.default_sample_path = lambda: Path("/somewhere/chinook.db")  # type: ignore[attr-defined]

    def ensure_sample_database(path: Path | None = None) -> str:
        calls.append(path)
        return tiny_url

    fake.ensure_sample_database = ensure_sample_database  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "chinook_svc.sample", fake)
    service = tap.build_service(Settings(data_dir=tmp_path / "data"), MemoryReactorClock())
    database = parts(service)[0]
    assert str(database.engine.url) == tiny_url
    database.engine.dispose()
    assert calls == [tmp_path / "data" / "chinook.db"]


def test_embedded_sample(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With no --db the real embedded sample is materialised in CHINOOK_DATA_DIR and served."""
    sample = pytest.importorskip(
        "chinook_svc.sample", reason="the bundled sample is not merged yet"
    )
    monkeypatch.setenv("CHINOOK_DATA_DIR", str(tmp_path))
    options = tap.Options(environ={"CHINOOK_DATA_DIR": str(tmp_path)})
    options.parseOptions([])
    service = tap.build_service(options.settings, MemoryReactorClock())
    database = parts(service)[0]
    assert Path(database.engine.url.database).parent == tmp_path
    assert sample.default_sample_path().parent == tmp_path
    database.engine.dispose()


def test_make_service_uses_the_global_reactor(tiny_url: str) -> None:
    """makeService builds the same tree on the global reactor (not started here)."""
    from twisted.internet import reactor

    options = tap.Options(environ={"CHINOOK_DB": tiny_url})
    options.parseOptions([])
    service = tap.makeService(options)
    database, drain, listening = parts(service)
    assert drain.clock is reactor
    assert listening.factory.reactor is reactor
    database.engine.dispose()


def test_make_service_reports_bad_databases_in_one_line(tmp_path: Path) -> None:
    """makeService turns a database it cannot serve into a SystemExit with the reason."""
    db = empty_database(tmp_path / "empty.db")
    options = tap.Options(environ={"CHINOOK_DB": f"sqlite:///{db}"})
    options.parseOptions([])
    with pytest.raises(SystemExit, match=r"^twistd chinook: no Chinook tables found"):
        tap.makeService(options)


def test_missing_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL whose driver is not installed says which extra to install."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(UsageError, match=r"no driver 'psycopg'.*chinook-svc\[postgres\]"):
        tap.build_service(Settings(db_url="postgresql+psycopg://u@h/db"), MemoryReactorClock())


def test_no_sample_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --db and without the sample package, twistd says to pass --db."""
    monkeypatch.setitem(sys.modules, "chinook_svc.sample", None)
    with pytest.raises(UsageError, match="pass --db URL"):
        tap.build_service(Settings(), MemoryReactorClock())


def test_database_work_is_bounded_and_health_has_its_own_thread(built: Any) -> None:
    """The API's runner: bounded lanes, one heavy thread on SQLite, a deadline; /healthz apart."""
    service, _ = built(threads=3, queue_limit=7, statement_timeout=2.0)
    database, health = list(service)[:2]
    assert isinstance(health, HealthService)
    assert health.threads.pool.max == 1 and health.engine is not None
    assert health.engine is not database.engine  # a connection of its own
    root = parts(service)[2].factory.resource.wrapped  # inside WellFormed
    gate = root._children[b"api"]
    runner = gate._runner
    assert (runner.pool, runner.queue_limit, runner.heavy_limit, runner.deadline) == (
        database.pool,
        7,
        1,
        3.0,
    )
    health.engine.dispose()
    service, _ = built(threads=3)
    runner = parts(service)[2].factory.resource.wrapped._children[b"api"]._runner
    assert (runner.queue_limit, runner.deadline) == (64, 6.0)
    list(service)[1].engine.dispose()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"allow_writes": True}, "need a bearer token"),
        ({"aggregate_sources": ("no-equals-sign=",)}, "aggregate"),
        ({"listen": "tcp:notaport"}, "bad listen endpoint"),
    ],
)
def test_failures_after_opening_dispose_of_the_engine(
    tiny_url: str, monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any], message: str
) -> None:
    """Whatever fails once the engines are open (token, /aggregate, listener) disposes of them."""
    opened: list[Any] = []
    disposed: list[Any] = []

    def watching(real_open: Any) -> Any:
        def open_and_watch(*args: Any, **kwargs: Any) -> Any:
            engine = real_open(*args, **kwargs)
            real_dispose = engine.dispose
            monkeypatch.setattr(
                engine, "dispose", lambda: (disposed.append(engine), real_dispose())
            )
            opened.append(engine)
            return engine

        return open_and_watch

    monkeypatch.setattr(tap, "open_engine", watching(tap.open_engine))
    monkeypatch.setattr(tap, "open_health_engine", watching(tap.open_health_engine))
    with pytest.raises(UsageError, match=message):
        tap.build_service(Settings(db_url=tiny_url, **settings), MemoryReactorClock())
    # The API's engine and /healthz's own, each disposed of once.
    assert len(opened) == 2 and opened[0] is not opened[1]
    assert sorted(map(id, disposed)) == sorted(map(id, opened))


def test_listen_backlog(built: Any) -> None:
    """The port listens with a backlog of 1024 unless --listen-backlog or the endpoint says."""
    for settings, backlog in [
        ({"listen": "tcp:8765:interface=127.0.0.2"}, 1024),
        ({"listen": "tcp:8765", "listen_backlog": 77}, 77),
        ({"listen": "tcp:8765:backlog=5", "listen_backlog": 77}, 5),
    ]:
        service, reactor = built(**settings)
        service.startService()
        ((_, _, listening_backlog, _),) = reactor.tcpServers
        assert listening_backlog == backlog
        service.stopService()


def test_edge_limits_and_body_policy(built: Any) -> None:
    """The site gets the request deadlines of the settings and the app's body policy."""
    from chinook_svc.web.app import ChinookApp
    from chinook_svc.web.edge import EdgeLimits

    site = parts(built()[0])[2].factory
    assert site.limits == EdgeLimits()
    assert isinstance(site.body_policy.__self__, ChinookApp)
    site = parts(built(head_timeout=3.0, body_timeout=4.5)[0])[2].factory
    assert (site.limits.head_timeout, site.limits.body_timeout) == (3.0, 4.5)
