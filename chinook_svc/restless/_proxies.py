"""Association proxies, as flask-restless 0.17 served them.

A model's ``association_proxy(local, remote)`` attributes are fields of its
objects, like relations (0.17 counted them among a model's relations):

* a proxy to a relationship of the intermediate rows
  (``chosen_images = association_proxy("chosen_product_images", "image")``)
  is a relation to the final model: objects carry its objects (their
  columns), bodies set it with objects (a primary key links an existing
  row), ``{"add": [...], "remove": [...]}`` works, and ``any``/``has``
  filter on the final model's fields;
* a proxy to a column (``tag_names = association_proxy("tags", "name")``)
  is a list of values (one value through a to-one relation); a filter on it
  holds when some value satisfies it;
* a proxy over a dict-keyed collection appears, as in 0.17, as the list of
  its keys; bodies set it with ``{"key": k, "value": v}`` objects (0.17's
  form) or one JSON object ``{k: v, ...}``.

Values are read through the ORM (the proxy's creator and collection rules
apply as the model defines them), in the request's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import selectinload

from ._schema import ModelInfo, ProxyInfo
from ._serialize import plain_value
from ._shape import related_shape


def proxy_loader(proxy: ProxyInfo) -> Any:
    """The ORM loader option that reads a proxy's rows for a page of instances at once."""
    option = selectinload(proxy.local.attribute)
    if proxy.remote is not None:
        option = option.selectinload(proxy.remote.attribute)
    return option


def proxy_criterion(proxy: ProxyInfo, inner: Any) -> Any:
    """ "Some value of the proxy satisfies ``inner``" (a criterion on ``proxy.target``'s rows)."""
    if proxy.remote is not None:
        remote = proxy.remote.attribute
        inner = remote.any(inner) if proxy.remote.uselist else remote.has(inner)
    local = proxy.local.attribute
    return local.any(inner) if proxy.local.uselist else local.has(inner)


def object_of(info: ModelInfo, instance: Any) -> dict[str, Any]:
    """The JSON object of a related instance: its columns and hybrid properties (0.17's to_dict)."""
    shape = related_shape(info)
    obj = {}
    for key in shape.columns:
        convert = info.converters[key]
        value = getattr(instance, key)
        obj[key] = value if convert is None else convert(value)
    for key in shape.hybrids:
        obj[key] = plain_value(getattr(instance, key))
    return obj


def proxy_value(proxy: ProxyInfo, value: Any) -> Any:
    """A proxy's JSON value read from an instance: 0.17's ``to_dict`` of it."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return [plain_value(key) for key in value]
    target = proxy.remote.target if proxy.remote is not None else None

    def one(item: Any) -> Any:
        if target is not None and isinstance(item, target.model):
            return object_of(target, item)
        return plain_value(item)

    if proxy.local.uselist:
        return [one(item) for item in value]
    return one(value)


def keyed_relation_value(value: Any) -> list[Any]:
    """A dict-keyed relation's JSON value: the list of its keys, as 0.17 emitted it."""
    return [] if value is None else [plain_value(key) for key in value]
