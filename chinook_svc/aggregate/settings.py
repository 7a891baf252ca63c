"""``AggregateSettings``: the aggregate endpoint's sources and limits, frozen.

Built once by the service wiring from the command line (``--aggregate-*``
options) or from the ``[aggregate]`` table of the configuration file, then
passed to :func:`~chinook_svc.aggregate.client.make_http_client` and
:class:`~chinook_svc.aggregate.routes.AggregateRoutes`.  Nothing here reads the
environment or the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import evolve, field, frozen

from .demo import demo_sources
from .sources import Source, parse_sources

DEFAULT_TIMEOUT = 2.0
DEFAULT_DEADLINE = 5.0
#: The least per-request bound when ``concurrency`` is not set (it also covers every source).
MIN_CONCURRENCY = 100
DEFAULT_MAX_IN_FLIGHT = 768
DEFAULT_PER_CLIENT = 512
DEFAULT_PER_HOST = 512
DEFAULT_MAX_BYTES = 1 << 20

#: The limits, in the ``[aggregate]`` table and as ``from_options`` arguments.
LIMIT_KEYS = (
    "timeout",
    "deadline",
    "concurrency",
    "max_in_flight",
    "per_client",
    "per_host",
    "max_bytes",
)
#: Keys of the ``[aggregate]`` table.
TABLE_KEYS = frozenset({"sources", *LIMIT_KEYS})


def _positive(name: str, value: Any, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"aggregate {name} must be a number, not {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"aggregate {name} must be a number, not {value!r}") from None
    if kind is int and isinstance(value, float) and value != number:
        raise ValueError(f"aggregate {name} must be a whole number, not {value!r}")
    if not 0 < number < float("inf"):
        raise ValueError(f"aggregate {name} must be a positive number, not {value!r}")
    return number


def _timeout(value: Any) -> float:
    return float(_positive("timeout", value, float))


def _deadline(value: Any) -> float:
    return float(_positive("deadline", value, float))


def _optional_concurrency(value: Any) -> int | None:
    return None if value is None else int(_positive("concurrency", value, int))


def _max_in_flight(value: Any) -> int:
    return int(_positive("max_in_flight", value, int))


def _per_client(value: Any) -> int:
    return int(_positive("per_client", value, int))


def _per_host(value: Any) -> int:
    return int(_positive("per_host", value, int))


def _max_bytes(value: Any) -> int:
    return int(_positive("max_bytes", value, int))


def _sources(sources: Iterable[Source]) -> tuple[Source, ...]:
    return tuple(sources)


def _unique(instance: Any, attribute: Any, sources: tuple[Source, ...]) -> None:
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        raise ValueError("aggregate source names must be unique")


@frozen
class AggregateSettings:
    """Sources and limits of ``GET /aggregate``.

    Attributes:
        sources: the configured upstreams, in order (none: the wiring may add
            the built-in demonstration with :meth:`or_demo`).
        timeout: seconds one upstream call may take, connect to last body byte.
        deadline: seconds the whole aggregate request may take.
        concurrency: upstream calls in flight at once for one aggregate
            request (``None``: enough for every source, and at least 100; see
            :attr:`per_request`).
        max_in_flight: upstream calls in flight at once across all requests;
            a request that would pass it is refused with 503.
        per_client: upstream calls in flight at once for the requests of one
            client address; a request that would pass it is refused with 429.
        per_host: connections open at once to one upstream host (scheme,
            host and port), and idle ones kept for reuse; calls over it wait
            for a connection, within the request's deadline.
        max_bytes: the largest upstream body read (raw, and once inflated);
            a longer one fails as ``too_large``.
    """

    sources: tuple[Source, ...] = field(default=(), converter=_sources, validator=_unique)
    timeout: float = field(default=DEFAULT_TIMEOUT, converter=_timeout)
    deadline: float = field(default=DEFAULT_DEADLINE, converter=_deadline)
    concurrency: int | None = field(default=None, converter=_optional_concurrency)
    max_in_flight: int = field(default=DEFAULT_MAX_IN_FLIGHT, converter=_max_in_flight)
    per_client: int = field(default=DEFAULT_PER_CLIENT, converter=_per_client)
    per_host: int = field(default=DEFAULT_PER_HOST, converter=_per_host)
    max_bytes: int = field(default=DEFAULT_MAX_BYTES, converter=_max_bytes)

    @property
    def per_request(self) -> int:
        """Calls one request may have in flight: ``concurrency``, else every source (>= 100)."""
        if self.concurrency is not None:
            return self.concurrency
        return max(MIN_CONCURRENCY, len(self.sources))

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> AggregateSettings:
        """Settings from the ``[aggregate]`` table of a TOML configuration file.

        ``sources`` is a table ``{name = "url"}`` or a list of ``"NAME=URL"``
        strings; the other keys are ``timeout``, ``deadline`` (seconds),
        ``concurrency``, ``max_in_flight``, ``per_client``, ``per_host`` and
        ``max_bytes``.  Unknown keys are errors.

        Raises:
            ValueError: a key or a value is not acceptable.
        """
        unknown = sorted(set(table) - TABLE_KEYS)
        if unknown:
            raise ValueError(f"unknown keys in [aggregate]: {', '.join(unknown)}")
        specs = table.get("sources", ())
        if isinstance(specs, str) or not isinstance(specs, Mapping | list | tuple):
            raise ValueError('[aggregate] sources must be a table or a list of "NAME=URL"')
        limits = {key: table[key] for key in LIMIT_KEYS if key in table}
        return cls(sources=parse_sources(specs), **limits)

    @classmethod
    def from_options(
        cls,
        sources: Iterable[str] = (),
        *,
        defaults: AggregateSettings | None = None,
        **limits: float | str | None,
    ) -> AggregateSettings:
        """Settings from command-line values; ``None`` (not given) keeps ``defaults``.

        Args:
            sources: ``--aggregate-source NAME=URL`` values; when any is given
                they replace the sources of ``defaults``.
            defaults: what the configuration file said (default: the built-in defaults).
            limits: ``timeout=`` (``--aggregate-timeout``), ``deadline=``,
                ``concurrency=``, ``max_in_flight=``, ``per_client=``,
                ``per_host=``, ``max_bytes=`` (``--aggregate-max-bytes``).

        Raises:
            ValueError: a value is not acceptable, or a limit is unknown.
        """
        unknown = sorted(set(limits) - set(LIMIT_KEYS))
        if unknown:
            raise ValueError(f"unknown aggregate limits: {', '.join(unknown)}")
        base = defaults or cls()
        given: dict[str, Any] = {key: value for key, value in limits.items() if value is not None}
        specs = list(sources)
        if specs:
            given["sources"] = parse_sources(specs)
        return evolve(base, **given)

    def within_descriptors(self, available: int) -> AggregateSettings:
        """These settings with the bounds lowered to fit ``available`` file descriptors.

        Each call in flight holds a descriptor, and so does each idle
        connection kept for reuse, each client connection and the database's:
        the calls in flight get at most half of ``available``.
        """
        most = max(1, available // 2)
        if self.max_in_flight <= most:
            return self
        return evolve(
            self,
            max_in_flight=most,
            per_client=min(self.per_client, most),
            per_host=min(self.per_host, most),
        )

    def source(self, name: str) -> Source | None:
        """The source called ``name``, if there is one."""
        for source in self.sources:
            if source.name == name:
                return source
        return None

    def or_demo(self, base_url: str) -> AggregateSettings:
        """These settings, with the built-in demo sources if none are configured.

        Args:
            base_url: where the service itself answers, e.g. ``http://127.0.0.1:8080``.
        """
        if self.sources:
            return self
        return evolve(self, sources=demo_sources(base_url))
