"""Where SQL databases disagree, one answer for all of them.

The same request must give the same JSON on SQLite, PostgreSQL and MariaDB.
flask-restless 0.17 ran on SQLite, so SQLite's behaviour is the reference:

* ``like`` is case-insensitive (SQLite compares ASCII letters without case);
  PostgreSQL uses ``ILIKE`` and MariaDB compares lower-cased, binary-collated
  strings, so that accents still matter as they do on SQLite.
* ``NULL`` sorts first in ascending order and last in descending order.
* ``like`` on a non-text column compares the column's text form.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine


class DialectRules:
    """The SQLite (reference) rules; subclasses adjust them for other databases."""

    name = "sqlite"

    def _text(self, expr: Any, coltype: TypeEngine[Any] | None) -> Any:
        if coltype is not None and not isinstance(coltype, String):
            return cast(expr, String)
        return expr

    def like(self, expr: Any, pattern: str, coltype: TypeEngine[Any] | None) -> ColumnElement[bool]:
        """``like``: case-insensitive match, as on SQLite."""
        return self._text(expr, coltype).like(pattern)

    def ilike(
        self, expr: Any, pattern: str, coltype: TypeEngine[Any] | None
    ) -> ColumnElement[bool]:
        """``ilike``: case-insensitive match."""
        return self._text(expr, coltype).ilike(pattern)

    def order(self, expr: Any, direction: str) -> ColumnElement[Any]:
        """An ORDER BY term with NULLs first ascending, last descending."""
        return expr.desc() if direction == "desc" else expr.asc()


class PostgresRules(DialectRules):
    """PostgreSQL: ``ILIKE`` for ``like``; explicit NULL placement."""

    name = "postgresql"

    def like(self, expr: Any, pattern: str, coltype: TypeEngine[Any] | None) -> ColumnElement[bool]:
        return self._text(expr, coltype).ilike(pattern)

    def order(self, expr: Any, direction: str) -> ColumnElement[Any]:
        if direction == "desc":
            return expr.desc().nulls_last()
        return expr.asc().nulls_first()


class MySQLRules(DialectRules):
    """MariaDB/MySQL: lower-case both sides and compare them byte for byte."""

    name = "mysql"

    def _folded(self, expr: Any, coltype: TypeEngine[Any] | None) -> Any:
        return func.lower(self._text(expr, coltype)).collate("utf8mb4_bin")

    def like(self, expr: Any, pattern: str, coltype: TypeEngine[Any] | None) -> ColumnElement[bool]:
        return self._folded(expr, coltype).like(
            func.lower(literal(pattern, String)).collate("utf8mb4_bin")
        )

    ilike = like


def rules_for(dialect_name: str) -> DialectRules:
    """The rules for a SQLAlchemy dialect name (``engine.dialect.name``)."""
    if dialect_name == "postgresql":
        return PostgresRules()
    if dialect_name in ("mysql", "mariadb"):
        return MySQLRules()
    return DialectRules()
