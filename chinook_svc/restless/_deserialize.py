"""Request bodies to rows: field checks, value validation, nested relations.

flask-restless 0.17's ``_dict_to_inst``, ``get_or_create`` and
``_update_relations``, with stricter input checking: a value must fit its
column's type (and range and length) on every database
(``_coerce.column_value``), a nested object that names a primary key must
exist, and a relation's value must have its shape (a to-many: a list of
objects, or ``{"add": [...], "remove": [...]}`` in a PATCH; a to-one: an
object or null) or the request is a 400.  To-many relations may be lists,
sets or dicts keyed by an attribute of their members; all take a list.  A
``remove`` with ``__delete__`` deletes only rows nothing else refers to
(``_references``).  Everything here runs inside the request's transaction,
in a worker thread.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.collections import collection_adapter
from sqlalchemy.util import duck_type_collection

from ._coerce import column_value
from ._errors import BodyError
from ._proxy_writes import ProxyWriter
from ._references import check_deletable
from ._schema import ModelInfo, RelationInfo
from ._scope import get_in_scope, scope_of, where_in_scope


def writable_fields(info: ModelInfo) -> frozenset[str]:
    """Names a body may set: columns, relations, association proxies and hybrids
    with a setter (0.17's has_field)."""
    hybrids = {
        name
        for name in info.hybrids
        if getattr(info.mapper.all_orm_descriptors[name], "fset", None) is not None
    }
    return frozenset(info.columns) | frozenset(info.relations) | frozenset(info.proxies) | hybrids


def check_fields(info: ModelInfo, data: dict[str, Any]) -> None:
    """400 with 0.17's message for the first field the model does not have."""
    allowed = writable_fields(info)
    for name in data:
        if name not in allowed:
            raise BodyError(f"Model does not have field '{name}'")


def _pk_of(info: ModelInfo, attrs: dict[str, Any]) -> tuple[Any, ...] | None:
    if not all(k in attrs for k in info.pk_names):
        return None
    return tuple(column_value(info, k, attrs[k]) for k in info.pk_names)


class Deserializer:
    """Builds and updates ORM instances from request bodies, inside one session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        #: association proxies' values (``_proxy_writes``)
        self.proxies = ProxyWriter(self)

    def new(self, info: ModelInfo, data: dict[str, Any]) -> Any:
        """A new instance from a POST body (0.17's ``_dict_to_inst``)."""
        check_fields(info, data)
        columns = {
            k: column_value(info, k, v)
            for k, v in data.items()
            if k not in info.relations and k not in info.proxies
        }
        instance = info.model(**columns)
        for name in data:
            if name in info.relations:
                self.set_relation(info.relations[name], instance, data[name])
            elif name in info.proxies:
                self.proxies.set(info.proxies[name], instance, data[name])
        return instance

    def related(self, info: ModelInfo, attrs: Any) -> Any:
        """0.17's ``get_or_create``: link the row a primary key names (updating the
        other given fields), or create one when no key is given."""
        if not isinstance(attrs, dict):
            raise BodyError(f"a related {info.name} must be a JSON object")
        check_fields(info, attrs)
        pk = _pk_of(info, attrs)
        if pk is None:
            return self.new(info, attrs)
        instance = None
        if all(v is not None for v in pk):
            instance = get_in_scope(self.session, info, pk)
        if instance is None:
            raise BodyError(f"No {info.name} with key {list(pk)!r}")
        self.update(info, instance, {k: v for k, v in attrs.items() if k not in info.pk_names})
        return instance

    def set_relation(self, rel: RelationInfo, instance: Any, value: Any) -> None:
        """Replace a relation's value: a list for to-many, an object or null for to-one."""
        if rel.uselist:
            members = [self.related(rel.target, v) for v in _objects(rel, value)]
            if rel.prop.cascade.delete_orphan:
                self._orphans(rel, [m for m in _members(instance, rel) if m not in members])
            try:
                _replace(instance, rel, members)
            except ValueError:
                # The ORM lost track of a member that another field of the body moved.
                raise BodyError(f"'{rel.name}' contradicts another field of the body") from None
            return
        if value is not None and not isinstance(value, dict):
            raise BodyError(f"'{rel.name}' takes a JSON object or null")
        new = None if value is None else self.related(rel.target, value)
        if rel.prop.cascade.delete_orphan:
            old = getattr(instance, rel.name)
            if old is not None and old is not new:
                self._orphans(rel, [old])
        setattr(instance, rel.name, new)

    def _orphans(self, rel: RelationInfo, gone: list[Any]) -> None:
        """Members dropped from a ``delete-orphan`` relation are deleted: only if unreferenced."""
        if gone and rel.prop.cascade.delete_orphan:
            check_deletable(self.session, rel.target, gone)

    def update(self, info: ModelInfo, instance: Any, data: dict[str, Any]) -> None:
        """Apply a PATCH body to an instance (0.17's ``_update_relations`` and setattr)."""
        check_fields(info, data)
        for name, value in data.items():
            rel = info.relations.get(name)
            proxy = info.proxies.get(name)
            if proxy is not None:
                self.proxies.update(proxy, instance, value)
            elif rel is None:
                setattr(instance, name, column_value(info, name, value))
            elif rel.uselist and isinstance(value, dict):
                self._add_remove(rel, instance, value)
            else:
                self.set_relation(rel, instance, value)

    def _add_remove(self, rel: RelationInfo, instance: Any, change: dict[str, Any]) -> None:
        """``{"add": [...], "remove": [...]}`` on a to-many relation, of any collection kind."""
        if not change or not set(change) <= {"add", "remove"}:
            raise BodyError(f"'{rel.name}' takes a list, or an object with 'add' and 'remove'")
        added = change.get("add", [])
        added = _objects(rel, [added] if isinstance(added, dict) else added, "add")
        removed = _objects(rel, change.get("remove", []), "remove")
        adapter = collection_adapter(getattr(instance, rel.name))
        members = list(adapter)
        for item in added:
            related = self.related(rel.target, item)
            if related not in members:
                adapter.append_with_event(related)
                members.append(related)
        doomed: list[Any] = []
        gone: list[Any] = []
        for item in removed:
            attrs = dict(item)
            delete = attrs.pop("__delete__", False) is True
            related = self.existing(rel.target, attrs)
            if related is None or related not in members:
                raise BodyError(f"No related {rel.target.name} matches {attrs!r}")
            adapter.remove_with_event(related)
            members.remove(related)
            (doomed if delete else gone).append(related)
        self._orphans(rel, gone)
        if doomed:
            self.session.flush()  # the links go first: they do not hold the rows any more
            check_deletable(self.session, rel.target, doomed)
            for related in doomed:
                self.session.delete(related)

    def existing(self, info: ModelInfo, attrs: dict[str, Any]) -> Any:
        """The row a primary key (or, without one, the other fields) names, if any."""
        check_fields(info, attrs)
        pk = _pk_of(info, attrs)
        if pk is not None:
            if any(v is None for v in pk):
                return None
            return get_in_scope(self.session, info, pk)
        criteria = [
            getattr(info.model, k) == column_value(info, k, v)
            for k, v in attrs.items()
            if k in info.columns
        ]
        if not criteria:
            return None
        stmt = where_in_scope(select(info.model).where(*criteria), scope_of(info))
        return self.session.scalars(stmt.limit(1)).first()


def _objects(rel: RelationInfo, value: Any, key: str | None = None) -> list[dict[str, Any]]:
    """``value`` as a list of JSON objects, checked before anything changes (400 otherwise)."""
    if not isinstance(value, list):
        raise BodyError(f"'{key or rel.name}' takes a list")
    for item in value:
        if not isinstance(item, dict):
            raise BodyError(f"a related {rel.target.name} must be a JSON object")
    return value


def _members(instance: Any, rel: RelationInfo) -> list[Any]:
    """The members of a to-many relation now (loading it if need be)."""
    return list(collection_adapter(getattr(instance, rel.name)))


def _replace(instance: Any, rel: RelationInfo, members: list[Any]) -> None:
    """Make ``members`` the relation's whole collection, whatever its kind (list, set, dict)."""
    collection = getattr(instance, rel.name)
    kind = duck_type_collection(collection)
    if kind is list:
        setattr(instance, rel.name, members)
        return
    if kind is set:
        setattr(instance, rel.name, set(members))
        return
    # A dict keyed by an attribute of its members (attribute_keyed_dict and the like):
    # the collection's own appender keys each member.
    adapter = collection_adapter(collection)
    current = list(adapter)
    for member in current:
        if member not in members:
            adapter.remove_with_event(member)
    for member in members:
        if member not in current:
            adapter.append_with_event(member)
