"""Writes behave the same on SQLite, PostgreSQL and MariaDB.

Each backend gets one writable copy of the sample for the module; every test
creates what it changes and checks differences (row counts before and
after), so that the tests hold in any order.  The answers are checked
against fixed expectations, identical for the three databases: the same
status, message and JSON, and a rejected write leaves every table as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from chinook_svc import models

from . import backends
from .restless_client import Answer, Client, q

JSON_HEADERS = {"Content-Type": "application/json"}
ALL = ("GET", "POST", "PATCH", "PUT", "DELETE")
BULK = {"allow_patch_many": True, "allow_delete_many": True}


@pytest.fixture(scope="module", params=backends.PARAMS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Client]]:
    """A writable copy of the sample on one backend, every method enabled."""
    databases = backends.Databases(request, tmp_path_factory.mktemp("writes"))
    try:
        engine = databases.engine(request.param)
        yield engine, backends.chinook_client(engine, ALL, artists=BULK, genres=BULK)
    finally:
        databases.close()


@pytest.fixture
def client(served: tuple[Engine, Client]) -> Client:
    """The client of :func:`served`."""
    return served[1]


@pytest.fixture
def engine(served: tuple[Engine, Client]) -> Engine:
    """The engine of :func:`served`, for checking what the database holds."""
    return served[0]


def counts(engine: Engine) -> dict[str, int]:
    """Rows per Chinook table."""
    tables = {name: model.__table__ for name, model in models.DEFAULT.by_table().items()}
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in tables.items()
        }


def largest(engine: Engine, column: Any) -> int:
    """The largest value of an integer column."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(column))).scalar_one())


def send(client: Client, method: str, path: str, body: Any) -> Answer:
    """A request with a JSON body."""
    return client.request(method, path, data=json.dumps(body).encode(), headers=JSON_HEADERS)


def test_post_takes_the_next_key(client: Client, engine: Engine) -> None:
    """POST answers 201 and the object; the key follows the loaded ones (sequences were reset)."""
    expected_id = largest(engine, models.Artist.artist_id) + 1
    before = counts(engine)
    answer = send(client, "POST", "/api/artists", {"name": "New Artist"})
    assert answer.code == 201, answer.body
    assert answer.json == {"albums": [], "artist_id": expected_id, "name": "New Artist"}
    assert answer.headers["location"] == f"http://localhost:8080/api/artists/{expected_id}"
    assert client.get(f"/api/artists/{expected_id}").json == answer.json
    assert counts(engine)["artists"] == before["artists"] + 1


def test_post_values_read_back_alike(client: Client) -> None:
    """Dates lose fractions of a second and NUMERIC values keep their digits, everywhere."""
    invoice = {"customer_id": 3, "invoice_date": "2014-02-03T04:05:06.789", "total": 10.5}
    answer = send(client, "POST", "/api/invoices", invoice)
    assert answer.code == 201, answer.body
    assert (answer.json["invoice_date"], answer.json["total"]) == ("2014-02-03T04:05:06", 10.5)
    found = client.get(
        "/api/invoices?"
        + q({"filters": [{"name": "invoice_date", "op": "==", "val": "2014-02-03T04:05:06"}]})
    )
    assert [o["invoice_id"] for o in found.json["objects"]] == [answer.json["invoice_id"]]


def test_nested_invoice_is_atomic(client: Client, engine: Engine) -> None:
    """An invoice with nested items is created whole; with one bad item, not at all (400)."""
    invoice = {
        "customer_id": 1,
        "invoice_date": "2014-01-01T10:00:00",
        "total": 1.98,
        "invoice_items": [
            {"track_id": 1, "unit_price": 0.99, "quantity": 1},
            {"track_id": 2, "unit_price": 0.99, "quantity": 1},
        ],
    }
    before = counts(engine)
    answer = send(client, "POST", "/api/invoices", invoice)
    assert answer.code == 201, answer.body
    assert answer.json["invoice_date"] == "2014-01-01T10:00:00"
    assert [i["track_id"] for i in answer.json["invoice_items"]] == [1, 2]
    assert [i["unit_price"] for i in answer.json["invoice_items"]] == [0.99, 0.99]
    created = counts(engine)
    assert created["invoice_items"] == before["invoice_items"] + 2
    invoice["invoice_items"][1]["track_id"] = 99999
    bad = send(client, "POST", "/api/invoices", invoice)
    assert (bad.code, bad.json) == (400, {"message": "IntegrityError"})
    assert counts(engine) == created
    assert b"INSERT" not in bad.body and b"FOREIGN" not in bad.body


