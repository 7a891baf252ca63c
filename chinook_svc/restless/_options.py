"""The options of one API (``APIManager.create_api``), checked once at set-up."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from attrs import field, frozen

from ._query import Limits

Processor = Callable[..., Any]

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

    Beyond 0.17: ``exclude_inline`` (relations kept out of objects but still
    reachable at their URL), ``allow_jsonp`` (off: JSONP exposes data to any
    origin), ``limits`` (bounds on ``q``) and ``max_body_bytes`` (request size).
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
    preprocessors: Mapping[str, tuple[Processor, ...]] = field(factory=dict, converter=_processors)
    postprocessors: Mapping[str, tuple[Processor, ...]] = field(factory=dict, converter=_processors)
    validation_exceptions: tuple[type[BaseException], ...] = field(default=(), converter=tuple)
    limits: Limits = field(factory=Limits)
    max_body_bytes: int = 1 << 20

    def __attrs_post_init__(self) -> None:
        if self.include_columns is not None and self.exclude_columns is not None:
            raise ValueError("Cannot specify both include_columns and exclude_columns")
        if self.results_per_page < 0 or self.max_results_per_page < 0:
            raise ValueError("page sizes must not be negative")

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
