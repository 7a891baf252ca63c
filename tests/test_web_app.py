"""``ChinookApp`` in memory: index, health check, the API under ``/api``, JSON errors.

Every request goes through ``StubTreq`` (a real ``Site`` over in-memory
transports) and database calls run inline: no threads, no sockets, no
running reactor.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from twisted.internet.defer import Deferred
from twisted.internet.testing import Clock

from chinook_svc.database import open_engine
from chinook_svc.models import DEFAULT
from chinook_svc.restless import InlineRunner
from chinook_svc.web.app import HEALTH_TIMEOUT, ChinookApp

from .service_support import (
    TINY_ALBUMS,
    assert_article_first_page,
    copy_reference,
    make_tiny_chinook,
    request,
)

COLLECTIONS = {
    "albums", "artists", "customers", "employees", "genres", "invoice_items",
    "invoices", "media_types", "playlist_track", "playlists", "tracks",
}  # fmt: skip


@pytest.fixture
def tiny_app(tmp_path: Path) -> Iterator[ChinookApp]:
    """A ChinookApp over a tiny Chinook database, database calls inline."""
    engine = open_engine(make_tiny_chinook(tmp_path / "tiny.db"))
    yield ChinookApp(engine, InlineRunner(), Clock())
    engine.dispose()


def test_index_lists_every_collection(tiny_app: ChinookApp) -> None:
    """GET / is a JSON index with a link for each of the 11 Chinook collections."""
    status, headers, body = request(tiny_app.resource(), "http://x/")
    assert status == 200
    assert headers.getRawHeaders("content-type") == ["application/json"]
    assert set(body["collections"]) == COLLECTIONS
    assert body["collections"]["albums"] == "/api/albums"
    assert body["api"] == "/api"
    assert body["health"] == "/healthz"
    assert body["edition"] == "sqlitetutorial"


def test_healthz_ok(tiny_app: ChinookApp) -> None:
    """GET /healthz is 200 with status and database "ok" when SELECT 1 succeeds."""
    status, headers, body = request(tiny_app.resource(), "http://x/healthz")
    assert status == 200
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert headers.getRawHeaders("cache-control") == ["no-store"]


def test_healthz_database_cannot_answer(tmp_path: Path) -> None:
    """GET /healthz is a JSON 503 when the database file cannot be opened (it went away)."""
    folder = tmp_path / "no" / "such" / "dir"
    folder.mkdir(parents=True)
    engine = open_engine(make_tiny_chinook(folder / "chinook.db"))
    (folder / "chinook.db").unlink()
    app = ChinookApp(engine, InlineRunner(), Clock(), models=DEFAULT)
    status, headers, body = request(app.resource(), "http://x/healthz")
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["database"] == "unavailable"
    assert headers.getRawHeaders("retry-after") == ["1"]
    assert "no/such/dir" not in str(body)


def test_healthz_server_refuses(tmp_path: Path) -> None:
    """GET /healthz is a JSON 503 when the PostgreSQL server refuses connections."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = open_engine(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none")
    app = ChinookApp(engine, InlineRunner(), Clock(), models=DEFAULT)
    status, _, body = request(app.resource(), "http://x/healthz")
    assert (status, body["database"]) == (503, "unavailable")


class StuckRunner:
    """A runner whose calls never finish (a hung database)."""

    def run(self, f: object, *args: object) -> Deferred[object]:
        """Never fire."""
        return Deferred()


def test_healthz_times_out(tmp_path: Path) -> None:
    """GET /healthz answers 503 once the database has not answered for HEALTH_TIMEOUT."""
    from treq.testing import StubTreq

    clock = Clock()
    engine = create_engine("sqlite://")
    app = ChinookApp(engine, StuckRunner(), clock, models=DEFAULT)  # type: ignore[arg-type]
    stub = StubTreq(app.resource())
    responses: list[int] = []
    stub.get("http://x/healthz").addCallback(lambda r: responses.append(r.code))
    stub.flush()
    assert responses == []
    clock.advance(HEALTH_TIMEOUT)
    stub.flush()
    assert responses == [503]


def test_api_is_mounted_under_api(tiny_app: ChinookApp) -> None:
    """GET /api/albums is the engine's collection, with Link headers under /api."""
    status, headers, body = request(tiny_app.resource(), "http://x/api/albums")
    assert status == 200
    assert body["num_results"] == TINY_ALBUMS
    assert body["objects"][0]["title"] == "Album 1"
    (link,) = headers.getRawHeaders("link")
    assert "<http://x/api/albums?page=2&results_per_page=10>" in link


def test_api_collection_names_are_case_insensitive(tiny_app: ChinookApp) -> None:
    """GET /api/Albums serves the albums collection too."""
    status, _, body = request(tiny_app.resource(), "http://x/api/Albums/3")
    assert (status, body["title"]) == (200, "Album 3")


def test_api_is_read_only(tiny_app: ChinookApp) -> None:
    """POST /api/albums is a JSON 405 naming the allowed methods."""
    status, headers, body = request(tiny_app.resource(), "http://x/api/albums", "POST")
    assert status == 405
    assert body == {"message": "Method not allowed"}
    assert "GET" in headers.getRawHeaders("allow")[0]


def test_genres_keep_tracks_out_of_line(tiny_app: ChinookApp) -> None:
    """Genres, media types and playlists do not inline their (long) track lists."""
    for name in ("genres", "media_types", "playlists"):
        status, _, body = request(tiny_app.resource(), f"http://x/api/{name}")
        assert status == 200
        assert body["objects"] == []  # the tiny database has none; the options are checked below
    for name in ("genres", "media_types", "playlists"):
        endpoint = tiny_app.manager.registry.find("", name)
        assert endpoint.options.exclude_inline == ("tracks",)
        assert endpoint.options.methods == frozenset({"GET"})
        assert endpoint.options.allow_functions


@pytest.mark.parametrize(
    ("url", "method", "status"),
    [
        ("http://x/nope", "GET", 404),
        ("http://x/api/nope", "GET", 404),
        ("http://x/api/albums/9999", "GET", 404),
        ("http://x/healthz", "POST", 405),
        ("http://x/", "DELETE", 405),
    ],
)
def test_errors_are_json(tiny_app: ChinookApp, url: str, method: str, status: int) -> None:
    """Unknown URLs and methods get JSON bodies with the right status, never HTML."""
    got, headers, body = request(tiny_app.resource(), url, method)
    assert got == status
    assert headers.getRawHeaders("content-type") == ["application/json"]
    assert isinstance(body["message"], str)


def test_reference_albums_first_page(chinook_file: Path, tmp_path: Path) -> None:
    """On the reference chinook.db, /api/Albums is page 1 of 35 over 347 albums, AC/DC first."""
    engine = open_engine(f"sqlite:///{copy_reference(chinook_file, tmp_path)}")
    app = ChinookApp(engine, InlineRunner(), Clock())
    status, _, body = request(app.resource(), "http://x/api/Albums")
    engine.dispose()
    assert status == 200
    assert_article_first_page(body)
