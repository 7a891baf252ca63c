"""A model's own ``query`` limits what the engine shows (0.17's "custom queries").

0.17 read through ``Model.query`` (a query, or a class method returning one)
whenever a model had one; its ``test_get_callable_query_attribute`` sets a
``CarModel.query`` that keeps the cars of one manufacturer, after the API is
made.  The scope holds for collections, instances, relation URLs, inlined
relations, ``eval`` and the rows writes look up; a new row is created
whatever the scope, as in 0.17.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, Unicode, event
from sqlalchemy.orm import DeclarativeBase, Session, relationship, scoped_session, sessionmaker

from .restless_client import Client, memory_engine, q, serve

JSON_HEADERS = {"Content-Type": "application/json"}


class Base(DeclarativeBase):
    pass


class CarManufacturer(Base):
    __tablename__ = "car_manufacturer"
    id = Column(Integer, primary_key=True)
    name = Column(Unicode)
    models = relationship("CarModel", back_populates="manufacturer")


class CarModel(Base):
    __tablename__ = "car_model"
    id = Column(Integer, primary_key=True)
    name = Column(Unicode)
    seats = Column(Integer)
    manufacturer_id = Column(Integer, ForeignKey("car_manufacturer.id"))
    manufacturer = relationship(CarManufacturer, back_populates="models")


SUPER = "Super Cars Ltd."


@pytest.fixture
def engine() -> Iterator[Any]:
    """Two manufacturers; cars 1 and 2 by the first, car 3 by the second."""
    engine = memory_engine(Base.metadata)
    with Session(engine) as session:
        cm1 = CarManufacturer(id=1, name=SUPER)
        cm2 = CarManufacturer(id=2, name="Trash Cars Ltd.")
        session.add_all(
            [
                CarModel(id=1, name="Luxory deluxe L", seats=2, manufacturer=cm1),
                CarModel(id=2, name="Luxory deluxe XL", seats=4, manufacturer=cm1),
                CarModel(id=3, name="Broken wheel", seats=5, manufacturer=cm2),
            ]
        )
        session.commit()
    yield engine
    engine.dispose()
    if "query" in CarModel.__dict__:
        delattr(CarModel, "query")


def scope_to_super(engine: Any) -> None:
    """0.17's test: a ``query`` class method joining the manufacturer, set after create_api."""
    session = Session(engine)

    def query(cls: type) -> Any:
        return session.query(cls).join(CarManufacturer).filter(CarManufacturer.name == SUPER)

    CarModel.query = classmethod(query)  # type: ignore[attr-defined]


@pytest.fixture
def client(engine: Any) -> Client:
    methods = ["GET", "POST", "PATCH", "DELETE"]
    client = serve(
        engine,
        (CarModel, {"methods": methods, "allow_functions": True, "allow_patch_many": True}),
        (CarManufacturer, {"methods": methods}),
        (CarModel, {"url_prefix": "/bulk", "methods": ["DELETE"], "allow_delete_many": True}),
    )
    scope_to_super(engine)
    return client


def send(client: Client, method: str, path: str, body: Any) -> Any:
    return client.request(method, path, data=json.dumps(body).encode(), headers=JSON_HEADERS)


def names(answer: Any) -> list[str]:
    return [o["name"] for o in answer.json["objects"]]


def test_collections_and_instances(client: Client) -> None:
    """0.17's test_get_callable_query_attribute: two cars, and 404 for the third."""
    page = client.get("/api/car_model").json
    assert page["num_results"] == 2
    assert [c["manufacturer"]["name"] for c in page["objects"]] == [SUPER, SUPER]
    assert client.get("/api/car_model/2").json["manufacturer_id"] == 1
    assert client.get("/api/car_model/3").code == 404
    wide = q({"filters": [{"name": "seats", "op": ">", "val": 3}]})
    assert names(client.get("/api/car_model?" + wide)) == ["Luxory deluxe XL"]
    single = q({"filters": [{"name": "seats", "op": "==", "val": 5}], "single": True})
    assert client.get("/api/car_model?" + single).code == 404
    assert client.get("/api/car_model?cursor=").json["next_cursor"] is None
    assert len(client.get("/api/car_model?cursor=").json["objects"]) == 2


