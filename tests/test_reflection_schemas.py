"""Reflection on SQLite, PostgreSQL and MariaDB: an awkward schema and the lerocha edition.

Each backend gets a database of its own (a SQLite file, or a uniquely named
PostgreSQL schema or MariaDB database, dropped afterwards), built by
``reflect_schema``; the answers must be the same on the three.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from chinook_svc.database import open_engine
from chinook_svc.reflection import Choice, reflect_now

from .backends import PARAMS, drop_schema, new_schema_name, server_url
from .reflect_schema import BIG_ROWS, build_odd_schema, copy_database
from .reflect_support import exchange, get, ok, reflected_app, send
from .service_support import request


def _database(
    request: pytest.FixtureRequest, tmp_path: Path, name: str, fill: Any
) -> Iterator[tuple[Engine, str | None]]:
    """A database of its own on backend ``name``, filled by ``fill(engine, schema)``."""
    if name == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'odd.db'}", None
    else:
        url, schema = server_url(request, name), new_schema_name()
        admin = create_engine(url)
        keyword = "SCHEMA" if admin.dialect.name == "postgresql" else "DATABASE"
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE {keyword} {schema}")
        admin.dispose()
    loader = create_engine(url)
    try:
        fill(loader, schema)
    finally:
        loader.dispose()
    engine = open_engine(url, writes=True, pool_size=2)
    try:
        yield engine, schema
    finally:
        engine.dispose()
        if schema is not None:
            drop_schema(url, schema)


@pytest.fixture(scope="module", params=PARAMS)
def odd(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, str | None]]:
    """The awkward schema on each backend."""
    yield from _database(request, tmp_path_factory.mktemp("odd"), request.param, build_odd_schema)


@pytest.fixture(scope="module")
def odd_app(odd: tuple[Engine, str | None]) -> Any:
    """The reflected service over it, Person.password_hash hidden."""
    engine, schema = odd
    return reflected_app(
        engine, schema=schema, exclude_columns=("Person.password_hash",)
    ).resource()


def test_reserved_words_spaces_and_case(odd_app: Any) -> None:
    """ "Order" with its "select" and "unit price" columns; names found whatever their case."""
    order = ok(odd_app, "/api/Order/1")
    assert order == {
        "OrderId": 1,
        "person_id": 2,
        "select": "x",
        "unit price": 1.5,
        "person": {"id": 2, "manager_id": 1, "name": "Bob"},
    }
    assert ok(odd_app, "/api/order")["num_results"] == 2
    found = ok(odd_app, "/api/Order", {"filters": [{"name": "unit price", "op": ">", "val": 2}]})
    assert [o["OrderId"] for o in found["objects"]] == [2]
    assert ok(odd_app, "/api/Order/2")["person"] is None  # a nullable foreign key


def test_self_reference(odd_app: Any) -> None:
    """Person.manager_id: a to-one ``manager`` and a to-many ``person``, distinct names."""
    bob = ok(odd_app, "/api/Person/2")
    assert bob == {
        "id": 2,
        "manager_id": 1,
        "name": "Bob",
        "manager": {"id": 1, "manager_id": None, "name": "Ada"},
    }
    reports = ok(odd_app, "/api/Person/1/person")
    assert [p["name"] for p in reports["objects"]] == ["Bob", "Cy"]
    assert ok(odd_app, "/api/Person/1/order")["num_results"] == 0
    assert ok(odd_app, "/api/Person/2/order")["objects"][0]["OrderId"] == 1


def test_many_to_many(odd_app: Any) -> None:
    """order_tag is a pure association: Order.tag and Tag.order; still a collection."""
    assert [t["label"] for t in ok(odd_app, "/api/Order/1/tag")["objects"]] == ["red", "blue"]
    assert [o["OrderId"] for o in ok(odd_app, "/api/Tag/2/order")["objects"]] == [1, 2]
    links = ok(odd_app, "/api/order_tag")
    assert links["num_results"] == 3
    assert links["objects"][0]["tag"] == {"label": "red", "tag_id": 1}
    assert ok(odd_app, "/api/order_tag/1,2")["tag"] == {"label": "blue", "tag_id": 2}


LINE_1_2 = {
    "line_no": 2, "order_id": 1, "qty": 7,
    "order": {"OrderId": 1, "person_id": 2, "select": "x", "unit price": 1.5},
}  # fmt: skip


def test_composite_key_instance_urls(odd_app: Any) -> None:
    """Line's key (order_id, line_no): its instance URL names both, in the key's column order."""
    assert ok(odd_app, "/api/Line/1,2") == LINE_1_2
    assert ok(odd_app, "/api/Line/2,1")["qty"] == 3  # not (line_no, order_id) = (2, 1)
    assert ok(odd_app, "/api/Line/1,2/order")["OrderId"] == 1  # a relation URL
    # A relation-instance URL whose related collection has a composite key.
    assert ok(odd_app, "/api/Order/1/line/1,2") == LINE_1_2
    assert get(odd_app, "/api/Order/2/line/1,2") == (404, {"message": "No result found"})
    for wrong in ("2", "1,2,3", "1,", ",2", "1,x", "x,1", "1,99999999999999999999999"):
        for url in (f"/api/Line/{wrong}", f"/api/Line/{wrong}/order", f"/api/Order/1/line/{wrong}"):
            assert get(odd_app, url) == (404, {"message": "No result found"}), url
    assert get(odd_app, "/api/Line/1,3") == (404, {"message": "No result found"})
    # A single search answers the whole-key URL of what it found.
    single = {"filters": [{"name": "qty", "op": "==", "val": 7}], "single": True}
    status, headers, body = request(odd_app, "http://x/api/Line?q=" + quote(json.dumps(single)))
    assert (status, body) == (200, LINE_1_2)
    assert headers.getRawHeaders(b"Location") == [b"http://x/api/Line/1,2"]


def test_composite_string_keys_are_percent_encoded(odd_app: Any) -> None:
    """Label's key (code, lang) holds "," and "%": encoded within the id, the id within the URL."""
    assert ok(odd_app, "/api/Label/x,en")["text"] == "plain"
    assert ok(odd_app, "/api/Label/a%252Cb,en")["text"] == "comma"
    assert ok(odd_app, "/api/Label/50%2525,fr")["text"] == "percent"
    assert get(odd_app, "/api/Label/a,b,en")[0] == 404  # three parts
    # A single-column key is read whole, commas included, as in flask-restless 0.17.
    assert ok(odd_app, "/api/Word/a,b") == {"word": "a,b"}
    assert ok(odd_app, "/api/Word/50%25") == {"word": "50%"}


