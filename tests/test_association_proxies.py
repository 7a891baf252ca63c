"""Association proxies, as flask-restless 0.17 served them (its ``TestAssociationProxy``).

The models are 0.17's: a ``Product`` whose ``chosen_images`` proxy goes
through ``ChosenProductImage`` rows to ``Image`` (a proxy to a relation),
``tag_names`` and ``image_names`` (proxies to columns), and an ``Image``
whose ``meta`` proxy is keyed by its ``Metadata`` rows' ``key``.  A proxy
to a relation behaves as that relation (objects out, objects in, ``add`` and
``remove``, ``any``/``has``), a proxy to a column is a list of values, and a
dict-keyed proxy is the list of its keys, set with ``{"key", "value"}`` objects.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, String, Table, Unicode
from sqlalchemy.ext.associationproxy import association_proxy
from sqlalchemy.orm import DeclarativeBase, Session, backref, relationship
from sqlalchemy.orm.collections import column_keyed_dict

from .backends import checksum
from .restless_client import Client, memory_engine, q, serve

JSON_HEADERS = {"Content-Type": "application/json"}


class Base(DeclarativeBase):
    pass


tag_product = Table(
    "tag_product",
    Base.metadata,
    Column("tag_id", Integer, ForeignKey("tag.id"), primary_key=True),
    Column("product_id", Integer, ForeignKey("product.id"), primary_key=True),
)
image_meta = Table(
    "image_meta",
    Base.metadata,
    Column("image_id", Integer, ForeignKey("image.id")),
    Column("meta_id", Integer, ForeignKey("meta.id")),
)


class Metadata(Base):
    __tablename__ = "meta"
    id = Column(Integer, primary_key=True)
    key = Column(String(256), nullable=False)
    value = Column(String(256))


class Image(Base):
    __tablename__ = "image"
    id = Column(Integer, primary_key=True)
    products = association_proxy(
        "chosen_product_images",
        "product",
        creator=lambda product: ChosenProductImage(product=product),
    )
    meta_store = relationship(
        Metadata,
        cascade="all",
        collection_class=column_keyed_dict(Metadata.__table__.c.key),
        secondary=image_meta,
    )
    meta = association_proxy(
        "meta_store", "value", creator=lambda key, value: Metadata(key=key, value=value)
    )


class ChosenProductImage(Base):
    __tablename__ = "chosen_product_image"
    product_id = Column(Integer, ForeignKey("product.id"), primary_key=True)
    image_id = Column(Integer, ForeignKey("image.id"), primary_key=True)
    image = relationship(
        Image, backref=backref("chosen_product_images", cascade="all, delete-orphan")
    )
    name = Column(Unicode, default="default name")


class Tag(Base):
    __tablename__ = "tag"
    id = Column(Integer, primary_key=True)
    name = Column(Unicode, nullable=False)


class Product(Base):
    __tablename__ = "product"
    id = Column(Integer, primary_key=True)
    chosen_product_images = relationship(
        ChosenProductImage, backref=backref("product"), cascade="all, delete-orphan"
    )
    chosen_images = association_proxy(
        "chosen_product_images", "image", creator=lambda image: ChosenProductImage(image=image)
    )
    image_names = association_proxy("chosen_product_images", "name")
    tags = relationship(Tag, secondary=tag_product, backref=backref("products"))
    tag_names = association_proxy("tags", "name", creator=lambda name: Tag(name=name))


class Project(Base):
    __tablename__ = "project"
    id = Column(Integer, primary_key=True)
    lead_id = Column(Integer, ForeignKey("tag.id"))
    lead = relationship(Tag)


class Proof(Base):
    __tablename__ = "proof"
    id = Column(Integer, primary_key=True)
    project_id = Column(Integer, ForeignKey("project.id"))
    project = relationship(Project)
    lead = association_proxy("project", "lead")
    lead_id = association_proxy("project", "lead_id")


@pytest.fixture
def engine() -> Any:
    """One product (no images yet) and two images, as 0.17's tests start."""
    engine = memory_engine(Base.metadata)
    with Session(engine) as session:
        session.add_all([Product(id=1), Image(id=1), Image(id=2)])
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine: Any) -> Client:
    methods = ["GET", "PATCH", "POST"]
    return serve(engine, (Product, {"methods": methods}), (Image, {"methods": methods}))


