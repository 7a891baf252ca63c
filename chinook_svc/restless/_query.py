"""The ``q`` query language: parse the client's JSON into a frozen syntax tree.

The grammar is flask-restless 0.17's (``docs/protocol.md``, "The query
language ``q``").  Parsing checks structure, and operator names against the
one table of operators (``_operators``); whether field names exist on the
model is the compiler's business (``_compile``).  Every
failure is a :class:`~chinook_svc.restless._errors.QueryError` (400) carrying
0.17's message and a ``detail`` that says what was wrong.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen

from ._errors import UNABLE_TO_DECODE, QueryError
from ._operators import Takes, operator_named

DIRECTIONS = frozenset({"asc", "desc"})


@frozen
class Limits:
    """Bounds on what one ``q`` may ask for (a deliberate deviation from 0.17).

    Attributes:
        max_bytes: longest accepted ``q``, in bytes of its UTF-8 encoding.
        max_depth: deepest nesting of ``and``/``or``/``has``/``any``.
        max_filters: most filters (leaves) in one query.
    """

    max_bytes: int = 8192
    max_depth: int = 8
    max_filters: int = 64


@frozen
class Filter:
    """``{"name": f, "op": op, "val": v}`` or ``{"name": f, "op": op, "field": g}``.

    For ``has``/``any`` with a dict ``val``, ``val`` holds the nested :class:`Filter`.
    """

    name: str
    op: str
    val: Any = None
    field: str | None = None


@frozen
class Junction:
    """``{"and": [...]}`` or ``{"or": [...]}``."""

    kind: str
    filters: tuple[Node, ...]


Node = Filter | Junction


@frozen
class OrderBy:
    """One ``order_by`` entry."""

    field: str
    direction: str = "asc"


@frozen
class Search:
    """A whole parsed ``q``."""

    filters: tuple[Node, ...] = ()
    order_by: tuple[OrderBy, ...] = ()
    group_by: tuple[str, ...] = ()
    limit: int | None = None
    offset: int | None = None
    single: bool = False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(text: str | bytes, message: str = UNABLE_TO_DECODE) -> Any:
    """Decode client JSON strictly (no NaN/Infinity); 400 with 0.17's message otherwise."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, TypeError, RecursionError, UnicodeDecodeError) as e:
        raise QueryError(f"invalid JSON: {type(e).__name__}", message=message) from None
    if ("\\u" in text) if isinstance(text, str) else (b"\\u" in text):
        # An escaped lone surrogate ("\ud800") decodes, but is no character:
        # no database driver can send it.
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, RecursionError):
            raise QueryError("invalid JSON: a lone surrogate", message=message) from None
    return data


class _Parser:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.leaves = 0

    def fail(self, detail: str) -> QueryError:
        return QueryError(detail)

    def search(self, obj: Any) -> Search:
        if not isinstance(obj, dict):
            raise self.fail("q must be a JSON object")
        filters = obj.get("filters", [])
        if filters is None:
            filters = []
        if not isinstance(filters, list):
            raise self.fail("filters must be a list")
        return Search(
            filters=tuple(self.node(f, 1) for f in filters),
            order_by=self.order_by(obj.get("order_by", [])),
            group_by=self.group_by(obj.get("group_by", [])),
            limit=self.count_value(obj.get("limit"), "limit"),
            offset=self.count_value(obj.get("offset"), "offset"),
            single=bool(obj.get("single")),
        )

    def node(self, obj: Any, depth: int) -> Node:
        if depth > self.limits.max_depth:
            raise self.fail(f"filters nested deeper than {self.limits.max_depth}")
        if not isinstance(obj, dict):
            raise self.fail("a filter must be a JSON object")
        for kind in ("or", "and"):  # 0.17 looks for "or" first
            if kind in obj:
                items = obj[kind]
                if not isinstance(items, list):
                    raise self.fail(f"{kind!r} must hold a list of filters")
                return Junction(kind, tuple(self.node(f, depth + 1) for f in items))
        return self.leaf(obj, depth)

    def leaf(self, obj: dict[str, Any], depth: int) -> Filter:
        self.leaves += 1
        if self.leaves > self.limits.max_filters:
            raise self.fail(f"more than {self.limits.max_filters} filters")
        name, op = obj.get("name"), obj.get("op")
        if not isinstance(name, str) or not name:
            raise self.fail("a filter needs a field 'name'")
        if not isinstance(op, str) or (operator := operator_named(op)) is None:
            raise self.fail(f"unknown operator {op!r}")
        field = obj.get("field")
        if field is not None and not isinstance(field, str):
            raise self.fail("'field' must name a field")
        val = obj.get("val")
        if operator.takes is Takes.FILTER and isinstance(val, dict):
            if depth + 1 > self.limits.max_depth:
                raise self.fail(f"filters nested deeper than {self.limits.max_depth}")
            val = self.leaf(val, depth + 1)
        return Filter(name=name, op=op, val=val, field=field or None)

    def order_by(self, items: Any) -> tuple[OrderBy, ...]:
        if items is None:
            return ()
        if not isinstance(items, list):
            raise self.fail("order_by must be a list")
        result = []
        for item in items:
            if not isinstance(item, dict) or not set(item) <= {"field", "direction"}:
                raise self.fail("an order_by entry is {field, direction}")
            field, direction = item.get("field"), item.get("direction", "asc")
            if not isinstance(field, str) or not field:
                raise self.fail("an order_by entry needs a 'field'")
            if not isinstance(direction, str) or direction not in DIRECTIONS:
                raise self.fail("direction must be 'asc' or 'desc'")
            result.append(OrderBy(field, direction))
        return tuple(result)

    def group_by(self, items: Any) -> tuple[str, ...]:
        if items is None:
            return ()
        if not isinstance(items, list):
            raise self.fail("group_by must be a list")
        result = []
        for item in items:
            if not isinstance(item, dict) or set(item) != {"field"}:
                raise self.fail("a group_by entry is {field}")
            if not isinstance(item["field"], str):
                raise self.fail("a group_by entry needs a 'field'")
            result.append(item["field"])
        return tuple(result)

    def count_value(self, value: Any, name: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise self.fail(f"{name} must be a non-negative integer")
        # 0.17 treats 0 as "not given".
        return value or None


def parse_search(obj: Any, limits: Limits = Limits()) -> Search:
    """Parse an already-decoded ``q`` object."""
    return _Parser(limits).search(obj)


def decode_q(text: str | None, limits: Limits = Limits()) -> Any:
    """Decode the ``q`` query-string parameter (absent means ``{}``, as in 0.17)."""
    if text is None:
        return {}
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise QueryError(f"q is longer than {limits.max_bytes} bytes")
    return decode_json(text)
