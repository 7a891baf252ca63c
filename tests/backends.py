"""The three databases the engine serves alike, for tests: SQLite, PostgreSQL, MariaDB.

:class:`Databases` hands out, per backend, an engine on a private copy of
the Chinook sample: a SQLite file, or a freshly created, uniquely named
PostgreSQL schema or MariaDB database (reached through
``schema_translate_map``, so the prepared-statement path is exercised with
it).  Everything it created is dropped when it is closed.  Server backends
skip (or fail, in CI) through the ``postgres_url``/``mysql_url`` fixtures.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine, make_url

from chinook_svc import models
from chinook_svc.restless import APIManager, InlineRunner, create_database_engine
from chinook_svc.sample import load_sample

from .restless_client import Client
from .tcp_proxy import TcpProxy

NAMES = ("sqlite", "postgresql", "mysql")
#: ``pytest.param`` s for a fixture parametrised over the backends, with their markers.
PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]
SERVER_PARAMS = PARAMS[1:]
NOT_INLINED = {"genres", "media_types", "playlists"}


def server_url(request: pytest.FixtureRequest, name: str) -> str:
    """The server URL for a backend (skips or fails, per ``conftest``, when unreachable)."""
    fixture = {"postgresql": "postgres_url", "mysql": "mysql_url"}[name]
    return str(request.getfixturevalue(fixture))


def new_schema_name() -> str:
    """A schema (PostgreSQL) or database (MariaDB) name no other test uses."""
    return f"chinook_test_{uuid.uuid4().hex[:12]}"


def drop_schema(url: str, schema: str) -> None:
    """Drop a test schema (PostgreSQL, with its tables) or database (MariaDB)."""
    admin = create_engine(url)
    try:
        quoted = admin.dialect.identifier_preparer.quote_schema(schema)
        cascade = " CASCADE" if admin.dialect.name == "postgresql" else ""
        keyword = "SCHEMA" if admin.dialect.name == "postgresql" else "DATABASE"
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP {keyword} IF EXISTS {quoted}{cascade}")
    finally:
        admin.dispose()


@contextmanager
def scratch_schema(url: str) -> Iterator[str]:
    """A new, empty schema (or MariaDB database) on a server; dropped afterwards."""
    schema = new_schema_name()
    admin = create_engine(url)
    try:
        quoted = admin.dialect.identifier_preparer.quote_schema(schema)
        keyword = "SCHEMA" if admin.dialect.name == "postgresql" else "DATABASE"
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE {keyword} {quoted}")
    finally:
        admin.dispose()
    try:
        yield schema
    finally:
        drop_schema(url, schema)


def served_copy(
    request: pytest.FixtureRequest, name: str, tmp_path: Path, cleanups: list[Any]
) -> tuple[str, Path | None]:
    """A new private copy of the sample in backend ``name``: the URL a service is given
    (PostgreSQL: its schema on the search path; MariaDB: its database), and the SQLite
    file (``None`` on a server).  What must be dropped afterwards is appended to ``cleanups``.
    """
    if name == "sqlite":
        db = tmp_path / "chinook.db"
        shutil.copyfile(request.getfixturevalue("chinook_file"), db)
        return f"sqlite:///{db}", db
    url = server_url(request, name)
    schema = new_schema_name()
    cleanups.append(lambda: drop_schema(url, schema))
    loader = create_engine(url)
    try:
        load_sample(loader, schema=schema)
    finally:
        loader.dispose()
    if name == "postgresql":
        return f"{url}?options=-csearch_path%3D{schema}", None
    return make_url(url).set(database=schema).render_as_string(hide_password=False), None


def in_schema(engine: Engine, schema: str | None) -> Engine:
    """``engine`` reading and writing unqualified tables in ``schema``."""
    if schema is None:
        return engine
    return engine.execution_options(schema_translate_map={None: schema})


def checksum(engine: Engine, metadata: MetaData = models.DEFAULT.metadata) -> str:
    """A digest of the content of every table of ``metadata``, computed where it is cheapest.

    Equal before and after a request means the request changed nothing.
    PostgreSQL hashes each table's rows (in key order) itself, MariaDB takes
    ``CHECKSUM TABLE``; SQLite's rows are read and hashed here.
    """
    schema = engine.get_execution_options().get("schema_translate_map", {}).get(None)
    quote = engine.dialect.identifier_preparer
    digest = hashlib.sha256()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table in metadata.sorted_tables:
            name = quote.quote(table.name)
            if schema is not None:
                name = f"{quote.quote_schema(schema)}.{name}"
            keys = table.primary_key.columns or table.columns
            order = ", ".join(quote.quote(c.name) for c in keys)
            if engine.dialect.name == "postgresql":
                sql = f"SELECT md5(string_agg(t::text, '|' ORDER BY {order})) FROM {name} t"
            elif engine.dialect.name in ("mysql", "mariadb"):
                sql = f"CHECKSUM TABLE {name}"
            else:
                sql = f"SELECT * FROM {name} ORDER BY {order}"
            cursor.execute(sql)  # nosec B608: names from the models, quoted
            digest.update(f"{table.name}:{cursor.fetchall()!r};".encode("utf-8", "surrogatepass"))
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return digest.hexdigest()


class Databases:
    """Chinook copies per backend, created on first use and dropped on :meth:`close`.

    Args:
        request: the requesting fixture's request (for the server fixtures).
        tmp_dir: where SQLite copies go.
        engine_options: arguments for :func:`create_database_engine`.
    """

    def __init__(self, request: pytest.FixtureRequest, tmp_dir: Path, **engine_options: Any):
        self._request = request
        self._tmp_dir = tmp_dir
        self._options = {"threads": 2, **engine_options}
        self._engines: dict[str, Engine] = {}
        self._cleanups: list[Any] = []

    def engine(self, name: str) -> Engine:
        """An engine on this collection's copy of the sample in backend ``name``."""
        if name not in self._engines:
            self._engines[name] = self._create(name)
        return self._engines[name]

    def _create(self, name: str) -> Engine:
        if name == "sqlite":
            source = self._request.getfixturevalue("chinook_file")
            target = self._tmp_dir / f"chinook-{uuid.uuid4().hex[:8]}.db"
            shutil.copy(source, target)
            engine = create_database_engine(f"sqlite:///{target}", **self._options)
            self._cleanups.append(engine.dispose)
            return engine
        url = server_url(self._request, name)
        schema = new_schema_name()
        self._cleanups.append(lambda: drop_schema(url, schema))
        loader = create_engine(url)
        try:
            load_sample(loader, schema=schema)
        finally:
            loader.dispose()
        engine = create_database_engine(url, **self._options)
        self._cleanups.append(engine.dispose)
        return in_schema(engine, schema)

    def close(self) -> None:
        """Dispose of every engine and drop every schema created."""
        for cleanup in reversed(self._cleanups):
            cleanup()
        self._cleanups.clear()
        self._engines.clear()


