"""The running service's logs and request IDs, on real sockets.

``twistd -n chinook`` in a subprocess whose standard output (the log and the
access log) goes to a file:

* with ``--log-format json`` every line of it is a JSON object: Twisted's
  own lines, the service's, and one access line per request, with the
  request ID the client got back;
* with ``--workers 2`` the workers' access lines all reach the parent's
  standard output, whole, each with its request's ID, and a request's ID
  travels to an ``/aggregate`` upstream (a server in this test that
  records the header it receives).
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from .service_support import copy_reference, http_server_in_thread
from .test_access_log import LINE
from .test_twistd import BIN, SHUTDOWN_SECONDS, STARTUP_SECONDS, clean_env, free_port

pytestmark = pytest.mark.slow

HEX32 = re.compile(r"[0-9a-f]{32}")


class Service:
    """``twistd -n chinook ARGS`` with its standard output and error in a file."""

    def __init__(self, args: list[str], directory: Path) -> None:
        self.port = free_port()
        self.output = directory / "stdout.txt"
        command = [
            str(BIN / "twistd"), "-n", "--pidfile=", "chinook",
            "--listen", f"tcp:{self.port}:interface=127.0.0.1", *args,
        ]  # fmt: skip
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=directory, env=clean_env(), stdout=out, stderr=subprocess.STDOUT
            )

    def get(self, path: str, request_id: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """GET ``path`` on a new connection: status, headers (lower-case names), body."""
        headers = {} if request_id is None else {"X-Request-ID": request_id}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, _lower(response.headers), response.read()
        except urllib.error.HTTPError as e:
            return e.code, _lower(e.headers), e.read()

    def wait_until_up(self) -> None:
        """Poll /healthz until it answers (failing if the process exits or time runs out)."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.get("/healthz")[0] == 200:
                    return
            if self.process.poll() is not None:
                pytest.fail(f"twistd exited:\n{self.text()}")
            time.sleep(0.1)
        pytest.fail(f"twistd did not answer:\n{self.text()}")

    def stop(self) -> str:
        """SIGTERM, wait for the exit; everything it wrote."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=SHUTDOWN_SECONDS + 10)
        return self.text()

    def kill(self) -> None:
        """Make sure the process is gone."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def text(self) -> str:
        """What it wrote so far."""
        return self.output.read_text(encoding="utf-8", errors="replace")


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@contextlib.contextmanager
def running(args: list[str], directory: Path) -> Iterator[Service]:
    """A started service, always stopped (or killed) afterwards."""
    service = Service(args, directory)
    try:
        service.wait_until_up()
        yield service
    finally:
        service.kill()


def test_json_log_every_line_is_an_object(chinook_file: Path, tmp_path: Path) -> None:
    """--log-format json: Twisted's lines, the service's and the access lines all parse."""
    db = copy_reference(chinook_file, tmp_path)
    asked = {
        "/api/artists/1": 200,
        "/api/nothing_here": 404,
        "/api/artists?q=not-json": 400,
        "/healthz": 200,
    }
    answered: dict[str, str] = {}
    with running(["--db", f"sqlite:///{db}", "--log-format", "json"], tmp_path) as service:
        for n, (path, status) in enumerate(asked.items()):
            got, headers, body = service.get(path, f"json-{n}")
            assert got == status, body
            assert headers["x-request-id"] == f"json-{n}"
            answered[f"json-{n}"] = path
        got, headers, _ = service.get("/api/nothing_here", "not a safe id!")
        assert got == 404 and HEX32.fullmatch(headers["x-request-id"])
        answered[headers["x-request-id"]] = "/api/nothing_here"
        output = service.stop()
    lines = output.splitlines()
    objects = [json.loads(line) for line in lines]  # every line, or this fails
    assert all(isinstance(o, dict) for o in objects)
    for obj in objects:
        assert {"timestamp", "level", "namespace", "message"} <= set(obj), obj
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["timestamp"])
    access = [o for o in objects if o["namespace"] == "chinook_svc.access"]
    by_id = {o["request_id"]: o for o in access}
    for request_id, path in answered.items():
        assert by_id[request_id]["uri"] == path
        assert by_id[request_id]["status"] == asked[path]
        assert LINE.fullmatch(by_id[request_id]["message"].encode())
    messages = [o["message"] for o in objects]
    assert any("starting up" in m for m in messages)  # twistd's own
    assert "Server Shut Down." in messages
    assert any(o["namespace"].startswith("chinook_svc.") for o in objects if o not in access)


