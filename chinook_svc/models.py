"""SQLAlchemy models of the Chinook sample database.

Attributes are snake_case (``album_id``, ``title``, ``artist_id``, ...) and map
to the database's own column names.  Three editions of Chinook exist and the
same models serve all of them; :func:`detect_edition` tells which one a
database holds by reflection and :func:`models_for` builds the classes for it:

* ``sqlitetutorial``: the sqlitetutorial.net ``chinook.db`` the flask-restless
  article uses, and our bundled sample (tables ``albums``, ``invoice_items``,
  columns ``AlbumId``, ...);
* ``lerocha``: Luis Rocha's SQLite and MySQL scripts (tables ``Album``,
  ``InvoiceLine``, ``PlaylistTrack``; same column names);
* ``lerocha_snake``: his PostgreSQL script (tables ``album``, columns ``album_id``).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from attrs import frozen
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    inspect,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

#: Logical table -> physical table name, per edition.
TABLE_NAMES: dict[str, dict[str, str]] = {
    "sqlitetutorial": {
        "albums": "albums", "artists": "artists", "customers": "customers",
        "employees": "employees", "genres": "genres", "invoices": "invoices",
        "invoice_items": "invoice_items", "media_types": "media_types",
        "playlists": "playlists", "playlist_track": "playlist_track", "tracks": "tracks",
    },
    "lerocha": {
        "albums": "Album", "artists": "Artist", "customers": "Customer",
        "employees": "Employee", "genres": "Genre", "invoices": "Invoice",
        "invoice_items": "InvoiceLine", "media_types": "MediaType",
        "playlists": "Playlist", "playlist_track": "PlaylistTrack", "tracks": "Track",
    },
    "lerocha_snake": {
        "albums": "album", "artists": "artist", "customers": "customer",
        "employees": "employee", "genres": "genre", "invoices": "invoice",
        "invoice_items": "invoice_line", "media_types": "media_type",
        "playlists": "playlist", "playlist_track": "playlist_track", "tracks": "track",
    },
}  # fmt: skip

#: The logical tables, in an order that satisfies foreign keys when loading.
TABLES = (
    "artists", "albums", "genres", "media_types", "tracks", "playlists", "playlist_track",
    "employees", "customers", "invoices", "invoice_items",
)  # fmt: skip

#: On SQLite, datetimes are stored as the reference files store them
#: ("2009-01-01 00:00:00", no microseconds), so that equality filters match.
_SQLITE_DATETIME = sqlite.DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
    regexp=r"(\d+)-(\d+)-(\d+)(?:[ T](\d+):(\d+):(\d+)(?:\.(\d+))?)?",
)


class _WholeSeconds(TypeDecorator[datetime.datetime]):
    """A datetime kept to the second on every database.

    SQLite stores the reference files' format (no fraction), MariaDB's
    ``DATETIME`` drops fractions and PostgreSQL's ``TIMESTAMP`` keeps them: a
    fraction is cut here before any of them sees it, so that a written (or
    filtered) ``10:00:00.7`` reads back as ``10:00:00`` everywhere.
    """

    impl = DateTime
    cache_ok = True

    @property
    def python_type(self) -> type:
        return datetime.datetime

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLITE_DATETIME)
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime.datetime):
            return value.replace(microsecond=0)
        return value


Timestamp = _WholeSeconds()
Money = Numeric(10, 2)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


@frozen
class Edition:
    """How one edition names tables and columns."""

    name: str

    def table(self, logical: str) -> str:
        """The physical name of a logical table."""
        return TABLE_NAMES[self.name][logical]

    def column(self, camel: str) -> str:
        """The physical name of a column given in the sqlitetutorial spelling."""
        return _snake(camel) if self.name == "lerocha_snake" else camel


SQLITETUTORIAL = Edition("sqlitetutorial")
LEROCHA = Edition("lerocha")
LEROCHA_SNAKE = Edition("lerocha_snake")
EDITIONS = (SQLITETUTORIAL, LEROCHA, LEROCHA_SNAKE)


@frozen
class ChinookModels:
    """The mapped classes for one edition, and their metadata."""

    edition: Edition
    metadata: MetaData
    Artist: Any
    Album: Any
    Genre: Any
    MediaType: Any
    Track: Any
    Playlist: Any
    PlaylistTrack: Any
    Employee: Any
    Customer: Any
    Invoice: Any
    InvoiceItem: Any

    def by_table(self) -> dict[str, Any]:
        """Logical table name -> mapped class."""
        return {
            "artists": self.Artist, "albums": self.Album, "genres": self.Genre,
            "media_types": self.MediaType, "tracks": self.Track, "playlists": self.Playlist,
            "playlist_track": self.PlaylistTrack, "employees": self.Employee,
            "customers": self.Customer, "invoices": self.Invoice,
            "invoice_items": self.InvoiceItem,
        }  # fmt: skip


def models_for(edition: Edition) -> ChinookModels:
    """Build a fresh set of mapped classes for ``edition`` (own registry and metadata)."""
    t = edition.table
    c = edition.column

    def col(camel: str, *args: Any, **kwargs: Any) -> Column[Any]:
        return Column(c(camel), *args, **kwargs)

    def fk(logical: str, camel: str) -> ForeignKey:
        return ForeignKey(f"{t(logical)}.{c(camel)}")

    class Base(DeclarativeBase):
        pass

    class Artist(Base):
        """A recording artist."""

        __tablename__ = t("artists")
        artist_id = col("ArtistId", Integer, primary_key=True)
        name = col("Name", String(120))

    class Album(Base):
        """An album, by one artist."""

        __tablename__ = t("albums")
        album_id = col("AlbumId", Integer, primary_key=True)
        title = col("Title", String(160), nullable=False)
        artist_id = col("ArtistId", Integer, fk("artists", "ArtistId"), nullable=False, index=True)
        artist = relationship(Artist, backref="albums")

    class Genre(Base):
        """A musical genre."""

        __tablename__ = t("genres")
        genre_id = col("GenreId", Integer, primary_key=True)
        name = col("Name", String(120))

    class MediaType(Base):
        """A file format."""

        __tablename__ = t("media_types")
        media_type_id = col("MediaTypeId", Integer, primary_key=True)
        name = col("Name", String(120))

    playlist_track = Table(
        t("playlist_track"),
        Base.metadata,
        col("PlaylistId", Integer, fk("playlists", "PlaylistId"), primary_key=True),
        col("TrackId", Integer, fk("tracks", "TrackId"), primary_key=True, index=True),
    )

    class Track(Base):
        """A track of an album."""

        __tablename__ = t("tracks")
        track_id = col("TrackId", Integer, primary_key=True)
        name = col("Name", String(200), nullable=False)
        album_id = col("AlbumId", Integer, fk("albums", "AlbumId"), index=True)
        media_type_id = col(
            "MediaTypeId", Integer, fk("media_types", "MediaTypeId"), nullable=False, index=True
        )
        genre_id = col("GenreId", Integer, fk("genres", "GenreId"), index=True)
        composer = col("Composer", String(220))
        milliseconds = col("Milliseconds", Integer, nullable=False)
        bytes = col("Bytes", Integer)
        unit_price = col("UnitPrice", Money, nullable=False)
        album = relationship(Album, backref="tracks")
        genre = relationship(Genre, backref="tracks")
        media_type = relationship(MediaType, backref="tracks")

    class Playlist(Base):
        """A playlist of tracks."""

        __tablename__ = t("playlists")
        playlist_id = col("PlaylistId", Integer, primary_key=True)
        name = col("Name", String(120))
        tracks = relationship(Track, secondary=playlist_track, backref="playlists")

    class PlaylistTrack(Base):
        """One track's membership in one playlist."""

        __table__ = playlist_track
        playlist_id = playlist_track.c[c("PlaylistId")]
        track_id = playlist_track.c[c("TrackId")]
        playlist = relationship(Playlist, viewonly=True)
        track = relationship(Track, viewonly=True)

    class Employee(Base):
        """An employee, reporting to another."""

        __tablename__ = t("employees")
        employee_id = col("EmployeeId", Integer, primary_key=True)
        last_name = col("LastName", String(20), nullable=False)
        first_name = col("FirstName", String(20), nullable=False)
        title = col("Title", String(30))
        reports_to_id = col("ReportsTo", Integer, fk("employees", "EmployeeId"), index=True)
        birth_date = col("BirthDate", Timestamp)
        hire_date = col("HireDate", Timestamp)
        address = col("Address", String(70))
        city = col("City", String(40))
        state = col("State", String(40))
        country = col("Country", String(40))
        postal_code = col("PostalCode", String(10))
        phone = col("Phone", String(24))
        fax = col("Fax", String(24))
        email = col("Email", String(60))
        reports_to = relationship("Employee", remote_side=[employee_id], backref="reports")

    class Customer(Base):
        """A customer, looked after by a support representative."""

        __tablename__ = t("customers")
        customer_id = col("CustomerId", Integer, primary_key=True)
        first_name = col("FirstName", String(40), nullable=False)
        last_name = col("LastName", String(20), nullable=False)
        company = col("Company", String(80))
        address = col("Address", String(70))
        city = col("City", String(40))
        state = col("State", String(40))
        country = col("Country", String(40))
        postal_code = col("PostalCode", String(10))
        phone = col("Phone", String(24))
        fax = col("Fax", String(24))
        email = col("Email", String(60), nullable=False)
        support_rep_id = col("SupportRepId", Integer, fk("employees", "EmployeeId"), index=True)
        support_rep = relationship(Employee, backref="customers")

    class Invoice(Base):
        """An invoice of a customer."""

        __tablename__ = t("invoices")
        invoice_id = col("InvoiceId", Integer, primary_key=True)
        customer_id = col(
            "CustomerId", Integer, fk("customers", "CustomerId"), nullable=False, index=True
        )
        invoice_date = col("InvoiceDate", Timestamp, nullable=False)
        billing_address = col("BillingAddress", String(70))
        billing_city = col("BillingCity", String(40))
        billing_state = col("BillingState", String(40))
        billing_country = col("BillingCountry", String(40))
        billing_postal_code = col("BillingPostalCode", String(10))
        total = col("Total", Money, nullable=False)
        customer = relationship(Customer, backref="invoices")

    class InvoiceItem(Base):
        """One line of an invoice."""

        __tablename__ = t("invoice_items")
        invoice_line_id = col("InvoiceLineId", Integer, primary_key=True)
        invoice_id = col(
            "InvoiceId", Integer, fk("invoices", "InvoiceId"), nullable=False, index=True
        )
        track_id = col("TrackId", Integer, fk("tracks", "TrackId"), nullable=False, index=True)
        unit_price = col("UnitPrice", Money, nullable=False)
        quantity = col("Quantity", Integer, nullable=False)
        invoice = relationship(Invoice, backref="invoice_items")
        track = relationship(Track, backref="invoice_items")

    return ChinookModels(
        edition=edition,
        metadata=Base.metadata,
        Artist=Artist,
        Album=Album,
        Genre=Genre,
        MediaType=MediaType,
        Track=Track,
        Playlist=Playlist,
        PlaylistTrack=PlaylistTrack,
        Employee=Employee,
        Customer=Customer,
        Invoice=Invoice,
        InvoiceItem=InvoiceItem,
    )


