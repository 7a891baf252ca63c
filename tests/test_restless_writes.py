"""The write side of the protocol: POST, PATCH/PUT, DELETE, bulk operations, processors.

Each test works on its own copy of the Chinook database (foreign keys on, as
the service runs it) and checks both the answer and what is in the database
afterwards: a rejected request must change nothing.  Atomic nested writes
and integrity conflicts are tested on every backend in ``test_backend_writes``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from chinook_svc import models
from chinook_svc.restless import APIManager, InlineRunner, ProcessingException, configure_sqlite

from .restless_client import BASE, Client

JSON_HEADERS = {"Content-Type": "application/json"}
ALL = ["GET", "POST", "PATCH", "PUT", "DELETE"]


@pytest.fixture
def db_file(chinook_file: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the Chinook database."""
    target = tmp_path / "chinook.db"
    shutil.copy(chinook_file, target)
    return target


def serve(db_file: Path, **options: Any) -> Client:
    engine = configure_sqlite(create_engine(f"sqlite:///{db_file}"))
    manager = APIManager(engine, runner=InlineRunner())
    for name, model in models.DEFAULT.by_table().items():
        manager.create_api(
            model,
            collection_name=name,
            methods=ALL,
            allow_patch_many=name in ("artists", "genres"),
            allow_delete_many=name in ("artists", "genres"),
            exclude_inline=("tracks",) if name in ("genres", "media_types", "playlists") else (),
            **options.get(name, {}),
        )
    return Client(manager.resource())


@pytest.fixture
def client(db_file: Path) -> Client:
    """Every Chinook table with every method enabled."""
    return serve(db_file)


def counts(db_file: Path) -> dict[str, int]:
    """Row counts of every table."""
    conn = sqlite3.connect(db_file)
    try:
        return {
            t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            for t in models.TABLE_NAMES["sqlitetutorial"].values()
        }
    finally:
        conn.close()


def send(client: Client, method: str, path: str, body: Any, **kwargs: Any) -> Any:
    headers = kwargs.pop("headers", JSON_HEADERS)
    return client.request(method, path, data=json.dumps(body).encode(), headers=headers, **kwargs)


# -- POST ---------------------------------------------------------------------


def test_post_creates(client: Client, db_file: Path) -> None:
    """POST answers 201 with the object (relations one level deep) and its Location."""
    before = counts(db_file)
    answer = send(client, "POST", "/api/artists", {"name": "New Artist"})
    assert answer.code == 201
    created = answer.json
    assert created["name"] == "New Artist" and created["albums"] == []
    assert created["artist_id"] == 276
    assert answer.headers["location"] == f"{BASE}/api/artists/276"
    assert client.get("/api/artists/276").json == created
    assert counts(db_file)["artists"] == before["artists"] + 1


def test_post_links_and_creates_related(client: Client, db_file: Path) -> None:
    """A nested object with a key links that row; without one it is created."""
    linked = send(client, "POST", "/api/albums", {"title": "T1", "artist": {"artist_id": 1}})
    assert linked.code == 201 and linked.json["artist"] == {"artist_id": 1, "name": "AC/DC"}
    created = send(client, "POST", "/api/albums", {"title": "T2", "artist": {"name": "Fresh"}})
    assert created.code == 201 and created.json["artist"]["name"] == "Fresh"
    assert counts(db_file)["artists"] == 276


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "nope": 1}, "Model does not have field 'nope'"),
        ({"name": 5}, "Invalid value for field 'name'"),
        ({"name": "x" * 121}, "Invalid value for field 'name'"),
        ({"artist_id": "one"}, "Invalid value for field 'artist_id'"),
        ({"name": "x", "albums": {"title": "y"}}, "'albums' takes a list"),
        ({"name": "x", "albums": [{"title": "t", "album_id": 99999}]}, "No Album with key [99999]"),
        ([1, 2], "Request body must be a JSON object"),
    ],
)
def test_post_bad_bodies_are_400(client: Client, db_file: Path, body: Any, message: str) -> None:
    """Unknown fields, wrong types, over-long strings, bad relations: 400, nothing written."""
    before = counts(db_file)
    answer = send(client, "POST", "/api/artists", body)
    assert (answer.code, answer.json["message"]) == (400, message)
    assert counts(db_file) == before


