"""The options of one API (``APIManager.create_api``), checked once at set-up."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from attrs import field, frozen

from ._errors import IllegalArgumentError
from ._query import Limits

Processor = Callable[..., Any]
#: 0.17's ``serializer``: a model instance in, its JSON-able dict out.
Serializer = Callable[[Any], Any]
#: 0.17's ``deserializer``: a POST body's dict in, a new model instance out.
Deserializer = Callable[[dict[str, Any]], Any]

#: Processor keys of the protocol (``docs/protocol.md``, "Processors").
PROCESSOR_KEYS = frozenset(
    {
        "GET_SINGLE", "GET_MANY",
        "PATCH_SINGLE", "PUT_SINGLE", "PATCH_MANY", "PUT_MANY",
        "POST", "DELETE_SINGLE", "DELETE_MANY",
    }
)  # fmt: skip

ALL_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})


def _processors(
    value: Mapping[str, Sequence[Processor]] | None,
) -> dict[str, tuple[Processor, ...]]:
    result: dict[str, tuple[Processor, ...]] = {}
    for key, funcs in (value or {}).items():
        upper = key.upper()
        if upper not in PROCESSOR_KEYS:
            raise ValueError(f"unknown processor key {key!r}")
        result[upper] = result.get(upper, ()) + tuple(funcs)
    return result


#: PUT is an alias of PATCH: PUT processors run for PATCH requests too (as in 0.17).
_ALIASES = {"PATCH_SINGLE": "PUT_SINGLE", "PATCH_MANY": "PUT_MANY"}


def _optional_names(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def attribute_name(model: type, entry: Any) -> Any:
    """0.17's ``_get_column_name``: a mapped attribute of ``model`` given for its name.

    ``include_columns=[Person.name]`` means ``["name"]``; an attribute of
    another model is refused, as in 0.17.
    """
    if isinstance(entry, str) or not hasattr(entry, "__clause_element__"):
        return entry
    owner = getattr(entry, "class_", None)
    if owner is not model:
        owner_name = getattr(owner, "__name__", repr(owner))
        raise ValueError(
            f"Cannot specify column of model {owner_name} while creating API"
            f" for model {model.__name__}"
        )
    return entry.key


def attribute_names(model: type, entries: Iterable[Any] | None) -> list[Any] | None:
    """``include_columns``/``exclude_columns`` with attributes replaced by their names."""
    return None if entries is None else [attribute_name(model, e) for e in entries]


def legacy_options(options: dict[str, Any]) -> dict[str, Any]:
    """``create_api`` options with 0.17's deprecated ``post_form_preprocessor``
    moved to ``preprocessors["POST"]`` (with 0.17's warning)."""
    form = options.pop("post_form_preprocessor", None)
    if form is None:
        return options
    warnings.warn(
        "post_form_preprocessor is deprecated and will be removed in version 1.0;"
        " use preprocessors instead.",
        DeprecationWarning,
        stacklevel=3,
    )
    preprocessors = {k.upper(): list(v) for k, v in (options.get("preprocessors") or {}).items()}
    preprocessors["POST"] = [*preprocessors.get("POST", []), form]
    return {**options, "preprocessors": preprocessors}


def _methods(value: Sequence[str]) -> frozenset[str]:
    methods = frozenset(m.upper() for m in value)
    unknown = methods - ALL_METHODS
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}")
    if "PATCH" in methods or "PUT" in methods:
        methods |= {"PATCH", "PUT"}
    return methods


@frozen
class ApiOptions:
    """``create_api`` options, with flask-restless 0.17's names and defaults.

    ``serializer`` and ``deserializer`` are 0.17's custom functions: every
    object the API answers with is ``serializer(instance)``, and a POST body
    becomes ``deserializer(data)``.

    Beyond 0.17: ``exclude_inline`` (relations kept out of objects but still
    reachable at their URL), ``allow_jsonp`` (off: JSONP exposes data to any
    origin), ``limits`` (bounds on ``q``), ``max_body_bytes`` (request size) and
    ``whole_key_urls`` (a composite-keyed collection's instance URLs name its
    whole key, ``/api/<c>/<k1>,<k2>``: see ``_keys``).
    """

    collection_name: str
    url_prefix: str = "/api"
    methods: frozenset[str] = field(default=frozenset({"GET"}), converter=_methods)
    include_columns: tuple[str, ...] | None = field(default=None, converter=_optional_names)
    exclude_columns: tuple[str, ...] | None = field(default=None, converter=_optional_names)
    include_methods: tuple[str, ...] | None = field(default=None, converter=_optional_names)
    exclude_inline: tuple[str, ...] = field(default=(), converter=tuple)
    results_per_page: int = 10
    max_results_per_page: int = 100
    allow_patch_many: bool = False
    allow_delete_many: bool = False
    allow_functions: bool = False
    allow_jsonp: bool = False
    primary_key: str | None = None
    whole_key_urls: bool = False
    preprocessors: Mapping[str, tuple[Processor, ...]] = field(factory=dict, converter=_processors)
    postprocessors: Mapping[str, tuple[Processor, ...]] = field(factory=dict, converter=_processors)
    validation_exceptions: tuple[type[BaseException], ...] = field(default=(), converter=tuple)
    limits: Limits = field(factory=Limits)
    max_body_bytes: int = 1 << 20
    serializer: Serializer | None = None
    deserializer: Deserializer | None = None

    def __attrs_post_init__(self) -> None:
        if self.include_columns is not None and self.exclude_columns is not None:
            raise IllegalArgumentError(
                "Cannot simultaneously specify both include columns and exclude columns."
            )
        if self.results_per_page < 0 or self.max_results_per_page < 0:
            raise ValueError("page sizes must not be negative")

    def check_post_key(self, pk_name: str) -> None:
        """0.17's rule: an API with POST must not hide its primary key."""
        if "POST" not in self.methods:
            return
        if (self.include_columns and pk_name not in self.include_columns) or (
            self.exclude_columns and pk_name in self.exclude_columns
        ):
            raise IllegalArgumentError("The primary key must be included for APIs with POST.")

    def pre(self, key: str) -> tuple[Processor, ...]:
        """The preprocessors for a processor key, PUT ones included for PATCH."""
        return self.preprocessors.get(key, ()) + self.preprocessors.get(_ALIASES.get(key, ""), ())

    def post(self, key: str) -> tuple[Processor, ...]:
        """The postprocessors for a processor key, PUT ones included for PATCH."""
        return self.postprocessors.get(key, ()) + self.postprocessors.get(_ALIASES.get(key, ""), ())

    def with_processors(
        self,
        pre: Mapping[str, tuple[Processor, ...]],
        post: Mapping[str, tuple[Processor, ...]],
    ) -> ApiOptions:
        """These options with universal processors put before the API's own."""
        from attrs import evolve

        def merge(
            first: Mapping[str, tuple[Processor, ...]], own: Mapping[str, tuple[Processor, ...]]
        ) -> dict[str, Any]:
            keys = set(first) | set(own)
            return {k: tuple(first.get(k, ())) + tuple(own.get(k, ())) for k in keys}

        return evolve(
            self,
            preprocessors=merge(pre, self.preprocessors),
            postprocessors=merge(post, self.postprocessors),
        )
