"""A hand-written FastAPI + SQLAlchemy 2 app with chinook_svc's response shape.

What a developer would write instead of a generic REST layer, for the
benchmarked URLs: ``GET /api/albums`` and ``GET /api/tracks`` (flask-restless
``q`` with ``filters``/``order_by``, ``page``, ``results_per_page``) and
``GET /api/{collection}/{id}``.  Objects have sorted keys and embed their
relations one level deep, as chinook_svc's do: to-one relations come from a
join (``joinedload``), to-many ones from one ``selectinload`` statement each,
so a page of albums costs two statements (count and page).  Serialised with
orjson.  Run with ``uvicorn --workers 2 fastapi_app:app``.  Environment:
``BENCH_DB`` (path of the SQLite file), ``BENCH_ALBUM_TRACKS=1`` to inline
tracks in album objects.
"""

import json
import os
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException
from fastapi.responses import Response
from peer_models import Album, Track
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.orm import Session, joinedload, selectinload

engine = create_engine("sqlite:///" + os.environ["BENCH_DB"])
app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

ALBUM_TRACKS = os.environ.get("BENCH_ALBUM_TRACKS") == "1"
#: collection -> (model, to-one relations, to-many relations) embedded in its objects.
COLLECTIONS: dict[str, tuple[Any, tuple[str, ...], tuple[str, ...]]] = {
    "albums": (Album, ("artist",), ("tracks",) if ALBUM_TRACKS else ()),
    "tracks": (Track, ("album", "genre", "media_type"), ("invoice_items", "playlists")),
}
OPERATORS = {
    "==": lambda f, v: f == v,
    "eq": lambda f, v: f == v,
    "!=": lambda f, v: f != v,
    "<": lambda f, v: f < v,
    "<=": lambda f, v: f <= v,
    ">": lambda f, v: f > v,
    ">=": lambda f, v: f >= v,
    "in": lambda f, v: f.in_(v),
    "like": lambda f, v: f.like(v),
    "ilike": lambda f, v: f.ilike(v),
}
RESULTS_PER_PAGE = 10
MAX_RESULTS_PER_PAGE = 100


def column_names(model: Any) -> tuple[str, ...]:
    """The model's column attributes."""
    return tuple(attr.key for attr in inspect(model).column_attrs)


def related_model(model: Any, name: str) -> Any:
    """The class at the other end of relation ``name``."""
    return inspect(model).relationships[name].mapper.class_


def condition(model: Any, spec: dict[str, Any]) -> Any:
    """One filter of ``q`` as a SQL expression (``has``/``any`` recurse into the relation)."""
    name, op, val = spec["name"], spec["op"], spec.get("val")
    field = getattr(model, name)
    if op in ("has", "any"):
        inner = condition(related_model(model, name), val)
        return field.has(inner) if op == "has" else field.any(inner)
    return OPERATORS[op](field, val)


def columns_of(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The object's columns as a dict."""
    return {name: getattr(obj, name) for name in names}


def serializer(model: Any, to_one: tuple[str, ...], to_many: tuple[str, ...]) -> Any:
    """A function turning one instance into chinook_svc's object shape."""
    own = column_names(model)
    related = {name: column_names(related_model(model, name)) for name in to_one + to_many}

    def to_dict(obj: Any) -> dict[str, Any]:
        result = columns_of(obj, own)
        for name in to_one:
            value = getattr(obj, name)
            result[name] = None if value is None else columns_of(value, related[name])
        for name in to_many:
            result[name] = [columns_of(value, related[name]) for value in getattr(obj, name)]
        return result

    return to_dict


SERIALIZERS = {name: serializer(*spec) for name, spec in COLLECTIONS.items()}


def loader_options(name: str) -> list[Any]:
    """Eager loading for the collection's embedded relations."""
    model, to_one, to_many = COLLECTIONS[name]
    return [joinedload(getattr(model, rel)) for rel in to_one] + [
        selectinload(getattr(model, rel)) for rel in to_many
    ]


def json_response(body: Any) -> Response:
    """``body`` as JSON with sorted keys."""
    return Response(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), media_type="application/json")


def lookup(collection: str) -> tuple[Any, tuple[str, ...], tuple[str, ...]]:
    """The collection's spec, or 404."""
    spec = COLLECTIONS.get(collection.lower())
    if spec is None:
        raise HTTPException(404, "No such collection")
    return spec


@app.get("/api/{collection}")
def get_many(
    collection: str, q: str | None = None, page: int = 1, results_per_page: int = 0
) -> Response:
    """A page of the collection, filtered and ordered by ``q``."""
    model, _, _ = lookup(collection)
    try:
        query = json.loads(q) if q else {}
        conditions = [condition(model, f) for f in query.get("filters", [])]
        order = [
            getattr(model, o["field"]).desc()
            if o.get("direction") == "desc"
            else getattr(model, o["field"])
            for o in query.get("order_by", [])
        ]
    except (ValueError, KeyError, AttributeError, TypeError) as e:
        raise HTTPException(400, f"Unable to construct query: {e}")
    size = results_per_page if results_per_page > 0 else RESULTS_PER_PAGE
    size = min(size, MAX_RESULTS_PER_PAGE)
    if page < 1:
        raise HTTPException(400, "page must be a positive integer")
    primary_key = inspect(model).primary_key
    statement = (
        select(model)
        .where(*conditions)
        .order_by(*order or primary_key)
        .limit(size)
        .offset((page - 1) * size)
        .options(*loader_options(collection.lower()))
    )
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(model).where(*conditions))
        rows = session.scalars(statement).unique().all()
        to_dict = SERIALIZERS[collection.lower()]
        objects = [to_dict(row) for row in rows]
    return json_response(
        {
            "num_results": total,
            "objects": objects,
            "page": page,
            "total_pages": -(-total // size),
        }
    )


@app.get("/api/{collection}/{instance_id}")
def get_one(collection: str, instance_id: int) -> Response:
    """One object by primary key."""
    model, _, _ = lookup(collection)
    with Session(engine) as session:
        row = session.get(model, instance_id, options=loader_options(collection.lower()))
        if row is None:
            raise HTTPException(404, "No result found")
        return json_response(SERIALIZERS[collection.lower()](row))
