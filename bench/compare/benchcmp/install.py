"""Each peer in its own virtual environment under ``bench/.peers/<peer>``, installed once.

A venv is reused while ``.installed`` in it lists the same requirements;
otherwise (or with ``reinstall``) it is made afresh with ``python -m venv``
and ``pip install``.  The installed versions are kept for the results file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .targets import PEER_REQUIREMENTS, PEERS_DIR

MARKER = ".installed"


def ensure_peer(
    peer: str,
    *,
    python: str = sys.executable,
    reinstall: bool = False,
    say: Callable[[str], None] = print,
) -> dict[str, str]:
    """Make sure ``peer``'s venv holds its requirements; return its package versions."""
    requirements = list(PEER_REQUIREMENTS[peer])
    venv = PEERS_DIR / peer
    try:
        record = json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        record = {}
    if not reinstall and record.get("requirements") == requirements:
        return dict(record["versions"])
    say(f"installing {peer} into {venv} ({' '.join(requirements)}) ...")
    started = time.monotonic()
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    log = venv.parent / f"{peer}-install.log"
    with log.open("w") as out:
        _run([python, "-m", "venv", str(venv)], out, peer, log)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        _run([*pip, "install", *requirements], out, peer, log)
        frozen = subprocess.run(
            [*pip, "list", "--format=json"], capture_output=True, text=True, check=True
        )
    versions = {p["name"]: p["version"] for p in json.loads(frozen.stdout)}
    (venv / MARKER).write_text(
        json.dumps({"requirements": requirements, "versions": versions}, indent=1)
    )
    say(f"installed {peer} in {time.monotonic() - started:.0f} s")
    return versions


def _run(command: Sequence[str], out: object, peer: str, log: Path) -> None:
    done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)  # type: ignore[arg-type]
    if done.returncode != 0:
        raise RuntimeError(f"installing {peer} failed ({' '.join(command[:4])} ...): see {log}")
