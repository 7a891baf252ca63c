"""Writes on models Chinook lacks: relation collections of every kind, deletes others refer to.

A to-many relation may be a list, a set or a dict keyed by an attribute
(``attribute_keyed_dict``): its value in a body is a list of objects (or
``{"add": [...], "remove": [...]}``) for all three, and any other shape is a
400 that changes nothing.  A row that other rows refer to is not deleted
(409, naming the relation and the count) unless the model declares what to
do: an ORM ``cascade="delete"`` (whose rows are checked in turn) or a
foreign key's ``ondelete``.  In-memory SQLite with foreign keys on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, backref, relationship
from sqlalchemy.orm.collections import attribute_keyed_dict
from sqlalchemy.pool import StaticPool

from chinook_svc.restless import APIManager, InlineRunner

from . import backends
from .restless_client import Answer, Client, q

JSON = {"Content-Type": "application/json"}
ALL = ["GET", "POST", "PATCH", "DELETE"]


class Base(DeclarativeBase):
    pass


shelf_books = Table(
    "shelf_books",
    Base.metadata,
    Column("shelf_id", Integer, ForeignKey("shelf.id", ondelete="CASCADE"), primary_key=True),
    Column("book_id", Integer, ForeignKey("book.id"), primary_key=True),
)


class Author(Base):
    """Books by slug (a dict), tags as a set, notes deleted with the author."""

    __tablename__ = "author"
    id = Column(Integer, primary_key=True)
    name = Column(String(40))
    books = relationship("Book", collection_class=attribute_keyed_dict("slug"), backref="author")
    tags = relationship("Tag", collection_class=set, backref="author")
    notes = relationship("Note", cascade="all, delete-orphan", backref="author")


class Book(Base):
    __tablename__ = "book"
    id = Column(Integer, primary_key=True)
    slug = Column(String(20), nullable=False)
    author_id = Column(Integer, ForeignKey("author.id"))


class Tag(Base):
    __tablename__ = "tag"
    id = Column(Integer, primary_key=True)
    label = Column(String(20))
    author_id = Column(Integer, ForeignKey("author.id"))


class Note(Base):
    __tablename__ = "note"
    id = Column(Integer, primary_key=True)
    text = Column(String(40))
    author_id = Column(Integer, ForeignKey("author.id"), nullable=False)
    replies = relationship("Reply", backref="note")


class Reply(Base):
    """Refers to a note without any cascade: blocks deleting the note (and its author)."""

    __tablename__ = "reply"
    id = Column(Integer, primary_key=True)
    note_id = Column(Integer, ForeignKey("note.id"))


class Shelf(Base):
    """Its links to books go with it (the foreign key says ``ondelete="CASCADE"``)."""

    __tablename__ = "shelf"
    id = Column(Integer, primary_key=True)
    books = relationship(Book, secondary=shelf_books, passive_deletes=True)


class Loan(Base):
    """Refers to a book through a bare foreign key, with no relationship on either side."""

    __tablename__ = "loan"
    id = Column(Integer, primary_key=True)
    book_id = Column(Integer, ForeignKey("book.id"))


class Person(Base):
    __tablename__ = "person"
    id = Column(Integer, primary_key=True)
    boss_id = Column(Integer, ForeignKey("person.id"))
    staff = relationship("Person", backref=backref("boss", remote_side=[id]))


@pytest.fixture
def engine() -> Engine:
    """A small library: author 1 (two books, two tags, a note with a reply), a shelf, a loan."""
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def foreign_keys(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        author = Author(id=1, name="Le Guin")
        session.add(author)
        session.flush()
        session.add_all([Book(id=1, slug="sea", author_id=1), Book(id=2, slug="x", author_id=1)])
        session.add_all(
            [Tag(id=1, label="sf", author=author), Tag(id=2, label="fantasy", author=author)]
        )
        session.add_all([Book(id=3, slug="spare"), Tag(id=3, label="spare")])
        session.add(Note(id=1, text="first", author=author))
        session.add(Reply(id=1, note_id=1))
        session.add(Author(id=2, name="Tiptree", notes=[Note(id=2, text="alone")]))
        session.add(Shelf(id=1, books=[]))
        session.flush()
        session.execute(shelf_books.insert().values(shelf_id=1, book_id=3))
        session.add(Loan(id=1, book_id=2))
        session.add_all([Person(id=1), Person(id=2, boss_id=1), Person(id=3, boss_id=3)])
    return engine


@pytest.fixture
def client(engine: Engine) -> Client:
    """Every model, every method, bulk DELETE on authors."""
    manager = APIManager(engine, runner=InlineRunner())
    for model in (Author, Book, Tag, Note, Reply, Shelf, Loan, Person):
        manager.create_api(model, methods=ALL, allow_delete_many=model is Author)
    return Client(manager.resource())


def send(client: Client, method: str, path: str, body: Any) -> Answer:
    return client.request(method, path, data=json.dumps(body).encode(), headers=JSON)


def checksum(engine: Engine) -> str:
    return backends.checksum(engine, Base.metadata)


def ids(answer: Answer, relation: str) -> list[int]:
    return sorted(o["id"] for o in answer.json[relation])


# -- relation values -----------------------------------------------------------------------


def test_a_list_sets_a_dict_keyed_or_set_relation(client: Client) -> None:
    """A list of objects replaces a dict-keyed or a set relation, as it does a list one."""
    answer = send(client, "PATCH", "/api/author/1", {"books": [{"id": 3}], "tags": [{"id": 3}]})
    assert answer.code == 200, answer.body
    # A dict-keyed relation shows its keys in objects (as 0.17 did), its rows at its URL.
    assert (answer.json["books"], ids(answer, "tags")) == (["spare"], [3])
    body = {"name": "N", "books": [{"slug": "new"}], "tags": [{"id": 1}]}
    new = send(client, "POST", "/api/author", body)
    assert new.code == 201, new.body
    assert new.json["books"] == ["new"]
    assert ids(new, "tags") == [1]


def test_add_and_remove_on_dict_keyed_and_set_relations(client: Client) -> None:
    """``{"add": [...], "remove": [...]}`` works on every kind of collection."""
    change = {"add": [{"id": 3}], "remove": [{"id": 1}]}
    answer = send(client, "PATCH", "/api/author/1", {"books": change, "tags": change})
    assert answer.code == 200, answer.body
    assert (sorted(answer.json["books"]), ids(answer, "tags")) == (["spare", "x"], [2, 3])
    books = client.get("/api/author/1/books").json["objects"]
    assert sorted(b["id"] for b in books) == [2, 3]


@pytest.mark.parametrize(
    "value",
    [{"1": {"id": 1}}, {"earthsea": {"id": 1}}, {"add": 5}, {"add": None}, {"remove": {"id": 1}},
     {"add": [{"id": 1}], "replace": []}, 5, None, True, "x", [1], [None], [[{"id": 1}]],
     {"remove": [{"id": 3}]}],
)  # fmt: skip
def test_wrong_shapes_for_every_collection_kind_are_400(
    client: Client, engine: Engine, value: Any
) -> None:
    """Any other shape, for the dict-keyed, set and list relations alike: 400, nothing changed."""
    before = checksum(engine)
    for relation in ("books", "tags", "notes"):
        answer = send(client, "PATCH", "/api/author/1", {relation: value})
        assert answer.code == 400, (relation, answer.body)
        assert isinstance(answer.json["message"], str)
        answer = send(client, "POST", "/api/author", {"name": "x", relation: value})
        assert answer.code == 400, (relation, answer.body)
    assert checksum(engine) == before


# -- deletes -------------------------------------------------------------------------------


def refused(client: Client, engine: Engine, path: str, references: dict[str, int]) -> Answer:
    """DELETE ``path``: a 409 with these references, and nothing changed."""
    before = checksum(engine)
    answer = client.request("DELETE", path)
    assert (answer.code, answer.json.get("references")) == (409, references), answer.body
    assert answer.json["message"].startswith("Cannot delete: referred to by ")
    assert checksum(engine) == before
    return answer


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_references_without_cascade_block_the_delete(client: Client, engine: Engine) -> None:
    """Rows of a relation, and of a bare foreign key (named table.column), block: 409."""
    answer = refused(client, engine, "/api/book/2", {"loan.book_id": 1})
    assert answer.json["message"] == "Cannot delete: referred to by 1 row of 'loan.book_id'"
    refused(client, engine, "/api/person/1", {"staff": 1})
    refused(client, engine, "/api/book/3", {"shelf_books.book_id": 1})


def test_a_cascade_deletes_and_checks_what_it_deletes(client: Client, engine: Engine) -> None:
    """Notes go with their author (declared), unless a reply refers to one of them."""
    answer = refused(client, engine, "/api/author/1", {"books": 2, "notes.replies": 1, "tags": 2})
    assert "2 rows of 'books'" in answer.json["message"]
    notes = count(engine, Note)
    assert client.request("DELETE", "/api/author/2").code == 204
    assert count(engine, Note) == notes - 1


def test_ondelete_on_the_foreign_key_is_the_databases_business(
    client: Client, engine: Engine
) -> None:
    """A shelf's links go with it (ON DELETE CASCADE); its books stay."""
    assert client.request("DELETE", "/api/shelf/1").code == 204
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(shelf_books)).scalar_one() == 0
    assert client.get("/api/book/3").code == 200


