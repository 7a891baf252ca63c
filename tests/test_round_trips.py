"""Round trips to PostgreSQL per request: a page with every inline relation in at most two.

The requests are bench/compare's E1-E4 (albums with their artist; tracks of
genre 1 by name, page 3, with five inline relations), served in process by
the engine on the sample loaded into a scratch schema, reached through a TCP
proxy that counts round trips on the wire (``tests/tcp_proxy.py``: each time
the server answers a client that sent something).  Counted, not timed.  The
pool's liveness check (``_held``) is not counted: a connection used less than
a second ago is not pinged.
The same requests on SQLite give the same bytes (the pipeline changes how
statements travel, not what they answer).  And the prepared statements run
on the raw cursor unless a statement listener is there to see them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, literal, select
from sqlalchemy.engine import Engine

from chinook_svc.restless import create_database_engine
from chinook_svc.restless._held import PING_AFTER, held_connections
from chinook_svc.restless._prepared import Prepared, traced
from tests import backends
from tests.restless_client import Client
from tests.tcp_proxy import TcpProxy

E3_Q = json.dumps(
    {"filters": [{"name": "genre_id", "op": "==", "val": 1}], "order_by": [{"field": "name"}]},
    separators=(",", ":"),
)

#: path, query, most round trips allowed for the request's own statements
REQUESTS = [
    ("/api/albums", {}, 2),  # E1: count + page, then the artists
    ("/api/albums/1", {}, 2),  # E2: the row, then its artist
    ("/api/tracks", {"q": E3_Q, "page": "3"}, 2),  # E3: count + page, then five relations
    ("/api/albums", {"page": "30"}, 2),  # E4
    ("/api/tracks", {"q": E3_Q, "page": "999"}, 1),  # past the last page: no objects
    ("/api/genres", {"results_per_page": "0"}, 3),  # every row, unsized: count, rows, tracks
]


@pytest.fixture(scope="module")
def via_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, Client, Engine]]:
    """A client of the Chinook APIs on PostgreSQL, every byte through a counting proxy."""
    with backends.sample_through_proxy(postgres_url) as (proxy, url):
        engine = create_database_engine(url, threads=1)
        try:
            yield proxy, backends.chinook_client(engine), engine
        finally:
            engine.dispose()


def counted(proxy: TcpProxy, client: Client, path: str, query: dict[str, str]) -> tuple[int, Any]:
    """The round trips one GET took (its connection already pooled), and the response."""
    # Warm: a pooled connection, and psycopg's statements prepared on the server (at
    # their fifth execution, which costs one round trip more, once).
    for _ in range(6):
        client.request("GET", path, params=query)
    before = proxy.round_trips
    response = client.request("GET", path, params=query)
    assert response.code == 200, response.body
    return proxy.round_trips - before, response


@pytest.mark.parametrize(("path", "query", "most"), REQUESTS)
def test_a_page_with_its_relations_takes_at_most_two_round_trips(
    via_proxy: tuple[TcpProxy, Client, Engine], path: str, query: dict[str, str], most: int
) -> None:
    """Each request costs no more round trips than its line in ``REQUESTS`` says."""
    proxy, client, _ = via_proxy
    trips, _ = counted(proxy, client, path, query)
    assert 1 <= trips <= most, (path, query, trips)


def test_a_connection_idle_longer_than_ping_after_is_pinged_first(
    via_proxy: tuple[TcpProxy, Client, Engine],
) -> None:
    """The pool's liveness check costs one round trip, only for a connection idle a while."""
    proxy, client, engine = via_proxy
    held = held_connections(engine)
    trips, _ = counted(proxy, client, "/api/albums/1", {})
    held.ping_after = 0.0  # every connection counts as idle
    try:
        pinged, _ = counted(proxy, client, "/api/albums/1", {})
    finally:
        held.ping_after = PING_AFTER
    assert pinged == trips + 1


def test_e3_answers_the_same_bytes_on_postgresql_and_sqlite(
    via_proxy: tuple[TcpProxy, Client, Engine], chinook_file: Path, tmp_path: Path
) -> None:
    """The pipelined E3 page is byte for byte the SQLite one (relations, order, numbers)."""
    proxy, client, engine = via_proxy
    copy = tmp_path / "chinook.db"
    copy.write_bytes(chinook_file.read_bytes())
    engine = create_database_engine(f"sqlite:///{copy}", threads=1)
    try:
        on_sqlite = backends.chinook_client(engine)
        for page in ("1", "3", "130"):
            query = {"q": E3_Q, "page": page}
            _, pg = counted(proxy, client, "/api/tracks", query)
            lite = on_sqlite.request("GET", "/api/tracks", params=query)
            assert pg.body == lite.body, page
            assert len(json.loads(pg.body)["objects"]) == (7 if page == "130" else 10)
    finally:
        engine.dispose()


def test_only_statement_listeners_take_statements_off_the_prepared_path(tmp_path: Path) -> None:
    """The service's own pool listeners (``_held``: ``engine_disposed`` among them) keep
    prepared statements on the raw cursor; a statement listener sees every statement."""
    engine = create_database_engine(f"sqlite:///{tmp_path / 'x.db'}", threads=1)
    seen: list[str] = []
    try:
        with engine.connect() as conn:
            assert engine._has_events  # the pool's listeners
            assert not traced(conn)
        event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
        with engine.connect() as conn:
            assert traced(conn)
            Prepared(select(literal(1)), conn.dialect).run(conn)
        assert len(seen) == 1
    finally:
        engine.dispose()