def test_relations_and_eval(client: Client) -> None:
    """Relation URLs, inlined relations and eval see the scoped rows only."""
    assert client.get("/api/car_manufacturer/2").json["models"] == []
    assert client.get("/api/car_manufacturer/2/models").json["num_results"] == 0
    assert client.get("/api/car_manufacturer/2/models/3").code == 404
    assert names(client.get("/api/car_manufacturer/1/models")) == [
        "Luxory deluxe L",
        "Luxory deluxe XL",
    ]
    assert client.get("/api/car_model/3/manufacturer").code == 404
    assert client.get("/api/car_model/1/manufacturer").json["name"] == SUPER
    functions = q(
        {"functions": [{"name": "count", "field": "id"}, {"name": "sum", "field": "seats"}]}
    )
    assert client.get("/api/eval/car_model?" + functions).json == {"count__id": 2, "sum__seats": 6}


def test_writes_look_up_scoped_rows(client: Client, engine: Any) -> None:
    """PATCH and DELETE find no row outside the scope; bulk changes touch the scoped rows."""
    assert send(client, "PATCH", "/api/car_model/3", {"seats": 9}).code == 404
    assert client.request("DELETE", "/api/car_model/3").code == 404
    bulk = send(client, "PATCH", "/api/car_model", {"seats": 7})
    assert bulk.json == {"num_modified": 2}
    deleted = client.request(
        "DELETE", "/bulk/car_model?" + q({"filters": [{"name": "seats", "op": "==", "val": 7}]})
    )
    assert deleted.json == {"num_deleted": 2}
    with Session(engine) as session:
        assert [(c.id, c.seats) for c in session.query(CarModel)] == [(3, 5)]


def test_a_new_row_is_created_whatever_the_scope(client: Client) -> None:
    """POST creates the row and answers with it, as 0.17 did, even outside the scope."""
    answer = send(client, "POST", "/api/car_model", {"name": "Cart", "manufacturer_id": 2})
    assert (answer.code, answer.json["name"]) == (201, "Cart")
    assert client.get(f"/api/car_model/{answer.json['id']}").code == 404


def test_nested_objects_are_looked_up_in_scope(client: Client, engine: Any) -> None:
    """A nested object naming a row outside its model's scope names nothing."""
    answer = send(client, "PATCH", "/api/car_manufacturer/2", {"models": [{"id": 3}]})
    assert answer.code == 400
    moved = send(client, "PATCH", "/api/car_manufacturer/2", {"models": {"add": [{"id": 1}]}})
    # Car 1 now belongs to the other manufacturer, so the scope no longer shows it.
    assert moved.code == 200 and moved.json["models"] == []
    with Session(engine) as session:
        assert session.get(CarModel, 1).manufacturer_id == 2  # type: ignore[union-attr]


def test_a_query_object_and_a_plain_query_property(engine: Any) -> None:
    """A query given as an attribute scopes too; ``query_property()`` (every row)
    scopes nothing and keeps the prepared statements."""
    client = serve(engine, (CarModel, {}))
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    CarModel.query = Session(engine).query(CarModel).filter(CarModel.seats > 2)  # type: ignore[attr-defined]
    assert names(client.get("/api/car_model")) == ["Luxory deluxe XL", "Broken wheel"]
    CarModel.query = scoped_session(sessionmaker(engine)).query_property()  # type: ignore[attr-defined]
    statements.clear()
    assert client.get("/api/car_model").json["num_results"] == 3
    assert not any(" IN (SELECT" in s for s in statements)


def test_a_limited_query_and_a_failing_one(engine: Any) -> None:
    """A query with LIMIT keeps its order (the top rows); a query method that fails
    is the server's fault: a bare JSON 500."""
    client = serve(engine, (CarModel, {}))
    top = Session(engine).query(CarModel).order_by(CarModel.seats.desc()).limit(2)
    CarModel.query = top  # type: ignore[attr-defined]
    assert names(client.get("/api/car_model")) == ["Luxory deluxe XL", "Broken wheel"]

    def failing(cls: type) -> Any:
        raise RuntimeError("secret internals")

    CarModel.query = classmethod(failing)  # type: ignore[attr-defined]
    answer = client.get("/api/car_model")
    assert (answer.code, answer.json) == (500, {"message": "Internal server error"})
