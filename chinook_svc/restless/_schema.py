"""What the engine knows about a mapped class, computed once per model and manager.

flask-restless 0.17 discovered columns, relations and primary keys by
introspecting the model on every request.  :class:`ModelInfo` does the same
introspection once, with the same rules, and keeps what the query compiler,
the loader and the serializer need: column expressions in a fixed order,
relationships with the columns that join them, and primary-key names.
"""

from __future__ import annotations

import datetime
import inspect as pyinspect
import operator
import threading
from functools import cached_property
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.associationproxy import AssociationProxy
from sqlalchemy.ext.hybrid import HybridExtensionType
from sqlalchemy.orm import ColumnProperty, Mapper, RelationshipProperty, configure_mappers
from sqlalchemy.orm import exc as orm_exc
from sqlalchemy.orm.attributes import QueryableAttribute
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BooleanClauseList, ColumnElement
from sqlalchemy.sql.schema import Column
from sqlalchemy.types import Date, DateTime, Interval, Time, TypeDecorator, TypeEngine

from ._serialize import Converter, converter_for

#: 0.17's names that are never columns or relations.
COLUMN_BLACKLIST = frozenset({"_sa_polymorphic_on"})
RELATION_BLACKLIST = frozenset(
    {"query", "query_class", "_sa_class_manager", "_decl_class_registry"}
)

#: Key of a relationship's ``info`` saying whether objects carry it (default: they do).
INLINE_INFO_KEY = "restless_inline"


def _is_pure_equality(clause: Any, npairs: int) -> bool:
    """Whether a join condition is a conjunction of exactly ``npairs`` ``a = b`` terms."""
    terms = clause.clauses if isinstance(clause, BooleanClauseList) else [clause]
    if isinstance(clause, BooleanClauseList) and clause.operator is not operators.and_:
        return False
    if len(terms) != npairs:
        return False
    return all(
        isinstance(t, BinaryExpression)
        and t.operator is operator.eq
        and isinstance(t.left, Column)
        and isinstance(t.right, Column)
        for t in terms
    )


class RelationInfo:
    """One relationship of a model, with what is needed to batch-load it.

    ``simple`` relations (joined by plain column equalities, directly or
    through a secondary table) are loaded with one Core statement per page;
    other relations are loaded through the ORM.
    """

    def __init__(self, owner: ModelInfo, prop: RelationshipProperty[Any]) -> None:
        self.owner = owner
        self.prop = prop
        self.name = prop.key
        self.uselist = bool(prop.uselist)
        #: whether objects carry this relation by default; ``relationship(...,
        #: info={INLINE_INFO_KEY: False})`` keeps it at its own URL only
        self.inline = bool(prop.info.get(INLINE_INFO_KEY, True))
        #: a dict-like collection (``collection_class=attribute_keyed_dict(...)``):
        #: objects carry the list of its keys, as 0.17 did
        collection = prop.collection_class
        self.keyed = isinstance(collection, type) and issubclass(collection, dict)
        self.secondary = prop.secondary
        pairs: list[tuple[Column[Any], Column[Any]]]
        if prop.secondary is None:
            # (parent column, target column)
            pairs = [(lc, rc) for lc, rc in prop.local_remote_pairs]  # type: ignore[misc]
            simple = _is_pure_equality(prop.primaryjoin, len(pairs))
            self.secondary_target_pairs: list[tuple[Column[Any], Column[Any]]] = []
        else:
            # (parent column, secondary column) and (target column, secondary column)
            pairs = list(prop.synchronize_pairs)  # type: ignore[arg-type]
            self.secondary_target_pairs = list(prop.secondary_synchronize_pairs or [])  # type: ignore[arg-type]
            simple = _is_pure_equality(prop.primaryjoin, len(pairs)) and _is_pure_equality(
                prop.secondaryjoin, len(self.secondary_target_pairs)
            )
        self.pairs = pairs
        if self.keyed:
            simple = False  # its keys come from the collection's key function
        parent_mapper = owner.mapper
        try:
            self.local_keys: tuple[str, ...] = tuple(
                parent_mapper.get_property_by_column(lc).key for lc, _ in pairs
            )
        except Exception:
            self.local_keys = ()
            simple = False
        self.simple = simple and bool(pairs)

    @cached_property
    def target(self) -> ModelInfo:
        """The related model's info (from the owner's catalog)."""
        return self.owner.catalog.info(self.prop.mapper.class_)

    @property
    def attribute(self) -> QueryableAttribute[Any]:
        """The class-level relationship attribute (``Album.artist``)."""
        return getattr(self.owner.model, self.name)  # type: ignore[no-any-return,unused-ignore]


