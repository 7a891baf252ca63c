"""Service settings from their sources: options, environment and a config file.

What each setting is, and where it may come from, is declared once, in
:class:`chinook_svc.settings.Settings`; this module reads the sources.
Precedence, highest first: command-line options, ``CHINOOK_*`` environment
variables, the config file (``--config`` or ``CHINOOK_CONFIG``), defaults.

Two config file formats are read, neither of them executed:

* the flask-restless article's ``config.cfg``: one ``KEY = python-literal``
  per statement, comments allowed, e.g. ``SQLALCHEMY_DATABASE_URI =
  'sqlite:///chinook.db'`` and ``DEBUG = True``; the file is parsed with
  :mod:`ast` and each value read with :func:`ast.literal_eval`;
* TOML, when the file name ends in ``.toml``: the settings' TOML keys
  (``listen``, ``db``, ``threads``, ...); tables (``[aggregate]``, ...) are
  kept in :attr:`Settings.tables` for the features that read them.

A relative SQLite path in a config file is relative to the file's directory.
Unknown keys are logged and ignored; bad values raise :class:`UsageError`.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attrs import Attribute
from sqlalchemy.engine import make_url
from twisted.logger import Logger
from twisted.python.usage import UsageError

from chinook_svc.settings import DEFAULT_LISTEN, Settings, Spec, declared, parse_bool, spec_of

log = Logger()

#: The environment variable naming the config file.
CONFIG_ENV: str = spec_of("config_file").env or ""


def _parse(name: str, spec: Spec, value: object, source: str) -> Any:
    try:
        return spec.parse(value)
    except ValueError as e:
        shown = "(hidden)" if spec.secret else repr(value)
        raise UsageError(f"{source}: bad value {shown} for {name}: {e}") from None


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
    by_key: dict[str, tuple[Attribute[Any], Spec]] = {}
    for attribute, spec in declared():
        keys = (spec.toml_key,) if is_toml else spec.cfg_keys
        by_key.update((key, (attribute, spec)) for key in keys if key is not None)
    values: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        found = by_key.get(key)
        if found is not None:
            attribute, spec = found
            values[attribute.name] = _parse(attribute.name, spec, value, f"{source}: {key}")
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
    config_cli = spec_of("config_file").cli or ""
    config = options.get(config_cli) or environ.get(CONFIG_ENV) or None
    values: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    config_file = None
    if config:
        config_file = Path(config).expanduser()
        values, tables = read_config_file(config_file)
    for attribute, spec in declared():
        if attribute.name == "config_file":
            continue
        env_value = None if spec.env is None else environ.get(spec.env)
        if env_value is not None and (env_value.strip() or spec.parse is parse_bool):
            values[attribute.name] = _parse(attribute.name, spec, env_value, spec.env or "")
        cli_value = None if spec.cli is None else options.get(spec.cli)
        if cli_value is not None:
            values[attribute.name] = _parse(attribute.name, spec, cli_value, f"--{spec.cli}")
    return Settings(**values, config_file=config_file, tables=tables)


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_LISTEN",
    "Settings",
    "load_settings",
    "read_cfg",
    "read_config_file",
    "read_toml",
]
