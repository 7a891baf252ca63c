"""Media types of request bodies: ``application/json`` parsed, not matched by prefix.

``application/jsonx`` and ``application/json-patch+json`` are other media
types, not JSON to this engine; ``application/json; charset=utf-8`` is JSON
(RFC 8259 allows no other charset).
"""

from __future__ import annotations

#: The charsets a JSON body may declare (RFC 8259 section 8.1: UTF-8 only).
JSON_CHARSETS = frozenset({"utf-8", "utf8"})


def media_type(content_type: str) -> tuple[str, dict[str, str]]:
    """``(type/subtype, parameters)`` of a ``Content-Type`` value, names lower-cased."""
    essence, *parameters = content_type.split(";")
    params = {}
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return essence.strip().lower(), params


def is_json(content_type: str) -> bool:
    """Whether a ``Content-Type`` value says the body is JSON (UTF-8)."""
    essence, params = media_type(content_type)
    charset = params.get("charset")
    return essence == "application/json" and (charset is None or charset.lower() in JSON_CHARSETS)


__all__ = ["JSON_CHARSETS", "is_json", "media_type"]
