"""The ``q`` parser, and fuzzing of the whole read path with Hypothesis.

Unit tests pin the grammar; property tests throw random JSON, and random
but plausible queries, at a live (in-memory) API and check that the answer is
never a 5xx and always JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chinook_svc import models
from chinook_svc.restless import APIManager, InlineRunner
from chinook_svc.restless._errors import QueryError
from chinook_svc.restless._operators import OPERATORS
from chinook_svc.restless._query import (
    Filter,
    Junction,
    Limits,
    OrderBy,
    Search,
    decode_q,
    parse_search,
)

from .restless_client import Client, q


def test_parse_full_query() -> None:
    """Every key of q parses into the syntax tree."""
    search = parse_search(
        {
            "filters": [
                {"name": "a", "op": "==", "val": 1},
                {"or": [{"name": "b", "op": "<", "field": "c"}, {"and": []}]},
                {"name": "rel", "op": "has", "val": {"name": "x", "op": "like", "val": "y%"}},
            ],
            "order_by": [{"field": "a", "direction": "desc"}, {"field": "b"}],
            "group_by": [{"field": "a"}],
            "limit": 5,
            "offset": 0,
            "single": 1,
            "ignored": True,
        }
    )
    assert search == Search(
        filters=(
            Filter("a", "==", 1),
            Junction("or", (Filter("b", "<", None, "c"), Junction("and", ()))),
            Filter("rel", "has", Filter("x", "like", "y%")),
        ),
        order_by=(OrderBy("a", "desc"), OrderBy("b", "asc")),
        group_by=("a",),
        limit=5,
        offset=None,
        single=True,
    )


@pytest.mark.parametrize("direction", [["asc"], {"a": 1}, 1, None])
def test_order_by_direction_that_is_not_text(direction: Any) -> None:
    """A direction that is not a string is a 400 QueryError, not a crash."""
    with pytest.raises(QueryError):
        parse_search({"order_by": [{"field": "a", "direction": direction}]})


def test_or_wins_over_and() -> None:
    """A dict with both "or" and "and" is a disjunction, as in 0.17."""
    assert parse_search({"filters": [{"and": [], "or": []}]}).filters == (Junction("or", ()),)


def test_absent_q_is_empty_but_empty_q_is_invalid() -> None:
    """No q means {}; an empty q is undecodable (0.17 behaviour)."""
    assert decode_q(None) == {}
    with pytest.raises(QueryError) as e:
        decode_q("")
    assert e.value.message == "Unable to decode data"


def test_limits() -> None:
    """Size, depth and filter-count limits are enforced."""
    limits = Limits(max_bytes=20, max_depth=2, max_filters=2)
    with pytest.raises(QueryError):
        decode_q("x" * 21, limits)
    with pytest.raises(QueryError):
        parse_search({"filters": [{"or": [{"or": [{"name": "a", "op": "eq", "val": 1}]}]}]}, limits)
    with pytest.raises(QueryError):
        parse_search({"filters": [{"name": "a", "op": "eq", "val": i} for i in range(3)]}, limits)


@pytest.mark.parametrize(
    "bad",
    [
        {"filters": 1},
        {"filters": [{"op": "=="}]},
        {"filters": [{"name": 1, "op": "=="}]},
        {"filters": [{"name": "a", "op": "~"}]},
        {"filters": [{"name": "a", "op": "==", "field": 3}]},
        {"order_by": [{"field": "a", "direction": "up"}]},
        {"order_by": {"field": "a"}},
        {"group_by": [{"field": "a", "x": 1}]},
        {"limit": -1},
        {"offset": "3"},
        {"limit": False},
    ],
)
def test_malformed(bad: Any) -> None:
    """Malformed queries raise QueryError with 0.17's message."""
    with pytest.raises(QueryError) as e:
        parse_search(bad)
    assert e.value.message == "Unable to construct query" and e.value.detail


# -- fuzzing ------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

FIELDS = [
    "album_id",
    "title",
    "artist_id",
    "artist",
    "tracks",
    "artist__name",
    "tracks__name",
    "nope",
    "",
    "a__b__c",
]
field_names = st.sampled_from(FIELDS) | st.text(max_size=10)
operators = st.sampled_from(sorted(OPERATORS)) | st.text(max_size=6)
values = json_values | st.sampled_from(["A%", "2009-01-01", "CURRENT_TIMESTAMP", "", " "])


def leaf_filters() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"name": field_names, "op": operators},
        optional={"val": values, "field": field_names},
    )


filters = st.recursive(
    leaf_filters(),
    lambda children: (
        st.fixed_dictionaries({"or": st.lists(children, max_size=3)})
        | st.fixed_dictionaries({"and": st.lists(children, max_size=3)})
        | st.fixed_dictionaries(
            {"name": field_names, "op": st.sampled_from(["has", "any"]), "val": children}
        )
    ),
    max_leaves=8,
)

queries = st.fixed_dictionaries(
    {},
    optional={
        "filters": st.lists(filters, max_size=4) | json_values,
        "order_by": st.lists(
            st.fixed_dictionaries(
                {"field": field_names},
                optional={"direction": st.sampled_from(["asc", "desc", "x"])},
            ),
            max_size=2,
        )
        | json_values,
        "group_by": st.lists(st.fixed_dictionaries({"field": field_names}), max_size=2),
        "limit": st.integers(min_value=-2, max_value=400) | json_values,
        "offset": st.integers(min_value=-2, max_value=400) | json_values,
        "single": st.booleans(),
    },
)


@pytest.fixture(scope="module")
def client(chinook_engine: Any) -> Client:
    manager = APIManager(chinook_engine, runner=InlineRunner())
    for name, model in models.DEFAULT.by_table().items():
        manager.create_api(model, collection_name=name, allow_functions=True)
    return Client(manager.resource())


def check(client: Client, path: str) -> None:
    answer = client.get(path)
    assert answer.code < 500, (path, answer.body)
    if answer.code != 204:
        json.loads(answer.body)


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(raw=json_values)
def test_random_json_never_5xx(client: Client, raw: Any) -> None:
    """Any JSON as q, on a collection, answers a non-5xx JSON response."""
    check(client, f"/api/albums?{q(raw)}")


@FUZZ
@given(query=queries, page=st.sampled_from(["", "&page=2", "&page=x", "&results_per_page=3"]))
def test_plausible_queries_never_5xx(client: Client, query: dict[str, Any], page: str) -> None:
    """Random but well-shaped queries answer a non-5xx JSON response."""
    check(client, f"/api/albums?{q(query)}{page}")


@FUZZ
@given(raw=json_values, text=st.text(max_size=30))
def test_eval_and_garbage_never_5xx(client: Client, raw: Any, text: str) -> None:
    """Random eval queries and raw q strings answer a non-5xx JSON response."""
    from urllib.parse import quote

    check(client, f"/api/eval/invoices?{q({'functions': raw})}")
    check(client, f"/api/tracks?q={quote(text)}")
    check(
        client, f"/api/invoices?{q({'filters': [{'name': 'invoice_date', 'op': '>', 'val': raw}]})}"
    )
