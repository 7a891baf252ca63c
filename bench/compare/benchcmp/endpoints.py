"""The benchmarked requests E1-E5, in each peer's URL scheme, and row ids out of each answer.

Every endpoint is stated once in chinook_svc's (flask-restless 0.17) terms;
:func:`restless_path`, :func:`jsonapi_path` and :func:`datasette_request`
translate it.  :func:`answer_ids` reads the row ids and the total back out of
an answer in any of the three shapes, so that the correctness gate compares
like with like.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

#: Primary key attribute (ours) and column (datasette's) of each collection.
PRIMARY_KEYS = {"albums": ("album_id", "AlbumId"), "tracks": ("track_id", "TrackId")}

#: The relations chinook_svc embeds in each collection's objects (``include`` for JSON:API).
EMBEDDED = {
    "albums": ("artist",),
    "tracks": ("album", "genre", "invoice_items", "media_type", "playlists"),
}


@dataclass(frozen=True)
class Endpoint:
    """One benchmarked request, in flask-restless terms."""

    key: str
    title: str
    collection: str
    instance: int | None = None
    filters: Sequence[Mapping[str, Any]] = ()
    order_by: Sequence[Mapping[str, str]] = ()
    page: int | None = None
    #: datasette's query parameters (its own filter and sort syntax) and page.
    datasette: Mapping[str, str] = field(default_factory=dict)

    @property
    def q(self) -> str | None:
        """The ``q`` parameter, compact JSON, or ``None`` without filters and order."""
        query: dict[str, Any] = {}
        if self.filters:
            query["filters"] = list(self.filters)
        if self.order_by:
            query["order_by"] = list(self.order_by)
        return json.dumps(query, separators=(",", ":")) if query else None


HAS_A = {"name": "artist", "op": "has", "val": {"name": "name", "op": "like", "val": "A%"}}

ENDPOINTS: dict[str, Endpoint] = {
    e.key: e
    for e in (
        Endpoint("E1", "albums page 1, artist embedded", "albums"),
        Endpoint("E2", "album 1", "albums", instance=1),
        Endpoint(
            "E3",
            "tracks genre 1 by name, page 3",
            "tracks",
            filters=({"name": "genre_id", "op": "==", "val": 1},),
            order_by=({"field": "name"},),
            page=3,
            datasette={"GenreId": "1", "_sort": "Name"},
        ),
        Endpoint("E4", "albums page 30", "albums", page=30),
        Endpoint(
            "E5",
            "albums of artists like A%",
            "albums",
            filters=(HAS_A,),
            datasette={"_where": "ArtistId in (select ArtistId from artists where Name like 'A%')"},
        ),
    )
}


def restless_path(endpoint: Endpoint, prefix: str = "/api") -> str:
    """The URL path and query in flask-restless 0.17's scheme (chinook_svc, 0.17, FastAPI)."""
    path = f"{prefix}/{endpoint.collection}"
    if endpoint.instance is not None:
        return f"{path}/{endpoint.instance}"
    params = {}
    if endpoint.q is not None:
        params["q"] = endpoint.q
    if endpoint.page is not None:
        params["page"] = str(endpoint.page)
    return f"{path}?{urlencode(params)}" if params else path


def jsonapi_path(endpoint: Endpoint, album_tracks: bool = False, prefix: str = "/api") -> str:
    """The URL in flask-restless-ng's JSON:API scheme, related objects in ``include``."""
    include = list(EMBEDDED[endpoint.collection])
    if endpoint.collection == "albums" and album_tracks:
        include.append("tracks")
    path = f"{prefix}/{endpoint.collection}"
    if endpoint.instance is not None:
        path = f"{path}/{endpoint.instance}"
    params = {}
    if endpoint.filters:
        params["filter[objects]"] = json.dumps(list(endpoint.filters), separators=(",", ":"))
    if endpoint.order_by:
        params["sort"] = ",".join(
            ("-" if o.get("direction") == "desc" else "") + o["field"] for o in endpoint.order_by
        )
    if endpoint.page is not None:
        params["page[number]"] = str(endpoint.page)
    params["include"] = ",".join(include)
    return f"{path}?{urlencode(params)}"


