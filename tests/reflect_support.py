"""Reflected services for tests: an app over any engine, requests in memory, JSON answers.

:func:`reflected_app` builds the same ``ChinookApp`` ``twistd restless``
builds, with the models :func:`chinook_svc.reflection.reflect_now` maps
from the database; :func:`get` sends a request through ``StubTreq`` (a real
``Site`` over in-memory transports) with database calls inline.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import Engine
from treq.testing import StubTreq
from twisted.internet.defer import ensureDeferred
from twisted.internet.testing import Clock
from twisted.web.resource import IResource

from chinook_svc.reflection import Choice, reflect_now
from chinook_svc.restless import InlineRunner
from chinook_svc.web.app import ChinookApp

from .service_support import request

TOKEN = b"reflection-test-token-0123456789"


def reflected_app(engine: Engine, *, allow_writes: bool = False, **choice: Any) -> ChinookApp:
    """The app ``twistd restless`` serves for ``engine`` with these reflection options."""
    return ChinookApp(
        engine,
        InlineRunner(),
        Clock(),
        models=reflect_now(engine, Choice(**choice)),
        allow_writes=allow_writes,
        token=TOKEN if allow_writes else None,
    )


def get(resource: IResource, path: str, q: dict[str, Any] | None = None) -> tuple[int, Any]:
    """GET ``path`` (with ``q`` as the query) from ``resource``: (status, decoded body)."""
    url = f"http://x{path}"
    if q is not None:
        url += ("&" if "?" in url else "?") + "q=" + quote(json.dumps(q))
    status, _, body = request(resource, url)
    return status, body


def ok(resource: IResource, path: str, q: dict[str, Any] | None = None) -> Any:
    """The body of a GET that must answer 200."""
    status, body = get(resource, path, q)
    assert status == 200, (path, status, body)
    return body


def send(
    resource: IResource, method: str, path: str, body: Any = None, *, token: bytes = TOKEN
) -> tuple[int, Any]:
    """A write (``body`` as JSON) with the bearer token: (status, decoded body or ``None``)."""
    status, _, answer = exchange(resource, method, path, body, token=token)
    return status, answer


def exchange(
    resource: IResource, method: str, path: str, body: Any = None, *, token: bytes = TOKEN
) -> tuple[int, Any, Any]:
    """A request with the bearer token: (status, headers, decoded body or ``None``)."""
    stub = StubTreq(resource)
    results: list[tuple[int, Any, Any]] = []
    headers = {b"Authorization": [b"Bearer " + token], b"Content-Type": [b"application/json"]}
    data = None if body is None else json.dumps(body).encode()

    async def go() -> None:
        response = await stub.request(method, f"http://x{path}", headers=headers, data=data)
        content = await stub.content(response)
        answer = json.loads(content) if content else None
        results.append((response.code, response.headers, answer))

    ensureDeferred(go())
    stub.flush()
    assert results, f"no response for {method} {path}"
    return results[0]
