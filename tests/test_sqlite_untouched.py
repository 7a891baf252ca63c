"""Serving a user's SQLite file never changes it (writes off), nor creates one.

Real ``twistd -n chinook`` processes on loopback ports, as in
``test_twistd.py``: a copy of a Chinook database is served with writes off,
read a few hundred times (searches, pages, relations, functions), checked
for journal files while it is served, and stopped by SIGTERM; its sha256 and
its directory listing must be exactly what they were.  The copy is the
reference ``chinook.db`` (skipped when ``../shared/chinook`` is absent) or a
database the sample loader built (always).  The worker-pool mode is checked
the same way, and so is a ``--db`` naming a file that does not exist: a
one-line error naming it, a non-zero exit, and no file left behind.

In process: the journal mode a user's file has is the one it keeps, unless
writes are on and ``sqlite_wal`` asks for WAL; the embedded sample uses WAL.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc

from chinook_svc.database import open_engine
from chinook_svc.sample import load_sample

from .service_support import copy_reference
from .test_twistd import BIN, Twistd, clean_env, free_port, get_json

SIDE_FILES = ("-wal", "-shm", "-journal")


def sha256(path: Path) -> str:
    """The file's sha256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def loader_database(path: Path) -> Path:
    """A Chinook database built by the sample loader (rollback journal, as SQLite makes it)."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        load_sample(engine)
    finally:
        engine.dispose()
    return path


def set_journal_mode(path: Path, mode: str) -> Path:
    """Put the SQLite file ``path`` in journal mode ``mode`` (a private copy only)."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        (found,) = connection.execute(f"PRAGMA journal_mode={mode}").fetchone()
    assert found.lower() == mode.lower()
    return path


