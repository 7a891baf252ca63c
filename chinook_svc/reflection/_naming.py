"""How reflected columns and relations are named.

Columns follow ``--naming``: ``keep`` uses the database's own names
(``AlbumId``), ``snake`` turns them into snake_case (``album_id``).
Relations are names we choose, so they are snake_case under both namings:

* a to-one is named after its foreign-key column without the key suffix
  (``ArtistId``, ``artist_id`` → ``artist``); a foreign key of several
  columns, after the table it refers to;
* a to-many is named after the referencing table (``albums``); when that
  table refers to this one through several foreign keys, each one is
  ``<table>_by_<to-one>`` (``orders_by_buyer``, ``orders_by_seller``);
* a many-to-many through a pure association table is named after the table
  at the other end (``playlists.tracks``, ``tracks.playlists``).

A name already taken in the class (a column, or a relation named before it)
gets ``_<other table>`` appended (``ReportsTo`` under ``snake`` is the column
``reports_to``, so its to-one is ``reports_to_employees``), then ``_2``,
``_3``...  Names the engine reserves (``query``...) get a trailing ``_``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The two namings ``--naming`` accepts.
NAMINGS = ("keep", "snake")

#: Attribute names the engine or SQLAlchemy keep for themselves.
RESERVED = frozenset({"query", "query_class", "metadata", "registry", "_sa_class_manager"})

_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[^0-9A-Za-z]+")
_KEY_SUFFIX = re.compile(r"(?:_id|_ID|Id|ID|_fk|_FK)$")


def snake(name: str) -> str:
    """``AlbumId`` → ``album_id``, ``BillingPostalCode`` → ``billing_postal_code``.

    Anything that is not a letter or digit (a space, a dash) becomes one
    ``_``; a name that is nothing else stays as it is.
    """
    words = _NOT_WORD.sub("_", _WORD_BREAK.sub("_", name)).strip("_").lower()
    return words or name


def column_name(name: str, naming: str) -> str:
    """A column's attribute name under ``naming``."""
    return snake(name) if naming == "snake" else name


def strip_key(name: str) -> str | None:
    """A foreign-key column's name without its key suffix (``None``: it has none)."""
    stripped = _KEY_SUFFIX.sub("", name)
    return stripped if stripped and stripped != name else None


def to_one_name(fk_columns: Iterable[str], referred_table: str) -> str:
    """A to-one's first-choice name (before clashes are resolved)."""
    columns = list(fk_columns)
    if len(columns) == 1:
        return snake(strip_key(columns[0]) or columns[0])
    return snake(referred_table)


def safe(name: str) -> str:
    """A name that is no attribute the engine or SQLAlchemy keeps for itself."""
    if name in RESERVED or name.startswith(("__", "_sa_")):
        return name + "_"
    return name


class Names:
    """The attribute names taken in one class, handing out free ones deterministically."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken: set[str] = set(taken)

    def claim(self, wanted: str, qualifier: str | None = None) -> str:
        """``wanted`` if free, else ``wanted_<qualifier>``, else with ``_2``, ``_3``..."""
        wanted = safe(wanted)
        choice = wanted
        if choice in self._taken and qualifier is not None:
            choice = f"{wanted}_{snake(qualifier)}"
        n = 2
        base = choice
        while choice in self._taken:
            choice = f"{base}_{n}"
            n += 1
        self._taken.add(choice)
        return choice


def column_names(names: Iterable[str], naming: str) -> dict[str, str]:
    """Database column name → attribute name, unique (a clash gets ``_2``...)."""
    taken = Names()
    return {name: taken.claim(column_name(name, naming)) for name in names}


__all__ = ["NAMINGS", "Names", "column_name", "column_names", "snake", "strip_key", "to_one_name"]
