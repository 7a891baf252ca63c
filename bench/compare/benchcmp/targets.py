"""The servers compared: how each is installed, started and asked (URL scheme, headers).

Peers run from their own virtual environments under ``bench/.peers/``
(:mod:`.install`); chinook_svc and the two fixed-bytes ceilings run from the
project's environment (the interpreter running this harness).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .endpoints import ENDPOINTS, datasette_request, jsonapi_path, restless_path

HERE = Path(__file__).resolve().parent
PEER_APPS = HERE.parent / "peers"
ROOT = HERE.parents[2]
PEERS_DIR = ROOT / "bench" / ".peers"

#: What each peer's virtual environment holds (pip requirement strings).
PEER_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "restless017": (
        "Flask-Restless==0.17.0",
        "Flask==1.1.4",
        "Werkzeug==1.0.1",
        "Jinja2==2.11.3",
        "MarkupSafe==2.0.1",
        "itsdangerous==1.1.0",
        "SQLAlchemy==1.3.24",
        "mimerender==0.6.0",
        "python-dateutil",
        "gunicorn>=23",
    ),
    "restless_ng": ("Flask-Restless-NG==3.3.*", "gunicorn>=23"),
    "datasette": ("datasette==0.65.*",),
    "fastapi": ("fastapi", "uvicorn[standard]", "SQLAlchemy>=2.0,<2.1", "orjson"),
}


@dataclass(frozen=True)
class Setup:
    """What every command needs: where things are and how the run is configured."""

    python: Path  # the project's interpreter (chinook_svc, ceilings)
    db_path: Path
    workers: int
    album_tracks: bool = False
    chinook: ChinookLaunch | None = None

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL of the database file."""
        return f"sqlite:///{self.db_path}"

    def peer_bin(self, peer: str, program: str) -> str:
        """A program of a peer's virtual environment."""
        return str(PEERS_DIR / peer / "bin" / program)


@dataclass(frozen=True)
class ChinookLaunch:
    """How chinook_svc is started here: the twistd plugin if installed, else the launcher."""

    plugin: bool
    workers_option: bool
    cache_args: tuple[str, ...] | None
    notes: tuple[str, ...] = ()

    def command(
        self, setup: Setup, port: int, *, cache: bool = False, reflected: bool = False
    ) -> list[str]:
        """The command serving chinook_svc on 127.0.0.1:``port``.

        ``reflected``: ``twistd restless --naming snake`` (the same database by
        reflection, issue 16) instead of the curated ``twistd chinook``.
        """
        if not self.plugin:
            launcher = PEER_APPS / "chinook_launcher.py"
            return [str(setup.python), str(launcher), "--port", str(port), "--db", setup.db_url]
        twistd = str(setup.python.parent / "twistd")
        command = [twistd, "-n", "--pidfile=", "chinook"]
        if reflected:
            command[-1:] = ["restless", "--naming", "snake"]
        command += ["--listen", f"tcp:{port}:interface=127.0.0.1", "--db", setup.db_url]
        if self.workers_option:
            command += ["--workers", str(setup.workers)]
        if cache and self.cache_args:
            command += list(self.cache_args)
        return command

    def processes(self, setup: Setup) -> int:
        """How many serving processes the command starts."""
        return setup.workers if self.workers_option else 1


def detect_chinook(python: Path, cache_option: str | None = None) -> ChinookLaunch:
    """Look at ``twistd --help`` / ``twistd chinook --help`` to see what chinook_svc offers.

    Args:
        python: the project's interpreter (its ``twistd`` sits beside it).
        cache_option: the exact argument turning the response cache on,
            when its option takes a value (``--cache-seconds=5``).
    """
    twistd = str(python.parent / "twistd")
    listing = _output([twistd, "--help"])
    if not re.search(r"^\s+chinook\s", listing, re.M):
        return ChinookLaunch(
            plugin=False,
            workers_option=False,
            cache_args=None,
            notes=(
                "`twistd chinook` is not installed here: chinook_svc is served by "
                "bench/compare/peers/chinook_launcher.py (same engine, 1 process)",
                "chinook_svc has no --workers option yet: 1 process",
                "chinook_svc has no response cache option yet: no cache column",
            ),
        )
    options = _output([twistd, "chinook", "--help"])
    workers = re.search(r"--workers[= ]", options) is not None
    notes = [] if workers else ["`twistd chinook` has no --workers option yet: 1 process"]
    cache_args = parse_cache_option(options, cache_option)
    if cache_args is None:
        notes.append(
            "`twistd chinook` has no response cache flag (or it needs a value: "
            "pass --cache-option): no cache column"
        )
    return ChinookLaunch(True, workers, cache_args, tuple(notes))


def parse_cache_option(help_text: str, explicit: str | None = None) -> tuple[str, ...] | None:
    """The arguments enabling the response cache, from ``twistd chinook --help``.

    A flag (``--cache``) is used as is; an option taking a value needs
    ``explicit``.  ``None`` when there is no cache option.
    """
    if explicit:
        return (explicit,)
    names = re.findall(r"(--[\w-]*cache[\w-]*)(=?)", help_text)
    for name, takes_value in names:
        if not takes_value:
            return (name,)
    return None