def test_post_body_framing(client: Client, db_file: Path) -> None:
    """415 without a JSON Content-Type (even missing), 400 for bad JSON, 413 when too large."""
    before = counts(db_file)
    for headers in ({}, {"Content-Type": "text/plain"}):
        answer = client.request("POST", "/api/artists", data=b'{"name": "x"}', headers=headers)
        assert answer.code == 415
        assert answer.json["message"] == 'Request must have "Content-Type: application/json" header'
    answer = client.request("POST", "/api/artists", data=b"{nope", headers=JSON_HEADERS)
    assert (answer.code, answer.json["message"]) == (400, "Unable to decode data")
    answer = send(client, "POST", "/api/artists", {"name": "x" * (2 << 20)})
    assert answer.code == 413
    assert counts(db_file) == before


# -- PATCH / PUT --------------------------------------------------------------


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_patch_updates_and_rereads(client: Client, method: str) -> None:
    """PATCH (and PUT, its alias) sets fields and answers the object as re-read."""
    answer = send(client, method, "/api/albums/1", {"title": "Renamed", "artist": {"artist_id": 2}})
    assert answer.code == 200
    assert answer.json["title"] == "Renamed" and answer.json["artist_id"] == 2
    assert client.get("/api/albums/1").json == answer.json


def test_patch_errors(client: Client, db_file: Path) -> None:
    """Unknown field 400 (0.17's message), missing row 404, bad value 400; nothing changes."""
    before = counts(db_file)
    answer = send(client, "PATCH", "/api/albums/1", {"nope": 1})
    assert (answer.code, answer.json["message"]) == (400, "Model does not have field 'nope'")
    assert send(client, "PATCH", "/api/albums/99999", {"title": "x"}).code == 404
    assert send(client, "PATCH", "/api/albums/1", {"title": None}).code == 400
    assert client.get("/api/albums/1").json["title"] == "For Those About To Rock We Salute You"
    assert counts(db_file) == before


def test_patch_to_many_add_remove_and_replace(client: Client, db_file: Path) -> None:
    """A to-many relation takes {"add", "remove"} or a replacing list."""
    answer = send(
        client, "PATCH", "/api/playlists/2", {"tracks": {"add": [{"track_id": 1}, {"track_id": 2}]}}
    )
    assert answer.code == 200
    assert client.get("/api/playlists/2/tracks").json["num_results"] == 2
    answer = send(client, "PATCH", "/api/playlists/2", {"tracks": {"remove": [{"track_id": 1}]}})
    assert [t["track_id"] for t in client.get("/api/playlists/2/tracks").json["objects"]] == [2]
    answer = send(
        client, "PATCH", "/api/playlists/2", {"tracks": [{"track_id": 5}, {"track_id": 6}]}
    )
    assert [t["track_id"] for t in client.get("/api/playlists/2/tracks").json["objects"]] == [5, 6]
    assert client.get("/api/tracks/1").code == 200


def test_patch_remove_with_delete(client: Client, db_file: Path) -> None:
    """A removed item marked "__delete__" is also deleted."""
    track = send(
        client, "POST", "/api/tracks",
        {"name": "Tmp", "media_type_id": 1, "milliseconds": 1, "unit_price": 0.99, "album_id": 1},
    ).json  # fmt: skip
    answer = send(
        client, "PATCH", "/api/albums/1",
        {"tracks": {"remove": [{"track_id": track["track_id"], "__delete__": True}]}},
    )  # fmt: skip
    assert answer.code == 200
    assert client.get(f"/api/tracks/{track['track_id']}").code == 404


@pytest.mark.parametrize(
    "change",
    [{"add": None}, {"add": 5}, {"add": "x"}, {"add": [7]}, {"remove": None}, {"remove": [3]}],
)
def test_patch_add_remove_of_the_wrong_kind(
    client: Client, db_file: Path, change: dict[str, Any]
) -> None:
    """An add/remove that is not objects is a 400 (not a 500), and nothing changes."""
    before = counts(db_file)
    answer = send(client, "PATCH", "/api/playlists/2", {"tracks": change})
    assert answer.code == 400, answer.json
    assert "message" in answer.json
    assert counts(db_file) == before


def test_patch_relating_a_row_to_itself(client: Client, db_file: Path) -> None:
    """An employee made their own manager is a 400 (the ORM cannot order it), not a 500."""
    before = counts(db_file)
    answer = send(client, "PATCH", "/api/employees/2", {"reports_to": {"employee_id": 2}})
    assert answer.code == 400, answer.json
    assert client.get("/api/employees/2").json["reports_to_id"] == 1
    assert counts(db_file) == before


