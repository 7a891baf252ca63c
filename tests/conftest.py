"""Shared fixtures: reference databases, database servers, in-memory HTTP.

Tests that need something outside the project skip with a clear reason when
it is missing, except where CI makes it mandatory: with ``CHINOOK_REQUIRE_SERVERS=1``
(set by ``.ci/run``) an unreachable PostgreSQL or MariaDB fails the test
instead of skipping it, and with ``CHINOOK_REQUIRE_REFERENCE=1`` so does a
missing ``../shared/chinook``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CHINOOK_SHARED", ROOT.parent / "shared"))
REFERENCE = SHARED / "chinook"

POSTGRES_URL = os.environ.get(
    "CHINOOK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("CHINOOK_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def require_servers() -> bool:
    """Whether missing database servers are failures (CI) rather than skips."""
    return _flag("CHINOOK_REQUIRE_SERVERS")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def missing(reason: str, *, mandatory: bool) -> None:
    """Skip with ``reason``, or fail when the thing is mandatory here."""
    if mandatory:
        pytest.fail(f"{reason} (mandatory in this run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/chinook``, the reference copies of the Chinook database."""
    if not (REFERENCE / "chinook.db").exists():
        missing(
            f"reference databases not found at {REFERENCE}",
            mandatory=_flag("CHINOOK_REQUIRE_REFERENCE"),
        )
    return REFERENCE


@pytest.fixture(scope="session")
def reference_db(reference_dir: Path) -> Path:
    """The sqlitetutorial.net ``chinook.db`` the flask-restless article uses."""
    return reference_dir / "chinook.db"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the PostgreSQL test database (skips or fails when unreachable)."""
    if not _reachable("127.0.0.1", 5432):
        missing("PostgreSQL is not reachable on 127.0.0.1:5432", mandatory=require_servers())
    return POSTGRES_URL


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """URL of the MariaDB test database (skips or fails when unreachable)."""
    if not _reachable("127.0.0.1", 3306):
        missing("MariaDB is not reachable on 127.0.0.1:3306", mandatory=require_servers())
    return MYSQL_URL