def datasette_request(endpoint: Endpoint, database: str) -> tuple[str, int]:
    """datasette's URL for page 1 of the endpoint, and the page wanted.

    datasette pages by keyset (``_next``), not by number: the caller follows
    ``next_url`` ``page - 1`` times.  The row page (E2) has no label
    expansion; collection pages expand foreign keys with ``_labels=on``.
    """
    if endpoint.instance is not None:
        return f"/{database}/{endpoint.collection}/{endpoint.instance}.json?_shape=objects", 1
    params = {**endpoint.datasette, "_labels": "on", "_shape": "objects"}
    return f"/{database}/{endpoint.collection}.json?{urlencode(params)}", endpoint.page or 1


@dataclass(frozen=True)
class Answer:
    """What the correctness gate compares: the rows' ids in order, and the total."""

    ids: tuple[int, ...]
    total: int | None


def answer_ids(style: str, endpoint: Endpoint, body: Any) -> Answer:
    """Row ids and total out of an answer of the given style.

    Args:
        style: ``restless`` (envelope with ``objects``), ``jsonapi`` or ``datasette``.
        endpoint: the request the answer is for (its collection names the key).
        body: the decoded JSON.
    """
    ours, theirs = PRIMARY_KEYS[endpoint.collection]
    single = endpoint.instance is not None
    if style == "restless":
        if single:
            return Answer((body[ours],), None)
        return Answer(tuple(o[ours] for o in body["objects"]), body["num_results"])
    if style == "jsonapi":
        data = body["data"]
        if single:
            return Answer((int(data["id"]),), None)
        return Answer(tuple(int(o["id"]) for o in data), body["meta"]["total"])
    if style == "datasette":
        rows = body["rows"]
        if single:
            return Answer(tuple(r[theirs] for r in rows), None)
        return Answer(tuple(r[theirs] for r in rows), body.get("filtered_table_rows_count"))
    raise ValueError(f"unknown answer style {style!r}")


def compare_answers(expected: Answer, actual: Answer) -> str | None:
    """``None`` if the answers hold the same rows, else what differs (one line).

    The same rows in another order only among equal sort keys cannot be told
    apart from here, so a different order is reported as a mismatch too.
    """
    problems = []
    if expected.total != actual.total:
        problems.append(f"num_results {actual.total} != {expected.total}")
    if expected.ids != actual.ids:
        if sorted(expected.ids) == sorted(actual.ids):
            problems.append(f"same rows, other order: {list(actual.ids)} vs {list(expected.ids)}")
        else:
            missing = sorted(set(expected.ids) - set(actual.ids))
            extra = sorted(set(actual.ids) - set(expected.ids))
            problems.append(f"ids differ (missing {missing}, extra {extra})")
    return "; ".join(problems) or None


def jsonapi_to_restless(body: Mapping[str, Any]) -> Any:
    """A JSON:API document rebuilt as flask-restless objects (relations from ``included``).

    Lets the gate compare flask-restless-ng's data, not only its ids, with ours.
    """
    included = {(r["type"], r["id"]): r.get("attributes", {}) for r in body.get("included", [])}

    def resolve(linkage: Any) -> Any:
        if linkage is None:
            return None
        return dict(included.get((linkage["type"], linkage["id"]), {"?": linkage["id"]}))

    def rebuild(resource: Mapping[str, Any]) -> dict[str, Any]:
        obj = dict(resource.get("attributes", {}))
        for name, rel in resource.get("relationships", {}).items():
            data = rel.get("data")
            obj[name] = [resolve(d) for d in data] if isinstance(data, list) else resolve(data)
        return obj

    data = body["data"]
    if isinstance(data, list):
        return {"objects": [rebuild(r) for r in data]}
    return rebuild(data)


def _canonical(value: Any) -> Any:
    """``value`` with every list of objects sorted, to compare up to to-many order."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


def payload_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """``None`` if two payloads are equal, else the first difference (a short phrase)."""
    if expected == actual:
        return None
    if _canonical(expected) == _canonical(actual):
        return "same data, to-many lists in another order"
    return _first_difference(expected, actual, path or "$")


def _first_difference(expected: Any, actual: Any, path: str) -> str:
    if isinstance(expected, dict) and isinstance(actual, dict):
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        if missing or extra:
            return f"{path}: keys missing {missing}, extra {extra}"
        for key in sorted(expected):
            if expected[key] != actual[key]:
                return _first_difference(expected[key], actual[key], f"{path}.{key}")
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{path}: {len(actual)} items instead of {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            if e != a:
                return _first_difference(e, a, f"{path}[{i}]")
    return f"{path}: {actual!r:.60} instead of {expected!r:.60}"
