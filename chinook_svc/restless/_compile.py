"""Compile a parsed ``q`` (``_query``) into SQLAlchemy clauses.

The semantics are flask-restless 0.17's ``search.QueryBuilder``: filters are
built from the model's attributes (columns, hybrid properties, relations),
``rel__field`` reaches through a relation, ``has``/``any`` nest, top-level
filters are ANDed, and without ``order_by`` rows come in primary-key order.
Unlike 0.17 (see ``docs/protocol.md``) a field the API hides cannot be
filtered or sorted on, ``order_by`` always ends with the primary key so that
pages are stable, and every failure is a 400 :class:`QueryError`.

What each operator takes and which clause it builds comes from the table in
``_operators``; values are converted by ``_coerce.filter_value``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from attrs import evolve, field, frozen
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from ._coerce import filter_value, text_of
from ._dialects import DialectRules
from ._errors import QueryError
from ._operators import OPERATOR_TABLE, OPERATORS, Takes
from ._proxies import proxy_criterion
from ._query import Filter, Junction, Limits, Node, Search, parse_search
from ._schema import ModelInfo, ProxyInfo


@frozen
class FieldRules:
    """Which fields of a model a client may filter and sort on.

    ``allowed`` is ``None`` for "every field" or the set of visible names;
    ``hidden`` names are never visible.  ``nested`` gives the rules for the
    fields of a first-level relation (from ``"rel.col"`` include/exclude entries).
    """

    allowed: frozenset[str] | None = None
    hidden: frozenset[str] = frozenset()
    nested: Mapping[str, FieldRules] = field(factory=dict)

    def allows(self, name: str) -> bool:
        """Whether ``name`` may appear in a filter or ``order_by``."""
        if name in self.hidden:
            return False
        return self.allowed is None or name in self.allowed

    def for_relation(self, name: str) -> FieldRules:
        """The rules that apply to the fields of relation ``name``."""
        return self.nested.get(name, UNRESTRICTED)


UNRESTRICTED = FieldRules()


@frozen
class CompiledSearch:
    """SQL pieces of a search, ready for the loader."""

    where: tuple[ColumnElement[bool], ...]
    order_by: tuple[ColumnElement[Any], ...]
    joins: tuple[tuple[Any, Any], ...]
    group_by: tuple[ColumnElement[Any], ...]
    limit: int | None
    offset: int | None
    single: bool
    #: no filters, no order_by, no group_by: rows in primary-key order
    plain: bool = False
    #: the canonical ``q`` this was compiled from, when it may be reused
    #: (its SQL is then prepared once per distinct ``q``)
    key: str | None = None


_EMPTY = Search()
#: Distinct ``q`` objects whose compiled form an endpoint keeps.
RECENT_SEARCHES = 256


class Compiler:
    """Builds SQL clauses for one model under one set of :class:`FieldRules`."""

    def __init__(self, info: ModelInfo, rules: FieldRules, dialect: DialectRules) -> None:
        self.info = info
        self.rules = rules
        self.dialect = dialect
        self._plain: CompiledSearch | None = None
        self._recent: OrderedDict[str, CompiledSearch] = OrderedDict()
        self._lock = threading.Lock()

    # -- names --------------------------------------------------------------

    def _known(self, info: ModelInfo, name: str, rules: FieldRules) -> None:
        known = (
            name in info.columns
            or name in info.relations
            or name in info.hybrids
            or name in info.proxies
        )
        if not known or not rules.allows(name):
            raise QueryError(f"unknown field {name!r}")

    def value_attribute(self, info: ModelInfo, name: str, rules: FieldRules) -> Any:
        """A column or hybrid property, as a SQL expression."""
        self._known(info, name, rules)
        if name in info.relations:
            raise QueryError(f"{name!r} is a relation, not a field")
        if name in info.proxies:
            raise QueryError(f"{name!r} holds several values; filter on it instead")
        return getattr(info.model, name)

    # -- filters --------------------------------------------------------------

    def where(self, nodes: tuple[Node, ...]) -> tuple[ColumnElement[bool], ...]:
        """The WHERE terms for the top-level filters (ANDed by the caller)."""
        return tuple(self.node(self.info, n, self.rules) for n in nodes)

    def node(self, info: ModelInfo, node: Node, rules: FieldRules) -> Any:
        from sqlalchemy import and_, false, or_, true

        if isinstance(node, Junction):
            terms = [self.node(info, n, rules) for n in node.filters]
            if node.kind == "and":
                return and_(true(), *terms) if not terms else and_(*terms)
            return or_(false(), *terms) if not terms else or_(*terms)
        return self.leaf(info, node, rules)

    def leaf(self, info: ModelInfo, leaf: Filter, rules: FieldRules) -> Any:
        name = leaf.name
        relation: str | None = None
        if "__" in name:
            parts = name.split("__")
            if len(parts) != 2 or not all(parts):
                raise QueryError(f"bad field name {name!r}")
            relation, name = parts
        argument: Any = leaf.val
        if leaf.field is not None:
            argument = _FieldRef(self.value_attribute(info, leaf.field, rules), leaf.field)
        return self.operation(info, name, leaf.op, argument, relation, rules)

    def operation(
        self,
        info: ModelInfo,
        name: str,
        op: str,
        argument: Any,
        relation: str | None,
        rules: FieldRules,
    ) -> Any:
        """0.17's ``_create_operation``: ``relation or name`` is the attribute operated on."""
        target = relation or name
        self._known(info, target, rules)
        proxy = info.proxies.get(target)
        if proxy is not None:
            inner = self.through_proxy(proxy, name, op, argument, rules.for_relation(target))
            return proxy_criterion(proxy, inner)
        attr = getattr(info.model, target)
        entry = OPERATORS[op]  # the parser let no other name through
        if entry.takes is Takes.NOTHING:
            return entry.clause(self.dialect, attr, None, None)
        if argument is None:
            raise QueryError("to compare a value to NULL, use the is_null/is_not_null operators")
        if entry.takes is Takes.FILTER:
            rel = info.relations.get(target)
            if rel is None:
                raise QueryError(f"{op!r} needs a relation, and {target!r} is not one")
            if entry.to_many != rel.uselist:
                want = _relation_operator(to_many=rel.uselist)
                raise QueryError(f"use {want!r} with the relation {target!r}")
            criterion = self.nested(rel.target, argument, name, rules.for_relation(target))
            return entry.clause(self.dialect, attr, criterion, None)
        if target in info.relations:
            raise QueryError(f"{target!r} is a relation; use 'has' or 'any'")
        return self.compare(info, target, attr, op, argument)

    def compare(self, info: ModelInfo, name: str, attr: Any, op: str, argument: Any) -> Any:
        """An operator between a field and its argument: a value, a list, or another field."""
        entry = OPERATORS[op]
        if isinstance(argument, _FieldRef):
            if not entry.compares_fields:
                raise QueryError(f"{op!r} cannot compare two fields")
            return entry.clause(self.dialect, attr, argument.expr, None)
        value: Any
        if entry.takes is Takes.LIST:
            if not isinstance(argument, list):
                raise QueryError(f"{op!r} needs a list")
            value = [filter_value(info, name, v) for v in argument]
        elif entry.takes is Takes.PATTERN:
            value = filter_value(info, name, argument, pattern=True)
            if not isinstance(value, str):
                value = text_of(value)
        else:
            value = filter_value(info, name, argument)
        return entry.clause(self.dialect, attr, value, info.column_types.get(name))

    def through_proxy(
        self, proxy: ProxyInfo, name: str, op: str, argument: Any, rules: FieldRules
    ) -> Any:
        """The criterion on a proxy's rows that some value of the proxy must meet.

        ``has``/``any`` (as for a relation) nest a filter on the final
        model's fields; through a proxy to a column, any other operator
        compares the column with the argument.
        """
        entry = OPERATORS[op]
        if entry.takes is Takes.FILTER:
            if entry.to_many != proxy.to_many:
                want = _relation_operator(to_many=proxy.to_many)
                raise QueryError(f"use {want!r} with {proxy.name!r}")
            if argument is None:
                raise QueryError(f"{op!r} needs a value")
            return self.nested(proxy.target, argument, name, rules)
        if proxy.remote is not None:
            raise QueryError(f"{proxy.name!r} is a relation; use 'has' or 'any'")
        through = proxy.through
        attr = getattr(through.model, proxy.remote_name)
        if entry.takes is Takes.NOTHING:
            return entry.clause(self.dialect, attr, None, None)
        if argument is None:
            raise QueryError("to compare a value to NULL, use the is_null/is_not_null operators")
        return self.compare(through, proxy.remote_name, attr, op, argument)

    def nested(self, target: ModelInfo, argument: Any, name: str, rules: FieldRules) -> Any:
        """0.17's ``_sub_operator``: the criterion inside ``has``/``any``."""
        if isinstance(argument, Filter):
            inner_name = argument.name
            relation: str | None = None
            if "__" in inner_name:
                parts = inner_name.split("__")
                if len(parts) != 2 or not all(parts):
                    raise QueryError(f"bad field name {inner_name!r}")
                relation, inner_name = parts
            inner_arg: Any = argument.val
            if argument.field is not None:
                inner_arg = _FieldRef(
                    self.value_attribute(target, argument.field, rules), argument.field
                )
            return self.operation(target, inner_name, argument.op, inner_arg, relation, rules)
        # Legacy form: {"name": "rel__field", "op": "any", "val": x} means rel.any(field == x).
        attr = self.value_attribute(target, name, rules)
        value = filter_value(target, name, argument)
        return OPERATORS["=="].clause(self.dialect, attr, value, None)

    # -- ordering and grouping ----------------------------------------------------

    def order_by(self, search: Search) -> tuple[tuple[ColumnElement[Any], ...], tuple[Any, ...]]:
        """ORDER BY terms (ending with the primary key) and the joins they need."""
        info = self.info
        terms: list[ColumnElement[Any]] = []
        joins: list[tuple[Any, Any]] = []
        aliases: dict[str, Any] = {}
        for entry in search.order_by:
            if "__" in entry.field:
                parts = entry.field.split("__")
                if len(parts) != 2 or not all(parts):
                    raise QueryError(f"bad field name {entry.field!r}")
                relname, colname = parts
                self._known(info, relname, self.rules)
                rel = info.relations.get(relname)
                if rel is None or rel.uselist:
                    raise QueryError(f"order_by through {relname!r} needs a to-one relation")
                if relname not in aliases:
                    alias: Any = aliased(rel.target.model)
                    aliases[relname] = alias
                    joins.append((alias, rel.attribute.of_type(alias)))
                self.value_attribute(rel.target, colname, self.rules.for_relation(relname))
                expr = getattr(aliases[relname], colname)
            else:
                expr = self.value_attribute(info, entry.field, self.rules)
            terms.append(self.dialect.order(expr, entry.direction))
        given = {e.field for e in search.order_by}
        for pk in info.pk_names:
            if pk not in given:
                terms.append(self.dialect.order(getattr(info.model, pk), "asc"))
        return tuple(terms), tuple(joins)

    def group_by(self, search: Search) -> tuple[ColumnElement[Any], ...]:
        """GROUP BY columns."""
        return tuple(
            self.dialect.group_key(self.value_attribute(self.info, f, self.rules))
            for f in search.group_by
        )

    def compile_q(self, params: Any, limits: Limits) -> CompiledSearch:
        """Parse and compile a decoded ``q``, reusing the result for a ``q`` seen recently.

        A compiled search holds no request state (values are bound, "now"
        is a SQL function), so equal ``q`` objects share one; the SQL of a
        shared one is compiled once (see ``_search.SearchQueries``).
        """
        try:
            key = json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            return self.compile(parse_search(params, limits))
        cached = self._recent.get(key)
        if cached is not None:
            with self._lock, suppress(KeyError):
                self._recent.move_to_end(key)
            return cached
        compiled = evolve(self.compile(parse_search(params, limits)), key=key)
        with self._lock:
            self._recent[key] = compiled
            if len(self._recent) > RECENT_SEARCHES:
                self._recent.popitem(last=False)
        return compiled

    def compile(self, search: Search) -> CompiledSearch:
        """Everything the loader needs to run ``search``."""
        if search == _EMPTY:
            # The most common search of all (no q): built once.
            if self._plain is None:
                self._plain = self._compile(search)
            return self._plain
        return self._compile(search)

    def _compile(self, search: Search) -> CompiledSearch:
        order, joins = self.order_by(search)
        return CompiledSearch(
            where=self.where(search.filters),
            order_by=order,
            joins=joins,
            group_by=self.group_by(search),
            limit=search.limit,
            offset=search.offset,
            single=search.single,
            plain=not (search.filters or search.order_by or search.group_by),
        )


@frozen
class _FieldRef:
    """The other side of a field-to-field comparison."""

    expr: Any
    name: str


def _relation_operator(*, to_many: bool) -> str:
    """The name of the operator that filters on a relation of this kind (``has``/``any``)."""
    return next(o.name for o in OPERATOR_TABLE if o.takes is Takes.FILTER and o.to_many == to_many)
