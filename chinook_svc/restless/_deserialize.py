"""Request bodies to rows: field checks, value validation, nested relations.

flask-restless 0.17's ``_dict_to_inst``, ``get_or_create`` and
``_update_relations``, with stricter input checking: a value must fit its
column's type (and length) on every database, and a nested object that names
a primary key must exist.  Everything here runs inside the request's
transaction, in a worker thread.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.orm import Session

from ._compile import parse_temporal
from ._errors import ApiError, QueryError
from ._schema import ModelInfo, RelationInfo

_INT64 = 2**63


class BodyError(ApiError):
    """A request body that cannot become a row: 400."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(400, message, **extra)


def writable_fields(info: ModelInfo) -> frozenset[str]:
    """Names a body may set: columns, relations and hybrids with a setter (0.17's has_field)."""
    hybrids = {
        name
        for name in info.hybrids
        if getattr(info.mapper.all_orm_descriptors[name], "fset", None) is not None
    }
    return frozenset(info.columns) | frozenset(info.relations) | hybrids


def check_fields(info: ModelInfo, data: dict[str, Any]) -> None:
    """400 with 0.17's message for the first field the model does not have."""
    allowed = writable_fields(info)
    for name in data:
        if name not in allowed:
            raise BodyError(f"Model does not have field '{name}'")


def _invalid(name: str, expected: str) -> BodyError:
    return BodyError(
        f"Invalid value for field '{name}'", validation_errors={name: f"expected {expected}"}
    )


def column_value(info: ModelInfo, name: str, value: Any) -> Any:
    """A body value as the Python value column ``name`` holds; 400 if it does not fit."""
    if value is None or name not in info.columns:
        return value
    kind = info.is_temporal(name)
    if kind is not None:
        try:
            return parse_temporal(value, kind)
        except QueryError:
            raise _invalid(name, "an ISO 8601 date") from None
    coltype = info.column_types[name]
    python_type = info.python_type(name)
    if python_type is str:
        if not isinstance(value, str):
            raise _invalid(name, "a string")
        if "\x00" in value:
            # PostgreSQL text cannot hold NUL: refused on every database alike.
            raise _invalid(name, "a string without NUL characters")
        length = getattr(coltype, "length", None) if isinstance(coltype, String) else None
        if length is not None and len(value) > length:
            raise _invalid(name, f"at most {length} characters")
        return value
    if python_type is bool:
        if not isinstance(value, bool):
            raise _invalid(name, "true or false")
        return value
    if python_type is int:
        if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
            raise _invalid(name, "an integer")
        return value
    if python_type in (float, Decimal):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _invalid(name, "a number")
        return _fit_number(name, value, coltype, python_type)
    return value


def _fit_number(name: str, value: float, coltype: Any, python_type: type) -> Any:
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise _invalid(name, "a number") from None
    if not number.is_finite():
        raise _invalid(name, "a finite number")
    precision, scale = getattr(coltype, "precision", None), getattr(coltype, "scale", None)
    if precision is not None and scale is not None:
        number = number.quantize(Decimal(1).scaleb(-scale))
        if number.adjusted() >= precision - scale:
            raise _invalid(name, f"at most {precision - scale} digits before the point")
    return number if python_type is Decimal else float(number)


def _pk_of(info: ModelInfo, attrs: dict[str, Any]) -> tuple[Any, ...] | None:
    if not all(k in attrs for k in info.pk_names):
        return None
    return tuple(column_value(info, k, attrs[k]) for k in info.pk_names)


class Deserializer:
    """Builds and updates ORM instances from request bodies, inside one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def new(self, info: ModelInfo, data: dict[str, Any]) -> Any:
        """A new instance from a POST body (0.17's ``_dict_to_inst``)."""
        check_fields(info, data)
        columns = {k: column_value(info, k, v) for k, v in data.items() if k not in info.relations}
        instance = info.model(**columns)
        for name in data:
            if name in info.relations:
                self.set_relation(info.relations[name], instance, data[name])
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
        instance = self.session.get(info.model, pk if len(pk) > 1 else pk[0])
        if instance is None:
            raise BodyError(f"No {info.name} with key {list(pk)!r}")
        self.update(info, instance, {k: v for k, v in attrs.items() if k not in info.pk_names})
        return instance

    def set_relation(self, rel: RelationInfo, instance: Any, value: Any) -> None:
        """Replace a relation's value: a list for to-many, an object or null for to-one."""
        if rel.uselist:
            if not isinstance(value, list):
                raise BodyError(f"'{rel.name}' takes a list")
            setattr(instance, rel.name, [self.related(rel.target, v) for v in value])
        elif value is None:
            setattr(instance, rel.name, None)
        else:
            setattr(instance, rel.name, self.related(rel.target, value))

    def update(self, info: ModelInfo, instance: Any, data: dict[str, Any]) -> None:
        """Apply a PATCH body to an instance (0.17's ``_update_relations`` and setattr)."""
        check_fields(info, data)
        for name, value in data.items():
            rel = info.relations.get(name)
            if rel is None:
                setattr(instance, name, column_value(info, name, value))
            elif rel.uselist and isinstance(value, dict) and ("add" in value or "remove" in value):
                self._add_remove(rel, instance, value)
            else:
                self.set_relation(rel, instance, value)

    def _add_remove(self, rel: RelationInfo, instance: Any, change: dict[str, Any]) -> None:
        collection = getattr(instance, rel.name)
        added = change.get("add", [])
        for item in [added] if isinstance(added, dict) else added:
            related = self.related(rel.target, item)
            if related not in collection:
                collection.append(related)
        removed = change.get("remove", [])
        if not isinstance(removed, list):
            raise BodyError("'remove' takes a list")
        for item in removed:
            if not isinstance(item, dict):
                raise BodyError(f"a related {rel.target.name} must be a JSON object")
            attrs = dict(item)
            delete = attrs.pop("__delete__", False) is True
            related = self._existing(rel.target, attrs)
            if related is None or related not in collection:
                raise BodyError(f"No related {rel.target.name} matches {attrs!r}")
            collection.remove(related)
            if delete:
                self.session.delete(related)

    def _existing(self, info: ModelInfo, attrs: dict[str, Any]) -> Any:
        check_fields(info, attrs)
        pk = _pk_of(info, attrs)
        if pk is not None:
            return self.session.get(info.model, pk if len(pk) > 1 else pk[0])
        criteria = [
            getattr(info.model, k) == column_value(info, k, v)
            for k, v in attrs.items()
            if k in info.columns
        ]
        if not criteria:
            return None
        return self.session.scalars(select(info.model).where(*criteria).limit(1)).first()