class EditionError(LookupError):
    """The database holds no Chinook edition we know."""


def detect_edition(engine: Engine, schema: str | None = None) -> Edition:
    """Which Chinook edition ``engine``'s database holds, by reflection."""
    names = set(inspect(engine).get_table_names(schema=schema))
    for edition in EDITIONS:
        wanted = set(TABLE_NAMES[edition.name].values())
        if wanted <= names and (
            edition is LEROCHA_SNAKE or _column_style_matches(engine, edition, schema)
        ):
            return edition
    raise EditionError(
        "no Chinook tables found (expected e.g. 'albums' or 'Album'); "
        "load the sample with: chinook-svc load-sample --db URL"
    )


def _column_style_matches(engine: Engine, edition: Edition, schema: str | None) -> bool:
    columns = {
        c["name"] for c in inspect(engine).get_columns(edition.table("albums"), schema=schema)
    }
    return edition.column("AlbumId") in columns


#: The models of the default (sqlitetutorial) edition.
DEFAULT = models_for(SQLITETUTORIAL)
metadata = DEFAULT.metadata
Artist = DEFAULT.Artist
Album = DEFAULT.Album
Genre = DEFAULT.Genre
MediaType = DEFAULT.MediaType
Track = DEFAULT.Track
Playlist = DEFAULT.Playlist
PlaylistTrack = DEFAULT.PlaylistTrack
Employee = DEFAULT.Employee
Customer = DEFAULT.Customer
Invoice = DEFAULT.Invoice
InvoiceItem = DEFAULT.InvoiceItem
