"""Service settings: one frozen :class:`Settings`, from options, environment and a config file.

Precedence, highest first: command-line options, ``CHINOOK_*`` environment
variables, the config file (``--config`` or ``CHINOOK_CONFIG``), defaults.

Two config file formats are read, neither of them executed:

* the flask-restless article's ``config.cfg``: one ``KEY = python-literal``
  per statement, comments allowed, e.g. ``SQLALCHEMY_DATABASE_URI =
  'sqlite:///chinook.db'`` and ``DEBUG = True``; the file is parsed with
  :mod:`ast` and each value read with :func:`ast.literal_eval`;
* TOML, when the file name ends in ``.toml``: top-level keys ``listen``,
  ``db``, ``threads``, ``debug``, ``data_dir``, ``shutdown_timeout``; tables
  (``[aggregate]``, ...) are kept in :attr:`Settings.tables` for the features
  that read them.

A relative SQLite path in a config file is relative to the file's directory.
Unknown keys are logged and ignored; bad values raise :class:`UsageError`.

To add a setting: add a field to :class:`Settings` and one :class:`Option`
to :data:`OPTIONS` (its environment variable and config keys).
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from attrs import field, frozen
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from twisted.logger import Logger
from twisted.python.usage import UsageError

log = Logger()

DEFAULT_LISTEN = "tcp:8080:interface=127.0.0.1"
MAX_THREADS = 256
MAX_WORKERS = 64


def _readonly(value: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in value.items()})


@frozen
class Settings:
    """Everything the service is configured with.

    Attributes:
        listen: Twisted server endpoint description, e.g. ``tcp:8080``.
        db_url: SQLAlchemy URL of the database; ``None`` means the
            embedded Chinook sample.
        data_dir: where the embedded sample is materialised (``None``: the
            sample's own default, the user data directory).
        threads: database worker threads (``None``: the size of the
            engine's connection pool).
        queue_limit: requests that may wait for a database thread, per lane
            (cheap, heavy); more are answered 503 at once (``None``: 4 per
            thread, at least 16).
        heavy_threads: database threads heavy reads (searches, large pages,
            functions) may hold at once (``None``: one on SQLite, else all
            but one).
        debug: more logging. Never shows tracebacks to clients.
        shutdown_timeout: seconds to wait for in-flight requests on stop.
        allow_writes: serve POST/PATCH/PUT/DELETE (read-only otherwise).
        api_token_file: file holding the bearer token writes (and, with
            ``auth_reads``, reads) must carry.
        api_token: the token itself, from ``CHINOOK_API_TOKEN`` only (never
            a command-line argument or config file; never shown in ``repr``).
        auth_reads: reads need the token too.
        workers: server processes sharing the listening socket (1: this
            process serves).
        access_log: file to append an access log to (``None``: none).
        cache_ttl: seconds to keep successful GET answers in memory
            (``None``: no response cache).
        statement_timeout: seconds one SQL statement may run before the
            request answers 503 (0: no limit).
        sqlite_wal: with writes on, switch a user's SQLite file to
            write-ahead logging (otherwise its journal mode is left alone).
        aggregate_sources: ``NAME=URL`` sources of ``/aggregate`` (none: the
            built-in demo sources over this service's own API).
        aggregate_timeout, aggregate_deadline, aggregate_concurrency,
        aggregate_max_bytes: ``/aggregate``'s limits (``None``: the
            ``[aggregate]`` table's, else the defaults).
        config_file: the config file the settings were read from, if any.
        tables: TOML tables (``[aggregate]`` ...) for later features, read-only.
    """

    listen: str = DEFAULT_LISTEN
    db_url: str | None = None
    data_dir: Path | None = None
    threads: int | None = None
    queue_limit: int | None = None
    heavy_threads: int | None = None
    debug: bool = False
    shutdown_timeout: float = 10.0
    allow_writes: bool = False
    api_token_file: Path | None = None
    api_token: str | None = field(default=None, repr=False)
    auth_reads: bool = False
    workers: int = 1
    access_log: Path | None = None
    cache_ttl: float | None = None
    statement_timeout: float = 5.0
    sqlite_wal: bool = False
    aggregate_sources: tuple[str, ...] = ()
    aggregate_timeout: float | None = None
    aggregate_deadline: float | None = None
    aggregate_concurrency: int | None = None
    aggregate_max_bytes: int | None = None
    config_file: Path | None = None
    tables: Mapping[str, Mapping[str, Any]] = field(factory=dict, converter=_readonly)

    def table(self, name: str) -> Mapping[str, Any]:
        """The TOML table ``[name]``, empty if the file had none."""
        return self.tables.get(name, MappingProxyType({}))


# -- value parsers: raw value (str from env/CLI, or a literal from a file) -> field value ---


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _db_url(value: object) -> str:
    text = _text(value)
    try:
        make_url(text)
    except ArgumentError as e:
        raise ValueError(f"not a SQLAlchemy database URL ({e})") from None
    return text


def _whole_number(maximum: int | None) -> Callable[[object], int]:
    """A parser of whole numbers from 1 to ``maximum`` (unbounded: ``None``)."""
    expected = (
        "a whole number, at least 1" if maximum is None else f"a whole number from 1 to {maximum}"
    )

    def parse(value: object) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < 1
            or (maximum is not None and value > maximum)
        ):
            raise ValueError(f"expected {expected}")
        return value

    return parse


_threads = _whole_number(MAX_THREADS)
_workers = _whole_number(MAX_WORKERS)
_count = _whole_number(None)


def _seconds(value: object) -> float:
    try:
        seconds = float(value) if isinstance(value, (str, int, float)) else -1.0
    except ValueError:
        seconds = -1.0
    if isinstance(value, bool) or not 0 < seconds <= 3600:
        raise ValueError("expected a number of seconds, more than 0 and at most 3600")
    return seconds


def _sources(value: object) -> tuple[str, ...]:
    """``NAME=URL`` sources: a list (command line, config file) or ``;``-separated text."""
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected NAME=URL sources")
    sources = tuple(i.strip() for i in items if i.strip())
    if not all("=" in s for s in sources):
        raise ValueError("expected NAME=URL sources")
    return sources


def _timeout(value: object) -> float:
    """Seconds, where 0 means "no limit"."""
    if value in (0, "0", 0.0):
        return 0.0
    return _seconds(value)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected true or false")


def _path(value: object) -> Path:
    return Path(_text(value)).expanduser()


@frozen
class Option:
    """One setting's sources.

    Attributes:
        name: the :class:`Settings` attribute.
        parse: turns a raw value into the attribute's value; raises ValueError.
        cli: its command-line option (``None``: none).
        env: its environment variable.
        cfg_keys: its keys in a ``config.cfg`` file.
        toml_key: its key in a TOML file.
    """

    name: str
    parse: Callable[[object], Any]
    cli: str | None
    env: str
    cfg_keys: tuple[str, ...]
    toml_key: str


OPTIONS: tuple[Option, ...] = (
    Option("listen", _text, "listen", "CHINOOK_LISTEN", ("LISTEN",), "listen"),
    Option("db_url", _db_url, "db", "CHINOOK_DB", ("SQLALCHEMY_DATABASE_URI", "DB"), "db"),
    Option("data_dir", _path, "data-dir", "CHINOOK_DATA_DIR", ("DATA_DIR",), "data_dir"),
    Option("threads", _threads, "threads", "CHINOOK_THREADS", ("THREADS",), "threads"),
    Option("queue_limit", _count, "queue-limit", "CHINOOK_QUEUE_LIMIT", ("QUEUE_LIMIT",),
           "queue_limit"),
    Option("heavy_threads", _threads, "heavy-threads", "CHINOOK_HEAVY_THREADS",
           ("HEAVY_THREADS",), "heavy_threads"),
    Option("debug", _bool, "debug", "CHINOOK_DEBUG", ("DEBUG",), "debug"),
    Option("shutdown_timeout", _seconds, None, "CHINOOK_SHUTDOWN_TIMEOUT",
           ("SHUTDOWN_TIMEOUT",), "shutdown_timeout"),
    Option("allow_writes", _bool, "allow-writes", "CHINOOK_ALLOW_WRITES",
           ("ALLOW_WRITES",), "allow_writes"),
    Option("api_token_file", _path, "api-token-file", "CHINOOK_API_TOKEN_FILE",
           ("API_TOKEN_FILE",), "api_token_file"),
    # The token itself: environment only, so it never shows in `ps` or a committed file.
    Option("api_token", _text, None, "CHINOOK_API_TOKEN", (), "-"),
    Option("access_log", _path, "access-log", "CHINOOK_ACCESS_LOG", ("ACCESS_LOG",),
           "access_log"),
    Option("statement_timeout", _timeout, "statement-timeout", "CHINOOK_STATEMENT_TIMEOUT",
           ("STATEMENT_TIMEOUT",), "statement_timeout"),
    Option("sqlite_wal", _bool, "sqlite-wal", "CHINOOK_SQLITE_WAL", ("SQLITE_WAL",), "sqlite_wal"),
    Option("aggregate_sources", _sources, "aggregate-source", "CHINOOK_AGGREGATE_SOURCES",
           ("AGGREGATE_SOURCES",), "-"),
    Option("aggregate_timeout", _seconds, "aggregate-timeout", "CHINOOK_AGGREGATE_TIMEOUT",
           ("AGGREGATE_TIMEOUT",), "-"),
    Option("aggregate_deadline", _seconds, "aggregate-deadline", "CHINOOK_AGGREGATE_DEADLINE",
           ("AGGREGATE_DEADLINE",), "-"),
    Option("aggregate_concurrency", _count, "aggregate-concurrency",
           "CHINOOK_AGGREGATE_CONCURRENCY", ("AGGREGATE_CONCURRENCY",), "-"),
    Option("aggregate_max_bytes", _count, "aggregate-max-bytes", "CHINOOK_AGGREGATE_MAX_BYTES",
           ("AGGREGATE_MAX_BYTES",), "-"),
    Option("cache_ttl", _seconds, "cache-ttl", "CHINOOK_CACHE_TTL", ("CACHE_TTL",), "cache_ttl"),
    Option("workers", _workers, "workers", "CHINOOK_WORKERS", ("WORKERS",), "workers"),
    Option("auth_reads", _bool, "auth-reads", "CHINOOK_AUTH_READS", ("AUTH_READS",), "auth_reads"),
)  # fmt: skip
CONFIG_ENV = "CHINOOK_CONFIG"


def _parse(option: Option, value: object, source: str) -> Any:
    try:
        return option.parse(value)
    except ValueError as e:
        shown = "(hidden)" if option.name == "api_token" else repr(value)
        raise UsageError(f"{source}: bad value {shown} for {option.name}: {e}") from None


# -- config files ---------------------------------------------------------------------------


def read_cfg(text: str, source: str) -> dict[str, Any]:
    """``KEY = literal`` assignments of a flask-style ``config.cfg``, never executed."""
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as e:
        raise UsageError(f"{source}, line {e.lineno}: not a KEY = value line") from None
    values: dict[str, Any] = {}
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            raise UsageError(f"{source}, line {node.lineno}: only KEY = value lines are allowed")
        key = node.targets[0].id
        try:
            values[key] = ast.literal_eval(node.value)
        except ValueError:
            raise UsageError(
                f"{source}, line {node.lineno}: the value of {key} must be a Python literal"
            ) from None
    return values


def read_toml(text: str, source: str) -> dict[str, Any]:
    """The contents of a TOML config file."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{source}: not valid TOML ({e})") from None


def _relative_to(base: Path, url: str) -> str:
    """A SQLite URL whose relative file path is taken from ``base``."""
    parsed = make_url(url)
    database = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
        or Path(database).is_absolute()
    ):
        return url
    return parsed.set(database=str(base / database)).render_as_string(hide_password=False)


def read_config_file(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Settings values and TOML tables from a config file (``.toml`` or ``config.cfg`` style)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read config file {source}: {e}") from None
    is_toml = path.suffix.lower() == ".toml"
    raw = read_toml(text, source) if is_toml else read_cfg(text, source)
    by_key = {
        (o.toml_key if is_toml else k): o
        for o in OPTIONS
        for k in o.cfg_keys
        if not (is_toml and o.toml_key == "-")
    }
    values: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        option = by_key.get(key)
        if option is not None:
            values[option.name] = _parse(option, value, f"{source}: {key}")
        elif is_toml and isinstance(value, dict):
            tables[key] = value
        else:
            log.warn("{source}: unknown setting {key!r} ignored", source=source, key=key)
    if values.get("db_url"):
        values["db_url"] = _relative_to(path.parent.resolve(), values["db_url"])
    return values, tables


# -- all sources together ---------------------------------------------------------------------


def load_settings(options: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Settings from command-line ``options`` (``None`` = not given), ``environ`` and a file.

    Args:
        options: command-line values by option name (``db``, ``data-dir``,
            ..., and ``config`` for the config file); missing or ``None``
            values were not given.
        environ: the environment (``CHINOOK_*`` variables).

    Raises:
        UsageError: a value is bad or the config file cannot be read.
    """
    config = options.get("config") or environ.get(CONFIG_ENV) or None
    values: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    config_file = None
    if config:
        config_file = Path(config).expanduser()
        values, tables = read_config_file(config_file)
    for option in OPTIONS:
        env_value = environ.get(option.env)
        if env_value is not None and (env_value.strip() or option.parse is _bool):
            values[option.name] = _parse(option, env_value, option.env)
        cli_value = None if option.cli is None else options.get(option.cli)
        if cli_value is not None:
            values[option.name] = _parse(option, cli_value, f"--{option.cli}")
    return Settings(**values, config_file=config_file, tables=tables)


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_LISTEN",
    "OPTIONS",
    "Option",
    "Settings",
    "load_settings",
    "read_cfg",
    "read_config_file",
    "read_toml",
]
