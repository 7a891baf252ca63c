"""Request bodies through association proxies (``_proxies`` says what each kind holds).

0.17 treated a proxy in a body like a relation: a list replaces its values,
``{"add": [...], "remove": [...]}`` changes them, and the proxy's own
``creator`` makes the intermediate rows.  Items are checked like any other
body value: an object for a proxy to a relation (a primary key links an
existing row, which must exist), a value fitting the column for a proxy to
a column, ``{"key", "value"}`` objects (0.17's form) or one JSON object for
a dict-keyed proxy.  Everything runs in the request's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.orm import Session

from ._coerce import column_value
from ._errors import BodyError
from ._references import check_deletable
from ._schema import ModelInfo, ProxyInfo

_SCALARS = (str, int, float, bool)


def is_add_remove(value: Any) -> bool:
    """Whether a to-many value is 0.17's ``{"add": [...], "remove": [...]}`` change."""
    return isinstance(value, dict) and ("add" in value or "remove" in value)


class RowFinder(Protocol):
    """What proxy writes need of the body deserializer."""

    session: Session

    def related(self, info: ModelInfo, attrs: Any) -> Any:
        """The row a nested object links (or a new one)."""

    def existing(self, info: ModelInfo, attrs: dict[str, Any]) -> Any:
        """The row a nested object names, if any."""


class ProxyWriter:
    """Sets and changes association proxies of instances, inside one session."""

    def __init__(self, rows: RowFinder) -> None:
        self.rows = rows

    def item(self, proxy: ProxyInfo, value: Any) -> Any:
        """One element of a proxy: a related instance, or a value fitting the column."""
        if proxy.remote is not None:
            if proxy.remote.uselist:
                raise BodyError(f"'{proxy.name}' cannot be written")
            return self.rows.related(proxy.remote.target, value)
        if value is not None and not isinstance(value, _SCALARS):
            raise BodyError(f"'{proxy.name}' takes values, not {type(value).__name__}s")
        return column_value(proxy.through, proxy.remote_name, value)

    def set(self, proxy: ProxyInfo, instance: Any, value: Any) -> None:
        """Replace a proxy's values (a list; one value through a to-one relation)."""
        if proxy.local.keyed:
            self._set_keyed(proxy, instance, value)
        elif not proxy.local.uselist:
            setattr(instance, proxy.name, None if value is None else self.item(proxy, value))
        elif not isinstance(value, list):
            raise BodyError(f"'{proxy.name}' takes a list")
        else:
            setattr(instance, proxy.name, [self.item(proxy, v) for v in value])

    def update(self, proxy: ProxyInfo, instance: Any, value: Any) -> None:
        """A PATCH of a proxy: ``add``/``remove`` changes, or new values."""
        if proxy.local.uselist and not proxy.local.keyed and is_add_remove(value):
            self._add_remove(proxy, instance, value)
        else:
            self.set(proxy, instance, value)

    def _set_keyed(self, proxy: ProxyInfo, instance: Any, value: Any) -> None:
        if isinstance(value, Mapping):
            pairs = list(value.items())
        elif isinstance(value, list) and all(
            isinstance(v, dict) and set(v) <= {"key", "value"} and "key" in v for v in value
        ):
            pairs = [(v["key"], v.get("value")) for v in value]
        else:
            raise BodyError(f"'{proxy.name}' takes an object or a list of {{key, value}} objects")
        values = getattr(instance, proxy.name)
        values.clear()
        for key, item in pairs:
            if not isinstance(key, str):
                raise BodyError(f"the keys of '{proxy.name}' are strings")
            values[key] = self.item(proxy, item)

    def _add_remove(self, proxy: ProxyInfo, instance: Any, change: dict[str, Any]) -> None:
        if not set(change) <= {"add", "remove"}:
            raise BodyError(f"'{proxy.name}' takes a list, or an object with 'add' and 'remove'")
        values = getattr(instance, proxy.name)
        added = change.get("add", [])
        for item in added if isinstance(added, list) else [added]:
            found = self.item(proxy, item)
            if found not in values:
                values.append(found)
        removed = change.get("remove", [])
        if not isinstance(removed, list):
            raise BodyError("'remove' takes a list")
        for item in removed:
            delete = False
            if proxy.remote is None:
                found = self.item(proxy, item)
            else:
                if not isinstance(item, dict):
                    raise BodyError(f"a related {proxy.target.name} must be a JSON object")
                attrs = dict(item)
                delete = attrs.pop("__delete__", False) is True
                found = self.rows.existing(proxy.target, attrs)
            if found is None or found not in values:
                raise BodyError(f"'{proxy.name}' holds no {item!r}")
            values.remove(found)
            if delete:
                session = self.rows.session
                session.flush()  # the link goes first: it does not hold the row any more
                check_deletable(session, proxy.target, [found])
                session.delete(found)
