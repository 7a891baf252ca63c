"""The engine on models other than Chinook: options, processors and unusual mappings.

These use small declarative models (in the style of flask-restless's own
tests) in an in-memory SQLite database, to exercise what Chinook does not:
include/exclude columns, ``include_methods``, hybrid properties, composite
and string primary keys, relations with custom join conditions (loaded
through the ORM), processors and ``ProcessingException``.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from sqlalchemy import Column, Date, ForeignKey, Integer, String, and_, event
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Session, relationship

from chinook_svc.restless import ProcessingException

from .restless_client import memory_engine, q, serve


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "person"
    id = Column(Integer, primary_key=True)
    name = Column(String, unique=True)
    age = Column(Integer)
    birthday = Column(Date)
    secret = Column(String)
    computers = relationship("Computer", backref="owner")
    vintage = relationship(
        "Computer",
        primaryjoin=lambda: and_(Person.id == Computer.owner_id, Computer.year < 1990),
        viewonly=True,
    )

    @hybrid_property
    def is_adult(self) -> bool:
        return self.age is not None and self.age >= 18

    @is_adult.expression  # type: ignore[no-redef]
    def is_adult(cls) -> Any:
        return cls.age >= 18

    def initials(self) -> str:
        return "".join(part[0] for part in (self.name or "").split())

    @property
    def computer_count(self) -> int:
        return len(self.computers)


class Computer(Base):
    __tablename__ = "computer"
    id = Column(Integer, primary_key=True)
    name = Column(String)
    year = Column(Integer)
    owner_id = Column(Integer, ForeignKey("person.id"))

    def label(self) -> str:
        return f"{self.name} ({self.year})"


class Tag(Base):
    __tablename__ = "tag"
    slug = Column(String, primary_key=True)
    title = Column(String)


class Membership(Base):
    __tablename__ = "membership"
    group_id = Column(Integer, primary_key=True)
    person_id = Column(Integer, ForeignKey("person.id"), primary_key=True)
    role = Column(String)
    person = relationship(Person)


@pytest.fixture
def engine() -> Any:
    """An in-memory database with a few people and their computers."""
    engine = memory_engine(Base.metadata)
    with Session(engine) as session:
        alice = Person(
            id=1, name="Alice Liddell", age=30, birthday=datetime.date(1990, 5, 4), secret="s1"
        )
        bob = Person(id=2, name="Bob Dylan", age=12, secret="s2")
        carol = Person(id=3, name="Carol", age=None, secret="s3")
        session.add_all([alice, bob, carol])
        session.add_all(
            [
                Computer(id=1, name="C64", year=1982, owner=alice),
                Computer(id=2, name="Amiga", year=1987, owner=alice),
                Computer(id=3, name="MacBook", year=2020, owner=alice),
                Computer(id=4, name="PC", year=1995, owner=bob),
                Tag(slug="a-b", title="A B"),
                Membership(group_id=7, person_id=1, role="admin"),
                Membership(group_id=7, person_id=2, role="user"),
            ]
        )
        session.commit()
    return engine


def test_default_object_has_columns_hybrids_and_relations(engine: Any) -> None:
    """Every column, hybrid property and relation (one level deep) is in the object."""
    client = serve(engine, (Person, {}))
    alice = client.get("/api/person/1").json
    assert sorted(alice) == [
        "age",
        "birthday",
        "computers",
        "id",
        "is_adult",
        "name",
        "secret",
        "vintage",
    ]
    assert alice["is_adult"] is True
    assert alice["birthday"] == "1990-05-04"
    assert [c["id"] for c in alice["computers"]] == [1, 2, 3]
    assert "owner" not in alice["computers"][0]


def test_custom_join_relation_is_loaded(engine: Any) -> None:
    """A relation with an extra join condition (loaded through the ORM) holds the right rows."""
    client = serve(engine, (Person, {}))
    body = client.get("/api/person").json
    assert [[c["id"] for c in p["vintage"]] for p in body["objects"]] == [[1, 2], [], []]
    assert client.get("/api/person/1/vintage").json["num_results"] == 2


def test_include_columns_with_dotted_relation_fields(engine: Any) -> None:
    """include_columns keeps only the listed fields; "rel.col" narrows a relation."""
    client = serve(
        engine, (Person, {"include_columns": ["id", "name", "computers", "computers.name"]})
    )
    alice = client.get("/api/person/1").json
    assert alice == {
        "computers": [{"name": "C64"}, {"name": "Amiga"}, {"name": "MacBook"}],
        "id": 1,
        "name": "Alice Liddell",
    }


def test_exclude_columns(engine: Any) -> None:
    """exclude_columns drops fields and whole relations; "rel.col" drops a related field."""
    client = serve(engine, (Person, {"exclude_columns": ["secret", "vintage", "computers.year"]}))
    alice = client.get("/api/person/1").json
    assert "secret" not in alice and "vintage" not in alice
    assert alice["computers"][0] == {"id": 1, "name": "C64", "owner_id": 1}


def test_hidden_fields_cannot_be_filtered_or_sorted(engine: Any) -> None:
    """A field the API hides cannot be probed with filters or order_by (a deviation)."""
    client = serve(
        engine, (Person, {"exclude_columns": ["secret", "computers.year"], "allow_functions": True})
    )
    probes = [
        {"filters": [{"name": "secret", "op": "like", "val": "s%"}]},
        {"order_by": [{"field": "secret"}]},
        {
            "filters": [
                {"name": "computers", "op": "any", "val": {"name": "year", "op": "<", "val": 1990}}
            ]
        },
        {"filters": [{"name": "name", "op": "==", "field": "secret"}]},
    ]
    for probe in probes:
        answer = client.get(f"/api/person?{q(probe)}")
        assert (answer.code, answer.json["message"]) == (400, "Unable to construct query"), probe
    answer = client.get(
        f"/api/eval/person?{q({'functions': [{'name': 'max', 'field': 'secret'}]})}"
    )
    assert (answer.code, answer.json["message"]) == (400, 'No such field "secret"')


def test_eval_needs_allow_functions(engine: Any) -> None:
    """Without allow_functions there is no eval URL: 404."""
    client = serve(engine, (Person, {}))
    answer = client.get(f"/api/eval/person?{q({'functions': [{'name': 'count', 'field': 'id'}]})}")
    assert answer.code == 404


def test_include_methods(engine: Any) -> None:
    """include_methods adds method results and properties, also on related objects."""
    client = serve(
        engine, (Person, {"include_methods": ["initials", "computer_count", "computers.label"]})
    )
    alice = client.get("/api/person/1").json
    assert alice["initials"] == "AL" and alice["computer_count"] == 3
    assert alice["computers"][0]["label"] == "C64 (1982)"
    page = client.get("/api/person").json["objects"]
    assert [p["initials"] for p in page] == ["AL", "BD", "C"]


def test_hybrid_property_filter(engine: Any) -> None:
    """A hybrid property can be filtered on through its SQL expression."""
    client = serve(engine, (Person, {}))
    body = client.get(
        f"/api/person?{q({'filters': [{'name': 'is_adult', 'op': '==', 'val': True}]})}"
    ).json
    assert [p["id"] for p in body["objects"]] == [1]


def test_string_primary_key(engine: Any) -> None:
    """A string primary key works in instance URLs and single's Location."""
    client = serve(engine, (Tag, {}))
    assert client.get("/api/tag/a-b").json == {"slug": "a-b", "title": "A B"}
    assert client.get("/api/tag/zz").code == 404


