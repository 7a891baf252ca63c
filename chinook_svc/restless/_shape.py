"""Which fields an API's JSON objects carry: flask-restless 0.17's include/exclude rules.

An object holds every column attribute and hybrid property (after
``include_columns``/``exclude_columns``), the ``include_methods`` results, and
every relation one level deep, a related object holding its own columns only.
``"rel.col"`` entries narrow a related model's fields.  A :class:`Shape` is
computed once per API and tells the loader what to fetch and emit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from attrs import frozen

from ._schema import ModelInfo


@frozen
class Shape:
    """The fields of one model's JSON objects.

    Attributes:
        info: the model.
        columns: column attributes to emit, in mapper order.
        hybrids: hybrid properties to emit (evaluated on ORM instances).
        methods: ``include_methods`` names to call (on ORM instances).
        relations: inlined relations and the shape of their objects.
        proxies: association proxies to emit (``_proxies``).
        serializer: the API's ``serializer``, which makes each object when set.
    """

    info: ModelInfo
    columns: tuple[str, ...]
    hybrids: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    relations: tuple[tuple[str, Shape], ...] = ()
    #: association proxies to emit (read through the ORM, like hybrids)
    proxies: tuple[str, ...] = ()
    #: the API's ``serializer``: when set, it makes each object from its instance
    serializer: Callable[[Any], Any] | None = None

    @property
    def needs_instances(self) -> bool:
        """Whether some value can only be computed on an ORM instance."""
        return bool(self.hybrids or self.methods or self.proxies)


def _split(names: Iterable[str]) -> tuple[list[str], list[str]]:
    dotted = [n for n in names if "." in n]
    plain = [n for n in names if "." not in n]
    return dotted, plain


def parse_includes(names: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """0.17's ``_parse_includes``: ``"rel.col"`` counts only if ``"rel"`` is listed too."""
    dotted, columns = _split(names)
    relations: dict[str, list[str]] = {}
    for name in dotted:
        relation, fieldname = name.split(".", 1)
        if relation in columns:
            relations.setdefault(relation, []).append(fieldname)
    columns = [c for c in columns if c not in relations]
    return columns, relations


def parse_excludes(names: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """0.17's ``_parse_excludes``: a listed relation is dropped whole."""
    dotted, columns = _split(names)
    relations: dict[str, list[str]] = {}
    for name in dotted:
        relation, fieldname = name.split(".", 1)
        if relation not in columns:
            relations.setdefault(relation, []).append(fieldname)
    return columns, relations


def _fields(
    info: ModelInfo,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
    relation_names: Iterable[str],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    deep = set(relation_names)
    hybrids = [h for h in info.hybrids if h not in deep and h not in info.columns]

    def keep(name: str) -> bool:
        if exclude is not None:
            return name not in exclude
        if include is not None:
            return name in include
        return True

    return (
        tuple(c for c in info.column_keys if keep(c)),
        tuple(h for h in hybrids if keep(h)),
    )


def related_shape(
    info: ModelInfo,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
) -> Shape:
    """The shape of a related object: its columns and hybrids, no relations."""
    columns, hybrids = _fields(info, include, exclude, ())
    own_methods = tuple(m for m in (methods or ()) if "." not in m)
    return Shape(info, columns, hybrids, own_methods, ())


def _inlined(info: ModelInfo) -> tuple[set[str], set[str]]:
    """The relations and proxies objects carry by default: those the model does not
    mark as not inlined (``RelationInfo.inline``), and the proxies through them."""
    relations = {name for name, rel in info.relations.items() if rel.inline}
    proxies = {name for name, proxy in info.proxies.items() if proxy.local.name in relations}
    return relations, proxies


def full_shape(info: ModelInfo) -> Shape:
    """Every column and relation one level deep (0.17's relation endpoints).

    Relations the model marks as not inlined (``RelationInfo.inline``) stay out.
    """
    relation_names, proxy_names = _inlined(info)
    relations = tuple(
        (name, related_shape(info.relations[name].target)) for name in sorted(relation_names)
    )
    columns, hybrids = _fields(info, None, None, info.relations)
    return Shape(info, columns, hybrids, (), relations, proxies=tuple(sorted(proxy_names)))


def api_shape(
    info: ModelInfo,
    include_columns: Sequence[str] | None = None,
    exclude_columns: Sequence[str] | None = None,
    include_methods: Sequence[str] | None = None,
    exclude_inline: Sequence[str] = (),
    serializer: Callable[[Any], Any] | None = None,
) -> Shape:
    """The shape of an API's objects, from its ``create_api`` options.

    ``exclude_inline`` names relations that stay out of the objects (they are
    still reachable at their relation URL and usable in filters), as do the
    relations the model marks as not inlined, unless ``include_columns``
    names them.  Association proxies count as relations here, as in 0.17.
    """
    include = exclude = None
    include_rel: dict[str, list[str]] = {}
    exclude_rel: dict[str, list[str]] = {}
    relation_names = set(info.relations)
    proxy_names = set(info.proxies)
    if include_columns is not None:
        include, include_rel = parse_includes(list(include_columns))
        relation_names &= set(include) | set(include_rel)
        proxy_names &= set(include)
    else:
        relation_names, proxy_names = _inlined(info)
    if exclude_columns is not None:
        exclude, exclude_rel = parse_excludes(list(exclude_columns))
        relation_names -= set(exclude)
        proxy_names -= set(exclude)
    relation_names -= set(exclude_inline)
    proxy_names -= set(exclude_inline)
    columns, hybrids = _fields(info, include, exclude, relation_names)
    methods = tuple(m for m in (include_methods or ()) if "." not in m)
    relations = []
    for name in sorted(relation_names):
        target = info.relations[name].target
        nested_methods = [
            m.split(".", 1)[1] for m in (include_methods or ()) if m.split(".", 1)[0] == name
        ]
        relations.append(
            (
                name,
                related_shape(
                    target,
                    include=include_rel.get(name) if name in include_rel else None,
                    exclude=exclude_rel.get(name) if name in exclude_rel else None,
                    methods=nested_methods,
                ),
            )
        )
    return Shape(
        info, columns, hybrids, methods, tuple(relations), tuple(sorted(proxy_names)), serializer
    )


class Shapes:
    """The shape of each exposed model's objects, wherever they appear.

    A relation URL (``/api/tracks/1/playlists``) answers with objects of the
    related model: they have the shape that model's API gives its own
    objects (the first API made for it under the same URL prefix, else the
    first made for it at all), so that what an API keeps out of its objects
    (``exclude_inline``, ``exclude_columns``, its ``serializer``) stays out
    everywhere.  A model no API exposes gets :func:`full_shape`.  One per
    manager.
    """

    def __init__(self) -> None:
        self._apis: list[tuple[str, Shape]] = []
        self._full: dict[ModelInfo, Shape] = {}

    def add(self, url_prefix: str, shape: Shape) -> None:
        """Record the shape of an API's objects (at set-up)."""
        self._apis.append((url_prefix, shape))

    def objects_of(self, info: ModelInfo, url_prefix: str) -> Shape:
        """The shape of ``info``'s objects for an API under ``url_prefix``."""
        mine = [(prefix, shape) for prefix, shape in self._apis if shape.info is info]
        same = [shape for prefix, shape in mine if prefix == url_prefix]
        if same:
            return same[0]
        if mine:
            return mine[0][1]
        found = self._full.get(info)
        if found is None:
            found = self._full[info] = full_shape(info)
        return found