def test_conflicts_and_missing_references(client: Client, engine: Engine) -> None:
    """Duplicate key: 409; missing referenced row, over-long or NUL text: 400; nothing changes."""
    before = counts(engine)
    answer = send(client, "POST", "/api/artists", {"artist_id": 1, "name": "Again"})
    assert (answer.code, answer.json) == (409, {"message": "IntegrityError"})
    answer = send(client, "POST", "/api/albums", {"title": "Orphan", "artist_id": 99999})
    assert (answer.code, answer.json) == (400, {"message": "IntegrityError"})
    for name in ("x" * 121, "nul\x00byte"):
        answer = send(client, "POST", "/api/artists", {"name": name})
        assert (answer.code, answer.json["message"]) == (400, "Invalid value for field 'name'")
    assert counts(engine) == before


def test_patch_and_relations(client: Client) -> None:
    """PATCH sets fields and relations and answers the object as re-read."""
    album = send(client, "POST", "/api/albums", {"title": "Draft", "artist_id": 1}).json
    path = f"/api/albums/{album['album_id']}"
    answer = send(client, "PATCH", path, {"title": "Final", "artist": {"artist_id": 2}})
    assert answer.code == 200, answer.body
    assert (answer.json["title"], answer.json["artist"]["name"]) == ("Final", "Accept")
    assert client.get(path).json == answer.json
    playlist = send(client, "POST", "/api/playlists", {"name": "Mine"}).json
    tracks = f"/api/playlists/{playlist['playlist_id']}/tracks"
    send(client, "PUT", f"/api/playlists/{playlist['playlist_id']}", {"tracks": [{"track_id": 5}]})
    change = {"tracks": {"add": [{"track_id": 3}], "remove": [{"track_id": 5}]}}
    assert send(client, "PATCH", f"/api/playlists/{playlist['playlist_id']}", change).code == 200
    assert [t["track_id"] for t in client.get(tracks).json["objects"]] == [3]


def test_delete(client: Client, engine: Engine) -> None:
    """DELETE answers 204, then 404 (a row others depend on: see the 409 tests below)."""
    genre = send(client, "POST", "/api/genres", {"name": "Polka"}).json
    path = f"/api/genres/{genre['genre_id']}"
    assert client.request("DELETE", path).code == 204
    assert client.get(path).code == 404
    assert client.request("DELETE", path).code == 404


def test_bulk_patch_and_delete(client: Client, engine: Engine) -> None:
    """Bulk PATCH and DELETE count what they change; like matches case-insensitively."""
    before = counts(engine)
    for name in ("Zydeco One", "zydeco two", "Zydeco\\Three"):
        assert send(client, "POST", "/api/genres", {"name": name}).code == 201
    query = {"filters": [{"name": "name", "op": "like", "val": "zydeco%"}]}
    answer = send(client, "PATCH", "/api/genres", {"q": query, "name": "Zydeco"})
    assert (answer.code, answer.json) == (200, {"num_modified": 3})
    same = {"filters": [{"name": "name", "op": "==", "val": "Zydeco"}]}
    assert client.get(f"/api/genres?{q(same)}").json["num_results"] == 3
    answer = client.request("DELETE", f"/api/genres?{q(same)}")
    assert (answer.code, answer.json) == (200, {"num_deleted": 3})
    assert counts(engine) == before


