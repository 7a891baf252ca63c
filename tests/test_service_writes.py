"""Writes in the Chinook service: off by default, and behind a bearer token when on.

In memory: the root app with writes off answers 405, with writes on needs the
token (401 with ``WWW-Authenticate: Bearer`` otherwise), optionally for reads
too.  For real: ``twistd chinook --allow-writes`` on a loopback port, where an
invoice with nested items is created atomically and a bad one leaves nothing
behind, and the token never appears in the log.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from twisted.python.usage import UsageError

from chinook_svc.config import Settings, load_settings
from chinook_svc.database import open_engine
from chinook_svc.restless import InlineRunner
from chinook_svc.tap import api_token
from chinook_svc.web.app import ChinookApp

from .restless_client import Client
from .service_support import FakeReactor, copy_reference
from .test_twistd import Twistd, clean_env, free_port

TOKEN = "write-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
JSON = {"Content-Type": "application/json"}


def app_client(db: Path, **options: Any) -> Client:
    engine = open_engine(f"sqlite:///{db}", writes=True)
    app = ChinookApp(engine, InlineRunner(), FakeReactor(), **options)
    return Client(app.resource())


def post(client: Client, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request("POST", path, data=json.dumps(body).encode(), headers=headers)


def test_read_only_by_default(chinook_file: Path, tmp_path: Path) -> None:
    """Without --allow-writes, every write is 405 and nothing changes."""
    client = app_client(copy_reference(chinook_file, tmp_path))
    answer = post(client, "/api/artists", {"name": "x"}, JSON)
    assert answer.code == 405 and answer.headers["allow"] == "GET, HEAD"
    assert client.request("DELETE", "/api/artists/1").code == 405
    assert client.get("/api/artists").json["num_results"] == 275


def test_writes_need_the_token(chinook_file: Path, tmp_path: Path) -> None:
    """With writes on: no or a wrong token is 401 with WWW-Authenticate; the right one writes."""
    client = app_client(
        copy_reference(chinook_file, tmp_path), allow_writes=True, token=TOKEN.encode()
    )
    for headers in (JSON, {**JSON, "Authorization": "Bearer nope"}):
        answer = post(client, "/api/artists", {"name": "x"}, headers)
        assert answer.code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/artists").json["num_results"] == 275
    created = post(client, "/api/artists", {"name": "x"}, AUTH)
    assert created.code == 201
    assert (
        client.request("DELETE", f"/api/artists/{created.json['artist_id']}", headers=AUTH).code
        == 204
    )


def test_auth_reads(chinook_file: Path, tmp_path: Path) -> None:
    """With --auth-reads, reads of the API need the token; /healthz stays open."""
    client = app_client(
        copy_reference(chinook_file, tmp_path), token=TOKEN.encode(), auth_reads=True
    )
    assert client.get("/api/albums").code == 401
    assert client.get("/api/albums", headers=AUTH).code == 200
    assert client.get("/healthz").code == 200


def test_token_settings() -> None:
    """The token comes from CHINOOK_API_TOKEN or a file, never shows in repr, and is required."""
    settings = load_settings({"allow-writes": True}, {"CHINOOK_API_TOKEN": TOKEN})
    assert settings.allow_writes and api_token(settings) == TOKEN.encode()
    assert TOKEN not in repr(settings)
    with pytest.raises(UsageError, match="need a bearer token"):
        api_token(load_settings({"allow-writes": True}, {}))
    with pytest.raises(UsageError, match="at least 16"):
        api_token(load_settings({"allow-writes": True}, {"CHINOOK_API_TOKEN": "short"}))
    assert api_token(Settings()) is None


def urlopen(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, dict(e.headers), json.loads(raw) if raw else None


@pytest.mark.slow
def test_twistd_with_writes(chinook_file: Path, tmp_path: Path) -> None:
    """twistd chinook --allow-writes: token checked over a real socket; invoices are atomic."""
    db = copy_reference(chinook_file, tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    args = [
        "chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", f"sqlite:///{db}",
        "--allow-writes", "--api-token-file", str(token_file),
    ]  # fmt: skip
    server = Twistd(args, port, tmp_path, clean_env())
    invoice = {
        "customer_id": 1,
        "invoice_date": "2014-02-01T00:00:00",
        "total": 1.98,
        "invoice_items": [
            {"track_id": 1, "unit_price": 0.99, "quantity": 1},
            {"track_id": 2, "unit_price": 0.99, "quantity": 1},
        ],
    }
    try:
        server.wait_until_up()
        code, headers, body = urlopen(server.url("/api/invoices"), "POST", invoice, JSON)
        assert code == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        code, headers, body = urlopen(server.url("/api/invoices"), "POST", invoice, AUTH)
        assert code == 201, body
        assert headers["Location"].endswith(f"/api/invoices/{body['invoice_id']}")
        assert [i["track_id"] for i in body["invoice_items"]] == [1, 2]
        invoice["invoice_items"][1]["track_id"] = 999999
        code, _, body = urlopen(server.url("/api/invoices"), "POST", invoice, AUTH)
        assert (code, body) == (400, {"message": "IntegrityError"})
        server.terminate()
    finally:
        server.kill()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM invoices").fetchone()[0] == 413
        assert conn.execute("SELECT count(*) FROM invoice_items").fetchone()[0] == 2242
        assert (
            conn.execute("SELECT count(*) FROM invoice_items WHERE TrackId = 999999").fetchone()[0]
            == 0
        )
    finally:
        conn.close()
    assert TOKEN not in server.log_text()
