"""The article's program (``examples/article_app.py``) answers what the article shows.

The flask-restless article ends with ``GET /api/Albums`` answering
``{"num_results": 347, "objects": [{"Artists": {"artist_id": 1, "name": "AC/DC"},
"album_id": 1, "artist_id": 1, "title": "For Those About To Rock We Salute You"},
...], "page": 1, "total_pages": 35}``: the relation key ``"Artists"`` comes
from the backref.  The port runs on the sqlitetutorial.net ``chinook.db``: the
reference copy when there is one, else the sample the loader builds (the
same data).  Expected values beyond the article's first object come from SQL.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from chinook_svc.restless import InlineRunner

from .conftest import REFERENCE, ROOT
from .restless_client import Client

EXAMPLE = ROOT / "examples" / "article_app.py"

#: The article's output for page 1 of /api/Albums, as far as it shows it.
ARTICLE_FIRST = {
    "Artists": {"artist_id": 1, "name": "AC/DC"},
    "album_id": 1,
    "artist_id": 1,
    "title": "For Those About To Rock We Salute You",
}


@pytest.fixture(scope="module")
def article() -> ModuleType:
    """``examples/article_app.py``, imported as a module."""
    spec = importlib.util.spec_from_file_location("article_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def chinook_db(request: pytest.FixtureRequest) -> Path:
    """The sqlitetutorial ``chinook.db``: a copy of the reference file, else the loader's sample."""
    if (REFERENCE / "chinook.db").exists():
        return request.getfixturevalue("reference_db")  # type: ignore[no-any-return]
    return request.getfixturevalue("chinook_file")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def config_file(chinook_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``config.cfg`` as the article writes it, naming that database."""
    path = tmp_path_factory.mktemp("article") / "config.cfg"
    path.write_text(f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{chinook_db}'\nDEBUG = True\n")
    return path


@pytest.fixture(scope="module")
def client(article: ModuleType, config_file: Path) -> Iterator[Client]:
    manager = article.create_app(article.from_pyfile(str(config_file)), runner=InlineRunner())
    yield Client(manager.resource())
    manager.engine.dispose()


@pytest.fixture(scope="module")
def sql(chinook_db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{chinook_db}?mode=ro", uri=True)
    yield conn
    conn.close()


def test_the_shipped_config_is_the_articles(article: ModuleType) -> None:
    """``examples/config.cfg`` says what the article's says, read from the app's folder."""
    config = article.from_pyfile("config.cfg")
    assert config == {"SQLALCHEMY_DATABASE_URI": "sqlite:///chinook.db", "DEBUG": True}
    assert article.database_uri(config) == f"sqlite:///{EXAMPLE.parent / 'chinook.db'}"


def test_albums_page_one_is_the_articles(client: Client, sql: sqlite3.Connection) -> None:
    """GET /api/Albums: the article's envelope and first object, key for key; the rest
    of page 1 likewise, from SQL."""
    body = client.get("/api/Albums").json
    assert sorted(body) == ["num_results", "objects", "page", "total_pages"]
    assert (body["num_results"], body["page"], body["total_pages"]) == (347, 1, 35)
    assert body["objects"][0] == ARTICLE_FIRST
    rows = sql.execute(
        "SELECT a.AlbumId, a.Title, a.ArtistId, r.Name FROM albums a"
        " JOIN artists r ON r.ArtistId = a.ArtistId ORDER BY a.AlbumId LIMIT 10"
    ).fetchall()
    assert body["objects"] == [
        {
            "Artists": {"artist_id": artist, "name": name},
            "album_id": album,
            "artist_id": artist,
            "title": title,
        }
        for album, title, artist, name in rows
    ]


def test_artists_carry_their_albums(client: Client, sql: sqlite3.Connection) -> None:
    """GET /api/Artists: each artist with its albums (the relationship the backref names)."""
    body = client.get("/api/Artists").json
    assert (body["num_results"], body["page"], body["total_pages"]) == (275, 1, 28)
    assert body["objects"][0] == {
        "albums": [
            {"album_id": 1, "artist_id": 1, "title": "For Those About To Rock We Salute You"},
            {"album_id": 4, "artist_id": 1, "title": "Let There Be Rock"},
        ],
        "artist_id": 1,
        "name": "AC/DC",
    }
    for artist in body["objects"]:
        albums = sql.execute(
            "SELECT AlbumId FROM albums WHERE ArtistId = ? ORDER BY AlbumId",
            (artist["artist_id"],),
        ).fetchall()
        assert [a["album_id"] for a in artist["albums"]] == [a for (a,) in albums]
    assert client.get("/api/Albums/1/Artists").json == body["objects"][0]


@pytest.mark.slow
def test_it_runs_with_one_command(config_file: Path) -> None:
    """``python examples/article_app.py config.cfg --port 0`` serves the article's answer."""
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), str(config_file), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        base = _running_on(proc)
        with urllib.request.urlopen(base + "api/Albums", timeout=30) as response:
            body: Any = json.loads(response.read())
        assert body["objects"][0] == ARTICLE_FIRST and body["total_pages"] == 35
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _running_on(proc: subprocess.Popen[str]) -> str:
    """The ``http://127.0.0.1:PORT/`` the example prints once it listens (60 s at most)."""
    assert proc.stdout is not None
    deadline = threading.Timer(60, proc.kill)
    deadline.start()
    try:
        for line in proc.stdout:
            if line.startswith(" * Running on "):
                return line.split()[-1]
    finally:
        deadline.cancel()
    raise AssertionError(f"the example exited with {proc.wait(timeout=30)} before listening")


def test_a_missing_database_is_one_line(tmp_path: Path) -> None:
    """No chinook.db where the config says: a one-line message, exit status 1, no file made."""
    config = tmp_path / "config.cfg"
    config.write_text(f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{tmp_path / 'chinook.db'}'\n")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and done.stderr.startswith("no database at ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "chinook.db").exists()
