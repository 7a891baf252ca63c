"""Every setting of the service, each declared once: :class:`Settings`.

Each attribute of :class:`Settings` is declared with :func:`setting`: its type
(the annotation), its default, its help text, its command-line option, its
environment variable and its config-file keys.  Everything else is generated
from those declarations:

* the ``twistd chinook`` options (``chinook_svc.options``),
* reading the environment and config files (``chinook_svc.config``),
* the settings reference in ``docs/configuration.md`` (``chinook_svc.settings_doc``).

``None`` means "not set" everywhere: no command-line option, no environment
variable, no config-file key, or a default that the help text explains.

To add a setting: one attribute here (``listen: str = setting(...)``), then
use ``settings.<name>`` where it matters, and regenerate the docs
(``python -m chinook_svc.settings_doc --write``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
from attrs import field, frozen

from chinook_svc.aggregate.settings import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_PER_CLIENT,
    DEFAULT_PER_HOST,
    DEFAULT_TIMEOUT,
    MIN_CONCURRENCY,
)
from chinook_svc.database import DEFAULT_THREADS
from chinook_svc.log_format import TEXT, parse_log_format
from chinook_svc.parsers import (
    parse_bool,
    parse_columns,
    parse_db_url,
    parse_names,
    parse_naming,
    parse_origins,
    parse_path,
    parse_seconds,
    parse_sources,
    parse_text,
    parse_timeout,
    whole_number,
)
from chinook_svc.restless import parse_redis_url
from chinook_svc.services import DEFAULT_BACKLOG
from chinook_svc.web.access_log import STDOUT, parse_access_log
from chinook_svc.web.edge import BODY_TIMEOUT, HEAD_TIMEOUT

DEFAULT_LISTEN = "tcp:8080:interface=127.0.0.1"
MAX_THREADS = 256
MAX_WORKERS = 64

# -- the declaration -------------------------------------------------------------------------

_SPEC = "chinook_svc.setting"


@frozen
class Spec:
    """Where one setting comes from, and what it means.

    Attributes:
        parse: turns a raw value into the setting's value; raises ValueError.
        help: what the setting does (one line).
        cli: its command-line option, without ``--`` (``None``: none).
        env: its environment variable (``None``: none).
        cfg_keys: its keys in a ``config.cfg`` file.
        toml_key: its key in a TOML file (``None``: none).
        metavar: what the option's value is, in help texts.
        unset: what the default means, when the default is ``None`` or empty.
        flag: a command-line flag (no value), for a boolean.
        repeatable: the command-line option may be given several times.
        secret: never shown (not in ``repr``, error messages or docs).
        group: which commands offer the option: ``service`` (both
            ``twistd chinook`` and ``twistd restless``), ``reflection``
            (``twistd restless`` only), ``internal`` (neither: set by the command).
    """

    parse: Callable[[object], Any]
    help: str
    cli: str | None = None
    env: str | None = None
    cfg_keys: tuple[str, ...] = ()
    toml_key: str | None = None
    metavar: str = "VALUE"
    unset: str | None = None
    flag: bool = False
    repeatable: bool = False
    secret: bool = False
    group: str = "service"


def setting(default: Any, parse: Callable[[object], Any], help: str, **spec: Any) -> Any:
    """Declare a :class:`Settings` attribute: its default and its :class:`Spec` (``**spec``)."""
    declared = Spec(parse, help, **spec)
    return field(default=default, repr=not declared.secret, metadata={_SPEC: declared})


def _readonly(value: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in value.items()})


@frozen
class Settings:
    """Everything the service is configured with (each attribute's declaration says how)."""

    # fmt: off
    listen: str = setting(
        DEFAULT_LISTEN, parse_text, "Twisted endpoint description to listen on",
        cli="listen", env="CHINOOK_LISTEN", cfg_keys=("LISTEN",), toml_key="listen",
        metavar="ENDPOINT",
    )
    db_url: str | None = setting(
        None, parse_db_url, "SQLAlchemy URL of the database to serve",
        cli="db", env="CHINOOK_DB", cfg_keys=("SQLALCHEMY_DATABASE_URI", "DB"), toml_key="db",
        metavar="URL", unset="the embedded Chinook sample",
    )
    config_file: Path | None = setting(
        None, parse_path, "config.cfg or .toml config file to read settings from",
        cli="config", env="CHINOOK_CONFIG", metavar="FILE", unset="none",
    )
    data_dir: Path | None = setting(
        None, parse_path, "Where the embedded sample is materialised",
        cli="data-dir", env="CHINOOK_DATA_DIR", cfg_keys=("DATA_DIR",), toml_key="data_dir",
        metavar="DIR", unset="the user data directory",
    )
    threads: int | None = setting(
        None, whole_number(MAX_THREADS), "Database worker threads (and connections)",
        cli="threads", env="CHINOOK_THREADS", cfg_keys=("THREADS",), toml_key="threads",
        metavar="N", unset=f"the connection pool's size, {DEFAULT_THREADS}",
    )
    queue_limit: int | None = setting(
        None, whole_number(None),
        "Requests that may wait for a database thread, per lane (cheap, heavy); more get 503",
        cli="queue-limit", env="CHINOOK_QUEUE_LIMIT", cfg_keys=("QUEUE_LIMIT",),
        toml_key="queue_limit", metavar="N", unset="16 per database thread, at least 64",
    )
    heavy_threads: int | None = setting(
        None, whole_number(MAX_THREADS),
        "Database threads heavy reads (searches, large pages, functions) may hold at once",
        cli="heavy-threads", env="CHINOOK_HEAVY_THREADS", cfg_keys=("HEAVY_THREADS",),
        toml_key="heavy_threads", metavar="N", unset="1 on SQLite, else all threads but one",
    )
    debug: bool = setting(
        False, parse_bool, "Log more (never shows tracebacks to clients)",
        cli="debug", env="CHINOOK_DEBUG", cfg_keys=("DEBUG",), toml_key="debug", flag=True,
    )
    shutdown_timeout: float = setting(
        10.0, parse_seconds, "Seconds to wait for in-flight requests on stop",
        env="CHINOOK_SHUTDOWN_TIMEOUT", cfg_keys=("SHUTDOWN_TIMEOUT",),
        toml_key="shutdown_timeout", metavar="SECONDS",
    )
    allow_writes: bool = setting(
        False, parse_bool, "Serve POST/PATCH/PUT/DELETE, behind the bearer token",
        cli="allow-writes", env="CHINOOK_ALLOW_WRITES", cfg_keys=("ALLOW_WRITES",),
        toml_key="allow_writes", flag=True,
    )
    api_token_file: Path | None = setting(
        None, parse_path, "File with the bearer token writes (and, with auth_reads, reads) need",
        cli="api-token-file", env="CHINOOK_API_TOKEN_FILE", cfg_keys=("API_TOKEN_FILE",),
        toml_key="api_token_file", metavar="FILE", unset="none (CHINOOK_API_TOKEN may hold it)",
    )
    # The token itself: environment only, so it never shows in `ps` or a committed file.
    api_token: str | None = setting(
        None, parse_text, "The bearer token itself (environment only)",
        env="CHINOOK_API_TOKEN", unset="none", secret=True,
    )
    auth_reads: bool = setting(
        False, parse_bool, "Reads need the bearer token too",
        cli="auth-reads", env="CHINOOK_AUTH_READS", cfg_keys=("AUTH_READS",),
        toml_key="auth_reads", flag=True,
    )
    workers: int = setting(
        1, whole_number(MAX_WORKERS), "Server processes sharing the listening socket",
        cli="workers", env="CHINOOK_WORKERS", cfg_keys=("WORKERS",), toml_key="workers",
        metavar="N",
    )
    access_log: str = setting(
        STDOUT, parse_access_log, "Access log: a FILE to append to, - (standard output) or off",
        cli="access-log", env="CHINOOK_ACCESS_LOG", cfg_keys=("ACCESS_LOG",),
        toml_key="access_log", metavar="FILE|-|off",
    )
    log_format: str = setting(
        TEXT, parse_log_format, "Log (and access log) lines as text or json (one object a line)",
        cli="log-format", env="CHINOOK_LOG_FORMAT", cfg_keys=("LOG_FORMAT",),
        toml_key="log_format", metavar="text|json",
    )
    cache_ttl: float | None = setting(
        None, parse_seconds, "Keep GET answers in memory this many seconds; writes empty it",
        cli="cache-ttl", env="CHINOOK_CACHE_TTL", cfg_keys=("CACHE_TTL",),
        toml_key="cache_ttl", metavar="SECONDS", unset="no response cache",
    )
    cache_poll: float = setting(
        0.05, parse_seconds, "Seconds between checks of a SQLite file for others' writes (cache)",
        cli="cache-poll", env="CHINOOK_CACHE_POLL", cfg_keys=("CACHE_POLL",), metavar="SECONDS",
        toml_key="cache_poll",
    )
    cache_redis: str | None = setting(
        None, parse_redis_url, "Redis whose pub/sub tells instances of writes (cache; MariaDB)",
        cli="cache-redis", env="CHINOOK_CACHE_REDIS", cfg_keys=("CACHE_REDIS",), metavar="URL",
        toml_key="cache_redis", unset="the database's own way (MariaDB: none, the TTL bounds)",
    )
    statement_timeout: float = setting(
        5.0, parse_timeout, "Seconds one SQL statement may run (0: no limit)",
        cli="statement-timeout", env="CHINOOK_STATEMENT_TIMEOUT",
        cfg_keys=("STATEMENT_TIMEOUT",), toml_key="statement_timeout", metavar="SECONDS",
    )
    sqlite_wal: bool = setting(
        False, parse_bool,
        "With allow_writes, switch a SQLite file to write-ahead logging (else left as found)",
        cli="sqlite-wal", env="CHINOOK_SQLITE_WAL", cfg_keys=("SQLITE_WAL",),
        toml_key="sqlite_wal", flag=True,
    )
    head_timeout: float = setting(
        HEAD_TIMEOUT, parse_seconds, "Seconds a request's head may take to arrive (408 after)",
        cli="head-timeout", env="CHINOOK_HEAD_TIMEOUT", cfg_keys=("HEAD_TIMEOUT",),
        toml_key="head_timeout", metavar="SECONDS",
    )
    body_timeout: float = setting(
        BODY_TIMEOUT, parse_seconds, "Seconds a request's body may take after its head (408 after)",
        cli="body-timeout", env="CHINOOK_BODY_TIMEOUT", cfg_keys=("BODY_TIMEOUT",),
        toml_key="body_timeout", metavar="SECONDS",
    )
    listen_backlog: int = setting(
        DEFAULT_BACKLOG, whole_number(65535), "Connections the kernel queues before accepting",
        cli="listen-backlog", env="CHINOOK_LISTEN_BACKLOG", cfg_keys=("LISTEN_BACKLOG",),
        toml_key="listen_backlog", metavar="N",
    )
    aggregate_sources: tuple[str, ...] = setting(
        (), parse_sources, "Upstreams of /aggregate, NAME=URL (repeatable; ;-separated in env)",
        cli="aggregate-source", env="CHINOOK_AGGREGATE_SOURCES",
        cfg_keys=("AGGREGATE_SOURCES",), metavar="NAME=URL", repeatable=True,
        unset="the [aggregate] table's, else the built-in demo over this service's API",
    )
    aggregate_timeout: float | None = setting(
        None, parse_seconds, "Seconds each /aggregate upstream call may take",
        cli="aggregate-timeout", env="CHINOOK_AGGREGATE_TIMEOUT",
        cfg_keys=("AGGREGATE_TIMEOUT",), metavar="SECONDS",
        unset=f"the [aggregate] table's, else {DEFAULT_TIMEOUT:g}",
    )
    aggregate_deadline: float | None = setting(
        None, parse_seconds, "Seconds a whole /aggregate request may take",
        cli="aggregate-deadline", env="CHINOOK_AGGREGATE_DEADLINE",
        cfg_keys=("AGGREGATE_DEADLINE",), metavar="SECONDS",
        unset=f"the [aggregate] table's, else {DEFAULT_DEADLINE:g}",
    )
    aggregate_concurrency: int | None = setting(
        None, whole_number(None), "Upstream calls in flight at once, per /aggregate request",
        cli="aggregate-concurrency", env="CHINOOK_AGGREGATE_CONCURRENCY",
        cfg_keys=("AGGREGATE_CONCURRENCY",), metavar="N",
        unset=f"the [aggregate] table's, else every source (at least {MIN_CONCURRENCY})",
    )
    aggregate_max_in_flight: int | None = setting(
        None, whole_number(None), "/aggregate upstream calls in flight in all (503 past it)",
        cli="aggregate-max-in-flight", env="CHINOOK_AGGREGATE_MAX_IN_FLIGHT",
        cfg_keys=("AGGREGATE_MAX_IN_FLIGHT",), metavar="N",
        unset=f"the [aggregate] table's, else {DEFAULT_MAX_IN_FLIGHT}",
    )
    aggregate_per_client: int | None = setting(
        None, whole_number(None), "/aggregate upstream calls in flight per client (429 past it)",
        cli="aggregate-per-client", env="CHINOOK_AGGREGATE_PER_CLIENT",
        cfg_keys=("AGGREGATE_PER_CLIENT",), metavar="N",
        unset=f"the [aggregate] table's, else {DEFAULT_PER_CLIENT}",
    )
    aggregate_per_host: int | None = setting(
        None, whole_number(None), "Connections open at once to one /aggregate upstream host",
        cli="aggregate-per-host", env="CHINOOK_AGGREGATE_PER_HOST",
        cfg_keys=("AGGREGATE_PER_HOST",), metavar="N",
        unset=f"the [aggregate] table's, else {DEFAULT_PER_HOST}",
    )
    aggregate_max_bytes: int | None = setting(
        None, whole_number(None), "Largest upstream body /aggregate reads, in bytes",
        cli="aggregate-max-bytes", env="CHINOOK_AGGREGATE_MAX_BYTES",
        cfg_keys=("AGGREGATE_MAX_BYTES",), metavar="BYTES",
        unset=f"the [aggregate] table's, else {DEFAULT_MAX_BYTES}",
    )
    cors_origins: tuple[str, ...] = setting(
        (), parse_origins, "Browser origins allowed to call the service (repeatable; * for reads)",
        cli="cors-origin", env="CHINOOK_CORS_ORIGINS", cfg_keys=("CORS_ORIGINS",),
        toml_key="cors_origins", metavar="ORIGIN", repeatable=True,
        unset="none: browsers keep other origins' pages from reading answers",
    )
    # Reflection: `twistd restless` (any database) sets `reflect`; the rest are its options.
    # CHINOOK_REFLECT is read by chinook.tac only, to pick the command it builds.
    reflect: bool = setting(
        False, parse_bool, "Serve the database's own tables by reflection "
        "(twistd restless; chinook.tac with CHINOOK_REFLECT=1)",
        cli="reflect", env="CHINOOK_REFLECT", flag=True, group="internal",
    )
    naming: str = setting(
        "keep", parse_naming, "Column names as in the database (keep) or snake_case (snake)",
        cli="naming", env="CHINOOK_NAMING", toml_key="naming", metavar="keep|snake",
        group="reflection",
    )
    reflect_tables: tuple[str, ...] = setting(
        (), parse_names, "Serve only these tables and views (comma-separated)",
        cli="tables", env="CHINOOK_TABLES", toml_key="reflect_tables", metavar="NAMES",
        unset="every table and view", group="reflection",
    )
    exclude_tables: tuple[str, ...] = setting(
        (), parse_names, "Tables and views not to serve (comma-separated)",
        cli="exclude-tables", env="CHINOOK_EXCLUDE_TABLES", toml_key="exclude_tables",
        metavar="NAMES", unset="none", group="reflection",
    )
    schema: str | None = setting(
        None, parse_text, "Schema to reflect (PostgreSQL schema, MariaDB database)",
        cli="schema", env="CHINOOK_SCHEMA", toml_key="schema", metavar="NAME",
        unset="the connection's default", group="reflection",
    )
    exclude_columns: tuple[str, ...] = setting(
        (), parse_columns, "Columns hidden from answers, filters, sorting and eval "
        "(table.column, comma-separated)",
        cli="exclude-columns", env="CHINOOK_EXCLUDE_COLUMNS", toml_key="exclude_columns",
        metavar="TABLE.COLUMN", unset="none", group="reflection",
    )
    inline_to_many: bool = setting(
        False, parse_bool, "Objects carry their to-many relations too (unbounded: use with care)",
        cli="inline-to-many", env="CHINOOK_INLINE_TO_MANY", toml_key="inline_to_many",
        flag=True, group="reflection",
    )
    # fmt: on
    #: TOML tables (``[aggregate]`` ...) for the features that read them, read-only.
    tables: Mapping[str, Mapping[str, Any]] = field(factory=dict, converter=_readonly)

    def table(self, name: str) -> Mapping[str, Any]:
        """The TOML table ``[name]``, empty if the file had none."""
        return self.tables.get(name, MappingProxyType({}))


def declared() -> Iterator[tuple[attrs.Attribute[Any], Spec]]:
    """Every setting and its :class:`Spec`, in declaration order."""
    for attribute in attrs.fields(Settings):
        spec = attribute.metadata.get(_SPEC)
        if spec is not None:
            yield attribute, spec


def spec_of(name: str) -> Spec:
    """The :class:`Spec` of the setting called ``name``."""
    found: Spec = getattr(attrs.fields(Settings), name).metadata[_SPEC]
    return found


__all__ = ["DEFAULT_LISTEN", "Settings", "Spec", "declared", "setting", "spec_of"]