@pytest.fixture
def proofs(engine: Any) -> Client:
    """Proof 1 of project 1, whose lead is tag 9; proof 2 of no project."""
    with Session(engine) as session:
        session.add(Proof(id=1, project=Project(id=1, lead=Tag(id=9, name="boss"))))
        session.add(Proof(id=2))
        session.commit()
    return serve(engine, (Proof, {}))


def send(client: Client, method: str, path: str, body: Any) -> Any:
    return client.request(method, path, data=json.dumps(body).encode(), headers=JSON_HEADERS)


def chosen(client: Client, product: int = 1) -> list[int]:
    return [i["id"] for i in client.get(f"/api/product/{product}").json["chosen_images"]]


# -- reading -----------------------------------------------------------------------------


def test_get_shows_proxies(engine: Any, client: Client) -> None:
    """0.17's test_get_data: a proxy to a relation is a list of objects (their columns),
    a proxy to a column a list of values."""
    with Session(engine) as session:
        session.add(ChosenProductImage(image_id=1, product_id=1))
        session.get(Product, 1).tag_names = ["t1", "t2"]  # type: ignore[union-attr]
        session.commit()
    product = client.get("/api/product/1").json
    assert product["chosen_images"] == [{"id": 1}]
    assert product["image_names"] == ["default name"]
    assert product["tag_names"] == ["t1", "t2"]
    assert product["chosen_product_images"] == [
        {"image_id": 1, "name": "default name", "product_id": 1}
    ]
    assert client.get("/api/image/1").json["products"] == [{"id": 1}]
    page = client.get("/api/product").json
    assert page["num_results"] == 1 and page["objects"][0]["tag_names"] == ["t1", "t2"]


def test_include_and_exclude_columns_name_proxies(client: Client, engine: Any) -> None:
    """Proxies count as relations for include/exclude (0.17's get_relations)."""
    narrow = serve(
        engine,
        (Product, {"include_columns": ["id", "tag_names"]}),
        (Image, {"exclude_columns": ["products", "meta"]}),
    )
    assert narrow.get("/api/product/1").json == {"id": 1, "tag_names": []}
    assert sorted(narrow.get("/api/image/1").json) == ["chosen_product_images", "id", "meta_store"]


def test_a_proxy_through_a_to_one_relation_is_one_value(proofs: Client) -> None:
    """Through a to-one relation, a proxy is one object (or value), not a list."""
    assert proofs.get("/api/proof/1").json["lead"] == {"id": 9, "name": "boss"}
    assert proofs.get("/api/proof/1").json["lead_id"] == 9
    assert proofs.get("/api/proof/2").json["lead"] is None


# -- writing -----------------------------------------------------------------------------------


def test_post_with_a_proxy_to_a_relation(client: Client) -> None:
    """0.17's test_post and test_post_many: objects with a key link existing rows."""
    answer = send(client, "POST", "/api/product", {"chosen_images": [{"id": 1}, {"id": 2}]})
    assert answer.code == 201, answer.json
    assert [i["id"] for i in answer.json["chosen_images"]] == [1, 2]
    assert answer.json["chosen_product_images"][1] == {
        "image_id": 2,
        "name": "default name",
        "product_id": 2,
    }
    image = send(client, "POST", "/api/image", {"products": [{"id": 1}]})
    assert image.code == 201 and image.json["products"] == [{"id": 1}]
    assert chosen(client) == [3]


