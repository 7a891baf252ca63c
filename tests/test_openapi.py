"""``GET /openapi.json``: a valid OpenAPI 3.1 document that says what the service does.

The document is checked with ``openapi-spec-validator`` and against the
engine itself: every URL kind and method the routes allow is described and
nothing else; real answers validate against the schemas of their
operations; include/exclude options, the operator table and the limits of
``q`` show in it; ``servers`` follows the mount point.  In memory
(``StubTreq``, database calls inline); the schema-driven fuzzer against a
live service is ``test_schemathesis.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from sqlalchemy import Column, ForeignKey, Integer, Numeric, String, create_engine
from sqlalchemy.orm import DeclarativeBase, relationship
from sqlalchemy.pool import StaticPool
from twisted.internet.testing import Clock
from twisted.web.resource import Resource

from chinook_svc.aggregate import AggregateSettings
from chinook_svc.database import open_engine
from chinook_svc.restless import APIManager, InlineRunner, Limits
from chinook_svc.restless._operators import OPERATOR_TABLE
from chinook_svc.web.app import ChinookApp

from .restless_client import Client, q
from .service_support import make_tiny_chinook

TOKEN = b"openapi-test-token-0123456789"
AUTH = {"Authorization": "Bearer " + TOKEN.decode()}
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
JSON = "application/json"


@pytest.fixture
def tiny_url(tmp_path: Path) -> str:
    """A tiny Chinook database."""
    return make_tiny_chinook(tmp_path / "tiny.db")


def chinook_app(url: str, **options: Any) -> Iterator[ChinookApp]:
    engine = open_engine(url, writes=bool(options.get("allow_writes")))
    yield ChinookApp(engine, InlineRunner(), Clock(), **options)
    engine.dispose()


@pytest.fixture
def writable(tiny_url: str) -> Iterator[ChinookApp]:
    """The service with writes on, behind the token, with the demo /aggregate sources."""
    sources = AggregateSettings.from_options(()).or_demo("http://127.0.0.1:8080")
    yield from chinook_app(
        tiny_url,
        allow_writes=True,
        token=TOKEN,
        aggregate=Resource(),
        aggregate_settings=sources,
    )


def document_of(app: ChinookApp, path: str = "/openapi.json") -> dict[str, Any]:
    answer = Client(app.resource()).get(path)
    assert answer.code == 200
    assert answer.headers["content-type"] == "application/json"
    document: dict[str, Any] = answer.json
    return document


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method.upper() in METHODS
    }


def test_the_document_is_valid_openapi_3_1(writable: ChinookApp) -> None:
    """openapi-spec-validator accepts the document of the service with writes on."""
    document = document_of(writable)
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert document["servers"] == [{"url": "/"}]


def test_every_url_and_method_the_routes_allow_is_described(writable: ChinookApp) -> None:
    """Each collection, eval, instance, relation and member URL, with exactly its methods."""
    document = document_of(writable)
    expected = {("GET", "/"), ("GET", "/healthz"), ("GET", "/aggregate")}
    for api in writable.manager.registry.apis():
        name = api.options.collection_name
        info = api.collection.info
        pk = api.collection.pk_name
        urls = {"collection": f"/api/{name}", "instance": f"/api/{name}/{{{pk}}}"}
        if api.options.allow_functions:
            urls["eval"] = f"/api/eval/{name}"
        for relname in info.relations:
            urls[f"relation:{relname}"] = f"/api/{name}/{{{pk}}}/{relname}"
        for kind, url in urls.items():
            for method in api.allowed_methods(kind.split(":")[0]):
                expected.add((method, url))
        for relname in info.relations:
            for method in api.allowed_methods("member"):
                matching = [
                    path
                    for path in document["paths"]
                    if path.startswith(f"/api/{name}/{{{pk}}}/{relname}/{{")
                ]
                assert len(matching) == 1, (name, relname)
                expected.add((method, matching[0]))
    assert operations(document) == expected
    assert ("POST", "/api/albums") in expected and ("PUT", "/api/albums/{album_id}") in expected


def test_a_read_only_service_describes_no_write(tiny_url: str) -> None:
    """Read-only: GETs only, no security scheme, no request bodies."""
    for app in chinook_app(tiny_url):
        document = document_of(app)
        validate(document)
        assert {method for method, _ in operations(document)} == {"GET"}
        assert "securitySchemes" not in document["components"]
        assert "/aggregate" not in document["paths"]


def test_writes_and_reads_behind_the_token_say_so(writable: ChinookApp, tiny_url: str) -> None:
    """Writes carry the bearer scheme; reads too under auth_reads; / and /healthz never."""
    document = document_of(writable)
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    paths = document["paths"]
    assert paths["/api/albums"]["post"]["security"] == [{"bearer": []}]
    assert "401" in paths["/api/albums"]["post"]["responses"]
    assert "security" not in paths["/api/albums"]["get"]
    for app in chinook_app(tiny_url, token=TOKEN, auth_reads=True):
        guarded = document_of(app)["paths"]
        assert guarded["/api/albums"]["get"]["security"] == [{"bearer": []}]
        assert "401" in guarded["/api/albums/{album_id}"]["get"]["responses"]
        assert "security" not in guarded["/healthz"]["get"]


def test_servers_follow_the_mount_point(tiny_url: str) -> None:
    """Mounted under /music, the document describes /music/api/... (servers: /music)."""
    for app in chinook_app(tiny_url):
        root = Resource()
        root.putChild(b"music", app.resource())
        answer = Client(root).get("/music/openapi.json")
        assert answer.json["servers"] == [{"url": "/music"}]
        assert "/api/albums" in answer.json["paths"]
        assert Client(root).get("/music/").json["openapi"] == "/music/openapi.json"


def test_aggregate_refusals_are_described(writable: ChinookApp) -> None:
    """/aggregate may refuse at once: 429 (the client's share) and 503 (the service's), each
    a JSON error with Retry-After, beside the report's 200, 502 and 504."""
    responses = document_of(writable)["paths"]["/aggregate"]["get"]["responses"]
    assert sorted(responses) == ["200", "400", "404", "429", "502", "503", "504"]
    for status in ("429", "503"):
        refusal = responses[status]
        assert refusal["content"][JSON]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert refusal["headers"] == {
            "Retry-After": {"$ref": "#/components/headers/Retry-After"},
            "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
        }