@pytest.fixture(params=["reference", "loader"])
def user_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A user's SQLite file with a rollback journal, alone in its directory.

    (The reference copy is switched to a rollback journal whatever mode the
    shared file is in: a file in WAL mode cannot be read without ``-wal`` and
    ``-shm`` files, see ``test_a_wal_file_is_read_but_not_changed``.)
    """
    folder = tmp_path / "data"
    folder.mkdir()
    if request.param == "reference":
        copy = copy_reference(request.getfixturevalue("reference_db"), folder)
        return set_journal_mode(copy, "delete")
    return loader_database(folder / "chinook.db")


def q(obj: object) -> str:
    """A ``q=`` query argument."""
    return "q=" + urllib.parse.quote(json.dumps(obj))


READS = [
    "/api/albums",
    "/api/albums/1",
    "/api/albums?page=3",
    "/api/tracks?results_per_page=100&"
    + q({"filters": [{"name": "name", "op": "like", "val": "%love%"}]}),
    "/api/artists/1/albums",
    "/api/eval/tracks?" + q({"functions": [{"name": "sum", "field": "milliseconds"}]}),
    "/api/invoices?" + q({"order_by": [{"field": "total", "direction": "desc"}]}),
    "/healthz",
]


def chinook_args(port: int, db: Path, *extra: str) -> list[str]:
    """``twistd`` arguments serving ``db`` on ``port`` (writes off)."""
    return ["chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", f"sqlite:///{db}",
            *extra]  # fmt: skip


def serve_many_reads_then_stop(
    server: Twistd, db: Path, rounds: int = 30, side_files: tuple[str, ...] = ()
) -> None:
    """Wait for the server, read ``rounds`` times each URL, check the side files, SIGTERM."""
    try:
        server.wait_until_up()
        for _ in range(rounds):
            for path in READS:
                status, _ = get_json(server.url(path))
                assert status == 200, path
        present = tuple(s for s in SIDE_FILES if Path(f"{db}{s}").exists())
        assert present == side_files, "journal files while serving"
        server.terminate()
    finally:
        server.kill()
    assert server.process.returncode in (0, -signal.SIGTERM), server.log_text()
    assert "Traceback" not in server.log_text()


@pytest.mark.slow
def test_served_read_only_file_is_byte_identical(user_db: Path, tmp_path: Path) -> None:
    """Writes off: after many reads and a SIGTERM the file and its folder are unchanged."""
    before, listing = sha256(user_db), sorted(p.name for p in user_db.parent.iterdir())
    port = free_port()
    server = Twistd(chinook_args(port, user_db), port, tmp_path, clean_env())
    serve_many_reads_then_stop(server, user_db)
    assert sha256(user_db) == before
    assert sorted(p.name for p in user_db.parent.iterdir()) == listing


@pytest.mark.slow
def test_a_wal_file_is_read_but_not_changed(tmp_path: Path) -> None:
    """A user's file already in WAL mode: readable read-only (SQLite adds -wal and -shm), unchanged.

    The file itself stays byte-identical and in WAL mode; the side files SQLite
    needs to read it are left (a read-only reader cannot remove them).
    """
    folder = tmp_path / "data"
    folder.mkdir()
    db = set_journal_mode(loader_database(folder / "chinook.db"), "wal")
    before = sha256(db)
    port = free_port()
    server = Twistd(chinook_args(port, db), port, tmp_path, clean_env())
    serve_many_reads_then_stop(server, db, rounds=5, side_files=("-wal", "-shm"))
    assert sha256(db) == before
    assert db.read_bytes()[18:20] == b"\x02\x02"  # still WAL


@pytest.mark.slow
def test_worker_pool_leaves_the_file_byte_identical(tmp_path: Path) -> None:
    """``--workers 2``, writes off: neither the workers nor the parent's tidying touch the file."""
    folder = tmp_path / "data"
    folder.mkdir()
    db = loader_database(folder / "chinook.db")
    before = sha256(db)
    port = free_port()
    server = Twistd(chinook_args(port, db, "--workers", "2"), port, tmp_path, clean_env())
    serve_many_reads_then_stop(server, db, rounds=10)
    assert sha256(db) == before
    assert sorted(p.name for p in folder.iterdir()) == ["chinook.db"]


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_missing_file_is_a_one_line_error(tmp_path: Path, workers: str) -> None:
    """``--db`` naming no file: exit non-zero, one line naming the path, nothing created."""
    missing = tmp_path / "no-such.db"
    result = subprocess.run(
        [str(BIN / "twistd"), "-n", "--pidfile=", *chinook_args(free_port(), missing),
         "--workers", workers],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(errors) == 1 and str(missing) in errors[0], errors
    assert "Traceback" not in errors[0]
    assert not missing.exists()


# -- in process ------------------------------------------------------------------------------


def journal_mode(engine_url: str) -> str:
    """The journal mode a SQLite file is in, read without changing it."""
    engine = create_engine(engine_url)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def plain_db(tmp_path: Path) -> Iterator[Path]:
    """A small SQLite file in rollback-journal mode (as SQLite makes it)."""
    path = tmp_path / "plain.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    engine.dispose()
    yield path


def test_writes_off_opens_read_only(plain_db: Path) -> None:
    """Writes off: the file is opened read-only; a write fails; the journal mode stays."""
    before = sha256(plain_db)
    engine = open_engine(f"sqlite:///{plain_db}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT x FROM t")).scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "delete"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            with pytest.raises(sa_exc.OperationalError, match="readonly"):
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    finally:
        engine.dispose()
    assert sha256(plain_db) == before
    assert sorted(p.name for p in plain_db.parent.iterdir()) == ["plain.db"]


def test_writes_on_keep_the_owners_journal_mode(plain_db: Path) -> None:
    """Writes on: writable, the journal mode as the owner set it; ``sqlite_wal`` asks for WAL."""
    url = f"sqlite:///{plain_db}"
    engine = open_engine(url, writes=True)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    finally:
        engine.dispose()
    assert journal_mode(url) == "delete"
    engine = open_engine(url, writes=True, sqlite_wal=True)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    finally:
        engine.dispose()


def test_writes_off_ignores_the_wal_option(plain_db: Path) -> None:
    """``sqlite_wal`` without writes changes nothing: a read-only file keeps its mode."""
    before = sha256(plain_db)
    open_engine(f"sqlite:///{plain_db}", sqlite_wal=True).dispose()
    engine = open_engine(f"sqlite:///{plain_db}", sqlite_wal=True)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "delete"
    finally:
        engine.dispose()
    assert sha256(plain_db) == before


@pytest.mark.parametrize("writes", [False, True])
def test_missing_file_is_never_created(tmp_path: Path, writes: bool) -> None:
    """A missing file is an error naming it, with writes on or off; nothing is created."""
    missing = tmp_path / "absent.db"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        open_engine(f"sqlite:///{missing}", writes=writes)
    assert not missing.exists()


def test_the_embedded_sample_uses_wal(tmp_path: Path) -> None:
    """The service's own copy of the sample may be changed: it is put in WAL mode."""
    from chinook_svc.database import sample_database_url

    url = sample_database_url(tmp_path)
    engine = open_engine(url, data_dir=tmp_path)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    finally:
        engine.dispose()