def test_a_body_that_contradicts_itself_is_refused(client: Client, db_file: Path) -> None:
    """A track listed under its (renumbered) album and taken out of it in the same body: 400."""
    album = {"title": "One track", "artist_id": 1}
    album_id = send(client, "POST", "/api/albums", album).json["album_id"]
    track = {
        "name": "T",
        "media_type_id": 1,
        "milliseconds": 1,
        "unit_price": 1,
        "album_id": album_id,
    }
    track_id = send(client, "POST", "/api/tracks", track).json["track_id"]
    before = counts(db_file)
    body = {"album_id": album_id + 1000, "tracks": [{"track_id": track_id, "album": None}]}
    answer = send(client, "PATCH", f"/api/albums/{album_id}", body)
    assert answer.code == 400, answer.json
    assert client.get(f"/api/tracks/{track_id}").json["album_id"] == album_id
    assert counts(db_file) == before


def test_a_write_whose_rows_change_under_it_is_a_conflict(client: Client, db_file: Path) -> None:
    """An association row rewritten while the same body unlinks it: 409, nothing written."""
    assert send(client, "POST", "/api/playlists", {"playlist_id": 0, "name": "p"}).code == 201
    assert (
        send(client, "POST", "/api/playlist_track", {"playlist_id": 0, "track_id": 1}).code == 201
    )
    before = counts(db_file)
    body = {"track": {"track_id": 1, "playlists": []}, "track_id": 3500}
    answer = send(client, "PUT", "/api/playlist_track/0", body)
    assert answer.code == 409, answer.json
    assert counts(db_file) == before


@pytest.mark.parametrize("price", [1e308, -1.622355116722044e308, 123456789.5])
def test_a_number_too_large_for_its_numeric_column(client: Client, price: float) -> None:
    """A value past NUMERIC(10, 2) is a 400 naming the field, however large (was a 500)."""
    answer = send(client, "PATCH", "/api/tracks/1", {"unit_price": price})
    assert answer.code == 400, answer.json
    assert answer.json["message"] == "Invalid value for field 'unit_price'"


def test_patch_to_one_null(client: Client) -> None:
    """A to-one relation takes null."""
    answer = send(client, "PATCH", "/api/customers/1", {"support_rep": None})
    assert answer.code == 200 and answer.json["support_rep"] is None


# -- DELETE -------------------------------------------------------------------


def test_delete_instance(client: Client, db_file: Path) -> None:
    """DELETE answers 204 and the row is gone; again: 404."""
    created = send(client, "POST", "/api/genres", {"name": "Polka"}).json
    path = f"/api/genres/{created['genre_id']}"
    answer = client.request("DELETE", path)
    assert (answer.code, answer.body) == (204, b"")
    assert client.get(path).code == 404
    assert client.request("DELETE", path).code == 404


def test_delete_referenced_row_is_refused(client: Client, db_file: Path) -> None:
    """Deleting a row others refer to is a 409 naming the relation, and changes nothing."""
    before = counts(db_file)
    answer = client.request("DELETE", "/api/artists/1")
    assert (answer.code, answer.json["references"]) == (409, {"albums": 2})
    assert answer.json["message"] == "Cannot delete: referred to by 2 rows of 'albums'"
    assert counts(db_file) == before


def test_delete_relation_member(client: Client, db_file: Path) -> None:
    """DELETE /<c>/<id>/<rel>/<relid> removes the link only; the whole relation is refused."""
    before = counts(db_file)
    assert client.request("DELETE", "/api/playlists/1/tracks/1").code == 204
    assert client.get("/api/playlists/1/tracks/1").code == 404
    assert client.get("/api/tracks/1").code == 200
    assert counts(db_file)["playlist_track"] == before["playlist_track"] - 1
    assert client.request("DELETE", "/api/playlists/1/tracks/1").code == 404
    answer = client.request("DELETE", "/api/playlists/1/tracks")
    assert (answer.code, answer.json["message"]) == (400, 'Cannot DELETE entire "tracks" relation')


# -- bulk ---------------------------------------------------------------------


def test_bulk_needs_enabling(client: Client, db_file: Path) -> None:
    """Without allow_patch_many / allow_delete_many the collection URL refuses: 405."""
    before = counts(db_file)
    assert send(client, "PATCH", "/api/albums", {"title": "x"}).code == 405
    assert client.request("DELETE", "/api/albums").code == 405
    assert counts(db_file) == before