@pytest.mark.filterwarnings("ignore:Column 'playlist_track.*:sqlalchemy.exc.SAWarning")
def test_missing_required_columns_are_the_clients_error(client: Client, engine: Engine) -> None:
    """POST {} where columns have no default: 400 IntegrityError everywhere, never a 503.

    MariaDB reports it as error 1364 wrapped in an ``OperationalError``; the
    error code, not the exception class, says it is the request's fault.
    """
    before = counts(engine)
    for path in ("/api/playlist_track", "/api/invoice_items"):
        answer = send(client, "POST", path, {})
        assert (answer.code, answer.json) == (400, {"message": "IntegrityError"}), path
        assert "retry-after" not in answer.headers
    assert counts(engine) == before


# -- hostile bodies, ranges and deletes (issue 10) -----------------------------------------

#: Wrong shapes of a to-many relation's value (``tracks`` of a playlist).
BAD_TO_MANY = [
    {"add": 5}, {"add": True}, {"add": None}, {"add": "x"}, {"add": [5]}, {"add": [None]},
    {"add": [[{"track_id": 1}]]}, {"add": [{"track_id": "x"}]}, {"add": [{"nope": 1}]},
    {"add": [{"track_id": 99999}]}, {"remove": 5}, {"remove": None}, {"remove": [None]},
    {"remove": [[1]]}, {"remove": [{"track_id": 99999}]}, {"add": [], "bogus": 1}, {},
    {"bogus": [{"track_id": 1}]}, True, False, None, 5, 1.5, "x", [5], [None], [True],
    [[{"track_id": 1}]], [{"track_id": None}], [{"track_id": [1]}],
]  # fmt: skip
#: Wrong shapes of a to-one relation's value (``artist`` of an album).
BAD_TO_ONE = [
    5, True, "x", [], [{"artist_id": 1}], {"add": [{"artist_id": 1}]}, {"artist_id": None},
    {"artist_id": [1]}, {"artist_id": {"a": 1}}, {"artist_id": 99999}, {"nope": 1},
    {"name": "n", "albums": {"add": 5}}, {"name": "n", "albums": [5]},
]  # fmt: skip


INT32 = "an integer from -2147483648 to 2147483647"


def assert_refused(engine: Engine, answer: Answer, status: int, before: str) -> None:
    """A JSON error with a message, and not one row changed."""
    assert answer.code == status, answer.body
    assert isinstance(answer.json["message"], str)
    assert backends.checksum(engine) == before


def test_wrong_relation_shapes_are_400(client: Client, engine: Engine) -> None:
    """Every wrong shape of a relation's value, in PATCH and POST: a JSON 400, nothing changed."""
    before = backends.checksum(engine)
    cases = [(v, "playlists", "tracks", {"name": "Mine"}) for v in BAD_TO_MANY]
    cases += [(v, "albums", "artist", {"title": "New"}) for v in BAD_TO_ONE]
    for value, collection, relation, fields in cases:
        for method, path, body in (
            ("PATCH", f"/api/{collection}/1", {relation: value}),
            ("POST", f"/api/{collection}", {**fields, relation: value}),
        ):
            answer = send(client, method, path, body)
            assert answer.code == 400, (method, body, answer.body)
            assert isinstance(answer.json["message"], str)
    assert backends.checksum(engine) == before


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/api/tracks/1", {"milliseconds": 2147483648}, INT32),
        ("/api/tracks/1", {"milliseconds": -2147483649}, INT32),
        ("/api/tracks/1", {"unit_price": 1e300}, "at most 8 digits before the point"),
        ("/api/tracks/1", {"unit_price": -1e30}, "at most 8 digits before the point"),
        ("/api/tracks/1", {"name": "x" * 201}, "at most 200 characters"),
        ("/api/invoices/1", {"customer_id": 2**40}, INT32),
    ],
)
def test_values_out_of_the_columns_range_are_400(
    client: Client, engine: Engine, path: str, body: dict[str, Any], expected: str
) -> None:
    """What PostgreSQL and MariaDB refuse, every database refuses, with the same message."""
    before = backends.checksum(engine)
    answer = send(client, "PATCH", path, body)
    assert_refused(engine, answer, 400, before)
    [name] = body
    assert answer.json == {
        "message": f"Invalid value for field '{name}'",
        "validation_errors": {name: f"expected {expected}"},
    }


