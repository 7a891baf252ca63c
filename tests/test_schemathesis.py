"""Schemathesis against the live service, driven by its own ``/openapi.json``.

A real ``twistd chinook`` on a throw-away copy of the embedded sample, writes
on behind a token (so every operation of the document is tested, writes
included), and ``schemathesis run`` over every operation with a fixed seed
and a bounded number of examples per operation:

* the examples phase, the coverage phase for POST and PATCH (boundary values
  of every field of the bodies, valid ones; PUT is PATCH's alias, and the
  reads' boundaries cost minutes for little), the fuzzing phase for every
  operation (valid and invalid data, ``MAX_EXAMPLES`` per operation) and the
  stateful phase (objects created by a POST used by later calls);
* checks: no server error, the status code is documented, the content type
  is the documented one, the body validates against the documented schema,
  documented headers are present.

Server errors: a 503 is allowed everywhere (the database may be too busy),
and ``/aggregate`` may also answer 502 and 504, its documented gateway
answers when upstreams fail (the demo sources are this service's own API,
and an unknown artist is a 404 upstream); anything else 5xx fails.
Cases whose query string Twisted would refuse before our code runs are
filtered out (``tests/schemathesis_hooks.py``).  The counts (operations,
test cases, failures) are printed.  A few minutes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .test_twistd import BIN, clean_env, writable_service

pytestmark = pytest.mark.slow

SEED = 20261203
MAX_EXAMPLES = 5
TOKEN = "schemathesis-token-0123456789abcdef"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)
CONFIG = """\
[checks.not_a_server_error]
expected-statuses = ["2XX", "3XX", "4XX", "503"]

[phases.coverage]
unexpected-methods = []

[phases.coverage.generation]
mode = "positive"

[[operations]]
include-method = ["GET", "PUT", "DELETE"]
phases.coverage.enabled = false

[[operations]]
include-path = "/aggregate"
checks.not_a_server_error.expected-statuses = ["2XX", "3XX", "4XX", "502", "503", "504"]
"""
RUN_SECONDS = 900


def test_schemathesis_finds_nothing(chinook_file: Path, tmp_path: Path) -> None:
    """Every operation, fixed seed, bounded examples: no failure, no error."""
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    server = writable_service(chinook_file, tmp_path, TOKEN)
    try:
        command = [
            str(BIN / "schemathesis"),
            "--config-file", str(tmp_path / "schemathesis.toml"),
            "run", server.url("/openapi.json"),
            "--url", server.url(""),
            "--header", f"Authorization: Bearer {TOKEN}",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--checks", CHECKS,
            "--max-examples", str(MAX_EXAMPLES),
            "--seed", str(SEED),
            "--workers", "2",
            "--request-timeout", "30",
            "--no-color",
        ]  # fmt: skip
        environment = clean_env(
            SCHEMATHESIS_HOOKS="tests.schemathesis_hooks",
            PYTHONPATH=str(Path(__file__).resolve().parent.parent),
            HYPOTHESIS_STORAGE_DIRECTORY=str(tmp_path / "hypothesis"),
        )
        run = subprocess.run(
            command,
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            check=False,
        )
    finally:
        server.kill()
    output = run.stdout + run.stderr
    (tmp_path / "schemathesis.out").write_text(output)
    operations = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"Test cases:\s*\n\s*(\d+) generated, (.*)", output)
    summary = (
        f"schemathesis: {operations.group(1) if operations else '?'} operations, "
        f"{cases.group(1) if cases else '?'} test cases, {cases.group(2) if cases else '?'}"
    )
    print(summary, file=sys.stderr)
    assert run.returncode == 0, f"{summary}\n{output[-20000:]}"
    assert operations is not None and int(operations.group(1)) > 100
    assert cases is not None and cases.group(2).strip().endswith("passed")
    assert "Traceback" not in server.log_text()
