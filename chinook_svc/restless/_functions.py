"""The functions of the ``eval`` endpoint, with the same answer on every database.

0.17 evaluated any SQL function by name; we allow ``count``, ``sum``, ``avg``,
``min`` and ``max`` (a deliberate restriction).  Databases disagree on what
these return, so each result is put into one form here:

* ``count`` is an integer; ``sum`` has the field's type (MariaDB sums integers
  as ``DECIMAL``, which would otherwise print as ``123.0``).
* ``avg`` is computed from ``SUM`` and ``COUNT`` (the division in Python):
  databases average with different precision (SQLite in doubles, PostgreSQL
  to about 16 decimals, MariaDB to 4 more decimals than the field, and to 6
  significant digits for a double).  For integer and ``NUMERIC`` fields the
  sum is exact and the mean correctly rounded to a double; for floating-point
  fields it is the double sum divided by the count.
* ``min``/``max`` of text compare code points, as SQLite does (see ``_dialects``).
* ``sum`` and ``avg`` of a field that is not a number (text, dates) are a 400:
  the databases' answers range from an error to nonsense.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, localcontext
from typing import Any

from attrs import frozen
from sqlalchemy import Float, cast, func
from sqlalchemy.sql.elements import ColumnElement

from ._compile import FieldRules
from ._dialects import DialectRules, type_of
from ._errors import EMPTY_QUERY, ApiError, QueryError
from ._query import Limits, decode_json
from ._schema import ModelInfo
from ._serialize import plain_value

#: The functions ``eval`` knows.
FUNCTIONS = frozenset({"count", "sum", "avg", "min", "max"})

_NUMBERS = (int, float, Decimal)


@frozen
class FunctionTerm:
    """One requested function: the SQL terms it needs and how to read them."""

    key: str
    terms: tuple[ColumnElement[Any], ...]
    finish: Callable[[Sequence[Any]], Any]


def _python_type(expr: Any) -> type | None:
    try:
        kind: type = type_of(expr).python_type
    except (AttributeError, NotImplementedError):
        return None
    return kind


def _as(kind: type | None) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        return plain_value(value)

    return convert


def _exact_mean(values: Sequence[Any]) -> float | None:
    total, count = values
    if not count:
        return None
    with localcontext() as context:
        context.prec = 60
        return float(Decimal(total) / Decimal(count))


def _float_mean(values: Sequence[Any]) -> float | None:
    total, count = values
    return None if not count else float(total) / int(count)


def function_term(name: str, field: str, expr: Any, dialect: DialectRules) -> FunctionTerm:
    """The :class:`FunctionTerm` for ``<name>(<field>)``; ``name`` is in :data:`FUNCTIONS`."""
    key = f"{name}__{field}"
    kind = _python_type(expr)
    if name == "count":
        return FunctionTerm(key, (func.count(expr),), lambda v: int(v[0]))
    if name in ("min", "max"):
        return FunctionTerm(key, (dialect.extreme(name, expr),), lambda v: plain_value(v[0]))
    if kind is bool or (kind is not None and kind not in _NUMBERS):
        raise QueryError(f"{name} needs a numeric field, and {field!r} is not one")
    if name == "sum":
        convert = _as(kind)
        return FunctionTerm(key, (func.sum(expr),), lambda v: convert(v[0]))
    if kind in (int, Decimal):
        return FunctionTerm(key, (func.sum(expr), func.count(expr)), _exact_mean)
    if kind is float:
        return FunctionTerm(key, (func.sum(expr), func.count(expr)), _float_mean)
    # A hybrid property of unknown type: the database's own average.
    to_float = _as(float)
    return FunctionTerm(key, (cast(func.avg(expr), Float),), lambda v: to_float(v[0]))


def function_results(terms: Sequence[FunctionTerm], row: Sequence[Any]) -> dict[str, Any]:
    """``{"<func>__<field>": value}`` from the one row the functions' terms selected."""
    answer: dict[str, Any] = {}
    position = 0
    for item in terms:
        width = len(item.terms)
        answer[item.key] = item.finish(row[position : position + width])
        position += width
    return answer


def parse_functions(
    text: str | None, info: ModelInfo, rules: FieldRules, limits: Limits, dialect: DialectRules
) -> list[FunctionTerm]:
    """The functions an ``eval`` request's ``q`` asks for (400 for anything else).

    ``q`` is ``{"functions": [{"name": "<func>", "field": "<field>"}, ...]}``;
    a field must be a column or hybrid property the API lets clients filter on.
    """
    if not text:
        raise ApiError(400, EMPTY_QUERY)
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise QueryError(f"q is longer than {limits.max_bytes} bytes")
    data = decode_json(text) or {}
    if not isinstance(data, dict):
        raise QueryError("q must be a JSON object")
    functions = data.get("functions", [])
    if not isinstance(functions, list) or len(functions) > limits.max_filters:
        raise QueryError("functions must be a list")
    wanted: list[FunctionTerm] = []
    for entry in functions:
        if not isinstance(entry, dict):
            raise QueryError("a function is {name, field}")
        name, fieldname = entry.get("name"), entry.get("field")
        if not isinstance(name, str) or name not in FUNCTIONS:
            raise ApiError(400, f'No such function "{name}"')
        if not isinstance(fieldname, str) or not (
            (fieldname in info.columns or fieldname in info.hybrids) and rules.allows(fieldname)
        ):
            raise ApiError(400, f'No such field "{fieldname}"')
        wanted.append(function_term(name, fieldname, getattr(info.model, fieldname), dialect))
    return wanted
