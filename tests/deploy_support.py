"""What the tests of ``deploy/`` share: where the files are, and finding the check tools.

The checking tools (hadolint, check-jsonschema, systemd-analyze) come from the
test extras or, for systemd-analyze, from Debian's ``systemd`` package, which
``.ci/run`` installs when it is missing.  A missing tool skips its test with the
reason outside CI and fails it in CI (``CI=true`` or ``CHINOOK_REQUIRE_SERVERS=1``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import missing, require_servers
from .test_twistd import STARTUP_SECONDS, get_json

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
#: The bin directory of the virtual environment running the tests.
VENV_BIN = Path(sys.executable).parent


def in_ci() -> bool:
    """Whether this run is CI's (where every deploy check is mandatory)."""
    return os.environ.get("CI", "").lower() == "true" or require_servers()


def tool(name: str, how_to_get_it: str) -> str:
    """The path of the command ``name`` (this venv's first, then PATH); skip or fail if absent."""
    for candidate in (VENV_BIN / name, shutil.which(name)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    missing(f"{name} is not installed ({how_to_get_it})", mandatory=in_ci())
    raise AssertionError("unreachable")


@contextmanager
def running(command: list[str], *, log: Path, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` started with its output in ``log``; killed on the way out if still running."""
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **popen)
    try:
        yield server
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def wait_healthy(port: int, server: subprocess.Popen[bytes], log: Path) -> Any:
    """Poll ``/healthz`` on ``port`` until it answers 200 (bounded); return its body."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            status, health = get_json(f"http://127.0.0.1:{port}/healthz")
        except OSError:
            time.sleep(0.2)
            continue
        assert status == 200, health
        return health
    pytest.fail(f"no answer on port {port} (exit status {server.poll()}):\n{log.read_text()}")


def stop(server: subprocess.Popen[bytes], log: Path) -> str:
    """SIGTERM, a clean exit within 30 s; the log, checked for a clean shutdown."""
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    output = log.read_text()
    assert "Server Shut Down." in output
    assert "Traceback" not in output, output
    return output