def test_patch_sets_adds_and_removes_through_a_proxy(client: Client) -> None:
    """0.17's test_patch, test_patch_with_add and test_patch_with_remove."""
    assert send(client, "PATCH", "/api/product/1", {"chosen_images": [{"id": 1}]}).code == 200
    assert chosen(client) == [1]
    assert (
        send(client, "PATCH", "/api/product/1", {"chosen_images": {"add": {"id": 2}}}).code == 200
    )
    assert chosen(client) == [1, 2]
    removed = send(client, "PATCH", "/api/product/1", {"chosen_images": {"remove": [{"id": 1}]}})
    assert removed.code == 200 and [i["id"] for i in removed.json["chosen_images"]] == [2]
    assert client.get("/api/image/1").json["products"] == []
    missing = send(client, "PATCH", "/api/product/1", {"chosen_images": {"remove": [{"id": 1}]}})
    assert missing.code == 400 and chosen(client) == [2]


def test_a_proxy_to_a_column_takes_values(client: Client) -> None:
    """0.17's test_scalar: a list of values, each made into a row by the proxy's creator."""
    answer = send(client, "PATCH", "/api/product/1", {"tag_names": ["tag1", "tag2"]})
    assert (answer.code, answer.json["tag_names"]) == (200, ["tag1", "tag2"])
    added = send(client, "PATCH", "/api/product/1", {"tag_names": {"add": ["tag3"]}})
    assert added.json["tag_names"] == ["tag1", "tag2", "tag3"]
    removed = send(client, "PATCH", "/api/product/1", {"tag_names": {"remove": ["tag1"]}})
    assert removed.json["tag_names"] == ["tag2", "tag3"]
    posted = send(client, "POST", "/api/product", {"tag_names": ["x"]})
    assert (posted.code, posted.json["tag_names"]) == (201, ["x"])
    wrong = send(client, "PATCH", "/api/product/1", {"tag_names": [5]})
    assert wrong.code == 400 and client.get("/api/product/1").json["tag_names"] == ["tag2", "tag3"]


def test_a_dict_keyed_proxy(client: Client) -> None:
    """0.17's test_assoc_dict_put: set with {"key", "value"} objects; shown as its keys."""
    answer = send(
        client,
        "POST",
        "/api/image",
        {"products": [{"id": 1}], "meta": [{"key": "file type", "value": "png"}]},
    )
    assert answer.code == 201, answer.json
    image = client.get(f"/api/image/{answer.json['id']}").json
    assert image["meta"] == ["file type"] and image["meta_store"] == ["file type"]
    listed = client.get(f"/api/image/{answer.json['id']}/meta_store").json["objects"]
    assert [(m["key"], m["value"]) for m in listed] == [("file type", "png")]
    patched = send(client, "PATCH", "/api/image/1", {"meta": {"size": "big", "colour": "red"}})
    assert patched.code == 200 and sorted(patched.json["meta"]) == ["colour", "size"]


def test_a_rejected_proxy_write_changes_nothing(client: Client, engine: Any) -> None:
    """A proxy item naming a row that is not there is a 400, and the write is undone."""
    answer = send(
        client, "PATCH", "/api/product/1", {"tag_names": ["a"], "chosen_images": [{"id": 9}]}
    )
    assert answer.code == 400
    assert client.get("/api/product/1").json["tag_names"] == []
    bad = send(client, "POST", "/api/product", {"chosen_images": {"id": 1}})
    assert bad.code == 400 and client.get("/api/product").json["num_results"] == 1


# -- searching ----------------------------------------------------------------------------------


def test_any_through_a_proxy_to_a_relation(client: Client) -> None:
    """0.17's test_any: ``chosen_images__id`` and a nested filter reach Image's fields."""
    send(client, "PATCH", "/api/product/1", {"chosen_images": [{"id": 1}, {"id": 2}]})
    legacy = {"filters": [{"name": "chosen_images__id", "op": "any", "val": 1}]}
    answer = client.get("/api/product?" + q(legacy))
    assert answer.code == 200 and {"id": 1} in answer.json["objects"][0]["chosen_images"]
    send(client, "PATCH", "/api/product/1", {"chosen_images": {"remove": [{"id": 1}]}})
    assert client.get("/api/product?" + q(legacy)).json["num_results"] == 0
    nested = {
        "filters": [
            {"name": "chosen_images", "op": "any", "val": {"name": "id", "op": "eq", "val": 2}}
        ]
    }
    assert client.get("/api/product?" + q(nested)).json["num_results"] == 1
    wrong = {
        "filters": [
            {"name": "chosen_images", "op": "has", "val": {"name": "id", "op": "eq", "val": 2}}
        ]
    }
    assert client.get("/api/product?" + q(wrong)).code == 400


