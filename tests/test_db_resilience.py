"""A slow statement or a database that goes away: 503 JSON quickly, and recovery by itself.

* Statement timeout (SQLite, PostgreSQL, MariaDB): a model over a view that
  takes seconds to read, served with a 0.5 s statement timeout, answers 503
  within a second or two; the next request on the same (single) connection
  succeeds.
* Outage (PostgreSQL, MariaDB): the engine reaches the server through a TCP
  proxy the test controls (``tests/tcp_proxy.py``).  Cut (port closed) or
  stalled (connections accepted, never answered), every request answers 503
  JSON within a bound and ``check_database`` says the database is down; once
  the proxy forwards again, requests succeed within seconds, without a
  restart.
* The prepared-statement path (``restless/prepared.py``) treats a dropped
  connection as SQLAlchemy does: the error is a 503, the connection is
  invalidated, and so are the pool's older connections.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, String, bindparam, create_engine, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import DeclarativeBase

from chinook_svc.restless import APIManager, InlineRunner, check_database, create_database_engine
from chinook_svc.restless._dberrors import read_error
from chinook_svc.restless._prepared import PreparedCache

from . import backends
from .restless_client import Answer, Client, q
from .tcp_proxy import TcpProxy


class Base(DeclarativeBase):
    pass


class Thing(Base):
    """A small ordinary table."""

    __tablename__ = "things"
    id = Column(Integer, primary_key=True)
    name = Column(String(40))


class Nap(Base):
    """A view that takes seconds to read (created by :func:`create_slow_view`)."""

    __tablename__ = "naps"
    id = Column(Integer, primary_key=True)
    nap = Column(Integer)


SLOW_VIEWS = {
    "postgresql": "CREATE VIEW {schema}naps AS SELECT 1 AS id, 0 AS nap FROM pg_sleep(5)",
    "mysql": "CREATE ALGORITHM=TEMPTABLE VIEW {schema}naps AS SELECT 1 AS id, SLEEP(5) AS nap",
    "sqlite": "CREATE VIEW naps AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL"
    " SELECT x + 1 FROM n WHERE x < 1000000000) SELECT 1 AS id, count(x) * 0 AS nap FROM n",
}


def create_tables(url: str | URL, schema: str | None) -> None:
    """``things`` with three rows, and the slow ``naps`` view."""
    setup = backends.in_schema(create_engine(url), schema)
    try:
        Base.metadata.create_all(setup, tables=[Thing.__table__])
        with setup.begin() as conn:
            conn.execute(insert(Thing), [{"id": i, "name": f"thing {i}"} for i in (1, 2, 3)])
            prefix = "" if schema is None else conn.dialect.identifier_preparer.quote(schema) + "."
            conn.exec_driver_sql(SLOW_VIEWS[conn.dialect.name].format(schema=prefix))
    finally:
        setup.dispose()


@pytest.fixture(params=backends.PARAMS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """(URL, schema) of a database holding ``things`` and ``naps``; dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'things.db'}"
        create_tables(url, None)
        yield url, None
        return
    url = backends.server_url(request, request.param)
    with backends.scratch_schema(url) as schema:
        create_tables(url, schema)
        yield url, schema


@pytest.fixture(params=backends.SERVER_PARAMS)
def proxied(request: pytest.FixtureRequest) -> Iterator[tuple[TcpProxy, URL, str]]:
    """A server database with ``things``, and a proxy to it: (proxy, URL via proxy, schema)."""
    url = make_url(backends.server_url(request, request.param))
    with backends.scratch_schema(str(url)) as schema:
        create_tables(url, schema)
        with TcpProxy(url.host or "127.0.0.1", url.port or 0) as proxy:
            yield proxy, url.set(host="127.0.0.1", port=proxy.port), schema


def serve(engine: Engine, *models: type) -> Client:
    """An in-memory client serving ``models`` (synchronously) from ``engine``."""
    manager = APIManager(engine, runner=InlineRunner())
    for model in models:
        manager.create_api(model, allow_functions=True)
    return Client(manager.resource())


def timed(client: Client, path: str) -> tuple[Answer, float]:
    """A GET and how long it took."""
    started = time.monotonic()
    answer = client.get(path)
    return answer, time.monotonic() - started


