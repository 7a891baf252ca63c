"""The same request gives the same bytes on SQLite, PostgreSQL and MariaDB.

Each backend holds the Chinook sample plus ``oddities``, a small table of
values where databases disagree by default: letters in every case, accents,
trailing spaces, ``%``/``_``/backslash, NULLs and ties, ``NUMERIC`` values
with trailing zeros, booleans, doubles and a datetime with a fraction.  A
fixed list of requests (every operator family, ordering, paging, grouping,
``single``, ``eval``, relation URLs, errors) goes to SQLite, the reference,
and to each server; status, body and the ``Link``/``Location`` headers must be
byte-identical.  The ``test_rule_*`` tests then check, on every backend, that
the common answer is the documented one (``docs/databases.md``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Boolean, Column, Double, Integer, Numeric, String, insert, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase

from chinook_svc.models import Timestamp

from . import backends
from .restless_client import Answer, Client, q
from .test_query import queries


class OddBase(DeclarativeBase):
    pass


class Oddity(OddBase):
    """Values that databases compare, sort and print differently unless told not to."""

    __tablename__ = "oddities"
    id = Column(Integer, primary_key=True)
    label = Column(String(40))
    amount = Column(Numeric(10, 2))
    ratio = Column(Double)
    flag = Column(Boolean)
    stamp = Column(Timestamp)


LABELS = [
    "apple", "Apple", "APPLE", "banana", "banana ", "banana", "é", "É", "e", "Zebra",
    "zebra", "a\\b", "100%", "a_b", None, None, "", " leading", "Ärger", "ärger",
    "naïve", "ß", "ss", "日本", "😀",
]  # fmt: skip
AMOUNTS = ["1.50", "10.00", "0.99", None, "2.50", "-3.10", "0.00", "99999999.99", "1.50", "0.10"]
RATIOS = [0.1, 2.5, 0.001, None, -7.25, 1e-20, 1 / 3, 1e20]


def oddity_rows() -> list[dict[str, Any]]:
    """The rows of ``oddities``: one per label, the other columns cycling."""
    rows = []
    for i, label in enumerate(LABELS):
        amount = AMOUNTS[i % len(AMOUNTS)]
        rows.append({
            "id": i + 1,
            "label": label,
            "amount": None if amount is None else Decimal(amount),
            "ratio": RATIOS[i % len(RATIOS)],
            "flag": [True, False, None][i % 3],
            "stamp": datetime.datetime(2020, 1, 1 + i % 3, 10, 0, 0, 700_000 * (i % 2)),
        })  # fmt: skip
    return rows


def _locale_collation(conn: Connection) -> None:
    """On PostgreSQL, give ``oddities.label`` a language-aware (ICU) collation if there is one.

    This server's databases may sort in the "C" order already; CI's or a
    user's may not.  With a collation that ignores case first, the test shows
    that the engine does not rely on the database's default.
    """
    found = conn.execute(
        text("SELECT collname FROM pg_collation WHERE collname = 'en-x-icu'")
    ).scalar()
    if found:
        schema = conn.get_execution_options()["schema_translate_map"][None]
        table = f"{conn.dialect.identifier_preparer.quote_schema(schema)}.oddities"
        conn.exec_driver_sql(
            f'ALTER TABLE {table} ALTER COLUMN label TYPE varchar(40) COLLATE "en-x-icu"'
        )


def serve(engine: Engine) -> Client:
    """Chinook and ``oddities``, read-only, functions allowed."""
    OddBase.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Oddity), oddity_rows())
        if conn.dialect.name == "postgresql":
            _locale_collation(conn)
    manager = backends.chinook_manager(engine)
    manager.create_api(Oddity, collection_name="oddities", allow_functions=True)
    return Client(manager.resource())


@pytest.fixture(scope="module")
def databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[backends.Databases]:
    """The sample on each backend, created on first use, dropped after the module."""
    databases = backends.Databases(request, tmp_path_factory.mktemp("parity"))
    yield databases
    databases.close()


_clients: dict[tuple[int, str], Client] = {}


def client_for(databases: backends.Databases, name: str) -> Client:
    """The (cached) client serving backend ``name``."""
    key = (id(databases), name)
    if key not in _clients:
        _clients[key] = serve(databases.engine(name))
    return _clients[key]


@pytest.fixture(params=backends.PARAMS)
def client(request: pytest.FixtureRequest, databases: backends.Databases) -> Client:
    """A client on one backend."""
    return client_for(databases, request.param)


def f(name: str, op: str, val: Any = None, **more: Any) -> dict[str, Any]:
    """A filter."""
    found = {"name": name, "op": op, **more}
    if val is not None:
        found["val"] = val
    return found


def search(path: str, **query: Any) -> str:
    """``path?q=...`` (extra query arguments after ``&`` in ``path`` are kept)."""
    base, _, extra = path.partition("&")
    return f"{base}?{q(query)}" + (f"&{extra}" if extra else "")


def functions(collection: str, field: str, *names: str) -> str:
    """An eval URL."""
    return search(f"/api/eval/{collection}", functions=[{"name": n, "field": field} for n in names])


REQUESTS = [
    # paging, instances, inlined relations, values
    "/api/albums", "/api/albums?page=35", "/api/albums?page=36",
    "/api/tracks?results_per_page=100&page=3", "/api/invoices/1", "/api/employees/1",
    "/api/customers/5", "/api/playlists/1",
    # comparisons and type coercion
    search("/api/invoices", filters=[f("total", ">", 10)]),
    search("/api/albums", filters=[f("album_id", "==", "5")]),
    search("/api/albums", filters=[f("album_id", "<=", True)]),
    search("/api/tracks", filters=[f("unit_price", ">", "1")]),
    search("/api/tracks", filters=[f("unit_price", "==", 0.99), f("genre_id", "in", [1, 3, 5])]),
    search("/api/artists", filters=[f("name", "==", 90)]),
    search("/api/artists", filters=[f("name", "==", "ac/dc")]),
    search("/api/artists", filters=[f("name", "<", "B")], order_by=[{"field": "name"}]),
    search("/api/artists", filters=[f("name", ">", "a")]),
    search("/api/tracks", filters=[f("track_id", "<", None, field="album_id")]),
    # like / ilike
    search("/api/artists", filters=[f("name", "like", "the %")]),
    search("/api/artists", filters=[f("name", "ilike", "%ö%")]),
    search("/api/artists", filters=[f("name", "like", "%É%")]),
    search("/api/tracks", filters=[f("unit_price", "like", "1%")]),
    search("/api/invoices", filters=[f("total", "like", "1_.9%")]),
    search("/api/invoices", filters=[f("invoice_date", ">=", "2013-01-01")]),
    # in, null, relations
    search("/api/tracks&page=2", filters=[f("genre_id", "in", [1, 3, 5])], limit=30, offset=7),
    search("/api/tracks", filters=[f("genre_id", "in", [])]),
    search("/api/tracks&page=351", filters=[f("genre_id", "not_in", [])]),
    search("/api/tracks", filters=[f("composer", "is_null")], order_by=[{"field": "bytes"}]),
    search("/api/albums", filters=[f("artist", "has", f("name", "like", "a%"))]),
    search("/api/artists", filters=[f("albums", "any", f("title", "like", "%rock%"))]),
    search("/api/albums", filters=[f("artist__name", "has", "AC/DC")]),
    search("/api/tracks", filters=[f("playlists", "any", f("playlist_id", "==", 18))]),
    # order, ties, NULLs, relation fields
    search("/api/artists&page=28", order_by=[{"field": "name"}]),
    search("/api/tracks", order_by=[{"field": "composer"}]),
    search("/api/tracks&page=350", order_by=[{"field": "composer", "direction": "desc"}]),
    search("/api/tracks&results_per_page=50&page=20", order_by=[{"field": "name"}]),
    search(
        "/api/customers", order_by=[{"field": "company"}, {"field": "state", "direction": "desc"}]
    ),
    search("/api/albums", order_by=[{"field": "artist__name", "direction": "desc"}]),
    search("/api/tracks&page=7", order_by=[{"field": "album__title"}]),
    # group_by, single
    search("/api/tracks&results_per_page=100", group_by=[{"field": "genre_id"}]),
    search("/api/customers&results_per_page=100", group_by=[{"field": "country"}]),
    search("/api/artists", filters=[f("name", "==", "AC/DC")], single=True),
    search("/api/artists", single=True),
    # eval
    functions("invoices", "total", "sum", "avg", "min", "max", "count"),
    functions("tracks", "milliseconds", "sum", "avg", "min", "max"),
    functions("tracks", "unit_price", "sum", "avg"),
    functions("tracks", "composer", "min", "max", "count"),
    functions("invoices", "invoice_date", "min", "max"),
    functions("employees", "birth_date", "sum"),
    # relation URLs
    "/api/genres/1/tracks?page=3&results_per_page=20", "/api/albums/1/artist",
    "/api/albums/1/tracks/6", "/api/albums/1/tracks/2", "/api/employees/2/reports",
    "/api/employees/1/reports_to",
    # errors
    search("/api/albums", filters=[f("nope", "==", 1)]),
    search("/api/albums", filters=[f("album_id", "==", "five")]),
    "/api/albums?q={bad", "/api/albums?page=0", "/api/albums/9999", "/api/nope",
    "/api/albums/2147483648", "/api/albums/-9223372036854775809", "/api/albums/1/tracks/2147483648",
    search("/api/tracks", filters=[f("milliseconds", ">", 2**31)]),
    search("/api/tracks", filters=[f("milliseconds", "in", [2**40, -(2**63), 1])]),
    search("/api/tracks", filters=[f("unit_price", "<", 1e300)], order_by=[{"field": "bytes"}]),
    search("/api/albums", filters=[f("artist", "has", f("artist_id", "==", 2**40))]),
    search("/api/tracks", filters=[f("name", "==", "x" * 300)]),
    # oddities: text order, case, accents, trailing spaces, wildcards, NULLs, ties
    search("/api/oddities&results_per_page=100", order_by=[{"field": "label"}]),
    search("/api/oddities&results_per_page=50", order_by=[{"field": "label", "direction": "desc"}]),
    search("/api/oddities", filters=[f("label", "==", "banana")]),
    search("/api/oddities", filters=[f("label", "!=", "apple"), f("label", "<", "b")]),
    search("/api/oddities", filters=[f("label", "in", ["apple", "É", "ss"])]),
    search("/api/oddities", filters=[f("label", "not_in", ["apple", "banana"])]),
    search("/api/oddities", filters=[f("label", ">=", "Z")]),
    search("/api/oddities", filters=[f("label", "like", "a%")]),
    search("/api/oddities", filters=[f("label", "ilike", "%GER")]),
    search("/api/oddities", filters=[f("label", "like", "a\\b")]),
    search("/api/oddities", filters=[f("label", "like", "%\\%")]),
    search("/api/oddities", filters=[f("label", "like", "banana")]),
    search("/api/oddities", filters=[f("label", "like", "é")]),
    search("/api/oddities&results_per_page=100", group_by=[{"field": "label"}]),
    search("/api/oddities&results_per_page=100", order_by=[{"field": "amount"}]),
    search("/api/oddities", filters=[f("amount", "like", "1.5")]),
    search("/api/oddities", filters=[f("amount", "like", "10")]),
    search("/api/oddities", filters=[f("amount", "==", "1.5")]),
    search("/api/oddities&results_per_page=50", order_by=[{"field": "ratio", "direction": "desc"}]),
    search("/api/oddities", filters=[f("flag", "==", 1)]),
    search("/api/oddities", filters=[f("flag", "like", "0")]),
    search("/api/oddities&results_per_page=100", order_by=[{"field": "flag"}]),
    search("/api/oddities", filters=[f("stamp", "==", "2020-01-02T10:00:00.123")]),
    functions("oddities", "label", "min", "max", "count"),
    functions("oddities", "amount", "sum", "avg", "min", "max"),
    functions("oddities", "stamp", "min", "max"),
    functions("oddities", "flag", "avg"),
    functions("oddities", "ratio", "sum", "avg", "min", "max"),
]  # fmt: skip


def _view(answer: Answer) -> tuple[Any, ...]:
    headers = answer.headers
    return (
        answer.code,
        headers.get("content-type"),
        headers.get("link"),
        headers.get("location"),
        answer.body,
    )


@pytest.mark.parametrize("server", backends.SERVER_PARAMS)
@pytest.mark.parametrize(
    "path", REQUESTS, ids=[f"{i:02d}{p.split('?')[0]}" for i, p in enumerate(REQUESTS)]
)
def test_same_bytes_as_sqlite(databases: backends.Databases, server: str, path: str) -> None:
    """Status, body, Link and Location are byte-identical to SQLite's (and never a 500)."""
    reference = client_for(databases, "sqlite").get(path)
    answer = client_for(databases, server).get(path)
    assert reference.code < 500, reference.body
    assert _view(answer) == _view(reference)