def test_path_parameters_are_typed_from_the_primary_key(writable: ChinookApp) -> None:
    """/api/albums/{album_id}: an integer; a member URL names both keys apart."""
    paths = document_of(writable)["paths"]
    (key,) = paths["/api/albums/{album_id}"]["parameters"]
    assert (key["name"], key["in"], key["schema"]["type"]) == ("album_id", "path", "integer")
    member = "/api/employees/{employee_id}/reports/{employee_employee_id}"
    assert [p["name"] for p in paths[member]["parameters"]] == [
        "employee_id",
        "employee_employee_id",
    ]


def test_q_is_json_schema_from_the_operator_table_and_the_limits(writable: ChinookApp) -> None:
    """Every operator name and alias is in Filter; the limits are stated in Query."""
    document = document_of(writable)
    schemas = document["components"]["schemas"]
    text = json.dumps(schemas["FilterCondition"])
    for entry in OPERATOR_TABLE:
        for name in entry.names:
            assert json.dumps(name) in text, name
    limits = Limits()
    query = schemas["Query"]
    assert query["properties"]["filters"]["maxItems"] == limits.max_filters
    assert (query["x-max-bytes"], query["x-max-depth"]) == (limits.max_bytes, limits.max_depth)
    (parameter,) = [
        p for p in document["paths"]["/api/albums"]["get"]["parameters"] if p.get("name") == "q"
    ]
    assert parameter["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Query"
    }


