"""The static gates run inside the test suite, so ``python -m pytest`` is the one gate.

bandit (``-c pyproject.toml``) must report nothing at any severity or
confidence on the shipped code, every ``# nosec`` must say why it is safe,
and ``ruff check`` must be clean on the code and the tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SHIPPED = ["chinook_svc", "twisted"]
LINTED = [*SHIPPED, "tests", "bench", "examples", "chinook.tac"]


def tool(name: str) -> str:
    """The path of a tool installed in this virtual environment (test extras)."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}: pip install -e '.[test]'")
    return str(path)


def test_bandit_finds_nothing() -> None:
    """bandit -c pyproject.toml -r chinook_svc twisted: zero findings at every severity."""
    result = subprocess.run(
        [tool("bandit"), "-c", "pyproject.toml", "-r", *SHIPPED, "-f", "json", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    findings = [
        f"{r['filename']}:{r['line_number']} {r['test_id']} "
        f"{r['issue_severity']}/{r['issue_confidence']} {r['issue_text']}"
        for r in report["results"]
    ]
    assert findings == []
    assert report["errors"] == []
    totals = report["metrics"]["_totals"]
    assert all(totals[k] == 0 for k in totals if k.startswith(("SEVERITY.", "CONFIDENCE.")))
    assert result.returncode == 0


def test_every_nosec_says_why() -> None:
    """A # nosec marker is followed by the reason it is safe."""
    bare = []
    for directory in SHIPPED:
        for path in sorted((ROOT / directory).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                match = re.search(r"#\s*nosec\b(.*)", line)
                if match and not re.search(r"[A-Za-z]{3,}", re.sub(r"\bB\d{3}\b", "", match[1])):
                    bare.append(f"{path.relative_to(ROOT)}:{number}")
    assert bare == []


def test_ruff_is_clean() -> None:
    """ruff check reports nothing on the code, the plugin, the tests and the benchmarks."""
    paths = [p for p in LINTED if (ROOT / p).exists()]
    result = subprocess.run(
        [tool("ruff"), "check", "--output-format", "concise", "--no-cache", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