def test_composite_primary_key(engine: Any) -> None:
    """A composite key orders by every key column; instance URLs use the first (0.17)."""
    client = serve(engine, (Membership, {}))
    body = client.get("/api/membership").json
    assert [(m["group_id"], m["person_id"]) for m in body["objects"]] == [(7, 1), (7, 2)]
    assert body["objects"][0]["person"]["name"] == "Alice Liddell"


def test_primary_key_option(engine: Any) -> None:
    """primary_key picks the attribute instance URLs use."""
    client = serve(engine, (Person, {"primary_key": "name"}))
    assert client.get("/api/person/Carol").json["id"] == 3


def test_unpaginated_api(engine: Any) -> None:
    """results_per_page=0 turns pagination off: one page with everything."""
    client = serve(engine, (Computer, {"results_per_page": 0}))
    body = client.get("/api/computer").json
    assert (body["num_results"], body["page"], body["total_pages"], len(body["objects"])) == (
        4,
        1,
        1,
        4,
    )


def test_url_prefix_and_collection_name(engine: Any) -> None:
    """Each API may have its own prefix and collection name."""
    client = serve(
        engine, (Person, {"collection_name": "people", "url_prefix": "/v2"}), (Computer, {})
    )
    assert client.get("/v2/people/1").code == 200
    assert client.get("/api/computer/1").code == 200
    assert client.get("/api/people/1").code == 404


