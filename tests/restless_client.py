"""An in-memory HTTP client for engine tests: ``StubTreq`` over a resource, synchronous.

Requests go through a real ``Agent`` and a real ``Site`` over in-memory
transports (treq's testing tools); database calls run inline
(:class:`~chinook_svc.restless.InlineRunner`), so a request completes
on ``flush()`` without threads or a running reactor.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from attrs import frozen
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from treq.testing import StubTreq
from twisted.web.resource import IResource

from chinook_svc.restless import APIManager, InlineRunner

BASE = "http://localhost:8080"


@frozen
class Answer:
    """A response: status, headers (lower-case names, last value) and body."""

    code: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def q(obj: Any) -> str:
    """``q=<url-encoded JSON>``."""
    return "q=" + quote(json.dumps(obj), safe="")


class Client:
    """Synchronous requests against a resource."""

    def __init__(self, resource: IResource) -> None:
        self.stub = StubTreq(resource)

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        """Send one request and wait (in memory) for the whole answer."""
        results: list[Any] = []
        d = self.stub.request(method, BASE + path, **kwargs)

        def collect(response: Any) -> Any:
            def done(body: bytes) -> None:
                headers = {
                    k.decode().lower(): v[-1].decode("latin-1")
                    for k, v in response.headers.getAllRawHeaders()
                }
                results.append(Answer(response.code, headers, body))

            return self.stub.content(response).addCallback(done)

        d.addCallback(collect)
        d.addErrback(results.append)
        self.stub.flush()
        assert results, f"{method} {path} did not complete"
        if not isinstance(results[0], Answer):
            results[0].raiseException()
        return results[0]  # type: ignore[no-any-return]

    def get(self, path: str, **kwargs: Any) -> Answer:
        """``GET path``."""
        return self.request("GET", path, **kwargs)


def memory_engine(metadata: MetaData) -> Engine:
    """An in-memory SQLite database holding ``metadata``'s tables, one connection for all."""
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    metadata.create_all(engine)
    return engine


def serve(engine: Engine, *apis: tuple[type, dict[str, Any]], **manager_options: Any) -> Client:
    """A client of ``create_api(model, **options)`` for each ``(model, options)``, run inline."""
    manager = APIManager(engine, runner=InlineRunner(), **manager_options)
    for model, options in apis:
        manager.create_api(model, **options)
    return Client(manager.resource())
