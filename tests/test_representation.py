"""ETag/If-None-Match, gzip, and the optional response cache."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from twisted.internet.testing import Clock

from chinook_svc import models
from chinook_svc.restless import (
    APIManager,
    ApiRequest,
    InlineRunner,
    Reply,
    configure_sqlite,
    json_reply,
)
from chinook_svc.restless._representation import represent

from .restless_client import Client

JSON = {"Content-Type": "application/json"}


def serve(
    db: Path, clock: Clock | None = None, cache_ttl: float | None = None
) -> tuple[Client, APIManager]:
    engine = configure_sqlite(create_engine(f"sqlite:///{db}"))
    manager = APIManager(engine, runner=InlineRunner(), cache_ttl=cache_ttl, clock=clock)
    for name in ("albums", "artists"):
        manager.create_api(
            models.DEFAULT.by_table()[name], collection_name=name, methods=["GET", "POST", "PATCH"]
        )
    return Client(manager.resource()), manager


@pytest.fixture
def db(chinook_file: Path, tmp_path: Path) -> Path:
    target = tmp_path / "chinook.db"
    shutil.copy(chinook_file, target)
    return target


def test_etag_and_304(db: Path) -> None:
    """A GET carries a weak ETag; If-None-Match with it answers 304 without a body."""
    client, _ = serve(db)
    first = client.get("/api/albums/1")
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    again = client.get("/api/albums/1", headers={"If-None-Match": etag})
    assert (again.code, again.body) == (304, b"")
    assert again.headers["etag"] == etag
    other = client.get("/api/albums/2", headers={"If-None-Match": etag})
    assert other.code == 200
    assert client.get("/api/albums/1", headers={"If-None-Match": "*"}).code == 304


def test_gzip_when_accepted() -> None:
    """Bodies over 1 KiB are gzipped for clients that accept it, and say Vary: Accept-Encoding."""
    big = json_reply(200, {"objects": ["x" * 40] * 50})
    small = json_reply(200, {"a": 1})

    def ask(reply: Reply, accept: str | None) -> Reply:
        headers = {} if accept is None else {"accept-encoding": accept}
        return represent(reply, ApiRequest("GET", "http://h/api/x", headers=headers))[0]

    zipped = ask(big, "gzip, deflate")
    assert dict(zipped.headers)["Content-Encoding"] == "gzip"
    assert dict(zipped.headers)["Vary"] == "Accept-Encoding"
    assert gzip.decompress(zipped.body) == big.body
    assert ask(big, "gzip;q=0").body == big.body
    assert ask(big, None).body == big.body
    assert "Content-Encoding" not in dict(ask(small, "gzip").headers)


def test_gzip_over_http(db: Path) -> None:
    """Through HTTP a gzip-accepting client gets the same JSON (decoded by the client)."""
    client, _ = serve(db)
    answer = client.get("/api/albums", headers={"Accept-Encoding": "gzip"})
    assert answer.headers["vary"] == "Accept-Encoding"
    assert answer.json["num_results"] == 347


def test_errors_get_no_etag(db: Path) -> None:
    """Error answers are neither tagged nor cached."""
    client, _ = serve(db)
    assert "etag" not in client.get("/api/albums/99999").headers


def test_response_cache_serves_and_invalidates(db: Path) -> None:
    """With a cache: repeated GETs come from memory, a write empties it, the TTL expires entries."""
    clock = Clock()
    client, manager = serve(db, clock, cache_ttl=5)
    cache = manager.cache
    assert cache is not None
    first = client.get("/api/artists/1")
    assert client.get("/api/artists/1").body == first.body
    assert (cache.hits, cache.misses) == (1, 1)
    renamed = client.request("PATCH", "/api/artists/1", data=b'{"name": "ACDC"}', headers=JSON)
    assert renamed.code == 200 and len(cache) == 0
    assert client.get("/api/artists/1").json["name"] == "ACDC"
    assert cache.misses == 2
    clock.advance(6)
    client.get("/api/artists/1")
    assert cache.misses == 3
    failed = client.request("PATCH", "/api/artists/1", data=b'{"nope": 1}', headers=JSON)
    assert failed.code == 400 and len(cache) == 1  # a refused write changes nothing


def test_cache_keeps_query_and_host_apart(db: Path) -> None:
    """Different queries or hosts are different entries (Link headers name the host)."""
    clock = Clock()
    client, manager = serve(db, clock, cache_ttl=5)
    a = client.get("/api/albums?page=2")
    b = client.get("/api/albums?page=3")
    c = client.get("/api/albums?page=2", headers={"Host": "other:9"})
    assert a.json["page"] == 2 and b.json["page"] == 3
    assert "other:9" in c.headers["link"] and "other:9" not in a.headers["link"]
    assert manager.cache is not None and len(manager.cache) == 3


def test_304_from_the_cache(db: Path) -> None:
    """A cached answer also honours If-None-Match."""
    client, _ = serve(db, Clock(), cache_ttl=5)
    etag = client.get("/api/albums/3").headers["etag"]
    assert client.get("/api/albums/3", headers={"If-None-Match": etag}).code == 304


def test_a_write_failing_after_its_commit_empties_the_cache(db: Path) -> None:
    """A 5xx from a write (here a postprocessor failing after the change) empties the cache."""

    def broken(**kwargs: object) -> None:
        raise RuntimeError("postprocessor bug")

    engine = configure_sqlite(create_engine(f"sqlite:///{db}"))
    manager = APIManager(engine, runner=InlineRunner(), cache_ttl=5, clock=Clock())
    manager.create_api(
        models.DEFAULT.by_table()["artists"],
        collection_name="artists",
        methods=["GET", "PATCH"],
        postprocessors={"PATCH_SINGLE": [broken]},
    )
    client = Client(manager.resource())
    assert manager.cache is not None
    client.get("/api/artists/1")
    assert len(manager.cache) == 1
    failed = client.request("PATCH", "/api/artists/1", data=b'{"name": "X"}', headers=JSON)
    assert failed.code >= 500 and len(manager.cache) == 0
