"""CORS in memory: preflights, allowed and refused origins, ``*`` for reads, the cache.

The browser's side of it (a page on another origin that fetches and
POSTs) is ``test_browser.py``; the option, variable and config key are in
``test_config.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from treq.testing import StubTreq
from twisted.internet.defer import ensureDeferred
from twisted.internet.testing import Clock

from chinook_svc.database import open_engine
from chinook_svc.restless import InlineRunner
from chinook_svc.web.app import READ_ONLY, READ_WRITE, ChinookApp
from chinook_svc.web.cors import CorsPolicy

from .service_support import make_tiny_chinook

TOKEN = b"cors-test-token-0123456789abc"
APP = "http://app.example"
OTHER = "http://evil.example"


def app_with(tmp_path: Path, origins: tuple[str, ...], **options: Any) -> Iterator[ChinookApp]:
    engine = open_engine(make_tiny_chinook(tmp_path / "tiny.db"))
    methods = READ_WRITE if options.get("allow_writes") else READ_ONLY
    yield ChinookApp(engine, InlineRunner(), Clock(), cors=CorsPolicy(origins, methods), **options)
    engine.dispose()


@pytest.fixture
def writable(tmp_path: Path) -> Iterator[ChinookApp]:
    """Writes on; one listed origin."""
    yield from app_with(tmp_path, (APP,), allow_writes=True, token=TOKEN)


def call(app: ChinookApp, method: str, path: str, **headers: str) -> tuple[int, Any]:
    """One request in memory: (status, all response headers)."""
    stub = StubTreq(app.resource())
    found: list[tuple[int, Any]] = []

    async def go() -> None:
        response = await stub.request(
            method,
            "http://localhost" + path,
            headers={k.replace("_", "-"): v for k, v in headers.items()},
        )
        await stub.content(response)
        found.append((response.code, response.headers))

    ensureDeferred(go())
    stub.flush()
    assert found, f"no answer to {method} {path}"
    return found[0]


def one(headers: Any, name: str) -> str | None:
    values = headers.getRawHeaders(name)
    return None if values is None else ", ".join(values)


def test_preflight_of_a_listed_origin(writable: ChinookApp) -> None:
    """204 with origin, the enabled methods, the headers a client needs, and a max age."""
    code, headers = call(
        writable,
        "OPTIONS",
        "/api/albums",
        Origin=APP,
        Access_Control_Request_Method="POST",
        Access_Control_Request_Headers="authorization, content-type",
    )
    assert code == 204
    assert one(headers, "access-control-allow-origin") == APP
    assert one(headers, "access-control-allow-methods") == "DELETE, GET, HEAD, PATCH, POST, PUT"
    allowed = {h.strip().lower() for h in one(headers, "access-control-allow-headers").split(",")}
    assert {"authorization", "content-type", "if-none-match"} <= allowed
    assert int(one(headers, "access-control-max-age")) > 0
    assert one(headers, "access-control-allow-credentials") == "true"
    assert "Origin" in one(headers, "vary")


def test_a_read_only_service_allows_only_reads(tmp_path: Path) -> None:
    """Without writes, a preflight lists GET and HEAD only, and a POST preflight is refused."""
    for app in app_with(tmp_path, (APP,)):
        _, headers = call(
            app, "OPTIONS", "/api/albums", Origin=APP, Access_Control_Request_Method="GET"
        )
        assert one(headers, "access-control-allow-methods") == "GET, HEAD"
        _code, headers = call(
            app, "OPTIONS", "/api/albums", Origin=APP, Access_Control_Request_Method="POST"
        )
        assert one(headers, "access-control-allow-origin") is None


def test_answers_to_a_listed_origin_expose_the_headers(writable: ChinookApp) -> None:
    """The page may read Link, Location, ETag, X-Aggregate-Complete; Vary keeps both reasons."""
    code, headers = call(writable, "GET", "/api/albums", Origin=APP, Accept_Encoding="gzip")
    assert code == 200
    assert one(headers, "access-control-allow-origin") == APP
    exposed = {h.strip() for h in one(headers, "access-control-expose-headers").split(",")}
    assert {"Link", "Location", "ETag", "X-Aggregate-Complete"} <= exposed
    assert {v.strip() for v in one(headers, "vary").split(",")} == {"Origin", "Accept-Encoding"}


def test_an_unlisted_origin_gets_no_cors_header(writable: ChinookApp) -> None:
    """No Access-Control-* at all, to the preflight or the request; still Vary: Origin."""
    code, headers = call(
        writable, "OPTIONS", "/api/albums", Origin=OTHER, Access_Control_Request_Method="POST"
    )
    assert not [n for n, _ in headers.getAllRawHeaders() if n.lower().startswith(b"access-control")]
    code, headers = call(writable, "GET", "/api/albums", Origin=OTHER)
    assert code == 200
    assert not [n for n, _ in headers.getAllRawHeaders() if n.lower().startswith(b"access-control")]
    assert "Origin" in one(headers, "vary")


def test_star_is_for_reads_and_never_with_credentials(tmp_path: Path) -> None:
    """``*``: any origin may read, with no credentials; writes need a listed origin."""
    for app in app_with(tmp_path, ("*", APP), allow_writes=True, token=TOKEN):
        code, headers = call(app, "GET", "/api/albums", Origin=OTHER)
        assert one(headers, "access-control-allow-origin") == "*"
        assert one(headers, "access-control-allow-credentials") is None
        code, headers = call(
            app, "OPTIONS", "/api/albums", Origin=OTHER, Access_Control_Request_Method="GET"
        )
        assert (code, one(headers, "access-control-allow-origin")) == (204, "*")
        assert one(headers, "access-control-allow-methods") == "GET, HEAD"
        assert one(headers, "access-control-allow-credentials") is None
        code, headers = call(
            app, "OPTIONS", "/api/albums", Origin=OTHER, Access_Control_Request_Method="DELETE"
        )
        assert one(headers, "access-control-allow-origin") is None
        code, headers = call(
            app, "OPTIONS", "/api/albums", Origin=APP, Access_Control_Request_Method="DELETE"
        )
        assert one(headers, "access-control-allow-origin") == APP


def test_preflights_pass_the_token_guard(tmp_path: Path) -> None:
    """Under --auth-reads a preflight (it carries no token) is answered; the GET needs it."""
    for app in app_with(tmp_path, (APP,), token=TOKEN, auth_reads=True):
        code, headers = call(
            app, "OPTIONS", "/api/albums", Origin=APP, Access_Control_Request_Method="GET"
        )
        assert (code, one(headers, "access-control-allow-origin")) == (204, APP)
        code, headers = call(app, "GET", "/api/albums", Origin=APP)
        assert code == 401
        assert one(headers, "access-control-allow-origin") == APP  # the page can read the 401


def test_the_cache_never_serves_one_origins_headers_to_another(tmp_path: Path) -> None:
    """With the response cache on, a cached answer carries the CORS headers of its own request."""
    for app in app_with(tmp_path, (APP,), cache_ttl=60.0):
        _, first = call(app, "GET", "/api/albums/1", Origin=APP)
        assert one(first, "access-control-allow-origin") == APP
        _, second = call(app, "GET", "/api/albums/1", Origin=OTHER)
        assert one(second, "access-control-allow-origin") is None
        _, third = call(app, "GET", "/api/albums/1")
        assert one(third, "access-control-allow-origin") is None
        assert app.manager.cache is not None and app.manager.cache.hits >= 2


def test_no_policy_no_cors(tmp_path: Path) -> None:
    """Without --cors-origin nothing changes: no Access-Control-*, no Vary: Origin."""
    for app in app_with(tmp_path, ()):
        _, headers = call(app, "GET", "/api/albums", Origin=APP)
        assert one(headers, "access-control-allow-origin") is None
        assert "Origin" not in (one(headers, "vary") or "")