# -- the rules, checked on every backend -------------------------------------------------


def labels(client: Client, **query: Any) -> list[Any]:
    """The labels of ``oddities`` a search yields, in order."""
    answer = client.get(search("/api/oddities&results_per_page=100", **query))
    assert answer.code == 200, answer.body
    return [o["label"] for o in answer.json["objects"]]


def test_rule_text_order_is_code_points_nulls_first(client: Client) -> None:
    """Text sorts by code point (case and accents matter), NULLs first ascending, ties by key."""
    ascending = labels(client, order_by=[{"field": "label"}])
    present = [label for label in LABELS if label is not None]
    assert ascending == [None, None, *sorted(present)]
    descending = labels(client, order_by=[{"field": "label", "direction": "desc"}])
    assert descending == [*sorted(present, reverse=True), None, None]
    bananas = client.get(search("/api/oddities", filters=[f("label", "==", "banana")])).json
    assert [o["id"] for o in bananas["objects"]] == [4, 6]


def test_rule_like_ignores_ascii_case_only(client: Client) -> None:
    """like/ilike ignore the case of A-Z only; a backslash is an ordinary character."""
    assert labels(client, filters=[f("label", "like", "APPLE")]) == ["apple", "Apple", "APPLE"]
    assert labels(client, filters=[f("label", "ilike", "é")]) == ["é"]
    assert labels(client, filters=[f("label", "like", "%RGER")]) == ["Ärger", "ärger"]
    assert labels(client, filters=[f("label", "like", "a\\b")]) == ["a\\b"]
    assert labels(client, filters=[f("label", "like", "banana")]) == ["banana", "banana"]


