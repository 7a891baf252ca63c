"""The ``q`` query language as JSON Schema, generated from the operator table and the limits.

A filter's schema follows its operator's :class:`~._operators.Operator`
entry: what it takes (nothing, a value, a list, a ``like`` pattern, a nested
filter on a relation) and whether ``field`` may replace ``val``.  Every name
and alias of :data:`~._operators.OPERATOR_TABLE` is listed, so an operator
added to the table is described without touching this module.  The bounds of
:class:`~._query.Limits` (size, depth, number of filters) are stated where
JSON Schema can say them and as ``x-`` keywords where it cannot.
"""

from __future__ import annotations

from typing import Any

from ._functions import FUNCTIONS
from ._operators import OPERATOR_TABLE, Takes
from ._query import DIRECTIONS, Limits

Schema = dict[str, Any]

SCALAR: Schema = {"type": ["string", "number", "boolean"]}
FIELD_NAME: Schema = {
    "type": "string",
    "minLength": 1,
    "description": "a field, or rel__field through a relation",
}
_INT64_MAX = 2**63 - 1


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _names(takes: Takes, *, fields: bool | None = None) -> list[str]:
    return [
        name
        for entry in OPERATOR_TABLE
        if entry.takes is takes and (fields is None or entry.compares_fields == fields)
        for name in entry.names
    ]


def _leaf(ops: list[str], val: Schema | None, *, required_val: bool = True) -> Schema:
    properties: Schema = {"name": FIELD_NAME, "op": {"type": "string", "enum": ops}}
    required = ["name", "op"]
    if val is not None:
        properties["val"] = val
        if required_val:
            required.append("val")
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def filter_schemas(limits: Limits) -> dict[str, Schema]:
    """``Filter`` (and its parts) for ``components/schemas``, one branch per kind of operator."""
    comparisons = _names(Takes.VALUE, fields=True)
    branches: list[Schema] = []
    if comparisons:
        branches.append(_leaf(comparisons, SCALAR))
        to_field = _leaf(comparisons, None)
        to_field["properties"]["field"] = {**FIELD_NAME, "description": "compare with this field"}
        to_field["required"].append("field")
        branches.append(to_field)
    plain = _names(Takes.VALUE, fields=False)
    if plain:
        branches.append(_leaf(plain, SCALAR))
    if lists := _names(Takes.LIST):
        branches.append(_leaf(lists, {"type": "array", "items": SCALAR}))
    if patterns := _names(Takes.PATTERN):
        branches.append(
            _leaf(patterns, {**SCALAR, "description": "a pattern: % any text, _ one character"})
        )
    if nothing := _names(Takes.NOTHING):
        branches.append(_leaf(nothing, {}, required_val=False))
    if nested := _names(Takes.FILTER):
        nested_val = {
            "anyOf": [_ref("FilterCondition"), SCALAR],
            "description": (
                "a filter on the related rows, or (with name rel__field) the value "
                "rel.field must equal"
            ),
        }
        branches.append(_leaf(nested, nested_val))
    depth = f"nested at most {limits.max_depth} deep"
    junction = {
        kind: {
            "type": "object",
            "properties": {kind: {"type": "array", "items": _ref("Filter")}},
            "required": [kind],
            "additionalProperties": False,
            "description": f"filters {kind}-ed together ({depth})",
        }
        for kind in ("and", "or")
    }
    return {
        "FilterCondition": {
            "oneOf": branches,
            "description": "One condition: a field, an operator and its argument.",
        },
        "Filter": {
            "anyOf": [_ref("FilterCondition"), junction["and"], junction["or"]],
            "description": f"A condition, or conditions joined by and/or ({depth}).",
        },
    }


def query_schema(limits: Limits) -> Schema:
    """``Query``: the whole ``q`` of a search."""
    count: Schema = {"type": "integer", "minimum": 0, "maximum": _INT64_MAX}
    return {
        "type": "object",
        "properties": {
            "filters": {
                "type": "array",
                "items": _ref("Filter"),
                "maxItems": limits.max_filters,
                "description": "conditions, and-ed",
            },
            "order_by": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": {**FIELD_NAME, "description": "a field, or rel__field (to-one)"},
                        "direction": {"type": "string", "enum": sorted(DIRECTIONS)},
                    },
                    "required": ["field"],
                    "additionalProperties": False,
                },
                "description": "then by primary key",
            },
            "group_by": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": FIELD_NAME},
                    "required": ["field"],
                    "additionalProperties": False,
                },
                "description": "one object per group (the one with the smallest key)",
            },
            "limit": {**count, "description": "at most this many rows, before paging (0: all)"},
            "offset": {**count, "description": "skip this many rows, before paging"},
            "single": {
                "type": "boolean",
                "description": "answer the one matching object itself (404 if none, 400 if many)",
            },
        },
        "additionalProperties": False,
        "description": (
            f"A search. At most {limits.max_bytes} bytes of JSON, {limits.max_filters} "
            f"filters, nested at most {limits.max_depth} deep; otherwise 400."
        ),
        "x-max-bytes": limits.max_bytes,
        "x-max-depth": limits.max_depth,
        "x-max-filters": limits.max_filters,
    }


def functions_schema(limits: Limits) -> Schema:
    """``Functions``: the ``q`` of an ``eval`` request."""
    return {
        "type": "object",
        "properties": {
            "functions": {
                "type": "array",
                "maxItems": limits.max_filters,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": sorted(FUNCTIONS)},
                        "field": {"type": "string", "minLength": 1},
                    },
                    "required": ["name", "field"],
                    "additionalProperties": False,
                },
            }
        },
        "additionalProperties": False,
        "description": (
            "Functions over the whole collection; each answers under <name>__<field>. "
            "None asked for: 204."
        ),
        "x-max-bytes": limits.max_bytes,
    }


__all__ = ["filter_schemas", "functions_schema", "query_schema"]
