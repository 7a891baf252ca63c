"""JSON Schemas of an API's objects and bodies, from the model's columns and the API's shape.

What ``_openapi`` puts under ``components/schemas``, built from what the
engine itself uses to answer: the columns' SQLAlchemy types (the same types
``_serialize`` converts and ``_coerce`` checks), the :class:`~._shape.Shape`
that decides which fields an object carries (``include_columns``,
``exclude_columns``, ``exclude_inline``, ``include_methods``), and the fields
``_deserialize`` lets a body set.  So the schemas say what the service really
answers and accepts:

* values as ``_serialize`` writes them: dates as ISO 8601 strings without a
  zone, decimals as JSON numbers, intervals as seconds, binary as base64;
* text with its length, numbers with the digits their ``NUMERIC(p, s)``
  column holds, nullable columns as ``[type, "null"]``;
* a primary key the database assigns (an integer ``autoincrement`` key) is
  ``readOnly``;
* an object holds every field it names (``required``) and nothing else.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Enum, Numeric, String
from sqlalchemy.types import JSON, Interval, LargeBinary, TypeEngine

from ._dialects import base_type
from ._schema import ModelInfo
from ._shape import Shape

Schema = dict[str, Any]

#: A naive ISO 8601 datetime, as the engine writes it (``2009-01-01T00:00:00``).
NAIVE_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$"
#: A time of day as the engine writes it (``10:30:00``).
NAIVE_TIME = r"^[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$"
INT64 = {"minimum": -(2**63), "maximum": 2**63 - 1}


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or ``null``."""
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema:
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _python_type(coltype: TypeEngine[Any]) -> type | None:
    try:
        kind: type = coltype.python_type
    except NotImplementedError:
        return None
    return kind


def _numeric(coltype: Any) -> Schema:
    schema: Schema = {"type": "number"}
    precision, scale = getattr(coltype, "precision", None), getattr(coltype, "scale", None)
    if precision is not None and scale is not None:
        bound = 10 ** (precision - scale)
        schema.update(
            exclusiveMinimum=-bound,
            exclusiveMaximum=bound,
            description=f"NUMERIC({precision}, {scale}): at most {scale} decimals",
        )
    return schema


def value_schema(coltype: TypeEngine[Any], *, request: bool = False) -> Schema:
    """The JSON Schema of one column's values (``request``: as a client may send them).

    Answers carry dates without a zone; a request may send any ISO 8601
    date (a zone is dropped), which ``format: date-time`` describes.
    """
    base = base_type(coltype)
    if isinstance(base, Enum) and base.enums:
        return {"type": "string", "enum": list(base.enums)}
    kind = _python_type(coltype)
    if kind is bool:
        return {"type": "boolean"}
    if kind is int:
        return {"type": "integer", **INT64}
    if kind is float:
        return {"type": "number"}
    if kind is Decimal or isinstance(base, Numeric):
        return _numeric(base)
    if kind is str:
        length = getattr(base, "length", None) if isinstance(base, String) else None
        return {"type": "string", "maxLength": length} if length else {"type": "string"}
    if kind is datetime.datetime:
        if request:
            return {"type": "string", "format": "date-time"}
        return {"type": "string", "pattern": NAIVE_DATETIME, "description": "naive ISO 8601"}
    if kind is datetime.date:
        return {"type": "string", "format": "date"}
    if kind is datetime.time:
        return {"type": "string", "pattern": NAIVE_TIME}
    if kind is datetime.timedelta or isinstance(base, Interval):
        return {"type": "number", "description": "seconds"}
    if kind is uuid.UUID:
        return {"type": "string", "format": "uuid"}
    if isinstance(base, LargeBinary):
        return {"type": "string", "contentEncoding": "base64"}
    if isinstance(base, JSON):
        return {}
    return {}


def _column(info: ModelInfo, name: str) -> Any:
    return info.columns[name]


def is_generated_key(info: ModelInfo, name: str) -> bool:
    """Whether the database assigns this primary key (a lone integer key, autoincrement)."""
    if info.pk_names != (name,) or _python_type(info.column_types[name]) is not int:
        return False
    return getattr(_column(info, name), "autoincrement", False) in (True, "auto")


def column_schema(info: ModelInfo, name: str, *, request: bool = False) -> Schema:
    """A column's schema: its values, ``null`` if it is nullable, ``readOnly`` if generated."""
    schema = value_schema(info.column_types[name], request=request)
    column = _column(info, name)
    if getattr(column, "nullable", True) and not is_generated_key(info, name):
        schema = nullable(schema)
    if not request and is_generated_key(info, name):
        schema = {**schema, "readOnly": True}
    return schema