def test_column_types_lengths_precision_nullability_and_read_only_keys(
    writable: ChinookApp,
) -> None:
    """Track's schema: a read-only integer key, text with its length, NUMERIC(10, 2)."""
    track = document_of(writable)["components"]["schemas"]["Track"]["properties"]
    assert track["track_id"]["readOnly"] is True and track["track_id"]["type"] == "integer"
    assert track["name"] == {"type": "string", "maxLength": 200}
    assert track["composer"]["type"] == ["string", "null"]
    assert track["unit_price"]["exclusiveMaximum"] == 10**8
    assert track["album"] == {
        "anyOf": [{"$ref": "#/components/schemas/AlbumRelated"}, {"type": "null"}]
    }


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema validator of ``schema`` whose $refs resolve in ``document``."""
    return Draft202012Validator({**schema, "components": document["components"]})


def response_schema(document: dict[str, Any], method: str, path: str, status: str) -> Any:
    response = document["paths"][path][method.lower()]["responses"][status]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"]["application/json"]["schema"]


@pytest.mark.parametrize(
    ("method", "url", "path", "status", "body"),
    [
        ("GET", "/api/albums", "/api/albums", "200", None),
        ("GET", "/api/albums?cursor=", "/api/albums", "200", None),
        ("GET", "/api/albums?" + q({"filters": [{"name": "album_id", "op": "==", "val": 1}], "single": True}), "/api/albums", "200", None),  # noqa: E501
        ("GET", "/api/albums/1", "/api/albums/{album_id}", "200", None),
        ("GET", "/api/albums/1/artist", "/api/albums/{album_id}/artist", "200", None),
        ("GET", "/api/artists/1/albums", "/api/artists/{artist_id}/albums", "200", None),
        ("GET", "/api/artists/1/albums/1", "/api/artists/{artist_id}/albums/{album_id}", "200", None),  # noqa: E501
        ("GET", "/api/eval/albums?" + q({"functions": [{"name": "count", "field": "album_id"}, {"name": "max", "field": "title"}]}), "/api/eval/albums", "200", None),  # noqa: E501
        ("GET", "/api/albums?page=x", "/api/albums", "400", None),
        ("GET", "/api/albums/999", "/api/albums/{album_id}", "404", None),
        ("GET", "/healthz", "/healthz", "200", None),
        ("GET", "/", "/", "200", None),
        ("POST", "/api/artists", "/api/artists", "201", {"name": "New", "albums": [{"title": "A"}]}),  # noqa: E501
        ("PATCH", "/api/albums/2", "/api/albums/{album_id}", "200", {"title": "B"}),
        ("POST", "/api/artists", "/api/artists", "409", {"artist_id": 1, "name": "Again"}),
        ("PATCH", "/api/albums", "/api/albums", "405", {"title": "B"}),
    ],
)  # fmt: skip
def test_real_answers_validate_against_their_schemas(
    writable: ChinookApp, method: str, url: str, path: str, status: str, body: Any
) -> None:
    """The service's answers are what the document says, status and body."""
    document = document_of(writable)
    headers = {**AUTH, "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    answer = Client(writable.resource()).request(method, url, headers=headers, data=data)
    assert str(answer.code) == status, answer.body
    if status == "405":
        assert method.lower() not in document["paths"][path]
        return
    schema = response_schema(document, method, path, status)
    validator(document, schema).validate(answer.json)
    if method == "POST":
        request_schema = document["paths"][path]["post"]["requestBody"]["content"]
        validator(document, request_schema["application/json"]["schema"]).validate(body)


def test_any_models_given_to_the_manager() -> None:
    """The engine describes models it knows nothing about, options honoured."""

    class Base(DeclarativeBase):
        pass

    class Shelf(Base):
        __tablename__ = "shelf"
        code = Column(String(8), primary_key=True)
        label = Column(String(40), nullable=False)
        secret = Column(String)
        books = relationship("Book", back_populates="shelf")

    class Book(Base):
        __tablename__ = "book"
        id = Column(Integer, primary_key=True)
        title = Column(String(100), nullable=False)
        price = Column(Numeric(6, 2))
        shelf_code = Column(String(8), ForeignKey("shelf.code"), nullable=False)
        shelf = relationship(Shelf, back_populates="books")

    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    manager = APIManager(engine, runner=InlineRunner())
    manager.create_api(Shelf, methods=["GET", "DELETE"], exclude_columns=["secret"])
    manager.create_api(
        Book,
        collection_name="books",
        methods=["GET", "POST"],
        include_columns=["id", "title", "shelf", "shelf.label"],
        allow_functions=True,
        url_prefix="/v2",
    )
    document = manager.openapi(title="Library", version="2")
    validate(document)
    assert operations(document) == {
        ("GET", "/api/shelf"),
        ("GET", "/api/shelf/{code}"),
        ("DELETE", "/api/shelf/{code}"),
        ("GET", "/api/shelf/{code}/books"),
        ("DELETE", "/api/shelf/{code}/books"),
        ("GET", "/api/shelf/{code}/books/{id}"),
        ("DELETE", "/api/shelf/{code}/books/{id}"),
        ("GET", "/v2/books"),
        ("POST", "/v2/books"),
        ("GET", "/v2/eval/books"),
        ("GET", "/v2/books/{id}"),
        ("GET", "/v2/books/{id}/shelf"),
        ("GET", "/v2/books/{id}/shelf/{code}"),
    }
    schemas = document["components"]["schemas"]
    assert "secret" not in schemas["Shelf"]["properties"]
    assert set(schemas["Book"]["properties"]) == {"id", "title", "shelf"}
    assert set(schemas["ShelfRelated"]["properties"]) == {"label"}
    assert document["paths"]["/api/shelf/{code}"]["parameters"][0]["schema"] == {
        "type": "string",
        "maxLength": 8,
    }
    new_book = schemas["BookNew"]
    assert new_book["required"] == ["title"]
    assert new_book["allOf"] == [{"anyOf": [{"required": ["shelf_code"]}, {"required": ["shelf"]}]}]
    assert "securitySchemes" not in document["components"]


def test_the_examples_of_q_are_valid_and_harmless(writable: ChinookApp) -> None:
    """Each q example fits its schema (Swagger UI's "Try it out" starts from it); none deletes."""
    document = document_of(writable)
    client = Client(writable.resource())
    for item in document["paths"].values():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []) if method != "parameters" else []:
                if parameter.get("name") != "q" or "example" not in parameter["content"][JSON]:
                    continue
                content = parameter["content"][JSON]
                validator(document, content["schema"]).validate(content["example"])
                if method == "delete":
                    assert content["example"]["filters"][0]["op"] == "is_null"
    answer = client.get(
        "/api/albums?" + q({"order_by": [{"field": "album_id", "direction": "asc"}]})
    )
    assert answer.json["num_results"] == 12