def assert_unavailable(answer: Answer) -> None:
    """The database-unavailable answer: 503 JSON, retry soon."""
    assert answer.code == 503, answer.body
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["retry-after"] == "1"
    assert answer.json == {"message": "Database unavailable"}


def test_statement_timeout_is_503_and_the_connection_serves_on(
    database: tuple[str, str | None],
) -> None:
    """A statement past the timeout: 503 JSON in about the timeout; the next request is 200."""
    url, schema = database
    engine = create_database_engine(url, threads=1, statement_timeout=0.5)
    served = backends.in_schema(engine, schema)
    try:
        client = serve(served, Thing, Nap)
        answer, seconds = timed(client, "/api/naps")
        assert_unavailable(answer)
        assert 0.4 < seconds < 2.5
        answer = client.get("/api/things/2")
        assert (answer.code, answer.json) == (200, {"id": 2, "name": "thing 2"})
        with served.connect() as conn:
            with pytest.raises(sa_exc.OperationalError) as caught:
                conn.execute(select(Nap)).all()
            assert read_error(caught.value).status == 503
            assert not conn.invalidated
            conn.rollback()
            assert conn.execute(select(Thing.name).where(Thing.id == 3)).scalar() == "thing 3"
    finally:
        engine.dispose()


def test_outage_answers_503_quickly_and_recovers(proxied: tuple[TcpProxy, URL, str]) -> None:
    """Cut or stalled: 503 JSON within seconds, health says down; restored: 200 within 5 s."""
    proxy, url, schema = proxied
    engine = create_database_engine(url, threads=2, statement_timeout=2, connect_timeout=1)
    served = backends.in_schema(engine, schema)
    try:
        client = serve(served, Thing)
        assert client.get("/api/things").json["num_results"] == 3
        assert client.get("/api/things/1").code == 200
        proxy.cut()
        count = "/api/eval/things?" + q({"functions": [{"name": "count", "field": "id"}]})
        for path in ("/api/things", "/api/things/1", count):
            answer, seconds = timed(client, path)
            assert_unavailable(answer)
            assert seconds < 3, path
        health = check_database(served)
        assert (health.ok, health.unavailable) == (False, True) and health.seconds < 3
        proxy.stall()
        answer, seconds = timed(client, "/api/things/1")
        assert_unavailable(answer)
        # psycopg waits at least 2 s for a connection; PyMySQL waits for the greeting as
        # long as for a result (statement_timeout + connect_timeout = 3 s here).
        assert seconds < 4.5
        proxy.restore()
        deadline = time.monotonic() + 5
        while client.get("/api/things/1").code != 200:
            assert time.monotonic() < deadline, "no recovery within 5 s"
            time.sleep(0.1)
        assert [client.get(f"/api/things/{i}").code for i in (1, 2, 3)] == [200, 200, 200]
        assert check_database(served).ok
    finally:
        engine.dispose()


def test_prepared_path_invalidates_dropped_connections(
    proxied: tuple[TcpProxy, URL, str],
) -> None:
    """A dropped connection on the raw-cursor path: 503, invalidated, older pool members too."""
    proxy, url, schema = proxied
    engine = create_database_engine(url, threads=2, pool_pre_ping=False)
    served = backends.in_schema(engine, schema)
    cache = PreparedCache()

    def name_of(conn: Any, key: int) -> Any:
        statement = cache.get(
            "name", conn, lambda: select(Thing.name).where(Thing.id == bindparam("key"))
        )
        return statement.scalar(conn, {"key": key})

    try:
        first, second = served.connect(), served.connect()
        assert (name_of(first, 1), name_of(second, 2)) == ("thing 1", "thing 2")
        second.close()  # back to the pool, soon dead
        proxy.cut()
        proxy.restore()
        with pytest.raises(sa_exc.DBAPIError) as caught:
            name_of(first, 1)
        assert caught.value.connection_invalidated and first.invalidated
        assert read_error(caught.value).status == 503
        first.close()
        # Without pre-ping, only the pool-wide invalidation makes this a fresh connection.
        with served.connect() as conn:
            assert name_of(conn, 3) == "thing 3"
        client = serve(served, Thing)
        assert client.get("/api/things/2").json == {"id": 2, "name": "thing 2"}
    finally:
        engine.dispose()
