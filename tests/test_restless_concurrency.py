"""Concurrent writers on SQLite over a real socket: no "database is locked", no lost rows.

The engine serves a copy of the Chinook database on 127.0.0.1 with its real
thread pools (reads in a pool, writes in SQLite's single writer lane); 200
POSTs fired at once must all answer 201 and leave exactly 200 new rows with
distinct ids, while reads keep answering.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest_twisted
import treq
from sqlalchemy import create_engine
from twisted.internet import defer, reactor
from twisted.web.client import HTTPConnectionPool
from twisted.web.server import Site

from chinook_svc import models
from chinook_svc.restless import APIManager
from chinook_svc.restless.sqlite import configure_sqlite


@pytest_twisted.ensureDeferred
async def test_200_concurrent_posts(chinook_file: Path, tmp_path: Path) -> None:
    """200 simultaneous POSTs: every response 201, 200 new rows, 200 distinct ids."""
    db = tmp_path / "chinook.db"
    shutil.copy(chinook_file, db)
    engine = configure_sqlite(create_engine(f"sqlite:///{db}"))
    manager = APIManager(engine, reactor=reactor)
    manager.create_api(models.Genre, collection_name="genres", methods=["GET", "POST"])
    site = Site(manager.resource())
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
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
        engine.dispose()
    posts, reads = results[:200], results[200:]
    assert [code for code, _ in posts] == [201] * 200, [b for c, b in posts if c != 201][:3]
    assert reads == [200] * 20
    new_ids = {body["genre_id"] for _, body in posts}
    assert len(new_ids) == 200
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT GenreId, Name FROM genres WHERE GenreId > 25").fetchall()
    finally:
        conn.close()
    assert len(rows) == 200
    assert {r[0] for r in rows} == new_ids
    assert sorted(r[1] for r in rows) == sorted(f"Genre {i}" for i in range(200))
