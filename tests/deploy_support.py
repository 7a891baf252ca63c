"""What the tests of ``deploy/`` share: where the files are, and finding the check tools.

The checking tools (hadolint, check-jsonschema, systemd-analyze) come from the
test extras or, for systemd-analyze, from Debian's ``systemd`` package, which
``.ci/run`` installs when it is missing.  A missing tool skips its test with the
reason outside CI and fails it in CI (``CI=true`` or ``CHINOOK_REQUIRE_SERVERS=1``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .conftest import missing, require_servers

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
