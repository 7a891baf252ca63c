"""``/aggregate`` in the running service: the demo, a stop while a call waits, a quiet log."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from chinook_svc.config import load_settings
from chinook_svc.tap import Options
from chinook_svc.tap_aggregate import aggregate_settings_for

from .service_support import copy_reference, http_server_in_thread, make_tiny_chinook
from .test_twistd import Twistd, clean_env, free_port

pytestmark = pytest.mark.slow


def fetch(url: str) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def test_demo_fan_out_out_of_the_box(chinook_file: Path, tmp_path: Path) -> None:
    """With no sources configured, /aggregate?id=1 merges artist 1, its albums and their tracks."""
    db = copy_reference(chinook_file, tmp_path)
    port = free_port()
    args = ["chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", f"sqlite:///{db}"]
    server = Twistd(args, port, tmp_path, clean_env())
    try:
        server.wait_until_up()
        status, headers, body = fetch(server.url("/aggregate?id=1"))
        assert status == 200, body
        assert headers["X-Aggregate-Complete"] == "true"
        assert isinstance(body, dict) and body["complete"] is True and body["errors"] == {}
        results = body["results"]
        assert results["artist"]["body"]["name"] == "AC/DC"
        assert [a["album_id"] for a in results["albums"]["body"]["objects"]] == [1, 4]
        assert results["tracks"]["body"]["num_results"] == 18
        status, _, body = fetch(server.url("/aggregate?id=1&source=artist"))
        assert status == 200 and set(body["results"]) == {"artist"}  # type: ignore[index]
        status, _, body = fetch(server.url("/aggregate?id=x"))
        assert status == 400
        status, _, body = fetch(server.url("/aggregate?source=http://example.com/"))
        assert status == 400
        server.terminate()
    finally:
        server.kill()


class SlowUpstream(BaseHTTPRequestHandler):
    """Answers every GET after 3 s; ``arrived`` is set when a request comes in."""

    arrived = threading.Event()
    release = threading.Event()

    def do_GET(self) -> None:
        """Wait 3 s (or until released), then answer a small JSON body."""
        self.arrived.set()
        self.release.wait(3)
        body = b'{"late": true}'
        with contextlib.suppress(OSError):  # the service gave up on the call long ago
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def slow_upstream() -> Iterator[str]:
    """A 3 s upstream on 127.0.0.1, in threads of this process; its URL."""
    SlowUpstream.arrived.clear()
    SlowUpstream.release.clear()
    with http_server_in_thread(SlowUpstream, "/slow") as url:
        yield url
        SlowUpstream.release.set()


def test_sigterm_delivers_the_answer_computed_while_draining(
    slow_upstream: str, tmp_path: Path
) -> None:
    """SIGTERM while /aggregate waits on a 3 s upstream: the 504 computed at the 2 s timeout
    reaches the client (not an empty reply), and the log has no per-connection or debug noise."""
    db = make_tiny_chinook(tmp_path / "tiny.db")
    port = free_port()
    args = ["chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", db,
            "--aggregate-source", f"slow={slow_upstream}"]  # fmt: skip
    server = Twistd(args, port, tmp_path, clean_env())
    answer: list[Any] = []

    def ask() -> None:
        try:
            answer.append(fetch(server.url("/aggregate")))
        except Exception as e:  # what the client saw instead of an answer
            answer.append(e)

    try:
        server.wait_until_up()
        client = threading.Thread(target=ask)
        client.start()
        assert SlowUpstream.arrived.wait(15)
        server.terminate()
        client.join(15)
    finally:
        server.kill()
    assert len(answer) == 1 and isinstance(answer[0], tuple), answer
    status, _, body = answer[0]
    assert status == 504
    assert body["errors"]["slow"]["error"] == "timeout"
    log = server.log_text()
    assert "Server Shut Down." in log
    assert "Traceback" not in log
    assert "ClientFactory" not in log  # no "Starting factory" per upstream connection
    assert "aggregate of" not in log  # the per-request line is for --debug only


def test_configured_sources_and_limits() -> None:
    """Sources and limits come from options over the config's [aggregate] table."""
    settings = load_settings(
        {
            "aggregate-source": ["a=http://127.0.0.1:9/x/{id:int}"],
            "aggregate-timeout": "0.5",
            "aggregate-max-in-flight": "300",
            "aggregate-per-host": "8",
        },
        {"CHINOOK_AGGREGATE_CONCURRENCY": "4", "CHINOOK_AGGREGATE_PER_CLIENT": "50"},
    )
    aggregate = aggregate_settings_for(settings)
    assert [s.name for s in aggregate.sources] == ["a"]
    assert (aggregate.timeout, aggregate.concurrency) == (0.5, 4)
    assert (aggregate.max_in_flight, aggregate.per_client, aggregate.per_host) == (300, 50, 8)
    demo = aggregate_settings_for(load_settings({}, {}))
    assert [s.name for s in demo.sources] == ["artist", "albums", "tracks"]


def test_bounds_on_the_command_line() -> None:
    """``twistd chinook --aggregate-max-in-flight/-per-client/-per-host/-concurrency`` parse."""
    options = Options(environ={})
    options.parseOptions(
        ["--aggregate-max-in-flight", "300", "--aggregate-per-client", "40",
         "--aggregate-per-host", "6", "--aggregate-concurrency", "120"]
    )  # fmt: skip
    aggregate = aggregate_settings_for(options.settings)
    assert (aggregate.max_in_flight, aggregate.per_client, aggregate.per_host) == (300, 40, 6)
    assert aggregate.per_request == 120