def _output(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


@dataclass(frozen=True)
class Target:
    """One server of the comparison."""

    name: str
    label: str
    style: str  # restless | jsonapi | datasette | ceiling
    command: Callable[[Setup, int], list[str]]
    processes: Callable[[Setup], int]
    peer: bool = True  # counted when looking for the best peer
    venv: str | None = None  # its virtual environment under bench/.peers
    headers: tuple[str, ...] = ()
    endpoints: frozenset[str] = field(default_factory=lambda: frozenset(ENDPOINTS))
    cwd: Path = PEER_APPS

    def path(self, key: str, setup: Setup) -> tuple[str, int]:
        """URL path (with query) of page 1 of endpoint ``key``, and the page wanted."""
        endpoint = ENDPOINTS[key]
        if self.style == "jsonapi":
            return jsonapi_path(endpoint, setup.album_tracks), 1
        if self.style == "datasette":
            return datasette_request(endpoint, setup.db_path.stem)
        return restless_path(endpoint), 1  # restless, and the ceilings (any path will do)


def _gunicorn(app: str, venv: str) -> Callable[[Setup, int], list[str]]:
    def command(setup: Setup, port: int) -> list[str]:
        return [
            setup.peer_bin(venv, "gunicorn"),
            "--no-control-socket",
            "--worker-class=sync",
            f"--workers={setup.workers}",
            f"--bind=127.0.0.1:{port}",
            f"--chdir={PEER_APPS}",
            app,
        ]

    return command


def _datasette(setup: Setup, port: int) -> list[str]:
    return [
        setup.peer_bin("datasette", "datasette"),
        "serve",
        str(setup.db_path),
        "--host=127.0.0.1",
        f"--port={port}",
        # Same page size as the others; no 1 s query time limit under load.
        "--setting", "default_page_size", "10",
        "--setting", "sql_time_limit_ms", "10000",
    ]  # fmt: skip


def _uvicorn(setup: Setup, port: int) -> list[str]:
    return [
        setup.peer_bin("fastapi", "uvicorn"),
        f"--workers={setup.workers}",
        "--no-access-log",
        "--host=127.0.0.1",
        f"--port={port}",
        f"--app-dir={PEER_APPS}",
        "fastapi_app:app",
    ]


def _script(name: str) -> Callable[[Setup, int], list[str]]:
    def command(setup: Setup, port: int) -> list[str]:
        return [str(setup.python), str(PEER_APPS / name), "--port", str(port)]

    return command


def _chinook(cache: bool, reflected: bool = False) -> Callable[[Setup, int], list[str]]:
    def command(setup: Setup, port: int) -> list[str]:
        assert setup.chinook is not None
        return setup.chinook.command(setup, port, cache=cache, reflected=reflected)

    return command


def _chinook_processes(setup: Setup) -> int:
    return setup.chinook.processes(setup) if setup.chinook else 1


def _workers(setup: Setup) -> int:
    return setup.workers


def _one(setup: Setup) -> int:
    return 1


CHINOOK = "chinook_svc"
CHINOOK_CACHE = "chinook_cache"
CHINOOK_REFLECTED = "chinook_reflected"
KLEIN = "klein_ceiling"
TWISTED = "twisted_ceiling"

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(CHINOOK, "chinook_svc", "restless", _chinook(False), _chinook_processes, peer=False),
        Target(
            CHINOOK_CACHE,
            "chinook_svc + cache",
            "restless",
            _chinook(True),
            _chinook_processes,
            peer=False,
        ),
        Target(
            CHINOOK_REFLECTED,
            "chinook_svc reflected (twistd restless --naming snake)",
            "restless",
            _chinook(False, reflected=True),
            _chinook_processes,
            peer=False,
        ),
        Target(
            "restless017",
            "flask-restless 0.17 (gunicorn)",
            "restless",
            _gunicorn("restless017_app:app", "restless017"),
            _workers,
            venv="restless017",
        ),
        Target(
            "restless_ng",
            "flask-restless-ng 3.3 (gunicorn)",
            "jsonapi",
            _gunicorn("restless_ng_app:app", "restless_ng"),
            _workers,
            venv="restless_ng",
            headers=("Accept: application/vnd.api+json",),
        ),
        Target("datasette", "datasette 0.65", "datasette", _datasette, _one, venv="datasette"),
        Target(
            "fastapi",
            "FastAPI + SQLAlchemy 2 (uvicorn)",
            "restless",
            _uvicorn,
            _workers,
            venv="fastapi",
        ),
        Target(
            KLEIN,
            "ceiling: Klein, fixed 2 KB",
            "ceiling",
            _script("ceiling_klein.py"),
            _one,
            peer=False,
            endpoints=frozenset({"E1", "E2"}),
        ),
        Target(
            TWISTED,
            "ceiling: twisted.web, fixed 2 KB",
            "ceiling",
            _script("ceiling_twisted.py"),
            _one,
            peer=False,
            endpoints=frozenset({"E1", "E2"}),
        ),
    )
}