def test_composite_key_writes(odd: tuple[Engine, str | None]) -> None:
    """POST answers the whole-key Location; PATCH, PUT and DELETE take the whole key."""
    engine, schema = odd
    app = reflected_app(engine, allow_writes=True, schema=schema).resource()
    status, headers, body = exchange(app, "POST", "/api/Line", {"order_id": 2, "line_no": 5})
    assert (status, body["qty"]) == (201, None)
    assert headers.getRawHeaders(b"Location") == [b"http://x/api/Line/2,5"]
    assert send(app, "PATCH", "/api/Line/2,5", {"qty": 9})[1]["qty"] == 9
    assert send(app, "PUT", "/api/Line/2,5", {"qty": 8})[1]["qty"] == 8
    assert ok(app, "/api/Line/2,5")["qty"] == 8
    assert send(app, "PATCH", "/api/Line/5,2", {"qty": 1})[0] == 404
    assert send(app, "DELETE", "/api/Line/2,5")[0] == 204
    assert get(app, "/api/Line/2,5")[0] == 404
    status, headers, _ = exchange(app, "POST", "/api/Label", {"code": "q,r%", "lang": "en"})
    location = headers.getRawHeaders(b"Location")[0].decode()
    assert (status, location) == (201, "http://x/api/Label/q%252Cr%2525,en")
    assert ok(app, location.removeprefix("http://x"))["code"] == "q,r%"
    assert send(app, "DELETE", location.removeprefix("http://x"))[0] == 204
    assert ok(app, "/api/Label")["num_results"] == 3


