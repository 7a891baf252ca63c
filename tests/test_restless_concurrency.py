"""Concurrent writers over a real socket, on SQLite, PostgreSQL and MariaDB: no lost rows.

The engine serves a copy of the Chinook sample on 127.0.0.1 with its real
thread pools, on an engine from ``create_database_engine``: on SQLite reads
run in a pool and writes in the single writer lane; on a server both go
through the connection pool, one connection per worker thread.  200 POSTs
fired at once must all answer 201 and leave exactly 200 new rows with
distinct ids after the loaded ones (on PostgreSQL: the sequences were
reset by the loader), while reads keep answering.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
from sqlalchemy import select
from sqlalchemy.engine import Engine
from twisted.internet import defer, reactor
from twisted.web.client import HTTPConnectionPool
from twisted.web.server import Site

from chinook_svc import models
from chinook_svc.restless import APIManager

from . import backends

LOADED_GENRES = 25


@pytest.fixture(params=backends.PARAMS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A private copy of the sample on one backend, served from 8 worker threads."""
    databases = backends.Databases(request, tmp_path, threads=8)
    try:
        yield databases.engine(request.param)
    finally:
        databases.close()


@pytest_twisted.ensureDeferred
async def test_200_concurrent_posts(engine: Engine) -> None:
    """200 simultaneous POSTs: every response 201, 200 new rows, 200 distinct new ids."""
    manager = APIManager(engine, reactor=reactor)
    manager.create_api(models.Genre, collection_name="genres", methods=["GET", "POST"])
    site = Site(manager.resource())
    port = reactor.listenTCP(0, site, backlog=512, interface="127.0.0.1")
    pool = HTTPConnectionPool(reactor, persistent=False)
    base = f"http://127.0.0.1:{port.getHost().port}/api/genres"
    try:

        async def post(i: int) -> tuple[int, Any]:
            response = await treq.post(base, json={"name": f"Genre {i}"}, pool=pool)
            return response.code, await response.json()

        async def read() -> int:
            response = await treq.get(base, pool=pool)
            await response.content()
            return response.code

        calls = [defer.ensureDeferred(post(i)) for i in range(200)]
        calls += [defer.ensureDeferred(read()) for _ in range(20)]
        results = await defer.gatherResults(calls, consumeErrors=True).addTimeout(60, reactor)
    finally:
        await port.stopListening()
        await pool.closeCachedConnections()
        manager.stop()
    posts, reads = results[:200], results[200:]
    assert [code for code, _ in posts] == [201] * 200, [b for c, b in posts if c != 201][:3]
    assert reads == [200] * 20
    new_ids = {body["genre_id"] for _, body in posts}
    assert len(new_ids) == 200 and min(new_ids) > LOADED_GENRES
    genre = models.Genre
    with engine.connect() as conn:
        rows = conn.execute(
            select(genre.genre_id, genre.name).where(genre.genre_id > LOADED_GENRES)
        ).all()
    assert len(rows) == 200
    assert {r[0] for r in rows} == new_ids
    assert sorted(r[1] for r in rows) == sorted(f"Genre {i}" for i in range(200))
