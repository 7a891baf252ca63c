"""What flask-restless 0.17.0's own test suite expects, on its own kind of models.

Each test here names the 0.17 behaviour it holds the engine to (issue 13):
empty JSON bodies, column attributes in ``include_columns``/``exclude_columns``,
set-up validation (``IllegalArgumentError``), the ``serializer``,
``deserializer`` and ``post_form_preprocessor`` options, JSONP's ``meta``,
and dates in any form ``dateutil`` reads.  The models are 0.17's test models
(``Person``, ``Computer``) in an in-memory SQLite database.
"""

from __future__ import annotations

import datetime
import json
import warnings
from typing import Any

import pytest
from sqlalchemy import Column, Date, DateTime, Float, ForeignKey, Integer, Unicode
from sqlalchemy.orm import DeclarativeBase, Session, relationship

from chinook_svc.restless import APIManager, IllegalArgumentError, InlineRunner

from .restless_client import Client, memory_engine, q, serve

JSON_HEADERS = {"Content-Type": "application/json"}


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "person"
    id = Column(Integer, primary_key=True)
    name = Column(Unicode, unique=True)
    age = Column(Float)
    other = Column(Float)
    birth_date = Column(Date)
    computers = relationship("Computer", backref="owner")


class Computer(Base):
    __tablename__ = "computer"
    id = Column(Integer, primary_key=True)
    name = Column(Unicode)
    vendor = Column(Unicode)
    buy_date = Column(DateTime)
    owner_id = Column(Integer, ForeignKey("person.id"))


@pytest.fixture
def engine() -> Any:
    """Two people, one of them with a computer."""
    engine = memory_engine(Base.metadata)
    with Session(engine) as session:
        lincoln = Person(id=1, name="Lincoln", age=24, birth_date=datetime.date(1900, 1, 2))
        session.add_all([lincoln, Person(id=2, name="Mary", age=19)])
        session.add(
            Computer(
                id=1,
                name="foo",
                vendor="bar",
                owner=lincoln,
                buy_date=datetime.datetime(2010, 6, 1, 12),
            )
        )
        session.commit()
    yield engine
    engine.dispose()


def send(client: Client, method: str, path: str, body: bytes, **headers: str) -> Any:
    return client.request(method, path, data=body, headers={**JSON_HEADERS, **headers})


def rows(engine: Any, model: type) -> int:
    with Session(engine) as session:
        return session.query(model).count()


# -- empty bodies --------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"   \r\n"])
def test_an_empty_json_body_is_unable_to_decode(engine: Any, body: bytes) -> None:
    """0.17: an empty body that says it is JSON is 400 ``Unable to decode data``,
    and a POST creates no all-null row."""
    client = serve(engine, (Person, {"methods": ["GET", "POST", "PATCH"]}))
    for method, path in (("POST", "/api/person"), ("PATCH", "/api/person/1")):
        answer = send(client, method, path, body)
        assert (answer.code, answer.json["message"]) == (400, "Unable to decode data"), method
    assert rows(engine, Person) == 2
    assert client.get("/api/person/1").json["name"] == "Lincoln"


# -- include/exclude with column attributes ------------------------------------------


def test_column_attributes_in_include_and_exclude_columns(engine: Any) -> None:
    """0.17 took the names of column attributes given in place of strings."""
    client = serve(
        engine,
        (Person, {"include_columns": [Person.name, Person.age], "url_prefix": "/some"}),
        (Person, {"exclude_columns": [Person.name, "computers"], "url_prefix": "/most"}),
    )
    assert client.get("/some/person/1").json == {"age": 24.0, "name": "Lincoln"}
    most = client.get("/most/person/1").json
    assert sorted(most) == ["age", "birth_date", "id", "other"]


def test_a_column_of_another_model_is_refused_at_set_up(engine: Any) -> None:
    """0.17: a column attribute of another model is a ValueError at set-up."""
    manager = APIManager(engine, runner=InlineRunner())
    with pytest.raises(ValueError, match="Cannot specify column of model Computer"):
        manager.create_api(Person, include_columns=[Computer.name])


