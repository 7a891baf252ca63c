"""``twistd restless`` for real: the installed plugin on a free port, a copy of chinook.db.

The same ``Twistd`` helper as ``test_twistd``: a subprocess outside the
repository, polled until ``/healthz`` answers, stopped with SIGTERM.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from twisted.web.resource import Resource

import chinook_svc
from chinook_svc.reflection import Choice

from .service_support import FakeReactor, InlineThreadPool, request
from .test_twistd import BIN, ROOT, Twistd, clean_env, free_port, get_json

pytestmark = pytest.mark.slow


def test_restless_serves_any_database(reference_db: Path, tmp_path: Path) -> None:
    """One command serves the file by reflection, with twistd chinook's options and checks."""
    db = tmp_path / "any.db"
    shutil.copyfile(reference_db, db)
    port = free_port()
    args = [
        "restless", "--db", f"sqlite:///{db}", "--listen", f"tcp:{port}:interface=127.0.0.1",
        "--naming", "snake", "--exclude-columns", "employees.BirthDate,customers.Phone",
        "--exclude-tables", "invoice_items", "--cache-ttl", "5",
    ]  # fmt: skip
    server = Twistd(args, port, tmp_path, clean_env())
    try:
        server.wait_until_up()
        status, albums = get_json(server.url("/api/albums"))
        assert (status, albums["num_results"]) == (200, 347)
        assert albums["objects"][0]["artist"] == {"artist_id": 1, "name": "AC/DC"}
        status, boss = get_json(server.url("/api/employees/1"))
        assert status == 200 and "birth_date" not in boss and boss["first_name"] == "Andrew"
        assert get_json(server.url("/api/invoice_items"))[0] == 404
        status, health = get_json(server.url("/healthz"))
        assert (status, health["status"], health["edition"]) == (200, "ok", "reflected")
        status, index = get_json(server.url("/"))
        assert "invoice_items" not in index["collections"] and "albums" in index["collections"]
        status, error = get_json(server.url("/api/albums?q=%7Bbad"))
        assert status == 400 and "message" in error
        assert get_json(server.url("/openapi.json"))[0] == 200
        assert server.terminate() < 15
    finally:
        server.kill()
    log = server.log_text()
    assert (
        "Reflected 10 tables and 0 views with 18 relations "
        "(0 collections read-only, 1 things skipped) from sqlite:///" in log
    )
    assert "Reflection skipped invoice_items: in --exclude-tables" in log
    assert not Path(f"{db}-wal").exists()


def test_restless_needs_a_database(tmp_path: Path) -> None:
    """Without --db, twistd restless ends with one line saying so."""
    result = subprocess.run(
        [str(BIN / "twistd"), "-n", "--pidfile=", "restless"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "twistd restless: --db URL is required: which database should be reflected?"
    )


def test_tac_reflects_when_told(reference_db: Path, tmp_path: Path) -> None:
    """twistd -ny chinook.tac with CHINOOK_REFLECT=1 serves the database by reflection."""
    db = tmp_path / "any.db"
    shutil.copyfile(reference_db, db)
    port = free_port()
    env = clean_env(
        CHINOOK_LISTEN=f"tcp:{port}:interface=127.0.0.1",
        CHINOOK_DB=f"sqlite:///{db}",
        CHINOOK_REFLECT="1",
        CHINOOK_NAMING="snake",
        CHINOOK_TABLES="albums,artists",
    )
    server = Twistd(["-y", str(ROOT / "chinook.tac")], port, tmp_path, env)
    try:
        server.wait_until_up()
        status, index = get_json(server.url("/"))
        assert (status, sorted(index["collections"]), index["edition"]) == (
            200,
            ["albums", "artists"],
            "reflected",
        )
        status, albums = get_json(server.url("/api/artists/1/albums"))
        assert status == 200 and albums["objects"][0]["artist_id"] == 1
        assert server.terminate() < 15
    finally:
        server.kill()


def test_mounted_reflected_schema(reference_db: Path, tmp_path: Path) -> None:
    """make_resource(url, reflect=Choice(...)) mounts a reflected schema anywhere."""
    db = tmp_path / "any.db"
    shutil.copyfile(reference_db, db)
    resource = chinook_svc.make_resource(
        f"sqlite:///{db}",
        reactor=FakeReactor(),
        threadpool=InlineThreadPool(),
        reflect=Choice(naming="snake", exclude_tables=("tracks",)),
    )
    root = Resource()
    root.putChild(b"music", resource)
    status, _, body = request(root, "http://host/music/api/artists/1/albums")
    assert status == 200 and [a["album_id"] for a in body["objects"]] == [1, 4]
    assert request(root, "http://host/music/api/tracks")[0] == 404
    with pytest.raises(ValueError, match="needs db_url"):
        chinook_svc.make_resource(reactor=FakeReactor(), reflect=Choice())


def test_restless_workers_reflect_too(reference_db: Path, tmp_path: Path) -> None:
    """With --workers 2, every worker serves the reflected schema with the options given."""
    db = tmp_path / "any.db"
    shutil.copyfile(reference_db, db)
    port = free_port()
    args = [
        "restless", "--db", f"sqlite:///{db}", "--listen", f"tcp:{port}:interface=127.0.0.1",
        "--workers", "2", "--naming", "snake", "--tables", "albums,artists",
    ]  # fmt: skip
    server = Twistd(args, port, tmp_path, clean_env())
    try:
        server.wait_until_up()
        for _ in range(6):  # connections spread over both workers
            status, index = get_json(server.url("/"))
            assert (status, sorted(index["collections"]), index["edition"]) == (
                200,
                ["albums", "artists"],
                "reflected",
            )
            assert get_json(server.url("/api/albums/1"))[1]["artist"]["name"] == "AC/DC"
        assert server.terminate() < 30
    finally:
        server.kill()
