"""The engine's extension points: an operator is one table entry, a format one renderer.

These tests add an operator and an output format the way the architecture
notes (``docs/architecture.md``) say to, and check that the rest of the
engine follows: the parser accepts the operator and the compiler builds it;
a renderer chosen per request is cached apart from the others.  They also
check that the engine's state belongs to its manager (nothing outlives it)
and that a manager never picks a reactor by itself.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen
from sqlalchemy import create_engine
from twisted.internet.testing import Clock

from chinook_svc import models
from chinook_svc.restless import APIManager, ApiRequest, InlineRunner, Reply
from chinook_svc.restless import _api as api_module
from chinook_svc.restless._operators import OPERATORS, Operator, Takes
from chinook_svc.restless._render import Renderer, Result, renderer_for

from .restless_client import Client, q


def albums_client(chinook_file: Path, **manager_options: Any) -> tuple[Client, APIManager]:
    """An in-memory client of ``/api/albums`` on the sample."""
    engine = create_engine(f"sqlite:///{chinook_file}")
    manager = APIManager(engine, runner=InlineRunner(), **manager_options)
    manager.create_api(models.DEFAULT.Album, collection_name="albums")
    return Client(manager.resource()), manager


def _starts_with(dialect: Any, attr: Any, prefix: str, coltype: Any) -> Any:
    return dialect.like(attr, prefix.replace("%", "").replace("_", "") + "%", coltype)


def test_an_operator_is_one_table_entry(
    chinook_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One new entry in the operator table is enough for q to parse and compile it."""
    client, _ = albums_client(chinook_file)
    search = {"filters": [{"name": "title", "op": "starts_with", "val": "Let"}]}
    assert client.get("/api/albums?" + q(search)).json["detail"] == "unknown operator 'starts_with'"
    starts_with = Operator("starts_with", Takes.PATTERN, _starts_with)
    monkeypatch.setitem(OPERATORS, "starts_with", starts_with)
    titles = [a["title"] for a in client.get("/api/albums?" + q(search)).json["objects"]]
    assert titles and all(t.startswith("Let") for t in titles)
    other = {"filters": [{"name": "title", "op": "starts_with", "field": "title"}]}
    assert client.get("/api/albums?" + q(other)).json["detail"] == (
        "'starts_with' cannot compare two fields"
    )


@frozen
class CountRenderer:
    """A made-up format: the number of objects, as text."""

    key: str = "count"

    def render(self, result: Result) -> Reply:
        """``<n> objects``."""
        body = f"{len(result.data['objects'])} objects".encode()
        return Reply(result.status, body, (), "text/plain")


def test_a_format_is_one_renderer_cached_apart(
    chinook_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renderer chosen by a header gets its own cache entries: never another format's answer."""

    def choose(request: ApiRequest, allow_jsonp: bool) -> Renderer:
        if request.headers.get("accept") == "text/plain":
            return CountRenderer()
        return renderer_for(request, allow_jsonp)

    monkeypatch.setattr(api_module, "renderer_for", choose)
    client, manager = albums_client(chinook_file, cache_ttl=60, clock=Clock())
    text = {"Accept": "text/plain"}
    first = client.get("/api/albums", headers=text)
    assert (first.code, first.body, first.headers["content-type"]) == (
        200,
        b"10 objects",
        "text/plain",
    )
    as_json = client.get("/api/albums")
    assert as_json.headers["content-type"] == "application/json"
    assert len(as_json.json["objects"]) == 10
    assert client.get("/api/albums", headers=text).body == b"10 objects"
    assert client.get("/api/albums").json == as_json.json
    assert manager.cache is not None
    assert (len(manager.cache), manager.cache.hits, manager.cache.misses) == (2, 2, 2)


def test_the_engine_state_belongs_to_its_manager(chinook_file: Path) -> None:
    """Models made by models_for() are freed with their manager: no module-wide cache keeps them."""
    engine = create_engine(f"sqlite:///{chinook_file}")
    chinook = models.models_for(models.SQLITETUTORIAL)
    manager = APIManager(engine, runner=InlineRunner())
    for name, model in chinook.by_table().items():
        manager.create_api(model, collection_name=name)
    client = Client(manager.resource())
    assert client.get("/api/albums/1").json["artist"]["name"] == "AC/DC"
    assert client.get("/api/tracks/1/playlists").code == 200
    gone = weakref.ref(chinook.Album)
    del chinook, manager, client, model
    gc.collect()
    assert gone() is None
    engine.dispose()


def test_a_manager_needs_its_reactor(chinook_file: Path) -> None:
    """Without reactor= or runner=, APIManager refuses rather than take the global reactor."""
    engine = create_engine(f"sqlite:///{chinook_file}")
    with pytest.raises(TypeError, match="reactor="):
        APIManager(engine)
    with pytest.raises(TypeError, match="clock="):
        APIManager(engine, runner=InlineRunner(), cache_ttl=5)
    engine.dispose()
