"""Which key an instance URL names, and how its id is read and written.

flask-restless 0.17 names one column in an instance URL
(``/api/<c>/<id>``): the API's ``primary_key``, else ``id``, else the first
key column in name order.  For a composite primary key that is ambiguous
(the first row with that value answers).  With the ``whole_key_urls`` option
(on for reflected schemas) a collection with a composite key is named by
**its whole key** instead: the values in the primary key's column order,
joined by ``,`` (``/api/playlist_track/1,3246``).  A value holding ``,`` or
``%`` has them percent-encoded (``%2C``, ``%25``) within the id; as any id,
the id itself is percent-encoded in the URL.  Single-column keys are read
and written exactly as in 0.17, commas included.

An id that is not a key (the wrong number of parts, a part that is not a
value of its column) is a 404, as ``/api/albums/abc`` is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

from attrs import frozen

from ._coerce import url_key
from ._errors import NotFound
from ._schema import ModelInfo

SEPARATOR = ","


@frozen
class InstanceKey:
    """The key columns an instance URL of ``info`` names, in URL order."""

    info: ModelInfo
    names: tuple[str, ...]

    @classmethod
    def of(cls, info: ModelInfo, whole: bool, primary_key: str | None = None) -> InstanceKey:
        """0.17's single key column, or (``whole``, composite key) every key column."""
        if primary_key is None and whole and len(info.pk_names) > 1:
            return cls(info, info.key_order)
        return cls(info, (primary_key or info.primary_key_name(),))

    @property
    def whole(self) -> bool:
        """Whether the id names several columns (``,``-separated)."""
        return len(self.names) > 1

    def parse(self, text: str) -> tuple[Any, ...]:
        """An instance URL's id as the key's values (404 if it cannot be one)."""
        if not self.whole:
            return (url_key(self.info, self.names[0], text),)
        parts = text.split(SEPARATOR)
        if len(parts) != len(self.names):
            raise NotFound()
        return tuple(
            url_key(self.info, name, unquote(part))
            for name, part in zip(self.names, parts, strict=True)
        )

    def values(self, instid: Any) -> tuple[Any, ...]:
        """The key an id names: a URL's text is parsed; a preprocessor's value used as it is."""
        if isinstance(instid, str):
            return self.parse(instid)
        if not self.whole:
            return (instid,)
        if isinstance(instid, Sequence) and len(instid) == len(self.names):
            return tuple(instid)
        raise NotFound()

    def url_id(self, value: Callable[[str], Any]) -> str:
        """The id of an instance URL (a path segment), from each key column's value."""
        if not self.whole:
            return f"{value(self.names[0])}"
        text = SEPARATOR.join(
            f"{value(name)}".replace("%", "%25").replace(SEPARATOR, "%2C") for name in self.names
        )
        return text.replace("%", "%25")  # the id, percent-encoded as a path segment

    @property
    def parameter(self) -> str:
        """The OpenAPI path parameter's name: the column's, or the key columns' joined by ``_``."""
        return "_".join(self.names)

    def pattern(self) -> str:
        """A regular expression for the id: one part per key column, none holding ``,``."""
        return "^" + SEPARATOR.join(["[^,]*"] * len(self.names)) + "$"

    def describe(self) -> str:
        """The id's form, for the OpenAPI document."""
        joined = SEPARATOR.join(f"<{name}>" for name in self.names)
        return (
            f"the {self.info.name}'s whole primary key: {joined} (each value with "
            '"," written %2C and "%" written %25)'
        )


__all__ = ["SEPARATOR", "InstanceKey"]