def test_rule_numbers_and_values(client: Client) -> None:
    """NUMERIC values keep their digits; like sees SQLite's text form; fractions of seconds go."""
    body = client.get("/api/oddities/2").json
    assert (body["amount"], body["label"], body["stamp"]) == (10.0, "Apple", "2020-01-02T10:00:00")
    matched = client.get(search("/api/oddities", filters=[f("amount", "like", "10")])).json
    assert [o["id"] for o in matched["objects"]] == [2, 12, 22]
    amounts = [r["amount"] for r in oddity_rows() if r["amount"] is not None]
    total = client.get(functions("oddities", "amount", "sum", "avg")).json
    assert total == {
        "avg__amount": float(sum(amounts) / len(amounts)),
        "sum__amount": float(sum(amounts)),
    }
    assert client.get(functions("oddities", "flag", "avg")).code == 400


def test_rule_string_values_for_number_fields(client: Client) -> None:
    """A number in a string compares as that number; other text is a 400, not a silent miss."""
    five = client.get(search("/api/albums", filters=[f("album_id", "==", "5")])).json
    assert [o["album_id"] for o in five["objects"]] == [5]
    answer = client.get(search("/api/albums", filters=[f("album_id", "==", "five")]))
    assert (answer.code, answer.json["message"]) == (400, "Unable to construct query")


