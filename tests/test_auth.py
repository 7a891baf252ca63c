"""Bearer-token protection of writes (and optionally reads)."""

from __future__ import annotations

from pathlib import Path

import pytest
from klein import Klein

from chinook_svc.auth import TokenError, TokenGuard, read_token

from .restless_client import Client

TOKEN = b"s3cret-token-0123456789"


def make_app() -> Klein:
    app = Klein()

    @app.route("/thing", methods=["GET", "POST"])
    def thing(request: object) -> bytes:
        return b'{"ok": true}'

    return app


@pytest.fixture
def guarded() -> Client:
    """Writes need the token, reads do not."""
    return Client(TokenGuard(make_app().resource(), TOKEN))


def test_reads_are_open_writes_need_the_token(guarded: Client) -> None:
    """GET passes; POST without or with a wrong token is 401 with WWW-Authenticate."""
    assert guarded.get("/thing").code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        answer = guarded.request("POST", "/thing", headers=headers)
        assert answer.code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json == {"message": "Missing or invalid bearer token"}
    ok = guarded.request("POST", "/thing", headers={"Authorization": "Bearer " + TOKEN.decode()})
    assert ok.code == 200


def test_protect_reads() -> None:
    """With protect_reads, GET needs the token too."""
    client = Client(TokenGuard(make_app().resource(), TOKEN, protect_reads=True))
    assert client.get("/thing").code == 401
    assert client.get("/thing", headers={"Authorization": "bearer " + TOKEN.decode()}).code == 200


def test_no_token_means_open() -> None:
    """Without a token configured, nothing is asked."""
    assert Client(TokenGuard(make_app().resource(), None)).request("POST", "/thing").code == 200


def test_read_token(tmp_path: Path) -> None:
    """The token file is read and stripped; missing or short files are refused."""
    path = tmp_path / "token"
    path.write_bytes(TOKEN + b"\n")
    assert read_token(path) == TOKEN
    path.write_bytes(b"short")
    with pytest.raises(TokenError):
        read_token(path)
    with pytest.raises(TokenError):
        read_token(tmp_path / "missing")