def test_get_processors(engine: Any) -> None:
    """GET_MANY preprocessors edit search_params, GET_SINGLE ones may replace the id,
    postprocessors edit results."""
    seen: list[Any] = []

    def only_adults(search_params: dict[str, Any]) -> None:
        search_params.setdefault("filters", []).append({"name": "age", "op": ">=", "val": 18})

    def add_note(result: dict[str, Any], search_params: dict[str, Any]) -> None:
        seen.append(search_params)
        result["note"] = "filtered"

    def alias_me(instance_id: str) -> Any:
        return 1 if instance_id == "me" else None

    def strip_secret(result: dict[str, Any]) -> None:
        result.pop("secret", None)

    client = serve(
        engine,
        (Person, {
            "preprocessors": {"GET_MANY": [only_adults], "GET_SINGLE": [alias_me]},
            "postprocessors": {"GET_MANY": [add_note], "get_single": [strip_secret]},
        }),
    )  # fmt: skip
    body = client.get("/api/person").json
    assert [p["id"] for p in body["objects"]] == [1] and body["note"] == "filtered"
    assert seen[0]["filters"][0]["name"] == "age"
    me = client.get("/api/person/me").json
    assert me["id"] == 1 and "secret" not in me


def test_processing_exception(engine: Any) -> None:
    """A processor raising ProcessingException answers its code and description."""

    def deny(**kwargs: Any) -> None:
        raise ProcessingException(description="Not authorized", code=401)

    client = serve(engine, (Person, {}), preprocessors={"GET_MANY": [deny], "GET_SINGLE": [deny]})
    for path in ("/api/person", "/api/person/1", "/api/person/1/computers"):
        answer = client.get(path)
        assert (answer.code, answer.json) == (401, {"message": "Not authorized"}), path


def test_unexpected_error_is_a_bare_500(engine: Any) -> None:
    """A failing processor yields 500 {"message": "Internal server error"}, no traceback."""

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    client = serve(engine, (Person, {"preprocessors": {"GET_SINGLE": [broken]}}))
    answer = client.get("/api/person/1")
    assert answer.code == 500
    assert answer.json == {"message": "Internal server error"}
    assert b"secret internals" not in answer.body and b"Traceback" not in answer.body


def test_jsonp_when_enabled(engine: Any) -> None:
    """With allow_jsonp, ?callback=fn wraps {meta, data}; a bad callback name is 400."""
    client = serve(engine, (Person, {"allow_jsonp": True}))
    answer = client.get("/api/person/1?callback=show")
    assert answer.headers["content-type"] == "application/javascript"
    assert answer.body.startswith(b'show({"data":{') and answer.body.endswith(b"})")
    assert client.get("/api/person/1?callback=alert(1)//").code == 400


def test_bounded_statements_per_page(engine: Any) -> None:
    """A page costs the same number of statements whatever its size (no N+1)."""
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    client = serve(engine, (Person, {"exclude_columns": ["vintage"]}), (Computer, {}))
    counts = []
    for size in (1, 2, 3):
        statements.clear()
        assert len(client.get(f"/api/person?results_per_page={size}").json["objects"]) == size
        counts.append(len(statements))
    # count, page, the ORM instances for the hybrid property, computers
    assert counts[0] == counts[1] == counts[2] == 4
    statements.clear()
    client.get("/api/computer?results_per_page=4")
    assert len(statements) == 4  # count, page, owners, the owners' instances for is_adult
