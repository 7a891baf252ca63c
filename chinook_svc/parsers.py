"""Value parsers of the settings: a raw value (text from the environment or the command
line, or a literal from a config file) to a setting's value, or ``ValueError``.

:mod:`chinook_svc.settings` declares which parser each setting uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def parse_text(value: object) -> str:
    """A non-empty string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def parse_db_url(value: object) -> str:
    """A SQLAlchemy database URL."""
    text = parse_text(value)
    try:
        make_url(text)
    except ArgumentError as e:
        raise ValueError(f"not a SQLAlchemy database URL ({e})") from None
    return text


def whole_number(maximum: int | None) -> Callable[[object], int]:
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


def parse_seconds(value: object) -> float:
    """A number of seconds, more than 0 and at most an hour."""
    try:
        seconds = float(value) if isinstance(value, (str, int, float)) else -1.0
    except ValueError:
        seconds = -1.0
    if isinstance(value, bool) or not 0 < seconds <= 3600:
        raise ValueError("expected a number of seconds, more than 0 and at most 3600")
    return seconds


def parse_timeout(value: object) -> float:
    """Seconds from 0 to an hour, where 0 means "no limit"."""
    try:
        return 0.0 if value in (0, "0", 0.0) else parse_seconds(value)
    except ValueError:
        raise ValueError("expected a number of seconds from 0 (no limit) to 3600") from None


def parse_sources(value: object) -> tuple[str, ...]:
    """``NAME=URL`` sources: a list (command line, config file) or ``;``-separated text."""
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected NAME=URL sources")
    sources = tuple(i.strip() for i in items if i.strip())
    if not all("=" in s for s in sources):
        raise ValueError("expected NAME=URL sources")
    return sources


_ORIGIN = re.compile(r"https?://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?")


def parse_origins(value: object) -> tuple[str, ...]:
    """Browser origins (``scheme://host[:port]``) or ``*``: a list, or text split by commas."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected origins such as https://app.example.com, or *")
    origins = []
    for item in (i.strip().lower().rstrip("/") for i in items if i.strip()):
        if item != "*" and not _ORIGIN.fullmatch(item):
            raise ValueError(f"{item!r} is not an origin (scheme://host[:port]) or *")
        # Browsers leave the scheme's own port out of an Origin.
        origins.append(item.removesuffix(":443" if item.startswith("https") else ":80"))
    return tuple(dict.fromkeys(origins))


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def parse_bool(value: object) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``; empty: false)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected true or false")


def parse_names(value: object) -> tuple[str, ...]:
    """Names: a list, or text split by commas."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected names separated by commas")
    return tuple(dict.fromkeys(i.strip() for i in items if i.strip()))


def parse_columns(value: object) -> tuple[str, ...]:
    """``table.column`` names: a list, or text split by commas."""
    names = parse_names(value)
    bad = [n for n in names if "." not in n.strip(".")]
    if bad:
        raise ValueError(f"expected table.column, not {bad[0]!r}")
    return names


def parse_naming(value: object) -> str:
    """``keep`` or ``snake``."""
    if value not in ("keep", "snake"):
        raise ValueError("expected keep or snake")
    return str(value)


def parse_path(value: object) -> Path:
    """A file system path (``~`` expanded)."""
    return Path(parse_text(value)).expanduser()


__all__ = [
    "parse_bool",
    "parse_columns",
    "parse_db_url",
    "parse_names",
    "parse_naming",
    "parse_origins",
    "parse_path",
    "parse_seconds",
    "parse_sources",
    "parse_text",
    "parse_timeout",
    "whole_number",
]