def test_rule_text_no_database_can_hold_is_400(client: Client) -> None:
    """A NUL character (PostgreSQL text cannot hold one) or a lone surrogate in q: 400."""
    nul = client.get(search("/api/oddities", filters=[f("label", "==", "a\x00b")]))
    assert (nul.code, nul.json["message"]) == (400, "Unable to construct query")
    escaped = '{"filters": [{"name": "label", "op": "==", "val": "\\ud800"}]}'
    lone = client.get("/api/oddities?q=" + quote(escaped))
    assert (lone.code, lone.json["message"]) == (400, "Unable to decode data")


def test_rule_filter_values_beyond_a_column_compare_as_numbers(client: Client) -> None:
    """A filter compares: a value no row can hold matches none (or all), never an error.

    A 64-bit integer past an INTEGER column's range, a number past a NUMERIC
    column's precision or a string longer than the column are legitimate
    bounds; only what no database can bind (past 64 bits) is a 400.
    """
    total = client.get("/api/tracks").json["num_results"]
    for val, expected in ((2**31, 0), (2**63 - 1, 0), (-(2**63), total)):
        found = client.get(search("/api/tracks", filters=[f("milliseconds", ">", val)])).json
        assert found["num_results"] == expected
    found = client.get(search("/api/tracks", filters=[f("unit_price", "<", 1e300)])).json
    assert found["num_results"] == total
    assert client.get(search("/api/tracks", filters=[f("name", "==", "x" * 300)])).code == 200
    answer = client.get(search("/api/tracks", filters=[f("milliseconds", ">", 2**63)]))
    assert (answer.code, answer.json["message"]) == (400, "Unable to construct query")