class ProxyInfo:
    """One association proxy of a model, resolved to the engine's relations.

    ``association_proxy(local, remote)`` goes through the owner's
    relationship ``local`` to the attribute ``remote`` of its rows (see
    ``_proxies`` for what the protocol makes of it).

    Attributes:
        name: the proxy's attribute name.
        local: the owner's relationship the proxy goes through.
        through: the model of the intermediate rows (``local``'s target).
        remote_name: the attribute of ``through`` the proxy exposes.
        remote: that attribute as a relationship, or ``None`` (a column).
    """

    def __init__(self, owner: ModelInfo, name: str, local: RelationInfo, remote_name: str) -> None:
        self.owner = owner
        self.name = name
        self.local = local
        self.through = local.target
        self.remote_name = remote_name
        self.remote: RelationInfo | None = self.through.relations.get(remote_name)

    @property
    def target(self) -> ModelInfo:
        """The model a nested filter names fields of: the final one, or the intermediate."""
        return self.remote.target if self.remote is not None else self.through

    @property
    def to_many(self) -> bool:
        """Whether the proxy holds several values (filtered with ``any``) or one (``has``)."""
        return self.local.uselist or (self.remote is not None and self.remote.uselist)

    @property
    def attribute(self) -> Any:
        """The class-level proxy (``Product.tag_names``)."""
        return getattr(self.owner.model, self.name)


def _find_proxies(owner: ModelInfo) -> dict[str, ProxyInfo]:
    """The association proxies of a model the engine can serve, by name.

    A proxy whose local attribute is not one of the model's relations (a
    proxy of a proxy, say), or that SQLAlchemy cannot resolve, is left out.
    """
    found: dict[str, ProxyInfo] = {}
    for name in owner.association_proxies:
        try:
            instance: Any = getattr(owner.model, name)
            local_key = instance.local_attr.key
            remote_name = instance.value_attr
        except (AttributeError, sa_exc.SQLAlchemyError):
            continue  # a proxy SQLAlchemy cannot resolve is left unserved
        local = owner.relations.get(local_key)
        if local is not None:
            found[name] = ProxyInfo(owner, name, local, remote_name)
    return found