def test_filters_on_a_proxy_to_a_column(client: Client) -> None:
    """A filter on a list of values holds when some value satisfies it."""
    send(client, "PATCH", "/api/product/1", {"tag_names": ["red", "green"]})
    send(client, "POST", "/api/product", {"tag_names": ["blue"]})

    def found(*filters: Any) -> list[int]:
        return [
            p["id"]
            for p in client.get("/api/product?" + q({"filters": list(filters)})).json["objects"]
        ]

    assert found({"name": "tag_names", "op": "==", "val": "green"}) == [1]
    assert found({"name": "tag_names", "op": "like", "val": "%e%"}) == [1, 2]
    assert found(
        {"name": "tag_names", "op": "any", "val": {"name": "name", "op": "==", "val": "blue"}}
    ) == [2]
    assert client.get("/api/product?" + q({"order_by": [{"field": "tag_names"}]})).code == 400


def test_a_proxy_through_a_to_one_relation_is_filtered_with_has(proofs: Client) -> None:
    """Through a to-one relation: ``has``, as for a to-one relation."""
    search = {
        "filters": [
            {"name": "lead", "op": "has", "val": {"name": "name", "op": "==", "val": "boss"}}
        ]
    }
    assert [p["id"] for p in proofs.get("/api/proof?" + q(search)).json["objects"]] == [1]
    by_value = {"filters": [{"name": "lead_id", "op": "==", "val": 9}]}
    assert [p["id"] for p in proofs.get("/api/proof?" + q(by_value)).json["objects"]] == [1]


@pytest.mark.parametrize(
    "value",
    [{"add": 5}, {"add": None}, {"add": [None]}, {"add": [], "bogus": 1}, {"remove": 5},
     {"remove": [5]}, {"remove": None}, {"bogus": []}, 5, True, None, "x", [5], [[{"id": 1}]]],
)  # fmt: skip
def test_wrong_shapes_through_a_proxy_are_400(client: Client, engine: Any, value: Any) -> None:
    """A proxy to a relation takes what the relation takes: any other shape is a 400."""
    before = checksum(engine, Base.metadata)
    for method, path in (("PATCH", "/api/product/1"), ("POST", "/api/product")):
        answer = send(client, method, path, {"chosen_images": value})
        assert answer.code == 400, (method, answer.body)
        assert isinstance(answer.json["message"], str)
    assert checksum(engine, Base.metadata) == before


class Thumbnail(Base):
    """Refers to an image by a bare foreign key (no cascade): blocks deleting it."""

    __tablename__ = "thumbnail"
    id = Column(Integer, primary_key=True)
    image_id = Column(Integer, ForeignKey("image.id"))


def test_remove_with_delete_through_a_proxy_checks_references(client: Client, engine: Any) -> None:
    """``__delete__`` through a proxy deletes only a row nothing else refers to: else 409."""
    assert (
        send(client, "PATCH", "/api/product/1", {"chosen_images": [{"id": 1}, {"id": 2}]}).code
        == 200
    )
    with Session(engine) as session:
        session.add(Thumbnail(id=1, image_id=1))
        session.commit()
    before = checksum(engine, Base.metadata)
    change = {"chosen_images": {"remove": [{"id": 1, "__delete__": True}]}}
    answer = send(client, "PATCH", "/api/product/1", change)
    assert (answer.code, answer.json.get("references")) == (409, {"thumbnail.image_id": 1})
    assert checksum(engine, Base.metadata) == before
    change = {"chosen_images": {"remove": [{"id": 2, "__delete__": True}]}}
    assert send(client, "PATCH", "/api/product/1", change).code == 200
    assert client.get("/api/image/2").code == 404
