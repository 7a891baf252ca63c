"""The sqlitetutorial ``chinook.db`` served by reflection, next to the curated service.

A private copy of ``../shared/chinook/chinook.db`` (``reference_dir``) is
reflected and served by the same ``ChinookApp`` as ``twistd restless``;
with ``--naming snake`` the answers are compared with those of the curated
models (``twistd chinook``) for the URLs where relation names coincide.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from twisted.internet.testing import Clock

from chinook_svc.database import open_engine
from chinook_svc.restless import InlineRunner
from chinook_svc.web.app import ChinookApp

from .reflect_support import get, ok, reflected_app
from .service_support import copy_reference


@pytest.fixture(scope="module")
def engine(reference_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The service's engine on a private copy of the sqlitetutorial file."""
    copy = copy_reference(reference_db, tmp_path_factory.mktemp("reflect"))
    opened = open_engine(f"sqlite:///{copy}")
    yield opened
    opened.dispose()


@pytest.fixture(scope="module")
def keep(engine: Engine) -> Any:
    """The reflected service, the database's own column names."""
    return reflected_app(engine).resource()


@pytest.fixture(scope="module")
def snake(engine: Engine) -> Any:
    """The reflected service with ``--naming snake``."""
    return reflected_app(engine, naming="snake").resource()


@pytest.fixture(scope="module")
def snake_inline(engine: Engine) -> Any:
    """The reflected service with ``--naming snake --inline-to-many``."""
    return reflected_app(engine, naming="snake", inline_to_many=True).resource()


@pytest.fixture(scope="module")
def curated(engine: Engine) -> Any:
    """``twistd chinook``'s app on the same file."""
    return ChinookApp(engine, InlineRunner(), Clock()).resource()


def test_albums_with_their_artist(keep: Any) -> None:
    """/api/albums: the 347 albums, each with its artist inlined, the database's names."""
    body = ok(keep, "/api/albums")
    assert body["num_results"] == 347
    assert body["objects"][0] == {
        "AlbumId": 1,
        "ArtistId": 1,
        "Title": "For Those About To Rock We Salute You",
        "artist": {"ArtistId": 1, "Name": "AC/DC"},
    }
    assert "tracks" not in body["objects"][0]  # to-many: at its URL, not inlined
    assert ok(keep, "/api/ALBUMS")["num_results"] == 347  # collection names ignore case


def test_relation_urls(keep: Any) -> None:
    """A to-many, a many-to-many (paginated) and a self-reference at their relation URLs."""
    albums = ok(keep, "/api/artists/1/albums")
    assert [a["Title"] for a in albums["objects"]] == [
        "For Those About To Rock We Salute You",
        "Let There Be Rock",
    ]
    first = ok(keep, "/api/playlists/1/tracks")
    second = ok(keep, "/api/playlists/1/tracks?page=2")
    assert first["num_results"] == second["num_results"] == 3290
    assert (first["page"], second["page"], first["total_pages"]) == (1, 2, 329)
    assert len(first["objects"]) == len(second["objects"]) == 10
    assert {t["TrackId"] for t in first["objects"]}.isdisjoint(
        t["TrackId"] for t in second["objects"]
    )
    assert [p["Name"] for p in ok(keep, "/api/tracks/1/playlists")["objects"]] == [
        "Music",
        "Music",
        "Heavy Metal Classic",
    ]
    boss = ok(keep, "/api/employees/1")
    assert (boss["FirstName"], boss["ReportsTo"], boss["reports_to"]) == ("Andrew", None, None)
    reports = ok(keep, "/api/employees/1/employees")
    assert [(e["FirstName"], e["ReportsTo"]) for e in reports["objects"]] == [
        ("Nancy", 1),
        ("Michael", 1),
    ]
    nancy = ok(keep, "/api/employees/2")
    assert nancy["reports_to"]["FirstName"] == "Andrew"


def test_snake_naming(snake: Any) -> None:
    """--naming snake: snake_case columns; ReportsTo's to-one avoids the column's name."""
    employee = ok(snake, "/api/employees/2")
    assert employee["reports_to"] == 1
    assert employee["reports_to_employees"]["first_name"] == "Andrew"
    assert ok(snake, "/api/employees/1/employees")["num_results"] == 2
    queen = {"name": "name", "op": "==", "val": "Queen"}
    q = {"filters": [{"name": "artist", "op": "has", "val": queen}]}
    assert [a["title"] for a in ok(snake, "/api/albums", q)["objects"]] == [
        "Greatest Hits II",
        "Greatest Hits I",
        "News Of The World",
    ]


