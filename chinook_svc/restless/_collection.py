"""One exposed model: everything its reads and its writes share.

``APIManager.create_api`` makes one :class:`Collection` per model: the engine,
the model's introspection (``_schema``), the fields its objects carry
(``_shape``), the fields clients may filter on and the compiler of their
searches (``_compile``), the SQL of those searches (``_search``), the loader
of objects (``_loader``), the primary key its URLs name, and the connection
every request opens.  :class:`~chinook_svc.restless._reads.Reads` and
:class:`~chinook_svc.restless._writes.Writes` both take it; neither knows the
other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from ._compile import Compiler, FieldRules
from ._dberrors import unavailable
from ._dialects import DialectRules, rules_for
from ._invalidation import Announcer
from ._keys import InstanceKey
from ._loader import ObjectLoader
from ._options import ApiOptions
from ._schema import Catalog, ModelInfo
from ._search import SearchQueries
from ._shape import Shape, Shapes, api_shape, parse_excludes, parse_includes


def field_rules(info: ModelInfo, options: ApiOptions) -> FieldRules:
    """Which fields clients may filter and sort on, from include/exclude options."""
    if options.include_columns is not None:
        columns, relations = parse_includes(list(options.include_columns))
        return FieldRules(
            allowed=frozenset(columns) | frozenset(relations),
            nested={r: FieldRules(allowed=frozenset(f)) for r, f in relations.items()},
        )
    if options.exclude_columns is not None:
        columns, relations = parse_excludes(list(options.exclude_columns))
        return FieldRules(
            hidden=frozenset(columns),
            nested={r: FieldRules(hidden=frozenset(f)) for r, f in relations.items()},
        )
    return FieldRules()


class Collection:
    """One model served under one collection name, and what serving it takes.

    Args:
        engine: the database.
        model: the mapped class.
        options: its ``create_api`` options.
        catalog: the manager's model introspection.
        objects: the manager's object loader.
        shapes: the manager's record of its APIs' object shapes.
        dialect: the database's rules (default: from the engine's dialect).
    """

    def __init__(
        self,
        engine: Engine,
        model: type,
        options: ApiOptions,
        *,
        catalog: Catalog,
        objects: ObjectLoader,
        shapes: Shapes | None = None,
        dialect: DialectRules | None = None,
        announcer: Announcer | None = None,
    ) -> None:
        self.engine = engine
        #: what a write transaction does so other instances hear of it
        self.announcer = announcer or Announcer()
        self.model = model
        self.options = options
        self.info = catalog.info(model)
        self.dialect = dialect or rules_for(engine.dialect.name)
        self.shape: Shape = api_shape(
            self.info,
            include_columns=options.include_columns,
            exclude_columns=options.exclude_columns,
            include_methods=options.include_methods,
            exclude_inline=options.exclude_inline,
            serializer=options.serializer,
        )
        #: the shapes of every API's objects (relation URLs answer in them)
        self.shapes = shapes or Shapes()
        self.shapes.add(options.url_prefix, self.shape)
        self.rules = field_rules(self.info, options)
        self.compiler = Compiler(self.info, self.rules, self.dialect)
        self.search = SearchQueries(self.info)
        self.objects = objects
        #: the key columns an instance URL names (0.17's one, or a composite key's all)
        self.instance_key = InstanceKey.of(self.info, options.whole_key_urls, options.primary_key)
        self.pk_name = self.instance_key.names[0]
        for name in self.instance_key.names:
            if name not in self.info.columns:
                raise ValueError(f"{self.info.name} has no column {name!r}")
            options.check_post_key(name)

    def connect(self) -> Connection:
        """A connection to the database (503 if none can be had)."""
        try:
            return self.engine.connect()
        except sa_exc.SQLAlchemyError as e:
            raise unavailable(e) from None

    def key(self, instid: Any) -> tuple[Any, ...]:
        """An instance URL's id as the values of ``instance_key`` (404 if it cannot be one).

        A preprocessor may have replaced the id with a value of its own,
        which is used as it is.
        """
        return self.instance_key.values(instid)

    def target_key(self, target: ModelInfo) -> InstanceKey:
        """The key a relation-instance URL names for related model ``target``."""
        return InstanceKey.of(target, self.options.whole_key_urls)
