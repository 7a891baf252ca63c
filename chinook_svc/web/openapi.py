"""``GET /openapi.json``: the service's OpenAPI 3.1 document.

The engine describes its APIs (``APIManager.openapi``: every collection,
relation and ``eval`` URL with the methods it allows); this module adds the
service's own URLs (``/``, ``/healthz``, ``/aggregate`` from its configured
sources) and states which methods need the bearer token.  ``servers`` is the
mount point the request came through, so a service mounted under ``/music``
describes ``/music/api/...``.  The document is built once and encoded once
per mount point.
"""

from __future__ import annotations

from typing import Any

from chinook_svc.aggregate.openapi import REPORT, aggregate_path
from chinook_svc.aggregate.settings import AggregateSettings
from chinook_svc.restless import APIManager
from chinook_svc.web.request_id import document_request_id

Schema = dict[str, Any]

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

DESCRIPTION = """\
A flask-restless 0.17 compatible JSON API over the Chinook sample database.

Search a collection with `q`, a JSON object in the query string (filters with
their operators, and/or, has/any, order_by, group_by, limit, offset, single);
page with `page` and `results_per_page`, or by key with `cursor`. Every error
is JSON with a `message`. A method that a URL does not allow is answered
405 with an `Allow` header; an unknown URL 404.
"""

_TEXT = {"type": "string"}
HEALTH: Schema = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "database": {"type": "string", "enum": ["ok", "unavailable"]},
        "edition": _TEXT,
        "version": _TEXT,
        "pid": {"type": "integer"},
        "load": {
            "type": "string",
            "enum": ["normal", "busy", "saturated"],
            "description": "how busy the API is; saturated: requests wait or are refused",
        },
    },
    "required": ["status", "database"],
    "additionalProperties": False,
    "description": (
        "edition, version, pid and load only for a request with the token under auth_reads"
    ),
}
INDEX: Schema = {
    "type": "object",
    "properties": {
        "name": _TEXT,
        "version": _TEXT,
        "edition": _TEXT,
        "api": _TEXT,
        "health": _TEXT,
        "openapi": _TEXT,
        "docs": _TEXT,
        "collections": {"type": "object", "additionalProperties": _TEXT},
    },
    "required": ["name", "version", "edition", "api", "health", "collections"],
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def service_paths(*, guarded_index: bool) -> dict[str, Schema]:
    """``/`` and ``/healthz`` (``guarded_index``: ``/`` needs the token, as under auth_reads)."""
    index: Schema = {
        "tags": ["service"],
        "summary": "index: the collections' URLs",
        "operationId": "get_index",
        "responses": {"200": _json(_ref("Index"), "the index")},
    }
    if guarded_index:
        index["security"] = [{"bearer": []}]
        index["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
    return {
        "/": {"get": index},
        "/healthz": {
            "get": {
                "tags": ["service"],
                "summary": "health check: the database answers SELECT 1",
                "operationId": "get_health",
                "responses": {
                    "200": _json(_ref("Health"), "the database answers"),
                    "503": {
                        **_json(_ref("Health"), "the database does not answer in time"),
                        "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
                    },
                },
            }
        },
    }


def bearer_methods(*, token: bool, auth_reads: bool) -> frozenset[str]:
    """The methods of ``/api`` that need the bearer token."""
    if not token:
        return frozenset()
    return WRITE_METHODS | ({"GET"} if auth_reads else frozenset())


def service_document(
    manager: APIManager,
    *,
    version: str,
    bearer: frozenset[str],
    aggregate: AggregateSettings | None,
) -> Schema:
    """The document with ``servers`` left for :func:`for_mount` to fill in."""
    document = manager.openapi(
        title="chinook_svc",
        version=version,
        description=DESCRIPTION,
        mount="/api",
        bearer=bearer,
    )
    components = document["components"]
    schemas = components["schemas"]
    schemas.update(Index=INDEX, Health=HEALTH)
    components.setdefault("headers", {}).setdefault(
        "Retry-After", {"description": "seconds", "schema": {"type": "string"}}
    )
    paths = {**service_paths(guarded_index="GET" in bearer), **document["paths"]}
    if aggregate is not None:
        schemas["AggregateReport"] = REPORT
        paths["/aggregate"] = aggregate_path(aggregate, bearer="GET" in bearer)
    document["paths"] = paths
    return document_request_id(document)


def for_mount(document: Schema, mount: str) -> Schema:
    """``document`` describing the service mounted at ``mount`` (``""`` or ``/music``)."""
    return {**document, "servers": [{"url": mount.rstrip("/") or "/"}]}


__all__ = ["bearer_methods", "for_mount", "service_document"]
