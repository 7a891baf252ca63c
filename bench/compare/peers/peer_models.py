"""Chinook models for the peer apps, equivalent to ``chinook_svc.models`` (sqlitetutorial edition).

Plain ``Column`` declarations that work on SQLAlchemy 1.3 (flask-restless
0.17) and 2.0 (flask-restless-ng, the FastAPI app).  Attribute names are
chinook_svc's snake_case ones mapped to the sqlitetutorial columns, and the
relationships are the ones chinook_svc's objects embed on the benchmarked
endpoints: ``Album.artist`` (and ``Album.tracks``), ``Track.album``,
``Track.genre``, ``Track.media_type``, ``Track.playlists`` and
``Track.invoice_items``.  Money columns are mapped as ``Float``: SQLite has
no decimals and flask-restless 0.17 cannot serialise ``Decimal``.  Each
column's ``key`` is its attribute name (flask-restless-ng reads foreign keys
by column key), so foreign keys name ``table.attribute``.
"""

try:  # SQLAlchemy >= 1.4
    from sqlalchemy.orm import declarative_base
except ImportError:  # SQLAlchemy 1.3
    from sqlalchemy.ext.declarative import declarative_base

from sqlalchemy import Column, Float, ForeignKey, Integer, String, Table
from sqlalchemy.orm import relationship

Base = declarative_base()


class Artist(Base):
    """A recording artist."""

    __tablename__ = "artists"
    artist_id = Column("ArtistId", Integer, primary_key=True, key="artist_id")
    name = Column("Name", String(120), key="name")


class Album(Base):
    """An album, by one artist."""

    __tablename__ = "albums"
    album_id = Column("AlbumId", Integer, primary_key=True, key="album_id")
    title = Column("Title", String(160), nullable=False, key="title")
    artist_id = Column(
        "ArtistId", Integer, ForeignKey("artists.artist_id"), nullable=False, key="artist_id"
    )
    artist = relationship(Artist, backref="albums")


class Genre(Base):
    """A musical genre."""

    __tablename__ = "genres"
    genre_id = Column("GenreId", Integer, primary_key=True, key="genre_id")
    name = Column("Name", String(120), key="name")


class MediaType(Base):
    """A file format."""

    __tablename__ = "media_types"
    media_type_id = Column("MediaTypeId", Integer, primary_key=True, key="media_type_id")
    name = Column("Name", String(120), key="name")


playlist_track = Table(
    "playlist_track",
    Base.metadata,
    Column("PlaylistId", Integer, ForeignKey("playlists.playlist_id"), primary_key=True),
    Column("TrackId", Integer, ForeignKey("tracks.track_id"), primary_key=True),
)


class Track(Base):
    """A track of an album."""

    __tablename__ = "tracks"
    track_id = Column("TrackId", Integer, primary_key=True, key="track_id")
    name = Column("Name", String(200), nullable=False, key="name")
    album_id = Column("AlbumId", Integer, ForeignKey("albums.album_id"), key="album_id")
    media_type_id = Column(
        "MediaTypeId",
        Integer,
        ForeignKey("media_types.media_type_id"),
        nullable=False,
        key="media_type_id",
    )
    genre_id = Column("GenreId", Integer, ForeignKey("genres.genre_id"), key="genre_id")
    composer = Column("Composer", String(220), key="composer")
    milliseconds = Column("Milliseconds", Integer, nullable=False, key="milliseconds")
    bytes = Column("Bytes", Integer, key="bytes")
    unit_price = Column("UnitPrice", Float, nullable=False, key="unit_price")
    album = relationship(Album, backref="tracks")
    genre = relationship(Genre, backref="tracks")
    media_type = relationship(MediaType, backref="tracks")


class Playlist(Base):
    """A playlist of tracks."""

    __tablename__ = "playlists"
    playlist_id = Column("PlaylistId", Integer, primary_key=True, key="playlist_id")
    name = Column("Name", String(120), key="name")
    tracks = relationship(Track, secondary=playlist_track, backref="playlists")


class InvoiceItem(Base):
    """One line of an invoice (its invoice is not modelled: no endpoint here embeds it)."""

    __tablename__ = "invoice_items"
    invoice_line_id = Column("InvoiceLineId", Integer, primary_key=True, key="invoice_line_id")
    invoice_id = Column("InvoiceId", Integer, nullable=False, key="invoice_id")
    track_id = Column(
        "TrackId", Integer, ForeignKey("tracks.track_id"), nullable=False, key="track_id"
    )
    unit_price = Column("UnitPrice", Float, nullable=False, key="unit_price")
    quantity = Column("Quantity", Integer, nullable=False, key="quantity")
    track = relationship(Track, backref="invoice_items")


#: Collection name -> model, as the apps expose them.
COLLECTIONS = {
    "albums": Album,
    "artists": Artist,
    "genres": Genre,
    "invoice_items": InvoiceItem,
    "media_types": MediaType,
    "playlists": Playlist,
    "tracks": Track,
}