def _hybrid_schema(info: ModelInfo, name: str) -> Schema:
    expression = getattr(info.model, name, None)
    coltype = getattr(expression, "type", None)
    if isinstance(coltype, TypeEngine):
        found = value_schema(coltype)
        if found:
            return nullable(found)
    return {}


def _closed(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def object_schema(shape: Shape, relation_refs: dict[str, str]) -> Schema:
    """The schema of the objects of ``shape``; ``relation_refs`` names each inline relation's."""
    info = shape.info
    properties: dict[str, Schema] = {name: column_schema(info, name) for name in shape.columns}
    for name in shape.hybrids:
        properties[name] = _hybrid_schema(info, name)
    for name in shape.methods:
        properties[name] = {"description": "the result of the model's method"}
    for name, _ in shape.relations:
        target = ref(relation_refs[name])
        if info.relations[name].uselist:
            properties[name] = {"type": "array", "items": target}
        else:
            properties[name] = nullable(target)
    return _closed(properties, sorted(properties))


# -- request bodies ----------------------------------------------------------------------


def _writable_hybrids(info: ModelInfo) -> list[str]:
    return [
        name
        for name in info.hybrids
        if getattr(info.mapper.all_orm_descriptors[name], "fset", None) is not None
    ]


def link_schema(info: ModelInfo, *, removal: bool = False) -> Schema:
    """A related object in a body: its primary key links a row, other fields create or update it.

    ``removal``: a member named in a PATCH's ``remove``, which ``__delete__``
    deletes as well as unlinks.
    """
    properties: dict[str, Schema] = {
        name: column_schema(info, name, request=True) for name in info.columns
    }
    for name, rel in info.relations.items():
        properties[name] = (
            {"type": "array", "items": {"type": "object"}}
            if rel.uselist
            else {"type": ["object", "null"]}
        )
    if removal:
        properties["__delete__"] = {"type": "boolean", "description": "delete the row too"}
    return {
        **_closed(properties),
        "description": (
            f"A {info.name}: with its primary key ({', '.join(info.pk_names)}) the existing "
            "row is linked (and the other fields given are set on it); without, a new row "
            "is created."
        ),
    }


def _fk_columns(info: ModelInfo) -> dict[str, str]:
    """Local columns a to-one relation sets -> that relation's name."""
    found: dict[str, str] = {}
    for name, rel in info.relations.items():
        if not rel.uselist and rel.secondary is None:
            for key in rel.local_keys:
                if key not in info.pk_names:
                    found.setdefault(key, name)
    return found


def _required_on_create(info: ModelInfo, name: str) -> bool:
    column = _column(info, name)
    return not (
        getattr(column, "nullable", True)
        or getattr(column, "default", None) is not None
        or getattr(column, "server_default", None) is not None
        or is_generated_key(info, name)
    )


#: ``links(model, removal)``: the reference to a model's :func:`link_schema`.
Links = Callable[[ModelInfo, bool], Schema]


def body_schema(info: ModelInfo, links: Links, *, create: bool) -> Schema:
    """A POST body (``create``) or a PATCH body: the fields ``_deserialize`` lets a body set.

    Related objects are given as :func:`link_schema` objects (a list for a
    to-many relation); a PATCH may also ``add`` to and ``remove`` from a
    to-many relation.  A POST must give every column that has no default and
    may not be null; a foreign key may be given as its relation's object instead.
    """
    properties: dict[str, Schema] = {
        name: column_schema(info, name, request=True) for name in info.columns
    }
    for name in _writable_hybrids(info):
        properties[name] = {}
    for name, rel in info.relations.items():
        link = links(rel.target, False)
        if not rel.uselist:
            properties[name] = nullable(link)
            continue
        replace: Schema = {"type": "array", "items": link}
        if create:
            properties[name] = replace
            continue
        change = {
            "type": "object",
            "properties": {
                "add": {"anyOf": [link, {"type": "array", "items": link}]},
                "remove": {"type": "array", "items": links(rel.target, True)},
            },
            "additionalProperties": False,
        }
        properties[name] = {"anyOf": [replace, change]}
    schema = _closed(properties)
    if not create:
        return schema
    through = _fk_columns(info)
    required = [n for n in info.columns if _required_on_create(info, n) and n not in through]
    alternatives = [
        {"anyOf": [{"required": [key]}, {"required": [through[key]]}]}
        for key in info.columns
        if key in through and _required_on_create(info, key)
    ]
    if required:
        schema["required"] = required
    if alternatives:
        schema["allOf"] = alternatives
    return schema


__all__ = [
    "body_schema",
    "column_schema",
    "is_generated_key",
    "link_schema",
    "nullable",
    "object_schema",
    "ref",
    "value_schema",
]