# -- set-up validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"exclude_columns": ["id"], "methods": ["POST"]},
        {"exclude_columns": [Person.id], "methods": ["GET", "POST"]},
        {"include_columns": ["name"], "methods": ["POST"]},
        {"include_columns": ["name"], "exclude_columns": ["age"]},
    ],
)
def test_illegal_options_are_refused_at_set_up(engine: Any, options: dict[str, Any]) -> None:
    """0.17's IllegalArgumentError: a POST API hiding the primary key, or both lists."""
    manager = APIManager(engine, runner=InlineRunner())
    with pytest.raises(IllegalArgumentError) as caught:
        manager.create_api(Person, **options)
    assert isinstance(caught.value, ValueError)


def test_a_read_only_api_may_hide_the_primary_key(engine: Any) -> None:
    """Only an API with POST must show its primary key."""
    client = serve(engine, (Person, {"exclude_columns": ["id", "computers"]}))
    assert "id" not in client.get("/api/person/1").json


# -- serializer, deserializer, post_form_preprocessor --------------------------------------


def _serializer(instance: Person) -> dict[str, Any]:
    return {"id": instance.id, "name": instance.name, "foo": "bar"}


def _deserializer(data: dict[str, Any]) -> Person:
    data.pop("foo")
    return Person(**data)


def test_custom_serializer_shapes_every_object_out(engine: Any) -> None:
    """0.17's ``serializer``: called with each instance the API answers with."""
    client = serve(engine, (Person, {"serializer": _serializer, "methods": ["GET", "PATCH"]}))
    assert client.get("/api/person/1").json == {"foo": "bar", "id": 1, "name": "Lincoln"}
    page = client.get("/api/person").json
    assert page["num_results"] == 2
    assert page["objects"] == [
        {"foo": "bar", "id": 1, "name": "Lincoln"},
        {"foo": "bar", "id": 2, "name": "Mary"},
    ]
    single = client.get(
        "/api/person?" + q({"filters": [{"name": "id", "op": "==", "val": 2}], "single": True})
    )
    assert single.json == {"foo": "bar", "id": 2, "name": "Mary"}
    patched = send(client, "PATCH", "/api/person/2", b'{"name": "Maria"}')
    assert patched.json == {"foo": "bar", "id": 2, "name": "Maria"}


def test_custom_deserializer_makes_the_posted_instance(engine: Any) -> None:
    """0.17's ``deserializer``: the body in, the instance to add out."""
    client = serve(
        engine,
        (Person, {"methods": ["POST"], "serializer": _serializer, "deserializer": _deserializer}),
    )
    answer = send(client, "POST", "/api/person", b'{"id": 7, "name": "Seven", "foo": "bar"}')
    assert answer.code == 201
    assert answer.json == {"foo": "bar", "id": 7, "name": "Seven"}
    assert answer.headers["location"].endswith("/api/person/7")


def test_a_deserializer_error_is_a_validation_error(engine: Any) -> None:
    """A deserializer raising one of ``validation_exceptions`` is a 400 that writes nothing."""

    class Invalid(Exception):
        errors = {"name": "required"}

    def strict(data: dict[str, Any]) -> Person:
        if "name" not in data:
            raise Invalid()
        return Person(**data)

    client = serve(
        engine,
        (Person, {"methods": ["POST"], "deserializer": strict, "validation_exceptions": [Invalid]}),
    )
    answer = send(client, "POST", "/api/person", b'{"age": 3}')
    assert (answer.code, answer.json["validation_errors"]) == (400, {"name": "required"})
    assert rows(engine, Person) == 2


def test_post_form_preprocessor_still_runs(engine: Any) -> None:
    """0.17's deprecated ``post_form_preprocessor``: a POST preprocessor given the data."""

    def add_owner(data: dict[str, Any]) -> dict[str, Any]:
        data["other"] = 7
        return data

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = serve(engine, (Person, {"methods": ["POST"], "post_form_preprocessor": add_owner}))
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    answer = send(client, "POST", "/api/person", b'{"name": "Form"}')
    assert (answer.code, answer.json["other"]) == (201, 7.0)


# -- JSONP ----------------------------------------------------------------------------------


def _jsonp(answer: Any, callback: str) -> Any:
    assert answer.body.startswith(callback.encode() + b"(") and answer.body.endswith(b")")
    return json.loads(answer.body[len(callback) + 1 : -1])