class ModelInfo:
    """Introspection of one mapped class, with flask-restless 0.17's rules."""

    def __init__(self, model: type, catalog: Catalog) -> None:
        configure_mappers()
        mapper: Mapper[Any] = sa_inspect(model)
        self.model = model
        self.catalog = catalog
        self.mapper = mapper
        self.name = model.__name__
        self.table_name: str = getattr(model, "__tablename__", None) or mapper.local_table.name  # type: ignore[attr-defined]
        self.selectable = mapper.selectable
        #: column attribute name -> SQL expression, in mapper order
        self.columns: dict[str, ColumnElement[Any]] = {}
        #: column attribute name -> SQLAlchemy type
        self.column_types: dict[str, TypeEngine[Any]] = {}
        for prop in mapper.column_attrs:
            if prop.key in COLUMN_BLACKLIST or prop.key.startswith("__"):
                continue
            expr: Any = prop.expression
            self.columns[prop.key] = expr
            self.column_types[prop.key] = prop.columns[0].type
        self.column_keys: tuple[str, ...] = tuple(self.columns)
        #: the column expressions, in ``column_keys`` order (what the loader selects)
        self.column_exprs: tuple[ColumnElement[Any], ...] = tuple(self.columns.values())
        #: column attribute name -> its JSON converter (``None``: emitted as it is)
        self.converters: dict[str, Converter | None] = {
            k: converter_for(t) for k, t in self.column_types.items()
        }
        self.hybrids: tuple[str, ...] = tuple(
            key
            for key, desc in mapper.all_orm_descriptors.items()
            if getattr(desc, "extension_type", None) is HybridExtensionType.HYBRID_PROPERTY
            and not key.startswith("__")
        )
        self.association_proxies: tuple[str, ...] = tuple(
            key
            for key, desc in mapper.all_orm_descriptors.items()
            if isinstance(desc, AssociationProxy)
            and key not in RELATION_BLACKLIST
            and not key.startswith("__")
        )
        self.relations: dict[str, RelationInfo] = {
            rel.key: RelationInfo(self, rel)
            for rel in sorted(mapper.relationships, key=lambda r: r.key)
            if rel.key not in RELATION_BLACKLIST and not rel.key.startswith("__")
        }
        # 0.17's primary_key_names: members sorted by name whose first column is a PK.
        self.pk_names: tuple[str, ...] = tuple(
            sorted(
                key
                for key, prop in mapper.attrs.items()
                if isinstance(prop, ColumnProperty)
                and key in self.columns
                and getattr(prop.columns[0], "primary_key", False)
            )
        )
        if not self.pk_names:
            raise ValueError(f"{self.name} has no primary key column")

    @cached_property
    def proxies(self) -> dict[str, ProxyInfo]:
        """The association proxies the engine serves, by name (resolved on first use)."""
        return _find_proxies(self)

    @cached_property
    def key_order(self) -> tuple[str, ...]:
        """The primary-key attributes in the table's key order (``pk_names`` is name order)."""
        mapper: Mapper[Any] = sa_inspect(self.model)
        found: list[str] = []
        for column in mapper.primary_key:
            try:
                found.append(mapper.get_property_by_column(column).key)
            except orm_exc.UnmappedColumnError:
                continue
        return tuple(found) if sorted(found) == sorted(self.pk_names) else self.pk_names

    def primary_key_name(self) -> str:
        """0.17's ``primary_key_name``: ``id`` if it is a key, else the first key."""
        return "id" if "id" in self.pk_names else self.pk_names[0]

    def is_temporal(self, key: str) -> type | None:
        """The Python type a string must be parsed into for this field, if temporal."""
        coltype = self.column_types.get(key)
        while isinstance(coltype, TypeDecorator):
            coltype = coltype.impl_instance
        if coltype is None:
            return None
        if isinstance(coltype, DateTime):
            return datetime.datetime
        if isinstance(coltype, Date):
            return datetime.date
        if isinstance(coltype, Time):
            return datetime.time
        if isinstance(coltype, Interval):
            return datetime.timedelta
        return None

    def python_type(self, key: str) -> type | None:
        """The Python type of a column's values, when SQLAlchemy knows it."""
        coltype = self.column_types.get(key)
        if coltype is None:
            return None
        try:
            return coltype.python_type
        except NotImplementedError:
            return None


class Catalog:
    """The :class:`ModelInfo` of every model one manager serves, each computed once.

    One per ``APIManager``, never module-wide: the mapped classes of one
    manager (``models_for()`` makes new ones each time) live and die with it.
    """

    def __init__(self) -> None:
        self._infos: dict[type, ModelInfo] = {}
        self._lock = threading.Lock()

    def info(self, model: type) -> ModelInfo:
        """The :class:`ModelInfo` of a mapped class (computed on first use, by any thread)."""
        found = self._infos.get(model)
        if found is None:
            with self._lock:
                found = self._infos.get(model)
                if found is None:
                    found = self._infos[model] = ModelInfo(model, self)
        return found


def is_mapped_class(cls: type) -> bool:
    """Whether ``cls`` is a SQLAlchemy-mapped class."""
    if not pyinspect.isclass(cls):
        return False
    try:
        sa_inspect(cls)
    except Exception:
        return False
    return True
