"""``twistd chinook --workers N``: N processes on one socket, supervised by the parent.

Real processes on a loopback port: both workers answer (``/healthz`` tells
their process ids apart), a killed worker is replaced, workers exit when the
parent is killed outright, and SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from .service_support import copy_reference
from .test_twistd import Twistd, clean_env, free_port, get_json

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (and is not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def worker_pids(server: Twistd, want: int, seconds: float = 20.0) -> set[int]:
    """Process ids answering /healthz, polled until ``want`` distinct ones are seen."""
    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(seen) < want:
        try:
            status, body = get_json(server.url("/healthz"))
        except OSError:
            time.sleep(0.05)
            continue
        if status == 200:
            seen.add(body["pid"])
    return seen


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def start_two_workers(chinook_file: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """twistd chinook --workers 2 on a copy of the sample."""
    db = copy_reference(chinook_file, tmp_path)
    port = free_port()
    args = [
        "chinook", "--listen", f"tcp:{port}:interface=127.0.0.1",
        "--db", f"sqlite:///{db}", "--workers", "2",
    ]  # fmt: skip
    # The parent's metrics directory goes in tmp_path (a parent killed outright leaves it).
    server = Twistd(args, port, tmp_path, clean_env(TMPDIR=str(tmp_path)))
    try:
        server.wait_until_up()
        yield server, db
    finally:
        server.kill()


@pytest.fixture(scope="module")
def shared_workers(chinook_file: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One two-worker server for the tests that leave it running."""
    yield from start_two_workers(chinook_file, tmp_path_factory.mktemp("workers"))


@pytest.fixture
def two_workers(chinook_file: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A two-worker server of the test's own (it will be stopped or killed)."""
    yield from start_two_workers(chinook_file, tmp_path)


def test_two_workers_share_the_socket(shared_workers) -> None:  # type: ignore[no-untyped-def]
    """Both workers answer on the one port; neither is the parent; the API works; the parent
    logs the address with its interface and what is served."""
    server, _ = shared_workers
    pids = worker_pids(server, 2)
    assert len(pids) == 2, server.log_text()
    assert server.process.pid not in pids
    status, body = get_json(server.url("/api/albums?page=35"))
    assert status == 200 and body["num_results"] == 347
    log = server.log_text()
    assert f"listening on http://127.0.0.1:{server.port} with 2 worker processes" in log
    assert "writes off, auth off, 2 workers" in log


def test_crashed_worker_is_replaced(shared_workers) -> None:  # type: ignore[no-untyped-def]
    """A worker killed by SIGKILL is started again; the service keeps answering."""
    server, _ = shared_workers
    before = worker_pids(server, 2)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: not alive(victim), 10)
    after = worker_pids(server, 2, seconds=30)
    assert victim not in after and len(after) == 2, server.log_text()
    assert "Worker" in server.log_text() and "starting it again" in server.log_text()


def test_workers_exit_with_the_parent(two_workers) -> None:  # type: ignore[no-untyped-def]
    """When the parent dies by SIGKILL, its workers notice the closed pipe and exit."""
    server, _ = two_workers
    pids = worker_pids(server, 2)
    assert len(pids) == 2
    server.process.kill()
    server.process.wait(timeout=10)
    assert wait_for(lambda: not any(alive(p) for p in pids), 15), pids


def test_sigterm_stops_everything_cleanly(two_workers) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM: workers drain and close the database, the parent exits, no -wal is left."""
    server, db = two_workers
    pids = worker_pids(server, 2)
    elapsed = server.terminate()
    assert elapsed < 20
    assert server.process.returncode in (0, -signal.SIGTERM)
    assert wait_for(lambda: not any(alive(p) for p in pids), 10)
    log = server.log_text()
    assert log.count("Database closed") == 2, log
    assert "All workers stopped" in log and "Traceback" not in log
    assert not Path(f"{db}-wal").exists()
