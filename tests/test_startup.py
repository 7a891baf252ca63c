"""Starting and failing to start like a good daemon, with real ``twistd`` processes.

* A port in use ends ``twistd -n chinook`` (one process or ``--workers 2``,
  or ``twistd -ny chinook.tac``) promptly with exit status 1 and one log line
  naming the address, never a traceback, and no PID file left behind.
* A bad option, value or config file is one line on stderr and "see --help",
  never the whole help; exit status 1.
* ``twistd chinook --version`` names chinook_svc's version and Twisted's.
* The start-up log says what a person needs (version, ``http://`` address with
  its interface, database, edition, writes, auth, workers) and nothing about
  factories or per-connection client factories, even after ``/aggregate``
  called an upstream several times.
"""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from chinook_svc import __version__
from twisted import copyright

from .service_support import http_server_in_thread, make_tiny_chinook
from .test_twistd import BIN, ROOT, Twistd, clean_env, free_port, get_json

pytestmark = pytest.mark.slow

#: A refused start must end well within this (the parent used to stay up forever).
EXIT_SECONDS = 60


@pytest.fixture
def occupied() -> Iterator[int]:
    """A port on 127.0.0.1 that something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def twistd(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run twistd in ``cwd`` to completion (bounded), logging to stdout."""
    return subprocess.run(
        [str(BIN / "twistd"), *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=EXIT_SECONDS,
        check=False,
    )


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], port: int) -> None:
    """Status 1; one critical line names 127.0.0.1:port and the reason; no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "CannotListenError" not in output
    refusals = [line for line in output.splitlines() if "cannot listen" in line.lower()]
    assert len(refusals) == 1, output
    assert f"127.0.0.1:{port}" in refusals[0]
    assert "address already in use" in refusals[0].lower()
    assert len(output.splitlines()) <= 8, output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_port_in_use_is_one_line_and_status_1(occupied: int, tmp_path: Path, workers: str) -> None:
    """twistd -n chinook [--workers 2] on a port in use: status 1, one line, no PID file left."""
    db = make_tiny_chinook(tmp_path / "tiny.db")
    listen = f"tcp:{occupied}:interface=127.0.0.1"
    result = twistd(
        ["-n", "chinook", "--listen", listen, "--db", db, "--workers", workers], tmp_path
    )
    assert_one_line_refusal(result, occupied)
    assert "worker 0" not in result.stdout  # no worker was started
    assert not (tmp_path / "twistd.pid").exists()


def test_tac_port_in_use_is_one_line_and_status_1(occupied: int, tmp_path: Path) -> None:
    """twistd -ny chinook.tac on a port in use fails the same way."""
    db = make_tiny_chinook(tmp_path / "tiny.db")
    result = twistd(
        ["-n", "--pidfile=", "-y", str(ROOT / "chinook.tac")],
        tmp_path,
        CHINOOK_LISTEN=f"tcp:{occupied}:interface=127.0.0.1",
        CHINOOK_DB=db,
    )
    assert_one_line_refusal(result, occupied)


BAD_TOML = "listen = [unclosed\n"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--threads", "0"], "bad value '0' for threads: expected a whole number from 1 to 256"),
        (["--db", "not a url"], "not a SQLAlchemy database URL"),
        (["--config", "missing.toml"], "cannot read config file"),
        (["--config", "bad.toml"], "bad.toml"),
        (["--statement-timeout", "-1"], "from 0 (no limit) to 3600"),
        (["--head-timeout", "0"], "more than 0 and at most 3600"),
        (["--no-such-option"], "no-such-option"),
    ],
)
@pytest.mark.parametrize("command", ["chinook", "restless"])
def test_usage_errors_are_one_line(
    tmp_path: Path, args: list[str], reason: str, command: str
) -> None:
    """A bad option or config file: status 1, the reason and "see --help" on one line, no help."""
    (tmp_path / "bad.toml").write_text(BAD_TOML)
    result = twistd(["-n", "--pidfile=", command, *args], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""  # not the 60-line help
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"twistd {command}: ")
    assert reason in lines[0]
    assert lines[0].endswith(f"(see twistd {command} --help)")


def test_restless_without_a_database_is_one_line(tmp_path: Path) -> None:
    """``twistd restless`` has no sample to fall back on: no --db is a one-line error."""
    result = twistd(["-n", "--pidfile=", "restless"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "twistd restless: --db URL is required: which database should be reflected?"
    ]


@pytest.mark.parametrize("nodaemon", [[], ["-n"]])
def test_version_names_chinook_svc_and_twisted(tmp_path: Path, nodaemon: list[str]) -> None:
    """twistd [-n] chinook --version prints chinook_svc's version and Twisted's, status 0."""
    result = twistd([*nodaemon, "chinook", "--version"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"chinook_svc {__version__}" in result.stdout
    assert f"Twisted {copyright.version}" in result.stdout


class QuickUpstream(BaseHTTPRequestHandler):
    """Answers every GET at once with a small JSON body, closing the connection."""

    def do_GET(self) -> None:
        """A JSON object; ``Connection: close`` so that each call is a new connection."""
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def upstream() -> Iterator[str]:
    """A quick upstream on 127.0.0.1, in threads of this process; its URL."""
    with http_server_in_thread(QuickUpstream, "/quick") as url:
        yield url


def run_and_stop(tmp_path: Path, upstream: str, *extra: str) -> str:
    """Serve the tiny database, call /aggregate 3 times, SIGTERM; the log."""
    db = make_tiny_chinook(tmp_path / "tiny.db")
    port = free_port()
    args = ["chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", db,
            "--aggregate-source", f"quick={upstream}", *extra]  # fmt: skip
    server = Twistd(args, port, tmp_path, clean_env())
    try:
        server.wait_until_up()
        for _ in range(3):
            status, body = get_json(server.url("/aggregate"))
            assert status == 200 and body["results"]["quick"]["body"] == {"ok": True}, body
        server.terminate()
    finally:
        server.kill()
    return server.log_text().replace(str(port), "PORT")


def test_start_up_log_says_what_matters(tmp_path: Path, upstream: str) -> None:
    """Version, http:// address with interface, database, edition, writes, auth, workers;
    no factory lines (the site's or one per upstream connection), no debug lines."""
    log = run_and_stop(tmp_path, upstream)
    db = tmp_path / "tiny.db"
    assert f"chinook_svc {__version__} listening on http://127.0.0.1:PORT" in log
    summary = re.search(
        r"database (\S+) \(edition (\w+)\), writes (\w+), auth (\w+), (\d+) worker", log
    )
    assert summary is not None, log
    assert summary.groups() == (f"sqlite:///{db}", "sqlitetutorial", "off", "off", "1")
    for noise in ("Starting factory", "Stopping factory", "ClientFactory", "aggregate of"):
        assert noise not in log, log
    assert "Traceback" not in log


def test_debug_logs_each_aggregate(tmp_path: Path, upstream: str) -> None:
    """--debug is what turns the per-request /aggregate lines on."""
    log = run_and_stop(tmp_path, upstream, "--debug")
    assert "aggregate of" in log
    assert "Starting factory" not in log