class Recorder(BaseHTTPRequestHandler):
    """An upstream that answers JSON and records the X-Request-ID of each call."""

    seen: list[str | None] = []
    lock = threading.Lock()

    def do_GET(self) -> None:
        """Record the header, answer ``{"ok": true}``."""
        with self.lock:
            self.seen.append(self.headers.get("X-Request-ID"))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def upstream() -> Iterator[str]:
    """The recording upstream on 127.0.0.1 (threads of this process); its URL."""
    Recorder.seen = []
    with http_server_in_thread(Recorder, "/record") as url:
        yield url


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_request_ids_across_workers_and_an_upstream(
    chinook_file: Path, tmp_path: Path, upstream: str, log_format: str
) -> None:
    """--workers 2: each answer's ID is in exactly one whole access line on the parent's
    standard output, both workers served, and /aggregate passed the ID upstream."""
    db = copy_reference(chinook_file, tmp_path)
    args = ["--db", f"sqlite:///{db}", "--workers", "2", "--log-format", log_format,
            "--aggregate-source", f"rec={upstream}"]  # fmt: skip
    ids: dict[str, str] = {}
    pids: set[int] = set()
    with running(args, tmp_path) as service:
        deadline = time.monotonic() + STARTUP_SECONDS
        while len(pids) < 2 and time.monotonic() < deadline:  # both workers up
            pids.add(json.loads(service.get("/healthz")[2])["pid"])
        served: set[int] = set()
        for n in range(120):
            path = ("/healthz", "/api/genres/1", "/api/none")[n % 3]
            status, headers, body = service.get(path, f"w-{n}")
            assert headers["x-request-id"] == f"w-{n}"
            if path == "/healthz":
                served.add(json.loads(body)["pid"])
            ids[f"w-{n}"] = path
        n = 120
        while served != pids and time.monotonic() < deadline + STARTUP_SECONDS:
            # Until each worker has served a request of ours (the kernel picks the worker).
            served.add(json.loads(service.get("/healthz", f"w-{n}")[2])["pid"])
            ids[f"w-{n}"] = "/healthz"
            n += 1
        status, headers, body = service.get("/aggregate", "up-1")
        assert status == 200 and headers["x-request-id"] == "up-1", body
        status, headers, body = service.get("/aggregate")
        generated = headers["x-request-id"]
        assert status == 200 and HEX32.fullmatch(generated)
        ids.update({"up-1": "/aggregate", generated: "/aggregate"})
        output = service.stop()
    assert len(pids) == 2 and served == pids, "both workers should have answered"
    assert Recorder.seen == ["up-1", generated]
    if log_format == "json":
        objects = [json.loads(line) for line in output.splitlines()]
        access = {o["request_id"]: o["uri"] for o in objects if o["namespace"].endswith("access")}
        assert any(
            o.get("worker") in (0, 1) for o in objects if o["namespace"] != "chinook_svc.access"
        )
    else:
        access = {}
        for line in output.splitlines():
            found = LINE.fullmatch(line.encode())
            if found is not None:
                access[found["id"].decode()] = found["request"].decode().split(" ")[1]
            else:  # the log's own lines: a timestamp first
                assert re.match(r"\d{4}-\d\d-\d\dT", line), line
    polls = {k: v for k, v in access.items() if k not in ids}
    assert set(polls.values()) <= {"/healthz"}  # wait_until_up's
    assert {k: v for k, v in access.items() if k in ids} == ids