def test_view_and_table_without_key(odd: tuple[Engine, str | None], odd_app: Any) -> None:
    """The view is served read-only; Reading (no key) by rowid on SQLite, else skipped."""
    names = ok(odd_app, "/api/person_names")
    assert [(p["id"], p["name"]) for p in names["objects"]] == [(1, "Ada"), (2, "Bob"), (3, "Cy")]
    engine, schema = odd
    models = reflect_now(engine, Choice(schema=schema))
    assert models.read_only["person_names"] == "a view"
    if engine.dialect.name == "sqlite":
        readings = ok(odd_app, "/api/Reading")
        assert [(r["rowid"], r["sensor"]) for r in readings["objects"]] == [(1, "a"), (2, "b")]
        assert models.read_only["Reading"] == "no primary key (served by rowid)"
    else:
        assert get(odd_app, "/api/Reading")[0] == 404
        assert [(s.what, s.reason) for s in models.skipped] == [
            ("Reading", "no primary key, and no stable row identity on this database")
        ]


def test_writes_refused_on_views(odd: tuple[Engine, str | None]) -> None:
    """With writes on, tables take POST behind the token; the view answers 405."""
    engine, schema = odd
    app = reflected_app(engine, allow_writes=True, schema=schema).resource()
    assert send(app, "POST", "/api/person_names", {"id": 9, "name": "Z"})[0] == 405
    status, body = send(app, "POST", "/api/Tag", {"tag_id": 3, "label": "new"})
    assert (status, body) == (201, {"label": "new", "tag_id": 3})
    assert send(app, "DELETE", "/api/Tag/3")[0] == 204
    assert send(app, "POST", "/api/Tag", {"tag_id": 4}, token=b"wrong-token")[0] == 401


def test_hundred_thousand_rows(odd_app: Any) -> None:
    """big: 100,000 rows, paginated, filtered, counted; nothing loads them all."""
    first = ok(odd_app, "/api/big")
    assert (first["num_results"], first["total_pages"], len(first["objects"])) == (
        BIG_ROWS,
        10_000,
        10,
    )
    last = ok(odd_app, "/api/big?page=10000")
    assert last["objects"][-1] == {"id": BIG_ROWS, "n": BIG_ROWS % 7}
    q = {"filters": [{"name": "n", "op": "==", "val": 3}]}
    assert ok(odd_app, "/api/big", q)["num_results"] == 14_286
    functions = {"functions": [{"name": "count", "field": "id"}, {"name": "max", "field": "n"}]}
    assert ok(odd_app, "/api/eval/big", functions) == {"count__id": BIG_ROWS, "max__n": 6}


def test_hidden_columns_and_hostile_input(odd_app: Any) -> None:
    """A hidden column is in no answer, filter, sort or function; bad ``q`` is a JSON 400."""
    assert "password_hash" not in ok(odd_app, "/api/Person/1")
    assert "password_hash" not in ok(odd_app, "/api/Order/1")["person"]  # nor where inlined
    through = {"name": "password_hash", "op": "==", "val": "h2"}
    status, body = get(
        odd_app, "/api/Order", {"filters": [{"name": "person", "op": "has", "val": through}]}
    )
    assert status == 400 and "message" in body
    status, body = get(odd_app, "/api/Order", {"order_by": [{"field": "person__password_hash"}]})
    assert status == 400 and "message" in body
    for q in (
        {"filters": [{"name": "password_hash", "op": "==", "val": "h1"}]},
        {"order_by": [{"field": "password_hash"}]},
    ):
        status, body = get(odd_app, "/api/Person", q)
        assert status == 400 and isinstance(body["message"], str), body
    status, body = get(
        odd_app, "/api/eval/Person", {"functions": [{"name": "max", "field": "password_hash"}]}
    )
    assert status == 400 and "message" in body
    status, body = get(odd_app, "/api/big?q=%7Bnot-json")
    assert status == 400 and "message" in body
    status, body = get(
        odd_app, "/api/big", {"filters": [{"name": "n", "op": "no-such-op", "val": 1}]}
    )
    assert status == 400 and "message" in body
    assert get(odd_app, "/api/Person/abc")[0] == 404


