"""The OpenAPI 3.1 document of a manager's APIs, generated from what is registered.

:func:`openapi_paths` walks the :class:`~._routes.Registry` (every API, under
its URL prefix) and describes each URL kind the routes serve with the methods
that API allows, so the document cannot disagree with the service: a method
switched off is absent, an ``exclude_columns`` field is missing from the
schemas, a new operator in ``_operators`` appears in ``Filter``.
:func:`openapi_document` wraps them in a whole document (``info``,
``servers``, the bearer security scheme); a service adds its own paths to it.

::

    document = manager.openapi(title="Music", version="1.0", server_url="/")
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._api import CollectionApi
from ._openapi_paths import ApiPaths, Components
from ._openapi_query import filter_schemas, functions_schema, query_schema
from ._openapi_schemas import nullable, ref
from ._query import Limits
from ._routes import Registry

Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "detail": {"type": "string"},
        "validation_errors": {},
    },
    "required": ["message"],
    "description": "Every error: a message (flask-restless 0.17's strings), sometimes more keys.",
}


BEARER: Schema = {
    "type": "http",
    "scheme": "bearer",
    "description": "Authorization: Bearer <token>",
}


def _counter(key: str) -> Schema:
    return {
        "type": "object",
        "properties": {key: {"type": "integer", "minimum": 0}},
        "required": [key],
        "additionalProperties": False,
    }


def shared_schemas(components: Components, limits: Limits) -> None:
    """The schemas every API refers to: errors, ``q``, ``eval``, bulk counts."""
    components.schemas.update(
        {
            "Error": ERROR,
            "Query": query_schema(limits),
            **filter_schemas(limits),
            "Functions": functions_schema(limits),
            "FunctionResults": {
                "type": "object",
                "additionalProperties": {"type": ["number", "string", "null"]},
                "description": "<function>__<field>: its value (min/max of text or dates: text)",
            },
            "Modified": _counter("num_modified"),
            "Deleted": _counter("num_deleted"),
        }
    )


def _collection(p: ApiPaths, allowed: frozenset[str]) -> Schema:
    item: Schema = {}
    name = p.name
    if "GET" in allowed:
        obj = p.shape_ref(p.api.collection.shape, p.info.name)
        page = p.page_ref(obj, p.info.name)
        cursor_page = p.components.add(
            f"{p.info.name}CursorPage",
            {
                "type": "object",
                "properties": {
                    "next_cursor": {"type": ["string", "null"]},
                    "objects": {"type": "array", "items": obj},
                },
                "required": ["next_cursor", "objects"],
                "additionalProperties": False,
            },
        )
        answer = {
            "anyOf": [page, cursor_page, obj],
            "description": "a page; with cursor, a keyset page; with q.single, the object",
        }
        item["get"] = p.read(
            f"search {name}",
            {**p.ok(answer, "ETag", "Link", "Location"), **p.error("404")},
            [p.q_parameter("search"), *p.paging_parameters(cursor=True)],
        )
        item["get"]["description"] = (
            "A page of objects (Link: next and last pages). With q.single, the one object "
            "(Location: its URL; 404 if none, 400 if several)."
        )
    if "POST" in allowed:
        item["post"] = p.operation(
            "POST",
            f"create in {name}",
            {
                **p.ok(p.shape_ref(p.api.collection.shape, p.info.name), "Location", status="201"),
                **p.error("409"),
            },
            body=p.write_body(create=True),
        )
    if "PATCH" in allowed:
        for method in ("PATCH", "PUT"):
            item[method.lower()] = p.operation(
                method,
                f"update many in {name}",
                p.ok(ref("Modified")),
                body=p.write_body(create=False, many=True),
            )
    if "DELETE" in allowed:
        item["delete"] = p.operation(
            "DELETE", f"delete many in {name}", p.ok(ref("Deleted")), [p.q_parameter("delete")]
        )
    return item


def _instance(p: ApiPaths, allowed: frozenset[str], key: Schema) -> Schema:
    item: Schema = {"parameters": [key]}
    name = p.name
    obj = p.shape_ref(p.api.collection.shape, p.info.name)
    if "GET" in allowed:
        item["get"] = p.read(f"get one of {name}", {**p.ok(obj, "ETag"), **p.error("404")}, [])
    if "PATCH" in allowed:
        for method in ("PATCH", "PUT"):
            item[method.lower()] = p.operation(
                method,
                f"update one of {name}",
                {**p.ok(obj), **p.error("404", "409")},
                body=p.write_body(create=False),
            )
    if "DELETE" in allowed:
        item["delete"] = p.operation(
            "DELETE",
            f"delete one of {name}",
            {"204": {"description": "Deleted"}, **p.error("404", "409")},
        )
    return item


def _relation(p: ApiPaths, allowed: frozenset[str], key: Schema, relname: str) -> Schema:
    rel = p.info.relations[relname]
    item: Schema = {"parameters": [key]}
    shape = p.relation_shape(rel)
    summary = f"{relname} of one of {p.name}"
    if "GET" in allowed:
        if rel.uselist:
            answer = p.ok(p.page_ref(shape, rel.target.name + "Expanded"), "ETag")
            parameters = p.paging_parameters(cursor=False)
        else:
            answer = p.ok(shape, "ETag")
            parameters = []
        item["get"] = p.read(summary, {**answer, **p.error("404")}, parameters)
    if "DELETE" in allowed:
        item["delete"] = p.operation("DELETE", f"delete all {summary}", p.error("400", "404"))
        item["delete"]["description"] = (
            "Always refused (400), as in 0.17: remove members one by one."
        )
    return item


def _member(p: ApiPaths, allowed: frozenset[str], params: list[Schema], relname: str) -> Schema:
    rel = p.info.relations[relname]
    item: Schema = {"parameters": params}
    summary = f"one of {relname} of one of {p.name}"
    if "GET" in allowed:
        item["get"] = p.read(summary, {**p.ok(p.relation_shape(rel), "ETag"), **p.error("404")}, [])
        item["get"]["description"] = "404 unless the object belongs to the relation."
    if "DELETE" in allowed:
        item["delete"] = p.operation(
            "DELETE",
            f"unlink {summary}",
            {"204": {"description": "Unlinked (the row stays)"}, **p.error("404")},
        )
    return item


def _eval(p: ApiPaths) -> Schema:
    operation = p.read(
        f"functions over {p.name}",
        {**p.ok(ref("FunctionResults"), "ETag"), "204": {"description": "No function asked for"}},
        [p.q_parameter("functions", required=True)],
    )
    return {"get": operation}


def api_paths(
    api: CollectionApi, components: Components, url: str, bearer: frozenset[str]
) -> dict[str, Schema]:
    """The path items of one API whose collection URL is ``url``."""
    p = ApiPaths(api, components, url, bearer)
    info = p.info
    paths: dict[str, Schema] = {}
    if allowed := api.allowed_methods("collection"):
        paths[url] = _collection(p, allowed)
    if api.allowed_methods("eval"):
        base, _, name = url.rpartition("/")
        paths[f"{base}/eval/{name}"] = _eval(p)
    own = api.collection.instance_key
    pk = own.parameter
    key = p.key_parameter(info, own, pk)
    if allowed := api.allowed_methods("instance"):
        paths[f"{url}/{{{pk}}}"] = _instance(p, allowed, key)
    relation_allowed = api.allowed_methods("relation")
    member_allowed = api.allowed_methods("member")
    for relname, rel in sorted(info.relations.items()):
        if relation_allowed:
            paths[f"{url}/{{{pk}}}/{relname}"] = _relation(p, relation_allowed, key, relname)
        if member_allowed:
            target = api.collection.target_key(rel.target)
            name = p.key_name(rel.target, target.parameter, {pk})
            params = [key, p.key_parameter(rel.target, target, name)]
            paths[f"{url}/{{{pk}}}/{relname}/{{{name}}}"] = _member(
                p, member_allowed, params, relname
            )
    return {path: item for path, item in paths.items() if set(item) - {"parameters"}}


def openapi_paths(
    apis: Iterable[tuple[str, CollectionApi]],
    components: Components,
    bearer: frozenset[str] = frozenset(),
) -> dict[str, Schema]:
    """Every path item of ``apis``, each given with its collection URL."""
    apis = list(apis)
    for url, api in apis:
        # Each API's own objects first, so that they get the model's plain name.
        ApiPaths(api, components, url, bearer).shape_ref(
            api.collection.shape, api.collection.info.name
        )
    paths: dict[str, Schema] = {}
    for url, api in apis:
        paths.update(api_paths(api, components, url, bearer))
    return paths


def registered(registry: Registry, mount: str = "") -> list[tuple[str, CollectionApi]]:
    """Every API of ``registry`` with its collection URL, under ``mount`` (``/api``)."""
    found = []
    for api in registry.apis():
        prefix = "/" + api.options.url_prefix.strip("/")
        url = mount.rstrip("/") + ("" if prefix == "/" else prefix)
        found.append((f"{url}/{api.options.collection_name!s}", api))
    return sorted(found, key=lambda pair: pair[0])


def openapi_document(
    registry: Registry,
    *,
    title: str,
    version: str,
    limits: Limits,
    description: str | None = None,
    server_url: str = "/",
    mount: str = "",
    bearer: frozenset[str] = frozenset(),
) -> Schema:
    """The whole OpenAPI 3.1 document of the APIs in ``registry``.

    Args:
        registry: the APIs.
        title, version, description: the document's ``info``.
        limits: the bounds of ``q`` stated in the shared ``Query`` schema.
        server_url: where the paths start (the service's mount point).
        mount: the path of the engine's resource under ``server_url`` (``/api``).
        bearer: the methods that need ``Authorization: Bearer``.
    """
    components = Components()
    shared_schemas(components, limits)
    paths = openapi_paths(registered(registry, mount), components, bearer)
    info: Schema = {"title": title, "version": version}
    if description:
        info["description"] = description
    document: Schema = {
        "openapi": "3.1.0",
        "info": info,
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": components.document(),
    }
    if bearer:
        document["components"]["securitySchemes"] = {"bearer": BEARER}
    return document


__all__ = ["Components", "nullable", "openapi_document", "openapi_paths", "registered"]