def test_values_at_the_edge_of_the_range_are_taken(client: Client) -> None:
    """The largest values the columns hold are written and read back alike."""
    answer = send(client, "PATCH", "/api/tracks/3", {"milliseconds": 2147483647})
    assert (answer.code, answer.json["milliseconds"]) == (200, 2147483647)
    answer = send(client, "PATCH", "/api/tracks/3", {"unit_price": 99999999.99})
    assert (answer.code, answer.json["unit_price"]) == (200, 99999999.99)
    answer = send(client, "PATCH", "/api/tracks/3", {"milliseconds": 342562, "unit_price": 0.99})
    assert answer.code == 200


def referring(engine: Engine, column: Any, value: Any) -> int:
    """How many rows hold ``value`` in ``column``."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(column == value)).scalar_one())


def test_delete_of_a_referenced_row_is_409(client: Client, engine: Engine) -> None:
    """A row others refer to is not deleted: 409 naming the relations and their counts."""
    tracks = referring(engine, models.Track.genre_id, 1)
    before = backends.checksum(engine)
    answer = client.request("DELETE", "/api/genres/1")
    assert_refused(engine, answer, 409, before)
    assert answer.json == {
        "message": f"Cannot delete: referred to by {tracks} rows of 'tracks'",
        "references": {"tracks": tracks},
    }
    items = referring(engine, models.InvoiceItem.track_id, 1)
    links = referring(engine, models.PlaylistTrack.track_id, 1)
    answer = client.request("DELETE", "/api/tracks/1")
    assert_refused(engine, answer, 409, before)
    assert answer.json["references"] == {"invoice_items": items, "playlists": links}
    answer = client.request("DELETE", "/api/artists/1")
    assert_refused(engine, answer, 409, before)
    assert answer.json["message"].startswith("Cannot delete: referred to by ")
    assert client.request("DELETE", "/api/employees/1").code == 409
    assert backends.checksum(engine) == before


def test_delete_once_nothing_refers_to_the_row(client: Client, engine: Engine) -> None:
    """Unlinking the referring rows first makes the delete possible; links delete as before."""
    genre = send(client, "POST", "/api/genres", {"name": "Skiffle"}).json
    track = {"name": "Rock Island Line", "media_type_id": 1, "milliseconds": 1, "unit_price": 1}
    track = send(client, "POST", "/api/tracks", {**track, "genre_id": genre["genre_id"]}).json
    path = f"/api/genres/{genre['genre_id']}"
    answer = client.request("DELETE", path)
    assert (answer.code, answer.json["references"]) == (409, {"tracks": 1})
    assert client.get(f"/api/tracks/{track['track_id']}").json["genre_id"] == genre["genre_id"]
    playlist = send(client, "POST", "/api/playlists", {"name": "Mix", "tracks": [track]}).json
    answer = client.request("DELETE", f"/api/playlists/{playlist['playlist_id']}")
    assert (answer.code, answer.json["references"]) == (409, {"tracks": 1})
    member = f"/api/playlists/{playlist['playlist_id']}/tracks/{track['track_id']}"
    assert client.request("DELETE", member).code == 204
    assert client.request("DELETE", f"/api/playlists/{playlist['playlist_id']}").code == 204
    assert send(client, "PATCH", f"/api/tracks/{track['track_id']}", {"genre": None}).code == 200
    assert client.request("DELETE", path).code == 204
    assert client.request("DELETE", f"/api/tracks/{track['track_id']}").code == 204


def test_bulk_delete_of_referenced_rows_is_409(client: Client, engine: Engine) -> None:
    """A bulk DELETE touching one referenced row deletes nothing: 409 with the total count."""
    spare = send(client, "POST", "/api/genres", {"name": "Unused"}).json["genre_id"]
    tracks = referring(engine, models.Track.genre_id, 2)
    before = backends.checksum(engine)
    query = {"filters": [{"name": "genre_id", "op": "in", "val": [2, spare]}]}
    answer = client.request("DELETE", f"/api/genres?{q(query)}")
    assert_refused(engine, answer, 409, before)
    assert answer.json["references"] == {"tracks": tracks}
    assert client.request("DELETE", f"/api/genres/{spare}").code == 204
