"""Operations of one API for the OpenAPI document: its URLs, methods, parameters and answers.

For each URL kind the routes serve (collection, ``eval``, instance,
relation, relation member), :class:`ApiPaths` describes exactly the methods
:meth:`CollectionApi.allowed_methods` lets through, with 0.17's parameters
and every status the protocol gives (``docs/protocol.md``).  Schemas come
from ``_openapi_schemas`` (objects and bodies) and ``_openapi_query``
(``q``), registered in a :class:`Components` that names each once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from ._api import CollectionApi
from ._keys import InstanceKey
from ._openapi_schemas import body_schema, link_schema, object_schema, ref, value_schema
from ._schema import ModelInfo, RelationInfo
from ._shape import Shape

Schema = dict[str, Any]
JSON = "application/json"
WRITES = ("POST", "PATCH", "PUT", "DELETE")

#: What each status means, for every operation that may answer it.
STATUS_TEXT = {
    "200": "OK",
    "201": "Created",
    "204": "No content",
    "304": "Not modified: the If-None-Match tag is current",
    "400": "Bad request: the message (and detail) say what is wrong",
    "401": "Missing or invalid bearer token",
    "404": "No such object (or relation)",
    "409": "Conflict: a row with this key exists",
    "413": "Request body too large",
    "415": 'Request must have "Content-Type: application/json" header',
    "503": "Database unavailable; retry after Retry-After seconds",
}


class Components:
    """``components``: each schema, response, parameter or header under one name.

    Equal objects share one name (the first one given), so the document
    says each thing once however many operations use it.
    """

    SECTIONS = ("schemas", "responses", "parameters", "headers", "securitySchemes")

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, Schema]] = {s: {} for s in self.SECTIONS}
        self._names: dict[tuple[str, str], str] = {}

    @property
    def schemas(self) -> dict[str, Schema]:
        """``components/schemas``."""
        return self.sections["schemas"]

    def add(self, base: str, obj: Schema, section: str = "schemas") -> Schema:
        """Register ``obj`` (named after ``base``) and return a reference to it."""
        base = re.sub(r"[^A-Za-z0-9._-]", "_", base) or "Object"
        content = json.dumps(obj, sort_keys=True)
        name = self._names.get((section, content))
        if name is None:
            objects = self.sections[section]
            name, n = base, 1
            while name in objects:
                n += 1
                name = f"{base}{n}"
            objects[name] = obj
            self._names[(section, content)] = name
        return {"$ref": f"#/components/{section}/{name}"}

    def document(self) -> Schema:
        """The ``components`` object (empty sections left out)."""
        return {k: v for k, v in self.sections.items() if v}


def _header(description: str, schema: Schema | None = None) -> Schema:
    return {"description": description, "schema": schema or {"type": "string"}}


HEADERS = {
    "ETag": _header("weak entity tag of the body; send it back in If-None-Match"),
    "Link": _header('the next and last pages: <url>; rel="next", <url>; rel="last"'),
    "Location": _header("the URL of the object", {"type": "string", "format": "uri"}),
    "Retry-After": _header("seconds", {"type": "string"}),
    "WWW-Authenticate": _header("Bearer"),
}

#: Error statuses' names under ``components/responses``, and the header each sends.
ERROR_NAMES = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "404": "NotFound",
    "409": "Conflict",
    "413": "TooLarge",
    "415": "UnsupportedMediaType",
    "503": "Unavailable",
}
ERROR_HEADERS = {"401": "WWW-Authenticate", "503": "Retry-After"}

IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "an ETag from an earlier answer: 304 with no body while it is current",
}


def _json(schema: Schema) -> Schema:
    return {JSON: {"schema": schema}}


class ApiPaths:
    """The ``paths`` entries of one :class:`CollectionApi`.

    Args:
        api: the API.
        components: where its schemas go.
        url: the path of its collection URL (``/api/albums``).
        bearer: methods that need the bearer token.
    """

    def __init__(
        self, api: CollectionApi, components: Components, url: str, bearer: frozenset[str]
    ) -> None:
        self.api = api
        self.info = api.collection.info
        self.options = api.options
        self.components = components
        self.url = url
        self.bearer = bearer
        self.name = str(api.options.collection_name)  # a table's name may be a str subclass
        self.tag = self.name

    # -- schemas ------------------------------------------------------------------------

    def shape_ref(self, shape: Shape, base: str) -> Schema:
        """The schema of ``shape``'s objects, and of the related objects inside them."""
        refs = {}
        for name, related in shape.relations:
            nested = self.shape_ref(related, f"{related.info.name}Related")
            refs[name] = nested["$ref"].rsplit("/", 1)[1]
        return self.components.add(base, object_schema(shape, refs))

    def page_ref(self, item: Schema, base: str) -> Schema:
        """The page envelope of ``item`` objects."""
        count = {"type": "integer", "minimum": 0}
        return self.components.add(
            f"{base}Page",
            {
                "type": "object",
                "properties": {
                    "num_results": count,
                    "objects": {"type": "array", "items": item},
                    "page": {"type": "integer", "minimum": 1},
                    "total_pages": count,
                },
                "required": ["num_results", "objects", "page", "total_pages"],
                "additionalProperties": False,
            },
        )

    def links(self, info: ModelInfo, removal: bool) -> Schema:
        """The reference to a related object in a body (``removal``: in ``remove``)."""
        base = f"{info.name}{'Removal' if removal else 'Link'}"
        return self.components.add(base, link_schema(info, removal=removal))

    # -- parameters and answers -------------------------------------------------------------

    def key_parameter(self, info: ModelInfo, key: InstanceKey, name: str) -> Schema:
        """A path parameter holding a key: typed like its column, or a whole key's text."""
        if key.whole:
            return {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": key.pattern()},
                "description": key.describe(),
            }
        column = key.names[0]
        return {
            "name": name,
            "in": "path",
            "required": True,
            "schema": value_schema(info.column_types[column]),
            "description": f"the {info.name}'s {column}",
        }

    def paging_parameters(self, *, cursor: bool) -> list[Schema]:
        """``page`` and ``results_per_page`` (and ``cursor``)."""
        options = self.options
        page, size = (
            {
                "name": "page",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "default": 1},
                "description": "the page, from 1 (anything but a positive integer: 400)",
            },
            {
                "name": "results_per_page",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "default": options.results_per_page},
                "description": (
                    f"objects per page, at most {options.max_results_per_page} (more is "
                    f"clamped; an invalid value means {options.results_per_page})"
                ),
            },
        )
        parameters = [self.parameter("page", page), self.parameter("results_per_page", size)]
        if cursor:
            parameters.append(
                self.parameter(
                    "cursor",
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": (
                            "page by key instead of by number: empty for the first page, then the "
                            "answer's next_cursor (page is then ignored)"
                        ),
                    },
                )
            )
        if options.allow_jsonp:
            parameters.append(
                {
                    "name": "callback",
                    "in": "query",
                    "schema": {"type": "string", "pattern": "^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$"},
                    "description": "JSONP: the answer as application/javascript",
                }
            )
        return parameters

    def q_parameter(self, kind: str, *, required: bool = False) -> Schema:
        """The ``q`` parameter: JSON in the query string, with a harmless example.

        ``kind`` is ``search`` (an example that keeps every row, in key
        order), ``delete`` (an example that matches no row: a key is never
        null) or ``functions`` (count the keys).
        """
        rules = self.api.collection.rules
        fields = [
            n
            for n in (*self.info.columns, *self.info.hybrids, *self.info.relations)
            if rules.allows(n)
        ]
        pk = self.api.collection.pk_name
        schema = ref("Functions" if kind == "functions" else "Query")
        content: Schema = {"schema": schema}
        if rules.allows(pk):
            content["example"] = {
                "search": {"order_by": [{"field": pk, "direction": "asc"}]},
                "delete": {"filters": [{"name": pk, "op": "is_null"}]},
                "functions": {"functions": [{"name": "count", "field": pk}]},
            }[kind]
        return {
            "name": "q",
            "in": "query",
            "required": required,
            "content": {JSON: content},
            "description": "JSON. Fields of this collection: " + ", ".join(fields),
        }

    def responses(self, method: str, answers: dict[str, Schema]) -> Schema:
        """``answers`` plus the errors every operation may meet (400, 503; 401 behind the token)."""
        extra = ["400", "503", *(["401"] if method in self.bearer else [])]
        return dict(sorted({**self.error(*extra), **answers}.items()))

    def header(self, name: str) -> Schema:
        """A reference to a response header's description."""
        return self.components.add(name, HEADERS[name], "headers")

    def ok(self, schema: Schema, *headers: str, status: str = "200") -> dict[str, Schema]:
        """A JSON answer with ``headers``."""
        answer: Schema = {"description": STATUS_TEXT[status], "content": _json(schema)}
        if headers:
            answer["headers"] = {h: self.header(h) for h in headers}
        return {status: answer}

    def error(self, *statuses: str) -> dict[str, Schema]:
        """JSON error answers (each described once, under ``components/responses``)."""
        found = {}
        for status in statuses:
            response: Schema = {"description": STATUS_TEXT[status], "content": _json(ref("Error"))}
            if status in ERROR_HEADERS:
                response["headers"] = {ERROR_HEADERS[status]: self.header(ERROR_HEADERS[status])}
            found[status] = self.components.add(ERROR_NAMES[status], response, "responses")
        return found

    def parameter(self, name: str, parameter: Schema) -> Schema:
        """A reference to a parameter's description."""
        return self.components.add(name, parameter, "parameters")

    def read(self, summary: str, answers: dict[str, Schema], parameters: list[Schema]) -> Schema:
        """A GET operation (conditional: ETag, If-None-Match, 304)."""
        answers = {**answers, "304": {"description": STATUS_TEXT["304"]}}
        conditional = self.parameter("If-None-Match", IF_NONE_MATCH)
        return self.operation("GET", summary, answers, [*parameters, conditional])

    def operation(
        self,
        method: str,
        summary: str,
        answers: dict[str, Schema],
        parameters: Iterable[Schema] = (),
        body: Schema | None = None,
    ) -> Schema:
        """One operation object."""
        operation: Schema = {
            "tags": [self.tag],
            "summary": summary,
            "operationId": re.sub(r"[^A-Za-z0-9_]", "_", f"{method.lower()}_{summary}"),
            "responses": self.responses(method, answers),
        }
        if parameters:
            operation["parameters"] = list(parameters)
        if body is not None:
            limit = self.options.max_body_bytes
            operation["requestBody"] = {
                "required": True,
                "description": f"JSON, at most {limit} bytes",
                "content": _json(body),
            }
            operation["responses"] = dict(
                sorted({**operation["responses"], **self.error("413", "415")}.items())
            )
        if method in self.bearer:
            operation["security"] = [{"bearer": []}]
        return operation

    def write_body(self, *, create: bool, many: bool = False) -> Schema:
        """The schema of a POST, PATCH or bulk PATCH body."""
        schema = body_schema(self.info, self.links, create=create)
        if many:
            schema["properties"] = {**schema["properties"], "q": ref("Query")}
            return self.components.add(f"{self.info.name}BulkChanges", schema)
        return self.components.add(f"{self.info.name}{'New' if create else 'Changes'}", schema)

    def relation_shape(self, rel: RelationInfo) -> Schema:
        """The objects a relation URL answers: as the target's API shapes them (``_reads``)."""
        collection = self.api.collection
        shape = collection.shapes.objects_of(rel.target, self.options.url_prefix)
        return self.shape_ref(shape, f"{rel.target.name}Expanded")

    def key_name(self, info: ModelInfo, key: str, taken: set[str]) -> str:
        """A path parameter name for ``key``, distinct from those in ``taken``."""
        name = key if key not in taken else f"{info.name.lower()}_{key}"
        while name in taken:
            name += "_"
        return name


__all__ = ["HEADERS", "JSON", "STATUS_TEXT", "WRITES", "ApiPaths", "Components"]
