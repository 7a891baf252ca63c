"""``GET /aggregate`` in the OpenAPI document, from the configured sources.

The ``source`` parameter lists the configured names; every placeholder of
every source is a parameter of its own, typed as its placeholder is checked
(``{id:int}`` an integer of at most 18 digits, ``{name}`` 1 to 256
characters).  The answers are the :class:`~.report.Report` (200, 502, 504)
and the JSON errors of :mod:`~.routes` (400, 404, and the refusals of
:mod:`~.admission`: 429 and 503 with ``Retry-After``).
"""

from __future__ import annotations

from typing import Any

from .report import COMPLETE_HEADER
from .settings import AggregateSettings
from .sources import MAX_VALUE, SOURCE_PARAMETER

Schema = dict[str, Any]

_LARGEST = 10**18 - 1
PLACEHOLDER_SCHEMAS: dict[str, Schema] = {
    "int": {"type": "integer", "minimum": -_LARGEST, "maximum": _LARGEST},
    "str": {"type": "string", "minLength": 1, "maxLength": MAX_VALUE},
    "json": {"type": "string", "minLength": 1, "maxLength": MAX_VALUE},
}

_CALL = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "elapsed_ms": {"type": "number", "minimum": 0},
        "body": {"description": "the upstream's JSON, else its text; null when empty"},
    },
    "required": ["status", "elapsed_ms", "body"],
}
_FAILURE = {
    "type": "object",
    "properties": {
        "error": {
            "type": "string",
            "enum": ["timeout", "connect", "too_large", "bad_status", "invalid", "internal"],
        },
        "elapsed_ms": {"type": "number", "minimum": 0},
        "message": {"type": "string"},
        "status": {"type": "integer"},
    },
    "required": ["error", "elapsed_ms"],
}

REPORT: Schema = {
    "type": "object",
    "properties": {
        "complete": {"type": "boolean", "description": "every source answered with a 2xx"},
        "elapsed_ms": {"type": "number", "minimum": 0},
        "results": {"type": "object", "additionalProperties": _CALL},
        "errors": {"type": "object", "additionalProperties": _FAILURE},
    },
    "required": ["complete", "elapsed_ms", "results", "errors"],
    "additionalProperties": False,
}


def _parameters(settings: AggregateSettings) -> list[Schema]:
    names = [source.name for source in settings.sources]
    kinds: dict[str, set[str]] = {}
    users: dict[str, list[str]] = {}
    for source in settings.sources:
        for placeholder in source.template.placeholders:
            kinds.setdefault(placeholder.name, set()).add(placeholder.kind)
            users.setdefault(placeholder.name, []).append(source.name)
    parameters: list[Schema] = [
        {
            "name": SOURCE_PARAMETER,
            "in": "query",
            "style": "form",
            "explode": True,
            "schema": {"type": "array", "items": {"type": "string", "enum": names}},
            "description": "the sources to call (none: all of them)",
        }
    ]
    for name in sorted(kinds):
        # A placeholder typed differently by two sources takes text (each source checks it).
        kind = next(iter(kinds[name])) if len(kinds[name]) == 1 else "str"
        parameters.append(
            {
                "name": name,
                "in": "query",
                "schema": PLACEHOLDER_SCHEMAS[kind],
                "description": "needed by " + ", ".join(users[name]),
            }
        )
    return parameters


def aggregate_path(settings: AggregateSettings, *, bearer: bool = False) -> Schema:
    """The path item of ``/aggregate`` (``bearer``: reads need the token)."""
    report = {"application/json": {"schema": {"$ref": "#/components/schemas/AggregateReport"}}}
    error = {"$ref": "#/components/schemas/Error"}
    headers = {
        COMPLETE_HEADER: {
            "description": "true when every source answered with a 2xx",
            "schema": {"type": "string", "enum": ["true", "false"]},
        }
    }

    def answer(description: str) -> Schema:
        return {"description": description, "content": report, "headers": headers}

    def failure(description: str) -> Schema:
        return {"description": description, "content": {"application/json": {"schema": error}}}

    def refusal(description: str) -> Schema:
        retry = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        return {**failure(description), "headers": retry}

    responses = {
        "200": answer("at least one source answered with a 2xx"),
        "400": failure("an unknown source or parameter, or a bad value: nothing was called"),
        "404": failure("no source is configured"),
        "429": refusal("the client's upstream calls in flight are at its bound: nothing called"),
        "502": answer("no source answered with a 2xx"),
        "503": refusal("the service's upstream calls in flight are at its bound: nothing called"),
        "504": answer("every source timed out"),
    }
    if bearer:
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    operation: Schema = {
        "tags": ["aggregate"],
        "summary": "call the configured sources at once and merge their answers",
        "operationId": "get_aggregate",
        "parameters": _parameters(settings),
        "responses": dict(sorted(responses.items())),
    }
    if bearer:
        operation["security"] = [{"bearer": []}]
    return {"get": operation}


__all__ = ["REPORT", "aggregate_path"]
