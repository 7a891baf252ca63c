"""Shared fixtures: reference databases, database servers, in-memory HTTP.

Tests that need something outside the project skip with a clear reason when
it is missing, except where CI makes it mandatory: with ``CHINOOK_REQUIRE_SERVERS=1``
(set by ``.ci/run``) an unreachable PostgreSQL or MariaDB fails the test
instead of skipping it, and with ``CHINOOK_REQUIRE_REFERENCE=1`` so does a
missing ``../shared/chinook``.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _find_shared() -> Path:
    """``shared/`` beside the project (or beside the worktree folder holding it)."""
    if "CHINOOK_SHARED" in os.environ:
        return Path(os.environ["CHINOOK_SHARED"])
    for candidate in (ROOT.parent / "shared", ROOT.parent.parent / "shared"):
        if candidate.is_dir():
            return candidate
    return ROOT.parent / "shared"


SHARED = _find_shared()
REFERENCE = SHARED / "chinook"
_DIGESTS = pytest.StashKey[dict[str, str]]()

POSTGRES_URL = os.environ.get(
    "CHINOOK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = "redis://127.0.0.1:6379"
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
def reference_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Private copies of ``../shared/chinook``, the reference copies of the Chinook database.

    Tests get copies, never the shared files: even opening a SQLite file can
    change it (its journal mode, ``-wal``/``-shm`` files beside it), and the
    reference files belong to no test.
    """
    if not (REFERENCE / "chinook.db").exists():
        missing(
            f"reference databases not found at {REFERENCE}",
            mandatory=_flag("CHINOOK_REQUIRE_REFERENCE"),
        )
    copies = tmp_path_factory.mktemp("reference")
    for source in REFERENCE.iterdir():
        if source.is_file():
            target = copies / source.name
            shutil.copyfile(source, target)
            target.chmod(0o644)
    return copies


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
def redis_url() -> str:
    """URL of the Redis server (skips or fails when unreachable)."""
    if not _reachable("127.0.0.1", 6379):
        missing("Redis is not reachable on 127.0.0.1:6379", mandatory=require_servers())
    return REDIS_URL


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """URL of the MariaDB test database (skips or fails when unreachable)."""
    if not _reachable("127.0.0.1", 3306):
        missing("MariaDB is not reachable on 127.0.0.1:3306", mandatory=require_servers())
    return MYSQL_URL


@pytest.fixture(scope="session")
def chinook_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private SQLite copy of the Chinook sample (bundled; else the reference file)."""
    target = tmp_path_factory.mktemp("chinook") / "chinook.db"
    try:
        from chinook_svc.sample import ensure_sample_database
    except ImportError:
        if not (REFERENCE / "chinook.db").exists():
            pytest.skip("neither the bundled sample nor ../shared/chinook is available")
        shutil.copy(REFERENCE / "chinook.db", target)
        target.chmod(0o644)
        return target
    ensure_sample_database(target)
    return target


@pytest.fixture(scope="session")
def chinook_engine(chinook_file: Path):  # type: ignore[no-untyped-def]
    """A SQLAlchemy engine on the private Chinook copy (read-only use)."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{chinook_file}")
    yield engine
    engine.dispose()


def _reference_digests() -> dict[str, str]:
    import hashlib

    if not REFERENCE.is_dir():
        return {}
    return {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(REFERENCE.iterdir())
        if f.is_file()
    }


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remember the reference files' digests: no test may change them."""
    session.config.stash[_DIGESTS] = _reference_digests()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any reference file under ``../shared/chinook`` changed."""
    before = session.config.stash.get(_DIGESTS, {})
    changed = sorted(n for n, d in _reference_digests().items() if before.get(n, d) != d)
    if changed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nFAILED: the run changed reference files in {REFERENCE}: {', '.join(changed)}")
