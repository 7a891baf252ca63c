"""The built-in demo end to end: ``/aggregate?id=1`` fans out to the service's own REST API.

The REST API is the real engine (``APIManager``) over the reference Chinook
database, read-only, on a 127.0.0.1 socket; the aggregate endpoint uses
:func:`demo_sources` pointed at it, as the wiring does when no source is
configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest_twisted
from sqlalchemy import create_engine
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.python.threadpool import ThreadPool
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.server import Site

from chinook_svc.aggregate.client import make_http_client
from chinook_svc.aggregate.routes import AggregateRoutes
from chinook_svc.aggregate.settings import AggregateSettings
from chinook_svc.models import DEFAULT
from chinook_svc.restless import APIManager

WAIT = 5.0


async def fetch(client: HTTPClient, url: str) -> tuple[int, dict[str, Any]]:
    """GET ``url``: status and decoded JSON body, bounded in time."""
    response = await client.get(url).addTimeout(WAIT, reactor)
    body = await response.content().addTimeout(WAIT, reactor)
    return response.code, orjson.loads(body)


@pytest_twisted.ensureDeferred
async def test_demo_fans_out_to_the_own_api(reference_db: Path) -> None:
    """``?id=1`` returns AC/DC, their 2 albums and those albums' 18 tracks, in one answer."""
    engine = create_engine(f"sqlite:///file:{reference_db}?mode=ro&uri=true")
    threads = ThreadPool(minthreads=0, maxthreads=1, name="demo-test-db")
    threads.start()
    manager = APIManager(engine, reactor=reactor, threadpool=threads)
    for name, model in DEFAULT.by_table().items():
        manager.create_api(model, collection_name=name)
    api_port = reactor.listenTCP(0, Site(manager.resource()), interface="127.0.0.1")
    settings = AggregateSettings().or_demo(f"http://127.0.0.1:{api_port.getHost().port}")
    http, pool = make_http_client(reactor, settings)
    routes = AggregateRoutes(settings, http, reactor)
    port = reactor.listenTCP(0, Site(routes.resource()), interface="127.0.0.1")
    client = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))
    url = f"http://127.0.0.1:{port.getHost().port}/"
    try:
        code, body = await fetch(client, url + "?id=1")
        bad_code, bad = await fetch(client, url + "?id=1}]}")
    finally:
        await pool.closeCachedConnections()
        await port.stopListening()
        await api_port.stopListening()
        threads.stop()
        engine.dispose()
    assert code == 200, body
    assert body["complete"] is True
    results = body["results"]
    assert results["artist"]["body"]["name"] == "AC/DC"
    assert sorted(a["title"] for a in results["albums"]["body"]["objects"]) == [
        "For Those About To Rock We Salute You",
        "Let There Be Rock",
    ]
    tracks = results["tracks"]["body"]
    assert tracks["num_results"] == 18
    assert {t["album_id"] for t in tracks["objects"]} == {1, 4}
    assert (bad_code, bad["error"]) == (400, "invalid_parameter")
