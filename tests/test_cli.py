"""The ``chinook-svc`` command line: load-sample and sample-path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chinook_svc.cli import main


def test_load_sample_then_again_then_replace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """load-sample loads, then reports "already loaded", then reloads with --replace; exit 0."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert main(["load-sample", "--db", url]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"loaded the Chinook sample into {url}: 15607 rows in 11 tables in ")
    assert main(["load-sample", "--db", url]) == 0
    assert "already loaded" in capsys.readouterr().out
    assert main(["load-sample", "--db", url, "--replace"]) == 0
    assert capsys.readouterr().out.startswith("loaded the Chinook sample")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "not a url"], "invalid database URL: Could not parse"),
        (["--db", "nosuchdb://x"], "invalid database URL: Can't load plugin"),
        (["--db", "sqlite:////nonexistent-dir/x/c.db"], "unable to open database file"),
        (
            ["--db", "postgresql+psycopg://u:secret@127.0.0.1:1/db"],
            "u:***@127.0.0.1:1/db: connection failed",
        ),
        (["--db", "sqlite://", "--schema", "s"], "--schema needs PostgreSQL or MariaDB"),
    ],
)
def test_expected_errors_are_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad URL, unreachable database, bad option: exit 1, one stderr line, no password."""
    assert main(["load-sample", *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("chinook-svc: error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and "secret" not in captured.err


def test_tables_in_the_way(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Foreign Chinook tables are an error that points at --replace, which then succeeds."""
    import sqlite3

    path = tmp_path / "c.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE albums (AlbumId INTEGER PRIMARY KEY)")
    assert main(["load-sample", "--db", f"sqlite:///{path}"]) == 1
    assert "--replace" in capsys.readouterr().err
    assert main(["load-sample", "--db", f"sqlite:///{path}", "--replace"]) == 0


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing --db or subcommand is an argparse usage error (exit status 2)."""
    for argv in (["load-sample"], []):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
    assert "usage: chinook-svc" in capsys.readouterr().err


def test_sample_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """sample-path prints the default sample file, under CHINOOK_DATA_DIR when set."""
    monkeypatch.setenv("CHINOOK_DATA_DIR", str(tmp_path))
    assert main(["sample-path"]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'chinook.db'}\n"


@pytest.mark.slow
def test_installed_console_script(tmp_path: Path) -> None:
    """The installed chinook-svc script runs both subcommands as a separate process."""
    script = Path(sys.executable).with_name("chinook-svc")
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable} (pip install -e .)")
    env = {**os.environ, "CHINOOK_DATA_DIR": str(tmp_path)}
    path = subprocess.run(
        [script, "sample-path"], capture_output=True, text=True, env=env, check=True
    )
    assert path.stdout == f"{tmp_path / 'chinook.db'}\n"
    url = f"sqlite:///{tmp_path / 'c.db'}"
    loaded = subprocess.run(
        [script, "load-sample", "--db", url], capture_output=True, text=True, env=env
    )
    assert (loaded.returncode, loaded.stderr) == (0, "")
    assert "15607 rows in 11 tables" in loaded.stdout
    failed = subprocess.run(
        [script, "load-sample", "--db", "nosuchdb://"], capture_output=True, text=True, env=env
    )
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