def test_openapi_of_the_odd_schema(odd_app: Any) -> None:
    """The OpenAPI document describes the awkward schema and is valid OpenAPI 3.1."""
    from openapi_spec_validator import validate

    document = ok(odd_app, "/openapi.json")
    validate(document)
    assert "/api/Order/{OrderId}/tag" in document["paths"]
    line = document["paths"]["/api/Line/{order_id_line_no}"]["parameters"][0]
    assert line["schema"] == {"type": "string", "pattern": "^[^,]*,[^,]*$"}
    assert line["description"].startswith("the Line's whole primary key: <order_id>,<line_no>")
    member = document["paths"]["/api/Order/{OrderId}/line/{order_id_line_no}"]["parameters"]
    assert [p["name"] for p in member] == ["OrderId", "order_id_line_no"]
    assert document["paths"]["/api/Word/{word}"]["parameters"][0]["schema"]["type"] == "string"


# -- the lerocha edition on the three databases ----------------------------------------------


def _copy_lerocha(source: Path) -> Any:
    def fill(target: Engine, schema: str | None) -> None:
        if target.dialect.name == "sqlite":
            return
        reading = create_engine(f"sqlite:///{source}")
        try:
            copy_database(reading, target, schema)
        finally:
            reading.dispose()

    return fill


@pytest.fixture(scope="module", params=PARAMS)
def lerocha(
    request: pytest.FixtureRequest, reference_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, str | None, Path]]:
    """The lerocha edition: its SQLite file (a private copy), or its copy in a server."""
    directory = tmp_path_factory.mktemp("lerocha")
    source = directory / "lerocha.sqlite"
    source.write_bytes((reference_dir / "Chinook_Sqlite.sqlite").read_bytes())
    if request.param == "sqlite":
        engine = open_engine(f"sqlite:///{source}")
        yield engine, None, source
        engine.dispose()
        return
    for engine, schema in _database(request, directory, request.param, _copy_lerocha(source)):
        yield engine, schema, source


LEROCHA_URLS = [
    "/api/Album",
    "/api/album?page=35",
    "/api/Artist/1/album",
    "/api/Playlist/1/track?page=3",
    "/api/Employee/1/employee",
    "/api/Employee/3",
    "/api/Invoice/1",
    "/api/Track/1",
    "/api/PlaylistTrack?page=2",
    "/api/Customer?q=%7B%22filters%22%3A%5B%7B%22name%22%3A%22Country%22%2C%22op%22%3A%22%3D%3D%22%2C%22val%22%3A%22Brazil%22%7D%5D%7D",
    "/api/eval/Invoice?q=%7B%22functions%22%3A%5B%7B%22name%22%3A%22sum%22%2C%22field%22%3A%22Total%22%7D%5D%7D",
]


def test_lerocha_edition(lerocha: tuple[Engine, str | None, Path]) -> None:
    """The lerocha edition by reflection: the same answers on SQLite, PostgreSQL and MariaDB."""
    engine, schema, source = lerocha
    app = reflected_app(engine, schema=schema).resource()
    albums = ok(app, "/api/Album")
    assert albums["num_results"] == 347
    assert albums["objects"][0]["artist"] == {"ArtistId": 1, "Name": "AC/DC"}
    assert ok(app, "/api/Playlist/1/track")["num_results"] == 3290
    assert [e["FirstName"] for e in ok(app, "/api/Employee/1/employee")["objects"]] == [
        "Nancy",
        "Michael",
    ]
    if engine.dialect.name == "sqlite":
        return
    reference = open_engine(f"sqlite:///{source}")
    try:
        sqlite = reflected_app(reference).resource()
        for url in LEROCHA_URLS:
            assert get(app, url) == get(sqlite, url), url
    finally:
        reference.dispose()
