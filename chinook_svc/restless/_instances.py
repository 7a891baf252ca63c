"""Values only an ORM instance can give: hybrids, methods, proxies, a ``serializer``.

Hybrid properties, ``include_methods`` results, association proxies and a
custom ``serializer`` need the model's instances: :func:`instance_values`
and :func:`serialized` load a page's instances in one statement (the
proxies' rows with them) on the request's connection, in the worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ._proxies import proxy_loader, proxy_value
from ._schema import Catalog, is_mapped_class
from ._serialize import plain_value
from ._shape import Shape

#: Largest IN list sent in one statement.
IN_CHUNK = 500

Raw = dict[str, Any]
Obj = dict[str, Any]


def key_clause(columns: Sequence[Any], keys: Sequence[tuple[Any, ...]]) -> Any:
    """``columns IN keys`` (one column, or a tuple of them)."""
    if len(columns) == 1:
        return columns[0].in_([k[0] for k in keys])
    return tuple_(*columns).in_(keys)


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _instances(session: Session, shape: Shape, raws: Sequence[Raw]) -> list[tuple[Raw, Any]]:
    """Each row with its ORM instance (``None`` if it is gone), proxies' rows loaded at once."""
    info = shape.info
    pk_cols = [getattr(info.model, k) for k in info.pk_names]
    pks = [tuple(r[k] for k in info.pk_names) for r in raws]
    options = [proxy_loader(info.proxies[name]) for name in shape.proxies]
    instances: dict[tuple[Any, ...], Any] = {}
    for chunk in chunks(sorted(set(pks), key=repr)):
        stmt: Any = select(info.model).where(key_clause(pk_cols, chunk)).options(*options)
        inst: Any
        for inst in session.scalars(stmt).unique():
            instances[tuple(getattr(inst, k) for k in info.pk_names)] = inst
    return [(raw, instances.get(pk)) for raw, pk in zip(raws, pks, strict=True)]


def serialized(conn: Connection, shape: Shape, raws: Sequence[Raw]) -> list[Obj]:
    """The API's ``serializer`` applied to each row's instance (0.17's ``serializer``)."""
    serialize: Any = shape.serializer
    with Session(bind=conn) as session:
        return [serialize(inst) for _, inst in _instances(session, shape, raws) if inst is not None]


def instance_values(
    conn: Connection, shape: Shape, raws: Sequence[Raw], objs: Sequence[Obj]
) -> None:
    """Fill in hybrid properties, ``include_methods`` results and association
    proxies from ORM instances."""
    info = shape.info
    with Session(bind=conn) as session:
        for (_, inst), obj in zip(_instances(session, shape, raws), objs, strict=True):
            if inst is None:
                continue
            for name in shape.hybrids:
                obj[name] = _extra_value(info.catalog, getattr(inst, name))
            for name in shape.methods:
                value = getattr(inst, name)
                obj[name] = _extra_value(info.catalog, value() if callable(value) else value)
            for name in shape.proxies:
                obj[name] = proxy_value(info.proxies[name], getattr(inst, name))


def _extra_value(catalog: Catalog, value: Any) -> Any:
    if value is not None and is_mapped_class(type(value)):
        info = catalog.info(type(value))
        return {k: plain_value(getattr(value, k)) for k in info.column_keys}
    return plain_value(value)