def test_jsonp_meta_holds_link_objects_and_content_type(engine: Any) -> None:
    """0.17's JSONP: ``meta.Link`` a list of {"url", "rel"}, ``meta`` with the Content-Type."""
    with Session(engine) as session:
        session.add_all(Person(name=str(n)) for n in range(20))
        session.commit()
    client = serve(engine, (Person, {"allow_jsonp": True, "allow_functions": True}))
    answer = client.get("/api/person?callback=baz")
    assert answer.code == 200 and answer.headers["content-type"] == "application/javascript"
    meta = _jsonp(answer, "baz")["meta"]
    assert meta["status"] == 200
    assert meta["Content-Type"] == "application/javascript"
    assert meta["Link"] == [
        {"url": "http://localhost:8080/api/person?page=2&results_per_page=10", "rel": "next"},
        {"url": "http://localhost:8080/api/person?page=3&results_per_page=10", "rel": "last"},
    ]
    single = _jsonp(client.get("/api/person/1?callback=baz"), "baz")
    assert single["meta"] == {"Content-Type": "application/javascript", "status": 200}
    assert single["data"]["name"] == "Lincoln"
    functions = q({"functions": [{"name": "sum", "field": "age"}]})
    assert _jsonp(client.get(f"/api/eval/person?{functions}&callback=baz"), "baz")["data"] == {
        "sum__age": 43.0
    }


# -- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["1900-01-02", "2nd Jan 1900", "01/02/1900", "Jan 2, 1900", "1900-01-02T00:00:00"]
)
def test_filter_dates_in_any_form_dateutil_reads(engine: Any, text: str) -> None:
    """0.17 parsed filter dates with dateutil (its test_search_dates)."""
    client = serve(engine, (Person, {}))
    search = {"filters": [{"name": "birth_date", "op": "==", "val": text}]}
    answer = client.get("/api/person?" + q(search))
    assert answer.code == 200, answer.json
    assert [p["name"] for p in answer.json["objects"]] == ["Lincoln"]


def test_datetime_filters_and_bodies_in_dateutil_forms(engine: Any) -> None:
    """Datetimes too: in filters, and in POST and PATCH bodies (0.17's strings_to_dates)."""
    client = serve(
        engine,
        (Person, {"methods": ["GET", "POST", "PATCH"]}),
        (Computer, {"methods": ["GET", "POST", "PATCH"]}),
    )
    search = {"filters": [{"name": "buy_date", "op": ">=", "val": "1st June 2010 11:59"}]}
    assert client.get("/api/computer?" + q(search)).json["num_results"] == 1
    posted = send(client, "POST", "/api/person", b'{"name": "Dated", "birth_date": "15/09/1986"}')
    assert (posted.code, posted.json["birth_date"]) == (201, "1986-09-15")
    patched = send(client, "PATCH", "/api/computer/1", b'{"buy_date": "2nd Jan 2011 14:35"}')
    assert (patched.code, patched.json["buy_date"]) == (200, "2011-01-02T14:35:00")


@pytest.mark.parametrize("text", ["Jan 1900", "14:35", "1900", "not a date", "9" * 80])
def test_a_date_missing_its_day_month_or_year_is_refused(engine: Any, text: str) -> None:
    """A deviation: 0.17 filled a missing day, month or year from today's date."""
    client = serve(engine, (Person, {"methods": ["GET", "POST"]}))
    search = {"filters": [{"name": "birth_date", "op": "==", "val": text}]}
    answer = client.get("/api/person?" + q(search))
    assert (answer.code, answer.json["message"]) == (400, "Unable to construct query")
    posted = send(client, "POST", "/api/person", json.dumps({"birth_date": text}).encode())
    assert (posted.code, posted.json["message"]) == (400, "Invalid value for field 'birth_date'")
    assert rows(engine, Person) == 2


def test_a_timezone_offset_is_converted_to_utc(engine: Any) -> None:
    """A value with an offset is converted to UTC, not stored with the offset dropped
    (issue 10): 10:00+05:00 is 05:00, in bodies and in filters."""
    client = serve(engine, (Computer, {"methods": ["GET", "PATCH"]}))
    patched = send(client, "PATCH", "/api/computer/1", b'{"buy_date": "2011-01-02T10:00:00+05:00"}')
    assert (patched.code, patched.json["buy_date"]) == (200, "2011-01-02T05:00:00")
    zulu = send(client, "PATCH", "/api/computer/1", b'{"buy_date": "2011-01-02T10:00:00Z"}')
    assert zulu.json["buy_date"] == "2011-01-02T10:00:00"
    search = {"filters": [{"name": "buy_date", "op": "==", "val": "2011-01-02T12:00:00+02:00"}]}
    assert client.get("/api/computer?" + q(search)).json["num_results"] == 1
