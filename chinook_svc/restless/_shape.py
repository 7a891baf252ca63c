"""Which fields an API's JSON objects carry: flask-restless 0.17's include/exclude rules.

An object holds every column attribute and hybrid property (after
``include_columns``/``exclude_columns``), the ``include_methods`` results, and
every relation one level deep, a related object holding its own columns only.
``"rel.col"`` entries narrow a related model's fields.  A :class:`Shape` is
computed once per API and tells the loader what to fetch and emit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
    """

    info: ModelInfo
    columns: tuple[str, ...]
    hybrids: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    relations: tuple[tuple[str, Shape], ...] = ()

    @property
    def needs_instances(self) -> bool:
        """Whether some value can only be computed on an ORM instance."""
        return bool(self.hybrids or self.methods)


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


def full_shape(info: ModelInfo) -> Shape:
    """Every column and every relation one level deep (0.17's relation endpoints)."""
    relations = tuple(
        (name, related_shape(rel.target)) for name, rel in sorted(info.relations.items())
    )
    columns, hybrids = _fields(info, None, None, info.relations)
    return Shape(info, columns, hybrids, (), relations)


def api_shape(
    info: ModelInfo,
    include_columns: Sequence[str] | None = None,
    exclude_columns: Sequence[str] | None = None,
    include_methods: Sequence[str] | None = None,
    exclude_inline: Sequence[str] = (),
) -> Shape:
    """The shape of an API's objects, from its ``create_api`` options.

    ``exclude_inline`` names relations that stay out of the objects (they are
    still reachable at their relation URL and usable in filters).
    """
    if include_columns is not None and exclude_columns is not None:
        raise ValueError("Cannot specify both include and exclude columns.")
    include = exclude = None
    include_rel: dict[str, list[str]] = {}
    exclude_rel: dict[str, list[str]] = {}
    relation_names = set(info.relations)
    if include_columns is not None:
        include, include_rel = parse_includes(list(include_columns))
        relation_names &= set(include) | set(include_rel)
    elif exclude_columns is not None:
        exclude, exclude_rel = parse_excludes(list(exclude_columns))
        relation_names -= set(exclude)
    relation_names -= set(exclude_inline)
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
    return Shape(info, columns, hybrids, methods, tuple(relations))