# -- random requests -----------------------------------------------------------------------

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
TEXT_OPERATORS = ["==", "!=", "<", ">=", "like", "ilike", "in", "not_in"]


@pytest.fixture(scope="module")
def servers(databases: backends.Databases) -> list[str]:
    """The servers to compare with SQLite (those reachable; in CI, both or a failure)."""
    found = []
    for name in ("postgresql", "mysql"):
        try:
            databases.engine(name)
        except pytest.skip.Exception:
            continue
        found.append(name)
    if not found:
        pytest.skip("neither PostgreSQL nor MariaDB is reachable")
    return found


def same_as_sqlite(databases: backends.Databases, servers: list[str], path: str) -> None:
    """Assert that every server answers ``path`` exactly as SQLite does, never with a 5xx."""
    reference = client_for(databases, "sqlite").get(path)
    assert reference.code < 500, (path, reference.body)
    for server in servers:
        assert _view(client_for(databases, server).get(path)) == _view(reference), (server, path)


@FUZZ
@given(query=queries, collection=st.sampled_from(["albums", "tracks"]))
def test_random_queries_same_bytes(
    databases: backends.Databases, servers: list[str], query: dict[str, Any], collection: str
) -> None:
    """Random well-shaped queries (``test_query``'s strategy) answer as on SQLite."""
    same_as_sqlite(databases, servers, search(f"/api/{collection}&results_per_page=7", **query))


@FUZZ
@given(
    text=st.text(max_size=6),
    op=st.sampled_from(TEXT_OPERATORS),
    field=st.sampled_from(["label", "amount", "id", "flag", "stamp"]),
)
def test_random_text_values_same_bytes(
    databases: backends.Databases, servers: list[str], text: str, op: str, field: str
) -> None:
    """Any text compared with any kind of field answers as on SQLite (NUL included: a 400)."""
    value = [text] if op.endswith("in") else text
    same_as_sqlite(databases, servers, search("/api/oddities", filters=[f(field, op, value)]))
