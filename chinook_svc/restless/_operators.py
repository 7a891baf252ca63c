"""The filter operators of ``q``: one table, read by the parser and the compiler alike.

Each :class:`Operator` gives its names (flask-restless 0.17's spellings), what
it takes (nothing, a value, a list of values, a ``like`` pattern, or a nested
filter on a relation), whether its other side may be a field, and how it
becomes a SQL clause through the database's
:class:`~chinook_svc.restless._dialects.DialectRules`.  The parser
(``_query``) refuses any name missing here; the compiler (``_compile``)
checks and coerces the argument as the entry says, then calls its ``clause``.
This is 0.17's ``search.OPERATORS`` and datasette's ``Filters`` list.

To add an operator: one entry in :data:`OPERATOR_TABLE`, plus its tests (and,
when databases disagree about it, a rule in ``_dialects``).
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from attrs import frozen

if TYPE_CHECKING:
    from sqlalchemy.types import TypeEngine

    from ._dialects import DialectRules


class Takes(enum.Enum):
    """What an operator's argument (``val``) is."""

    #: no argument (``is_null``)
    NOTHING = "nothing"
    #: one value, converted to the column's type
    VALUE = "value"
    #: a list of values, each converted to the column's type
    LIST = "list"
    #: a ``like`` pattern: text, whatever the column's type
    PATTERN = "pattern"
    #: a nested filter on the related model (``has``/``any``)
    FILTER = "filter"


#: ``clause(dialect, attribute, argument, column type)`` -> a SQL clause
Clause = Callable[["DialectRules", Any, Any, "TypeEngine[Any] | None"], Any]


@frozen
class Operator:
    """One filter operator.

    Attributes:
        name: its canonical name.
        takes: what its argument is.
        clause: builds the SQL clause from the coerced argument (for
            ``FILTER`` operators, the nested criterion).
        aliases: its other names.
        compares_fields: whether ``{"field": ...}`` may take the place of ``val``.
        to_many: for ``FILTER`` operators, whether the relation must be a
            collection (``any``) or a single object (``has``).
    """

    name: str
    takes: Takes
    clause: Clause
    aliases: tuple[str, ...] = ()
    compares_fields: bool = False
    to_many: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the operator answers to."""
        return (self.name, *self.aliases)


def _comparison(compare: Callable[[Any, Any], Any]) -> Clause:
    def clause(dialect: DialectRules, attr: Any, value: Any, coltype: Any) -> Any:
        return dialect.compare(compare, attr, value)

    return clause


def _in(negate: bool) -> Clause:
    def clause(dialect: DialectRules, attr: Any, values: Any, coltype: Any) -> Any:
        return dialect.in_(attr, values, negate=negate)

    return clause


def _like(dialect: DialectRules, attr: Any, pattern: Any, coltype: Any) -> Any:
    return dialect.like(attr, pattern, coltype)


def _ilike(dialect: DialectRules, attr: Any, pattern: Any, coltype: Any) -> Any:
    return dialect.ilike(attr, pattern, coltype)


def _is_null(dialect: DialectRules, attr: Any, value: Any, coltype: Any) -> Any:
    return attr == None  # noqa: E711 - SQL IS NULL (or NOT EXISTS for a collection)


def _is_not_null(dialect: DialectRules, attr: Any, value: Any, coltype: Any) -> Any:
    return attr != None  # noqa: E711


def _has(dialect: DialectRules, attr: Any, criterion: Any, coltype: Any) -> Any:
    return attr.has(criterion)


def _any(dialect: DialectRules, attr: Any, criterion: Any, coltype: Any) -> Any:
    return attr.any(criterion)


#: Every operator of the query language.
OPERATOR_TABLE: tuple[Operator, ...] = (
    Operator("==", Takes.VALUE, _comparison(operator.eq),
             ("eq", "equals", "equal_to", "equals_to"), compares_fields=True),
    Operator("!=", Takes.VALUE, _comparison(operator.ne),
             ("ne", "neq", "not_equal_to", "does_not_equal"), compares_fields=True),
    Operator(">", Takes.VALUE, _comparison(operator.gt), ("gt",), compares_fields=True),
    Operator("<", Takes.VALUE, _comparison(operator.lt), ("lt",), compares_fields=True),
    Operator(">=", Takes.VALUE, _comparison(operator.ge), ("ge", "gte", "geq"),
             compares_fields=True),
    Operator("<=", Takes.VALUE, _comparison(operator.le), ("le", "lte", "leq"),
             compares_fields=True),
    Operator("in", Takes.LIST, _in(negate=False)),
    Operator("not_in", Takes.LIST, _in(negate=True)),
    Operator("like", Takes.PATTERN, _like),
    Operator("ilike", Takes.PATTERN, _ilike),
    Operator("is_null", Takes.NOTHING, _is_null),
    Operator("is_not_null", Takes.NOTHING, _is_not_null),
    Operator("has", Takes.FILTER, _has, to_many=False),
    Operator("any", Takes.FILTER, _any, to_many=True),
)  # fmt: skip

#: Every name and alias -> its operator.
OPERATORS: Mapping[str, Operator] = {
    name: entry for entry in OPERATOR_TABLE for name in entry.names
}


def operator_named(name: str) -> Operator | None:
    """The operator called ``name`` (any of its spellings), if there is one."""
    return OPERATORS.get(name)


__all__ = ["OPERATORS", "OPERATOR_TABLE", "Operator", "Takes", "operator_named"]
