"""What the service serves: Chinook's curated models or reflected ones, and each API's options.

``ChinookApp`` builds one ``create_api`` per collection of a
:class:`ServedModels`; :func:`api_options` gives each one's options: the
models' own when they have them (reflected models:
``chinook_svc.reflection.ReflectedModels.api_options``), else the curated
service's (read-only unless writes are on; the large to-many relations of
:data:`EXCLUDE_INLINE` kept out of objects).
"""

from __future__ import annotations

from typing import Any, Protocol

from chinook_svc.models import Edition

#: Relations kept out of inline objects (they are large), still served at their URLs.
#: An album's objects embed its artist but not its tracks, as the protocol's example shows.
EXCLUDE_INLINE: dict[str, tuple[str, ...]] = {
    "albums": ("tracks",),
    "genres": ("tracks",),
    "media_types": ("tracks",),
    "playlists": ("tracks",),
}


READ_ONLY = ("GET",)
READ_WRITE = ("GET", "POST", "PATCH", "PUT", "DELETE")


class ServedModels(Protocol):
    """The mapped classes a service serves: Chinook's (``models``) or reflected ones."""

    @property
    def edition(self) -> Edition:
        """What ``/`` and ``/healthz`` call the database."""

    def by_table(self) -> dict[str, Any]:
        """Collection name -> mapped class."""


def api_options(models: ServedModels, name: str, allow_writes: bool) -> dict[str, Any]:
    """``create_api`` options of collection ``name``: the models' own, else Chinook's."""
    own = getattr(models, "api_options", None)
    if own is not None:
        options: dict[str, Any] = own(name, allow_writes)
        return options
    return {
        "methods": READ_WRITE if allow_writes else READ_ONLY,
        "exclude_inline": EXCLUDE_INLINE.get(name, ()),
    }


__all__ = ["EXCLUDE_INLINE", "READ_ONLY", "READ_WRITE", "ServedModels", "api_options"]