def chinook_manager(engine: Engine, methods: tuple[str, ...] = ("GET",), **kwargs: Any) -> Any:
    """An :class:`APIManager` (synchronous) exposing the 11 Chinook tables."""
    manager = APIManager(engine, runner=InlineRunner())
    for name, model in models.DEFAULT.by_table().items():
        manager.create_api(
            model,
            methods=list(methods),
            collection_name=name,
            allow_functions=True,
            exclude_inline=("tracks",) if name in NOT_INLINED else (),
            **kwargs.get(name, {}),
        )
    return manager


def chinook_client(engine: Engine, methods: tuple[str, ...] = ("GET",), **kwargs: Any) -> Client:
    """An in-memory client for :func:`chinook_manager`."""
    return Client(chinook_manager(engine, methods, **kwargs).resource())


def chinook_client_on(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[Client]:
    """For a module fixture parametrised with :data:`PARAMS`: a read-only client on that backend.

    ``yield from`` it; the backend's database is dropped when the fixture ends.
    """
    databases = Databases(request, tmp_path_factory.mktemp(name))
    try:
        yield chinook_client(databases.engine(request.param))
    finally:
        databases.close()


@contextmanager
def sample_through_proxy(url_text: str) -> Iterator[tuple[TcpProxy, str]]:
    """The sample in a scratch schema of a server, and a URL reaching it through a
    :class:`~tests.tcp_proxy.TcpProxy` (which can cut, stall, and count round trips)."""
    url = make_url(url_text)
    with scratch_schema(url_text) as schema:
        loader = create_engine(url)
        try:
            load_sample(loader, schema=schema)
        finally:
            loader.dispose()
        port = url.port or (5432 if url.get_backend_name() == "postgresql" else 3306)
        with TcpProxy(url.host or "127.0.0.1", port) as proxy:
            via = url.set(host="127.0.0.1", port=proxy.port)
            if url.get_backend_name() == "postgresql":
                via = via.update_query_dict({"options": f"-csearch_path={schema}"})
            else:
                via = via.set(database=schema)
            yield proxy, via.render_as_string(hide_password=False)
