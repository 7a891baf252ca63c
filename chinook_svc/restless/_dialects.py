"""Where SQL databases disagree, one answer for all of them.

The same request must give byte-identical JSON on SQLite, PostgreSQL and
MariaDB.  flask-restless 0.17 ran on SQLite, so SQLite's behaviour is the
reference, and the other databases are told to behave like it:

* **Text order** is SQLite's ``BINARY`` order (code points): PostgreSQL sorts
  and compares text with ``COLLATE "C"``, MariaDB with ``utf8mb4_nopad_bin``
  (its default collations ignore case and accents, and ``PAD SPACE`` ones
  ignore trailing spaces).  This applies to ``order_by``, ``<``/``>``,
  ``min``/``max`` and, on MariaDB, to ``==``, ``!=``, ``in`` and ``group_by``
  too; there an equality keeps a plain ``col = value`` term first, so that an
  index on the column still narrows the search.
* **``like`` and ``ilike``** both ignore the case of ASCII letters only, as
  SQLite's ``LIKE`` does: ``é`` does not match ``É``.  The servers fold A-Z in
  the column with ``translate`` (PostgreSQL) or ``REPLACE`` (MariaDB) and the
  pattern in Python.  A backslash in a pattern is an ordinary character, as on
  SQLite (the servers' ``LIKE`` treats it as an escape, so it is doubled).
* **``like`` on a non-text column** matches SQLite's text form of the value:
  integers and datetimes as the databases print them, ``NUMERIC`` through a
  double (``1.50`` reads ``1.5``, ``10.00`` reads ``10``, as SQLite stores
  them), booleans as ``1``/``0``.
* **``NULL``** sorts first in ascending order and last in descending order.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Enum,
    Float,
    Integer,
    Numeric,
    String,
    and_,
    cast,
    func,
    literal_column,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine

#: A comparison: ``operator.eq``, ``operator.lt``, ... (``_operators`` names them).
Comparison = Callable[[Any, Any], Any]
_EQUALITY = (operator.eq, operator.ne)

_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold_ascii(text: str) -> str:
    """``text`` with ASCII capitals lowered, and nothing else changed."""
    return text.translate(_FOLD)


def base_type(coltype: Any) -> Any:
    """The SQL type under any ``TypeDecorator`` layers."""
    while isinstance(coltype, TypeDecorator):
        coltype = coltype.impl_instance
    return coltype


def type_of(expr: Any, coltype: TypeEngine[Any] | None = None) -> Any:
    """The SQL type of an expression (``coltype`` if given)."""
    return base_type(coltype if coltype is not None else getattr(expr, "type", None))


def is_text(expr: Any, coltype: TypeEngine[Any] | None = None) -> bool:
    """Whether an expression holds text that a collation applies to."""
    kind = type_of(expr, coltype)
    return isinstance(kind, String) and not isinstance(kind, Enum)


def _is_expression(value: Any) -> bool:
    return hasattr(value, "__clause_element__") or isinstance(value, ColumnElement)


class DialectRules:
    """The SQLite (reference) rules; subclasses adjust them for other databases."""

    name = "sqlite"
    #: collation giving SQLite's BINARY order; ``None`` where it is the default
    binary_collation: str | None = None
    #: whether equality needs that collation too (the default one ignores case)
    collate_equality = False

    def binary(self, expr: Any, coltype: TypeEngine[Any] | None = None) -> Any:
        """``expr`` compared and sorted in code-point order, if it is text."""
        if self.binary_collation is None or not is_text(expr, coltype):
            return expr
        return expr.collate(self.binary_collation)

    # -- comparisons ------------------------------------------------------------

    def compare(self, op: Comparison, left: Any, right: Any) -> ColumnElement[bool]:
        """``op(left, right)`` (``operator.eq``, ``operator.lt``, ...), text in binary order."""
        if not is_text(left) or (op in _EQUALITY and not self.collate_equality):
            return op(left, right)
        other = self.binary(right) if _is_expression(right) else right
        term = op(self.binary(left), other)
        if op is operator.eq:
            return and_(left == right, term)
        return term

    def in_(self, expr: Any, values: Sequence[Any], negate: bool) -> ColumnElement[bool]:
        """``expr IN values`` (or ``NOT IN``), text compared in binary order."""
        if not (self.collate_equality and is_text(expr)):
            return ~expr.in_(values) if negate else expr.in_(values)
        exact = self.binary(expr).in_(values)
        return ~exact if negate else and_(expr.in_(values), exact)

    # -- like ---------------------------------------------------------------------

    def text_of(self, expr: Any, coltype: TypeEngine[Any] | None) -> Any:
        """The text a non-text column is matched as by ``like`` (SQLite's own form)."""
        if coltype is None or isinstance(base_type(coltype), String):
            return expr
        return cast(expr, String)

    def like(self, expr: Any, pattern: str, coltype: TypeEngine[Any] | None) -> ColumnElement[bool]:
        """``like``: ASCII letters match without case, as on SQLite."""
        return self.text_of(expr, coltype).like(pattern)

    def ilike(
        self, expr: Any, pattern: str, coltype: TypeEngine[Any] | None
    ) -> ColumnElement[bool]:
        """``ilike``: the same as ``like`` (SQLite's ``LIKE`` already ignores ASCII case)."""
        return self.like(expr, pattern, coltype)

    # -- ordering, grouping, aggregates ---------------------------------------------

    def order(self, expr: Any, direction: str) -> ColumnElement[Any]:
        """An ORDER BY term with NULLs first ascending, last descending."""
        expr = self.binary(expr)
        return expr.desc() if direction == "desc" else expr.asc()

    def group_key(self, expr: Any) -> Any:
        """A GROUP BY term: values that differ in SQLite differ here too."""
        return self.binary(expr) if self.collate_equality else expr

    def extreme(self, name: str, expr: Any) -> Any:
        """``min``/``max`` of a field, text in binary order."""
        fn = func.min if name == "min" else func.max
        return fn(self.binary(expr))


class ServerRules(DialectRules):
    """What PostgreSQL and MariaDB share: explicit ASCII folding for ``like``."""

    def fold_column(self, expr: Any) -> Any:
        """``expr`` with A-Z lowered in SQL."""
        raise NotImplementedError

    def text_of(self, expr: Any, coltype: TypeEngine[Any] | None) -> Any:
        kind = base_type(coltype)
        if isinstance(kind, Boolean):
            return cast(cast(expr, Integer), String)
        if isinstance(kind, Numeric) and not isinstance(kind, Float):
            # SQLite stores NUMERIC as a double (or an integer when exact).
            return cast(self.as_double(expr), String)
        return super().text_of(expr, coltype)

    def as_double(self, expr: Any) -> Any:
        """``expr`` converted to a double precision float in SQL."""
        return expr + literal_column("0E0", Float)

    def like(self, expr: Any, pattern: str, coltype: TypeEngine[Any] | None) -> ColumnElement[bool]:
        folded = fold_ascii(pattern).replace("\\", "\\\\")
        column = self.fold_column(self.text_of(expr, coltype))
        return self.binary(column, String()).like(folded)


class PostgresRules(ServerRules):
    """PostgreSQL: ``COLLATE "C"`` for order, ``translate`` for ``like``, NULL placement."""

    name = "postgresql"
    binary_collation = "C"

    def fold_column(self, expr: Any) -> Any:
        return func.translate(
            expr,
            literal_column(f"'{string.ascii_uppercase}'", String),
            literal_column(f"'{string.ascii_lowercase}'", String),
        )

    def as_double(self, expr: Any) -> Any:
        return cast(expr, Float(53))

    def order(self, expr: Any, direction: str) -> ColumnElement[Any]:
        expr = self.binary(expr)
        if direction == "desc":
            return expr.desc().nulls_last()
        return expr.asc().nulls_first()


class MySQLRules(ServerRules):
    """MariaDB/MySQL: binary collation everywhere text is compared; ``REPLACE`` for ``like``."""

    name = "mysql"
    binary_collation = "utf8mb4_nopad_bin"
    collate_equality = True

    def fold_column(self, expr: Any) -> Any:
        for upper, lower in zip(string.ascii_uppercase, string.ascii_lowercase, strict=True):
            expr = func.replace(
                expr, literal_column(f"'{upper}'", String), literal_column(f"'{lower}'", String)
            )
        return expr


def rules_for(dialect_name: str) -> DialectRules:
    """The rules for a SQLAlchemy dialect name (``engine.dialect.name``)."""
    if dialect_name == "postgresql":
        return PostgresRules()
    if dialect_name in ("mysql", "mariadb"):
        return MySQLRules()
    return DialectRules()
