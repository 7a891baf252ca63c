"""A model's own ``query``: the rows the engine may show (0.17's "custom queries").

flask-restless 0.17 read every model through ``Model.query`` when the model
had one (a query, or a class method returning one) instead of
``session.query(Model)``, so that a model could hide rows::

    class CarModel(Base):
        @classmethod
        def query(cls):
            return session.query(cls).join(CarManufacturer).filter(CarManufacturer.name == "Super")

:func:`scope_of` turns that query into a :class:`Scope`: the primary keys it
selects, as a subquery every statement of the engine can be limited by
(``key IN (SELECT key FROM <the query>)``), joins and all.  It is asked
again for each request, as 0.17 asked, so a query may change between
requests; a model without ``query``, or whose query selects every row
(``scoped_session.query_property()``), has no scope and costs nothing.

The scope limits every row the engine selects itself: collections and
their counts, instance URLs (404 outside it), relation URLs, inlined
relations, ``eval`` functions, the rows writes look up (PATCH, DELETE,
bulk changes, nested objects a body names).  Values computed on instances
(hybrids, ``include_methods``, association proxies, a ``serializer``) are
the model's own business.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Query, Session
from sqlalchemy.sql import Select

from ._schema import ModelInfo


@frozen
class Scope:
    """The rows of one model its ``query`` lets through.

    Attributes:
        info: the model.
        keys: ``SELECT <primary key> FROM <the model's query>``.
    """

    info: ModelInfo
    keys: Select[Any]

    def on(self, entity: Any = None) -> Any:
        """The condition ``key IN (keys)`` on ``entity`` (the model, or an alias of it)."""
        entity = self.info.model if entity is None else entity
        columns = [getattr(entity, k) for k in self.info.pk_names]
        if len(columns) == 1:
            return columns[0].in_(self.keys)
        return tuple_(*columns).in_(self.keys)


def _model_query(model: type) -> Query[Any] | None:
    """``Model.query`` (called if it is a method), if it is a query."""
    query = getattr(model, "query", None)
    if query is None:
        return None
    if not isinstance(query, Query) and callable(query):
        query = query()
    return query if isinstance(query, Query) else None


def _selects_everything(statement: Select[Any], info: ModelInfo) -> bool:
    """Whether a query is ``SELECT * FROM <the model's table>`` with nothing added."""
    if statement.whereclause is not None:
        return False
    if list(statement.get_final_froms()) != [info.selectable]:
        return False
    if statement._limit_clause is not None or statement._offset_clause is not None:
        return False
    return not (statement._group_by_clauses or statement._having_criteria or statement._distinct)


def scope_of(info: ModelInfo) -> Scope | None:
    """The model's scope for this request, or ``None`` when it may show every row."""
    query = _model_query(info.model)
    if query is None:
        return None
    try:
        keys = query.with_entities(*(getattr(info.model, k) for k in info.pk_names))
        statement: Select[Any] = keys.statement
    except sa_exc.SQLAlchemyError as e:
        # The model's own code is at fault, not the request: a 500, logged.
        raise TypeError(f"{info.name}.query cannot scope its API: {e}") from e
    if statement._limit_clause is None and statement._offset_clause is None:
        statement = statement.order_by(None)  # an order means nothing in IN (...)
    if _selects_everything(statement, info):
        return None
    return Scope(info, statement)


def where_in_scope(stmt: Select[Any], scope: Scope | None, entity: Any = None) -> Select[Any]:
    """``stmt`` limited to the scope's rows (unchanged without a scope)."""
    return stmt if scope is None else stmt.where(scope.on(entity))


def get_in_scope(session: Session, info: ModelInfo, key: tuple[Any, ...]) -> Any:
    """The instance with primary key ``key`` if the model's scope shows it (0.17's ``get_by``)."""
    scope = scope_of(info)
    if scope is None:
        return session.get(info.model, key if len(key) > 1 else key[0])
    clause = [getattr(info.model, k) == v for k, v in zip(info.pk_names, key, strict=True)]
    stmt: Select[Any] = select(info.model).where(*clause, scope.on()).limit(1)
    return session.scalars(stmt).first()