def test_a_row_referring_to_itself_does_not_block(client: Client, engine: Engine) -> None:
    """Person 3 is its own boss: nothing else refers to it, so it goes."""
    assert client.request("DELETE", "/api/person/3").code == 204


def test_bulk_delete_checks_every_row(client: Client, engine: Engine) -> None:
    """A bulk DELETE that would orphan rows deletes nothing: 409 with the totals."""
    query = {"filters": [{"name": "id", "op": "in", "val": [1, 2]}]}
    refused(client, engine, f"/api/author?{q(query)}", {"books": 2, "notes.replies": 1, "tags": 2})
    query = {"filters": [{"name": "id", "op": "==", "val": 2}]}
    answer = client.request("DELETE", f"/api/author?{q(query)}")
    assert (answer.code, answer.json) == (200, {"num_deleted": 1})


def test_remove_with_delete_checks_references(client: Client, engine: Engine) -> None:
    """``remove`` with ``__delete__`` of a row others refer to: 409, nothing changed."""
    change = {"books": {"remove": [{"id": 2, "__delete__": True}]}}
    before = checksum(engine)
    answer = send(client, "PATCH", "/api/author/1", change)
    assert (answer.code, answer.json["references"]) == (409, {"loan.book_id": 1})
    assert checksum(engine) == before
    change = {"books": {"remove": [{"id": 1, "__delete__": True}]}}
    assert send(client, "PATCH", "/api/author/1", change).code == 200
    assert client.get("/api/book/1").code == 404


def test_orphans_a_cascade_deletes_are_checked(client: Client, engine: Engine) -> None:
    """Dropping notes from an author deletes them (delete-orphan), unless a reply refers to one."""
    before = checksum(engine)
    for change in ({"notes": []}, {"notes": {"remove": [{"id": 1}]}}):
        answer = send(client, "PATCH", "/api/author/1", change)
        assert (answer.code, answer.json.get("references")) == (409, {"replies": 1}), answer.body
    assert checksum(engine) == before
    answer = send(client, "PATCH", "/api/author/2", {"notes": []})
    assert (answer.code, answer.json["notes"]) == (200, [])
    assert client.get("/api/note/2").code == 404
