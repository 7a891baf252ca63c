"""The installed service, for real: ``twistd`` subprocesses on free loopback ports.

Each test starts ``twistd`` from the virtual environment with a working
directory outside the repository (so only the installed package can be
found), polls until the service answers (bounded), checks
``GET /api/Albums`` on a private copy of the Chinook sample, then sends
SIGTERM and checks a prompt, clean exit with no SQLite ``-wal``/``-shm``
file left behind.

While a server starts, polling waits on the process (``wait(timeout=0.2)``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .service_support import assert_article_first_page, copy_reference

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STARTUP_SECONDS = 60
SHUTDOWN_SECONDS = 15


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without CHINOOK_* or PYTHONPATH, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CHINOOK_") and k != "PYTHONPATH"
    }
    env.update(extra)
    return env


def get_json(url: str) -> tuple[int, Any]:
    """GET ``url``: (status, decoded JSON body)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class Twistd:
    """A ``twistd`` subprocess serving on a loopback port."""

    def __init__(self, args: list[str], port: int, cwd: Path, env: dict[str, str]) -> None:
        self.port = port
        self.log = cwd / "twistd.log"
        command = [str(BIN / "twistd"), "-n", "--pidfile=", f"--logfile={self.log}", *args]
        self.process = subprocess.Popen(command, cwd=cwd, env=env)

    def url(self, path: str) -> str:
        """The service's URL for ``path``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_until_up(self) -> None:
        """Poll /healthz until it answers; fail if the process exits or time runs out."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                if get_json(self.url("/healthz"))[0] == 200:
                    return
            except OSError:
                pass
            try:
                self.process.wait(timeout=0.2)  # doubles as the pause between polls
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"twistd exited with {self.process.returncode}:\n{self.log_text()}")
        pytest.fail(f"twistd did not answer within {STARTUP_SECONDS}s:\n{self.log_text()}")

    def terminate(self) -> float:
        """SIGTERM; wait for the exit; return how long it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=SHUTDOWN_SECONDS)
        return time.monotonic() - started

    def kill(self) -> None:
        """Make sure the process is gone (test clean-up)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_text(self) -> str:
        """What twistd logged."""
        return self.log.read_text() if self.log.exists() else "(no log)"


def writable_service(db: Path, directory: Path, token: str, *extra: str) -> Twistd:
    """twistd chinook on a copy of ``db`` in ``directory``: writes on behind ``token``, started."""
    shutil.copyfile(db, directory / "chinook.db")
    (directory / "token").write_text(token)
    port = free_port()
    args = [
        "chinook",
        "--listen", f"tcp:{port}:interface=127.0.0.1",
        "--db", f"sqlite:///{directory / 'chinook.db'}",
        "--allow-writes", "--api-token-file", str(directory / "token"),
        *extra,
    ]  # fmt: skip
    return started(Twistd(args, port, directory, clean_env()))


def started(server: Twistd) -> Twistd:
    """``server`` once it answers (killed if it never does)."""
    try:
        server.wait_until_up()
    except BaseException:
        server.kill()
        raise
    return server


def check_albums_and_stop(server: Twistd, db: Path) -> None:
    """GET /api/Albums is the article's first page; SIGTERM stops the server cleanly."""
    try:
        server.wait_until_up()
        status, body = get_json(server.url("/api/Albums"))
        assert status == 200
        assert_article_first_page(body)
        assert not Path(f"{db}-wal").exists()  # a user's file is read, never changed
        elapsed = server.terminate()
    finally:
        server.kill()
    # twistd re-raises the signal that stopped it once the shutdown is complete
    # (twisted.scripts.twistd.runApp -> app._exitWithSignal), so a clean stop by
    # SIGTERM reports -SIGTERM, not 0; a crash would report 1 and skip the log lines.
    assert server.process.returncode in (0, -signal.SIGTERM), server.log_text()
    assert elapsed < SHUTDOWN_SECONDS
    log = server.log_text()
    assert "Database closed" in log
    assert "Server Shut Down." in log
    assert "Traceback" not in log
    assert not Path(f"{db}-wal").exists()
    assert not Path(f"{db}-shm").exists()


def test_twistd_plugin_serves_and_stops(chinook_file: Path, tmp_path: Path) -> None:
    """twistd -n chinook --listen ... --db ... serves the albums, and exits 0 on SIGTERM."""
    db = copy_reference(chinook_file, tmp_path)
    port = free_port()
    args = ["chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", f"sqlite:///{db}"]
    check_albums_and_stop(Twistd(args, port, tmp_path, clean_env()), db)


def test_tac_serves_and_stops(chinook_file: Path, tmp_path: Path) -> None:
    """twistd -ny chinook.tac, configured by CHINOOK_* variables, serves and stops the same way."""
    db = copy_reference(chinook_file, tmp_path)
    port = free_port()
    env = clean_env(CHINOOK_LISTEN=f"tcp:{port}:interface=127.0.0.1", CHINOOK_DB=f"sqlite:///{db}")
    check_albums_and_stop(Twistd(["-y", str(ROOT / "chinook.tac")], port, tmp_path, env), db)


def run_twistd(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run twistd to completion (bounded), in ``cwd``, with a clean environment."""
    return subprocess.run(
        [str(BIN / "twistd"), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_twistd_lists_the_installed_plugin(tmp_path: Path) -> None:
    """From a directory outside the repository, twistd --help lists the chinook plugin."""
    result = run_twistd(["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    commands = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ")]
    assert "chinook" in commands, result.stdout


def test_bad_usage_exits_non_zero(tmp_path: Path) -> None:
    """A bad option value makes twistd exit non-zero with the reason, before listening."""
    result = run_twistd(["-n", "--pidfile=", "chinook", "--threads", "0"], tmp_path)
    assert result.returncode != 0
    assert "bad value '0' for threads" in result.stdout + result.stderr