#: URLs whose answers are the same from the curated models and from reflection
#: (--naming snake): no to-many inlined on either side, or the same ones.
SAME = [
    "/api/albums",
    "/api/albums?page=3",
    "/api/albums/5",
    "/api/artists/1/albums",
    "/api/genres",
    "/api/media_types",
    "/api/playlists",
    "/api/playlist_track?page=7",
    "/api/invoice_items?page=4",
    "/api/invoice_items/17",
    "/api/albums?q=%7B%22order_by%22%3A%5B%7B%22field%22%3A%22title%22%2C%22direction%22%3A%22desc%22%7D%5D%7D",
    "/api/eval/invoices?q=%7B%22functions%22%3A%5B%7B%22name%22%3A%22sum%22%2C%22field%22%3A%22total%22%7D%5D%7D",
]
#: With --inline-to-many: where the curated models inline every to-many too.
SAME_INLINED = [
    "/api/artists",
    "/api/artists/90",
    "/api/invoices?page=5",
    "/api/tracks?page=30",
    "/api/tracks/1",
]


@pytest.mark.parametrize("path", SAME)
def test_same_answers_as_curated(snake: Any, curated: Any, path: str) -> None:
    """With --naming snake, these URLs answer exactly what ``twistd chinook`` answers."""
    assert get(snake, path) == get(curated, path)


@pytest.mark.parametrize("path", SAME_INLINED)
def test_same_answers_as_curated_inlined(snake_inline: Any, curated: Any, path: str) -> None:
    """With --naming snake --inline-to-many, these answer what ``twistd chinook`` answers."""
    assert get(snake_inline, path) == get(curated, path)


def test_known_differences(snake: Any, curated: Any) -> None:
    """What differs from the curated service, and why (docs/reflection.md lists them)."""
    # ReportsTo: the curated model calls the column reports_to_id; reflection keeps it.
    assert set(ok(curated, "/api/employees/2")) - set(ok(snake, "/api/employees/2")) == {
        "reports_to_id",
        "reports",
        "customers",
    }
    # The curated reverse of reports_to is "reports"; reflection names it after the table.
    curated_reports = ok(curated, "/api/employees/1/reports")["objects"]
    reflected_reports = ok(snake, "/api/employees/1/employees")["objects"]
    assert [e["employee_id"] for e in curated_reports] == [2, 6]
    assert [e["employee_id"] for e in reflected_reports] == [2, 6]
    # An employee inlined in a customer carries that column too.
    assert "reports_to" in ok(snake, "/api/customers/1")["support_rep"]
    # Tracks inline their to-many relations in the curated service, not by default here.
    assert "playlists" in ok(curated, "/api/tracks/1")
    assert "playlists" not in ok(snake, "/api/tracks/1")
    # playlist_track's composite key: the curated service keeps 0.17's first-key URL
    # (a row of playlist 3: which one, the database decides), reflection names the whole key.
    assert ok(curated, "/api/playlist_track/3")["playlist_id"] == 3
    assert get(curated, "/api/playlist_track/3,3246")[0] == 404
    assert get(snake, "/api/playlist_track/3")[0] == 404
    whole = ok(snake, "/api/playlist_track/3,3246")
    assert (whole["playlist_id"], whole["track_id"]) == (3, 3246)


def test_openapi_of_reflected_models(keep: Any) -> None:
    """/openapi.json describes the reflected collections, and is a valid OpenAPI 3.1 document."""
    from openapi_spec_validator import validate

    document = ok(keep, "/openapi.json")
    validate(document)
    assert "/api/albums" in document["paths"]
    assert "/api/playlists/{PlaylistId}/tracks" in document["paths"]
    assert "/api/employees/{EmployeeId}/employees" in document["paths"]


@pytest.mark.parametrize(
    ("path", "inline"),
    [
        ("/api/albums", False),
        ("/api/tracks?page=3", True),
        ("/api/playlists/1/tracks", True),
        ("/api/employees/2", True),
    ],
)
def test_no_more_statements_than_curated(
    engine: Engine, snake: Any, snake_inline: Any, curated: Any, path: str, inline: bool
) -> None:
    """No N+1: the same answer takes as many SQL statements reflected as curated, a handful.

    (With --inline-to-many where the curated objects inline their to-many too.)
    """
    from sqlalchemy import event

    counted = [0]

    def count(*_: Any) -> None:
        counted[0] += 1

    def statements(resource: Any) -> int:
        ok(resource, path)  # warm: compiled statements, the count cache
        counted[0] = 0
        ok(resource, path)
        return counted[0]

    event.listen(engine, "before_cursor_execute", count)
    try:
        reflected = statements(snake_inline if inline else snake)
        reference = statements(curated)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert reflected == reference <= 8
