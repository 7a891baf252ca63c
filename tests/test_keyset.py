"""Keyset (cursor) pagination: every row exactly once, in order, whatever the depth.

Walking a search with cursors must give exactly the rows offset pagination
gives, on every backend, including orders over columns with NULLs and ties,
descending orders, and filters; cursors are checked (type, query).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from . import backends
from .restless_client import Client, q


@pytest.fixture(scope="module", params=backends.PARAMS)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Client]:
    """The Chinook API on each backend."""
    yield from backends.chinook_client_on(request, tmp_path_factory, "keyset")


def walk(client: Client, collection: str, query: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """Every object of a search, following next_cursor from the first page."""
    objects: list[dict[str, Any]] = []
    cursor = ""
    pages = 0
    while cursor is not None:
        answer = client.get(f"/api/{collection}?{q(query)}&results_per_page={size}&cursor={cursor}")
        assert answer.code == 200, answer.body
        body = answer.json
        objects += body["objects"]
        cursor = body["next_cursor"]
        if cursor is not None:
            link = answer.headers["link"]
            assert re.search(rf"cursor={re.escape(cursor)}&results_per_page={size}", link)
        else:
            assert "link" not in answer.headers
        pages += 1
        assert pages < 1000
    return objects


def offset_ids(client: Client, collection: str, key: str, query: dict[str, Any]) -> list[Any]:
    result: list[Any] = []
    page = 1
    while True:
        body = client.get(f"/api/{collection}?{q(query)}&results_per_page=100&page={page}").json
        result += [o[key] for o in body["objects"]]
        if page >= body["total_pages"]:
            return result
        page += 1


def asc(field: str) -> dict[str, str]:
    return {"field": field, "direction": "asc"}


def desc(field: str) -> dict[str, str]:
    return {"field": field, "direction": "desc"}


ROCK = [{"name": "genre_id", "op": "==", "val": 1}]


@pytest.mark.parametrize(
    ("collection", "key", "query", "size"),
    [
        ("albums", "album_id", {}, 37),
        ("tracks", "track_id", {"order_by": [asc("composer")]}, 50),
        ("tracks", "track_id", {"order_by": [desc("composer")]}, 77),
        (
            "tracks",
            "track_id",
            {"filters": ROCK, "order_by": [asc("name"), desc("milliseconds")]},
            100,
        ),
        ("invoices", "invoice_id", {"order_by": [asc("billing_state"), desc("total")]}, 29),
        ("customers", "customer_id", {"order_by": [desc("support_rep_id")]}, 7),
    ],
)
def test_cursor_walk_equals_offset_walk(
    client: Client, collection: str, key: str, query: dict[str, Any], size: int
) -> None:
    """Following cursors yields exactly the rows, in the order, that pages do."""
    by_cursor = [o[key] for o in walk(client, collection, query, size)]
    assert by_cursor == offset_ids(client, collection, key, query)
    assert len(set(by_cursor)) == len(by_cursor)


def test_cursor_page_shape(client: Client) -> None:
    """A cursor page holds the objects as usual (relations inlined) and no count."""
    body = client.get("/api/albums?cursor=&results_per_page=3").json
    assert set(body) == {"objects", "next_cursor"}
    assert [a["album_id"] for a in body["objects"]] == [1, 2, 3]
    assert body["objects"][0]["artist"]["name"] == "AC/DC"
    second = client.get(f"/api/albums?cursor={body['next_cursor']}&results_per_page=3").json
    assert [a["album_id"] for a in second["objects"]] == [4, 5, 6]


def test_bad_cursors(client: Client) -> None:
    """Garbage, a cursor of another query, or one with wrong value types: 400."""
    first = client.get("/api/albums?cursor=&results_per_page=2").json["next_cursor"]
    other = {"order_by": [{"field": "title"}]}
    for path in (
        "/api/albums?cursor=%%%",
        "/api/albums?cursor=bm90IGpzb24",
        f"/api/albums?{q(other)}&cursor={first}",
        "/api/albums?cursor=eyJxIjogIngiLCAidiI6IFsieCJdfQ",
    ):
        answer = client.get(path)
        assert answer.code == 400, path
        assert answer.json["message"] == "Unable to construct query"


def forged(cursor: str, values: list[Any]) -> str:
    """``cursor`` with its key values replaced (what a client could send)."""
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    payload["v"] = values
    text = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def test_forged_cursors_are_400(client: Client) -> None:
    """A cursor holding what we never write is a 400, never a 500 (they are not signed).

    A lone surrogate, a value out of its column's range or longer than it, a
    value of the wrong type, characters outside base64, deep nesting, extra keys.
    """
    by_title = {"order_by": [{"field": "title"}]}
    first = client.get(f"/api/albums?{q(by_title)}&cursor=&results_per_page=2").json
    cursor = first["next_cursor"]
    base = f"/api/albums?{q(by_title)}&results_per_page=2&cursor="
    assert client.get(base + forged(cursor, ["Ace", 3])).code == 200
    nested = base64.urlsafe_b64encode(b"[" * 5000).decode()
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    extra = base64.urlsafe_b64encode(json.dumps({**payload, "x": 1}).encode()).decode()
    for path in (
        base + forged(cursor, ["\ud800", 3]),
        base + forged(cursor, ["x" * 161, 3]),
        base + forged(cursor, ["Ace", 2**31]),
        base + forged(cursor, ["Ace", 2**70]),
        base + forged(cursor, [["Ace"], 3]),
        base + forged(cursor, ["Ace", 3.5]),
        base + forged(cursor, ["Ace"]),
        base + cursor[:4] + "!*" + cursor[4:],
        base + nested,
        base + extra,
        base + "A" * 5000,
    ):
        answer = client.get(path)
        assert answer.code == 400, (path, answer.body)
        assert answer.json["message"] == "Unable to construct query"


def test_unsupported_with_cursor(client: Client) -> None:
    """Cursors follow the model's own columns only, and exclude group_by, limit and offset."""
    for query in (
        {"order_by": [{"field": "artist__name"}]},
        {"group_by": [{"field": "artist_id"}]},
        {"limit": 5},
    ):
        assert client.get(f"/api/albums?{q(query)}&cursor=").code == 400