def test_bulk_bad_query(client: Client, db_file: Path) -> None:
    """A bulk request with a bad q is 400 and changes nothing."""
    before = counts(db_file)
    answer = send(
        client, "PATCH", "/api/genres", {"q": {"filters": [{"name": "x", "op": "=="}]}, "name": "y"}
    )
    assert (answer.code, answer.json["message"]) == (400, "Unable to construct query")
    answer = client.request("DELETE", "/api/genres?q={oops")
    assert (answer.code, answer.json["message"]) == (400, "Unable to decode search query")
    assert counts(db_file) == before


# -- processors ---------------------------------------------------------------


def test_processors_run_inside_the_transaction(db_file: Path) -> None:
    """Preprocessors edit data; a postprocessor raising ProcessingException undoes the write."""

    def stamp(data: dict[str, Any]) -> None:
        data["name"] = data["name"].upper()

    def veto(result: dict[str, Any]) -> None:
        if result["name"] == "VETO":
            raise ProcessingException(description="Vetoed", code=403)

    client = serve(
        db_file, genres={"preprocessors": {"POST": [stamp]}, "postprocessors": {"POST": [veto]}}
    )
    assert send(client, "POST", "/api/genres", {"name": "ok"}).json["name"] == "OK"
    before = counts(db_file)
    answer = send(client, "POST", "/api/genres", {"name": "veto"})
    assert (answer.code, answer.json) == (403, {"message": "Vetoed"})
    assert counts(db_file) == before


def test_an_unexpected_database_error_in_a_write_is_logged(db_file: Path) -> None:
    """A database error nobody expected is a 500 that is logged (never a silent 500)."""
    from sqlalchemy import exc as sa_exc
    from twisted.logger import capturedLogs

    def broken(result: dict[str, Any]) -> None:
        raise sa_exc.SQLAlchemyError("something unforeseen")

    client = serve(db_file, genres={"postprocessors": {"POST": [broken]}})
    before = counts(db_file)
    with capturedLogs() as events:
        answer = send(client, "POST", "/api/genres", {"name": "x"})
    assert (answer.code, answer.json) == (500, {"message": "Internal server error"})
    assert any(e.get("log_failure") is not None for e in events)
    assert counts(db_file) == before


def test_delete_processors_see_0_17_arguments(db_file: Path) -> None:
    """DELETE_SINGLE processors get 0.17's keyword arguments."""
    seen: list[Any] = []
    client = serve(
        db_file,
        playlists={
            "preprocessors": {"DELETE_SINGLE": [lambda **kw: seen.append(("pre", kw))]},
            "postprocessors": {"DELETE_SINGLE": [lambda **kw: seen.append(("post", kw))]},
        },
    )
    assert client.request("DELETE", "/api/playlists/1/tracks/1").code == 204
    assert seen == [
        ("pre", {"instance_id": "1", "relation_name": "tracks", "relation_instance_id": "1"}),
        ("post", {"was_deleted": True}),
    ]


def test_validation_exceptions(db_file: Path) -> None:
    """Exceptions listed in validation_exceptions become 400 {"validation_errors": ...}."""

    class Invalid(Exception):
        errors = {"name": "must not be empty"}

    client = serve(
        db_file, genres={"preprocessors": {"POST": []}, "validation_exceptions": [Invalid]}
    )
    engine_models = models.DEFAULT

    from sqlalchemy import event

    @event.listens_for(engine_models.Genre, "before_insert")
    def refuse(mapper: Any, connection: Any, target: Any) -> None:
        if target.name == "":
            raise Invalid()

    try:
        before = counts(db_file)
        answer = send(client, "POST", "/api/genres", {"name": ""})
        assert answer.code == 400
        assert answer.json["validation_errors"] == {"name": "must not be empty"}
        assert counts(db_file) == before
    finally:
        event.remove(engine_models.Genre, "before_insert", refuse)


# -- fuzzing ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=12,
)
album_fields = st.sampled_from(["title", "artist_id", "artist", "tracks", "album_id", "nope"])
bodies = json_values | st.dictionaries(album_fields, json_values, max_size=4)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, method=st.sampled_from(["POST", "PATCH"]))
def test_random_bodies_never_5xx_and_rejections_change_nothing(
    client: Client, db_file: Path, body: Any, method: str
) -> None:
    """Random JSON bodies never produce a 5xx; a rejected one leaves every row count as it was."""
    before = counts(db_file)
    path = "/api/albums" if method == "POST" else "/api/albums/5"
    answer = client.request(method, path, data=json.dumps(body).encode(), headers=JSON_HEADERS)
    assert answer.code < 500, answer.body
    if answer.code >= 400:
        assert counts(db_file) == before
