"""A model's objects have the same shape wherever they appear (issue 13).

0.17 answered a relation URL (``/api/tracks/1/playlists``) with the related
objects and every relation of theirs inlined, whatever the related model's
own API left out: a playlist's 3,290 tracks came along, 1.18 MB.  Here the
objects a relation URL answers with are shaped by their own model's API
(its ``exclude_inline``, ``exclude_columns``, ``serializer``), and a
relationship declared with ``info={INLINE_INFO_KEY: False}`` stays out of
every object, relation URLs included, while still served at its own URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, relationship

from chinook_svc import models
from chinook_svc.restless import INLINE_INFO_KEY, InlineRunner
from chinook_svc.web.app import build_api

from .restless_client import Client, memory_engine, q, serve


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"
    id = Column(Integer, primary_key=True)
    name = Column(String)
    secret = Column(String)
    books = relationship("Book", back_populates="author", info={INLINE_INFO_KEY: False})


class Book(Base):
    __tablename__ = "book"
    id = Column(Integer, primary_key=True)
    title = Column(String)
    author_id = Column(Integer, ForeignKey("author.id"))
    author = relationship(Author, back_populates="books")
    pages = relationship("Page", back_populates="book", info={INLINE_INFO_KEY: False})
    reviews = relationship("Review", back_populates="book")


class Page(Base):
    __tablename__ = "page"
    id = Column(Integer, primary_key=True)
    number = Column(Integer)
    book_id = Column(Integer, ForeignKey("book.id"))
    book = relationship(Book, back_populates="pages")


class Review(Base):
    __tablename__ = "review"
    id = Column(Integer, primary_key=True)
    stars = Column(Integer)
    book_id = Column(Integer, ForeignKey("book.id"))
    book = relationship(Book, back_populates="reviews")


@pytest.fixture
def engine() -> Any:
    """One author with two books of three pages and one review each."""
    engine = memory_engine(Base.metadata)
    with Session(engine) as session:
        author = Author(id=1, name="Ann", secret="s")
        for b in (1, 2):
            book = Book(id=b, title=f"Book {b}", author=author)
            session.add_all(Page(number=n, book=book) for n in range(1, 4))
            session.add(Review(stars=b + 3, book=book))
        session.add(author)
        session.commit()
    yield engine
    engine.dispose()


def test_objects_leave_out_relations_marked_not_inlined(engine: Any) -> None:
    """An author carries no books, a book its author and reviews but no pages."""
    client = serve(engine, (Author, {}), (Book, {}))
    assert client.get("/api/author/1").json == {"id": 1, "name": "Ann", "secret": "s"}
    book = client.get("/api/book/1").json
    assert book["author"] == {"id": 1, "name": "Ann", "secret": "s"}
    assert "pages" not in book and book["reviews"] == [{"book_id": 1, "id": 1, "stars": 4}]


def test_relation_urls_leave_them_out_too(engine: Any) -> None:
    """/api/author/1/books answers books without their pages, also with no Book API."""
    client = serve(engine, (Author, {}))
    body = client.get("/api/author/1/books").json
    assert [b["title"] for b in body["objects"]] == ["Book 1", "Book 2"]
    assert all("pages" not in b for b in body["objects"])
    assert body["objects"][0]["reviews"] == [{"book_id": 1, "id": 1, "stars": 4}]


def test_the_relation_is_still_served_and_searchable(engine: Any) -> None:
    """The relation keeps its URL, paginated, and works in filters."""
    client = serve(engine, (Book, {}))
    pages = client.get("/api/book/2/pages?results_per_page=2").json
    assert (pages["num_results"], pages["total_pages"]) == (3, 2)
    search = {
        "filters": [{"name": "pages", "op": "any", "val": {"name": "number", "op": "==", "val": 3}}]
    }
    assert client.get("/api/book?" + q(search)).json["num_results"] == 2


def test_include_columns_can_still_ask_for_it(engine: Any) -> None:
    """Listing the relation in include_columns puts it back in that API's objects."""
    client = serve(engine, (Author, {"include_columns": ["name", "books"]}))
    assert [b["id"] for b in client.get("/api/author/1").json["books"]] == [1, 2]


def test_relation_urls_answer_in_the_related_apis_shape(engine: Any) -> None:
    """What the Book API keeps out of its objects stays out at /api/author/1/books,
    and the Author API's exclusions at /api/book/1/author."""
    client = serve(
        engine,
        (Author, {"exclude_columns": ["secret"]}),
        (Book, {"exclude_inline": ["reviews"], "exclude_columns": ["author_id"]}),
    )
    books = client.get("/api/author/1/books").json["objects"]
    assert books[0] == {
        "author": {"id": 1, "name": "Ann", "secret": "s"},
        "id": 1,
        "title": "Book 1",
    }
    assert client.get("/api/book/1").json == books[0]
    assert client.get("/api/author/1/books/2").json["title"] == "Book 2"
    assert client.get("/api/book/1/author").json == {"id": 1, "name": "Ann"}


def test_relation_urls_use_the_related_apis_serializer(engine: Any) -> None:
    """A serializer shapes its model's objects at relation URLs too."""
    client = serve(
        engine,
        (Author, {}),
        (Book, {"serializer": lambda book: {"id": book.id, "label": book.title.upper()}}),
    )
    assert client.get("/api/author/1/books").json["objects"] == [
        {"id": 1, "label": "BOOK 1"},
        {"id": 2, "label": "BOOK 2"},
    ]


# -- on the Chinook service -------------------------------------------------------------------


@pytest.fixture(scope="module")
def chinook(chinook_file: Path) -> Any:
    """The service's own APIs (``build_api``, no URL prefix) on the Chinook sample."""
    engine = create_engine(f"sqlite:///{chinook_file}")
    manager = build_api(engine, InlineRunner(), models.DEFAULT)
    yield Client(manager.resource())
    engine.dispose()


def test_a_tracks_playlists_do_not_inline_their_tracks(chinook: Client) -> None:
    """/api/tracks/1/playlists was 1,182,404 bytes: every Music playlist with its tracks."""
    answer = chinook.get("/tracks/1/playlists")
    assert answer.code == 200 and len(answer.body) < 2_000, len(answer.body)
    assert all(sorted(p) == ["name", "playlist_id"] for p in answer.json["objects"])
    assert chinook.get("/tracks/1/playlists/1").json == {"name": "Music", "playlist_id": 1}


def test_an_artists_albums_look_like_the_albums_collection(chinook: Client) -> None:
    """/api/artists/1/albums (the /aggregate demo's source) inlined each album's tracks."""
    albums = chinook.get("/artists/1/albums").json["objects"]
    assert (
        albums
        == chinook.get(
            "/albums?" + q({"filters": [{"name": "artist_id", "op": "==", "val": 1}]})
        ).json["objects"]
    )
    assert all("tracks" not in a and a["artist"]["name"] == "AC/DC" for a in albums)
