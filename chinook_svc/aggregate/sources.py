"""Upstream sources: ``NAME=URL`` records whose URLs are templates filled from the request.

A source URL may hold placeholders such as ``{id}``, ``{id:int}`` or
``{name:json}``, in path segments and query values only: scheme, host, port,
user info, fragment and query names are fixed when the service starts, so a
client can never make the service call another server (no SSRF).  Values are
checked against their type and put into the URL through :mod:`hyperlink` as
decoded text, so ``/``, ``?``, ``&`` or ``#`` in a value are percent-encoded and
stay inside their own segment or query value.

Placeholder types:

* ``str`` (the default): 1 to 256 characters, no control characters, not
  ``.`` or ``..`` as a whole path segment, and no URL (``://``) in it;
* ``int``: an integer of at most 18 digits, with an optional minus sign;
* ``json``: a ``str`` value written as a JSON string literal (quotes and
  escapes included), for placing text inside a JSON ``q`` filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from attrs import frozen
from hyperlink import DecodedURL

#: ``{name}`` or ``{name:type}``; other braces (JSON in a ``q`` value) are literal text.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?\}")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_VALUE = 256
#: The query parameter that selects sources; it cannot be a placeholder.
SOURCE_PARAMETER = "source"

_INTEGER = re.compile(r"-?[0-9]{1,18}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class PlaceholderError(ValueError):
    """A value given for a placeholder is not acceptable.

    Attributes:
        parameter: the placeholder's name.
        reason: what is wrong with the value, for the client.
    """

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


def _text(name: str, value: str) -> str:
    if not 1 <= len(value) <= MAX_VALUE:
        raise PlaceholderError(name, f"must be 1 to {MAX_VALUE} characters")
    if _CONTROL.search(value):
        raise PlaceholderError(name, "must not contain control characters")
    if "://" in value:
        raise PlaceholderError(name, "must not be a URL")
    return value


def _integer(name: str, value: str) -> str:
    if not _INTEGER.fullmatch(value):
        raise PlaceholderError(name, "must be an integer")
    return str(int(value))


def _json(name: str, value: str) -> str:
    return orjson.dumps(_text(name, value)).decode("utf-8")


#: Placeholder type -> checks a value and returns the text to put in the URL.
CONVERTERS: Mapping[str, Callable[[str, str], str]] = {
    "str": _text,
    "int": _integer,
    "json": _json,
}


@frozen
class Placeholder:
    """One ``{name:type}`` in a template."""

    name: str
    kind: str

    def render(self, value: str) -> str:
        """The text standing for ``value`` in the URL (raises :class:`PlaceholderError`)."""
        return CONVERTERS[self.kind](self.name, value)


def _placeholders(text: str) -> tuple[Placeholder, ...]:
    found = []
    for match in PLACEHOLDER.finditer(text):
        name, kind = match.group(1), match.group(2) or "str"
        if kind not in CONVERTERS:
            raise ValueError(f"unknown placeholder type {kind!r} in {{{name}:{kind}}}")
        if name == SOURCE_PARAMETER:
            raise ValueError(f"{{{SOURCE_PARAMETER}}} is reserved and cannot be a placeholder")
        found.append(Placeholder(name, kind))
    return tuple(found)


def _fill(text: str, values: Mapping[str, str], whole_segment: bool) -> str:
    def replace(match: re.Match[str]) -> str:
        placeholder = Placeholder(match.group(1), match.group(2) or "str")
        return placeholder.render(values[placeholder.name])

    match = PLACEHOLDER.search(text)
    if match is None:
        return text
    filled = PLACEHOLDER.sub(replace, text)
    if whole_segment and filled in (".", ".."):
        raise PlaceholderError(match.group(1), "must not be '.' or '..'")
    return filled


@frozen
class UrlTemplate:
    """An upstream URL with placeholders in path segments and query values.

    Build one with :meth:`parse`; :meth:`fill` gives the URL for one request.
    """

    text: str
    url: DecodedURL
    placeholders: tuple[Placeholder, ...]

    @classmethod
    def parse(cls, text: str) -> UrlTemplate:
        """Parse and check a template (``ValueError`` says what is wrong with it)."""
        try:
            url = DecodedURL.from_text(text)
        except ValueError as e:
            raise ValueError(f"not a URL: {text!r} ({e})") from None
        if url.scheme not in ("http", "https"):
            raise ValueError(f"source URLs must be http or https: {text!r}")
        if not url.host:
            raise ValueError(f"source URL has no host: {text!r}")
        if any(url.userinfo):
            raise ValueError(f"credentials in source URLs are not supported: {text!r}")
        fixed = [url.scheme, url.host, url.fragment] + [name for name, _ in url.query]
        if any("{" in part or "}" in part for part in fixed):
            raise ValueError(
                "placeholders may stand only in path segments and query values: " + repr(text)
            )
        found: list[Placeholder] = []
        for part in [*url.path, *(value or "" for _, value in url.query)]:
            found.extend(_placeholders(part))
        kinds: dict[str, str] = {}
        for placeholder in found:
            if kinds.setdefault(placeholder.name, placeholder.kind) != placeholder.kind:
                raise ValueError(f"placeholder {placeholder.name!r} has two types in {text!r}")
        unique = tuple(dict.fromkeys(found))
        return cls(text=text, url=url.replace(fragment=""), placeholders=unique)

    @property
    def names(self) -> frozenset[str]:
        """The names of the placeholders."""
        return frozenset(p.name for p in self.placeholders)

    def fill(self, values: Mapping[str, str]) -> DecodedURL:
        """The URL with every placeholder replaced by its checked value.

        Raises:
            PlaceholderError: a value is missing or not acceptable.
        """
        if not self.placeholders:
            return self.url
        missing = sorted(self.names - values.keys())
        if missing:
            raise PlaceholderError(missing[0], "is required")
        path = tuple(_fill(segment, values, True) for segment in self.url.path)
        query = tuple(
            (name, None if value is None else _fill(value, values, False))
            for name, value in self.url.query
        )
        return self.url.replace(path=path, query=query)


@frozen
class Source:
    """A named upstream the aggregate endpoint may call.

    Attributes:
        name: the key of its answer in ``results``/``errors``.
        template: its URL.
    """

    name: str
    template: UrlTemplate

    @classmethod
    def of(cls, name: str, url: str) -> Source:
        """A source from a name and a URL template (``ValueError`` if either is invalid)."""
        if not NAME.fullmatch(name):
            raise ValueError(
                f"invalid source name {name!r}: use letters, digits, '_', '-' or '.' (at most 64)"
            )
        return cls(name, UrlTemplate.parse(url))

    @classmethod
    def parse(cls, spec: str) -> Source:
        """A source from ``NAME=URL``, as given to ``--aggregate-source``."""
        name, sep, url = spec.partition("=")
        if not sep or not url.strip():
            raise ValueError(f"expected NAME=URL, got {spec!r}")
        return cls.of(name.strip(), url.strip())


def parse_sources(specs: Iterable[str] | Mapping[str, str]) -> tuple[Source, ...]:
    """Sources from ``NAME=URL`` strings or a ``{name: url}`` table; names must be unique."""
    if isinstance(specs, Mapping):
        sources = [Source.of(str(name), _url(name, url)) for name, url in specs.items()]
    else:
        sources = [Source.parse(spec) for spec in specs]
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            raise ValueError(f"source {source.name!r} is defined twice")
        seen.add(source.name)
    return tuple(sources)


def _url(name: Any, url: Any) -> str:
    if not isinstance(url, str):
        raise ValueError(f"the URL of source {name!r} must be a string")
    return url
