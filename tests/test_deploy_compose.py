"""``deploy/docker-compose.yml``: valid Compose, and the topology docs/deploying.md describes.

No Docker engine runs here, and the docker client on this machine has no
``compose`` plugin, so the stack is never started.  What runs instead:

* the file is validated against the Compose Specification's JSON schema that
  ``check-jsonschema`` ships (``--builtin-schema vendor.compose-spec``, in the
  test extras, offline); where ``docker compose version`` works, ``docker
  compose config`` runs too;
* the structure: which services, what each depends on and under which
  condition, the health checks, the ports, the files mounted (they exist),
  the sample loaded by one one-shot service before both instances start, the
  nginx command applied to ``deploy/nginx-chinook.conf`` for real (``sed``)
  giving an upstream of exactly the two instances, and Prometheus scraping
  both instances on the port the image listens on.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from .backends import scratch_schema
from .deploy_support import DEPLOY, ROOT, VENV_BIN, tool
from .dockerfile import Replay, parse
from .test_twistd import clean_env

COMPOSE = DEPLOY / "docker-compose.yml"
INSTANCES = ("chinook1", "chinook2")


PASSWORD = "0123456789abcdef"
_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::([?-])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``; ``$$`` stays for later."""

    def value(match: re.Match[str]) -> str:
        name, kind, extra = match.groups()
        if name is None:
            return "$$"
        if env.get(name):
            return env[name]
        if kind == "?":
            raise LookupError(f"{name}: {extra}")
        return extra if kind == "-" else ""

    return _VARIABLE.sub(value, text)


def services(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose file's services, interpolated, YAML merge keys (``<<: *chinook``) resolved."""
    text = interpolate(COMPOSE.read_text(), {"POSTGRES_PASSWORD": PASSWORD} if env is None else env)
    found: dict[str, Any] = yaml.safe_load(text)["services"]
    return found


def image_listen_port() -> int:
    """The port the image's service listens on (CHINOOK_LISTEN in deploy/Dockerfile)."""
    global_args, stages = parse((DEPLOY / "Dockerfile").read_text())
    env = Replay(Path("/"), ROOT, [], {}, global_args).stage_env(stages[-1])
    return int(env["CHINOOK_LISTEN"].split(":")[1])


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with the vendored Compose Specification schema."""
    command = tool("check-jsonschema", "pip install check-jsonschema: it is in the test extras")
    return subprocess.run(
        [command, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def docker_compose_works() -> bool:
    """Whether ``docker compose`` (the client plugin) runs here."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


def test_compose_file_is_valid_compose(tmp_path: Path) -> None:
    """The Compose Specification schema accepts the file and rejects a broken copy of it."""
    result = check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("service_completed_successfully", "finished"))
    assert check_jsonschema(broken).returncode != 0  # the check has teeth
    if docker_compose_works():
        config = subprocess.run(
            ["docker", "compose", "--file", str(COMPOSE), "config", "--quiet"],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "POSTGRES_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert config.returncode == 0, config.stderr


def test_compose_services_and_their_order() -> None:
    """db healthy -> sample loaded once -> two healthy instances -> nginx and Prometheus."""
    found = services()
    assert set(found) == {"db", "sample", *INSTANCES, "nginx", "prometheus"}
    assert found["db"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    sample = found["sample"]
    assert sample["restart"] == "no" and sample["healthcheck"] == {"disable": True}
    assert sample["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in INSTANCES:
        instance = found[name]
        assert instance["depends_on"] == {
            "db": {"condition": "service_healthy"},
            "sample": {"condition": "service_completed_successfully"},
        }
        assert "healthcheck" not in instance  # the image's HEALTHCHECK on /healthz
        assert instance["image"] == sample["image"]
    healthy = {name: {"condition": "service_healthy"} for name in INSTANCES}
    assert found["nginx"]["depends_on"] == healthy
    assert found["prometheus"]["depends_on"] == healthy
    assert "CMD" in found["nginx"]["healthcheck"]["test"]
    assert "http://127.0.0.1:8080/healthz" in found["nginx"]["healthcheck"]["test"]
    assert found["nginx"]["ports"] == ["127.0.0.1:8080:8080"]
    assert found["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]


def test_compose_builds_the_image_from_the_repository() -> None:
    """The build context is the repository root and the Dockerfile is deploy/Dockerfile."""
    build = services()["chinook1"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert (context / "pyproject.toml").exists()


def test_compose_loads_the_sample_into_the_database_it_serves() -> None:
    """The loader and the instances use one URL: the db service's database and user."""
    found = services()
    db = found["db"]["environment"]
    (url,) = {found[name]["environment"]["CHINOOK_DB"] for name in ("sample", *INSTANCES)}
    parsed = make_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.port, parsed.database) == ("db", 5432, db["POSTGRES_DB"])
    assert (parsed.username, parsed.password) == (db["POSTGRES_USER"], PASSWORD)
    assert db["POSTGRES_PASSWORD"] == PASSWORD
    command = found["sample"]["command"]
    assert command[:2] == ["sh", "-c"]
    # $$ is Compose's escape for a literal $: the shell expands CHINOOK_DB
    assert shlex.split(command[2]) == ["exec", "chinook-svc", "load-sample", "--db",
                                       "$$CHINOOK_DB"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.postgres
def test_sample_command_loads_on_first_start_and_then_does_nothing(postgres_url: str) -> None:
    """The loader's own command, on an empty PostgreSQL schema: loads, then finds it loaded."""
    script = services()["sample"]["command"]
    command = [word.replace("$$", "$") for word in script]  # what Compose hands the container
    with scratch_schema(postgres_url) as schema:
        db = f"{postgres_url}?options=-csearch_path%3D{schema}"
        env = clean_env(CHINOOK_DB=db, PATH=f"{VENV_BIN}:{os.environ.get('PATH', os.defpath)}")
        runs = [
            subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
            for _ in range(2)
        ]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert runs[0].stdout.startswith("loaded the Chinook sample into ")
    assert "15607 rows in 11 tables" in runs[0].stdout
    assert "already loaded" in runs[1].stdout and "nothing to do" in runs[1].stdout


def test_compose_needs_a_database_password() -> None:
    """Without POSTGRES_PASSWORD, interpolation stops with the message saying where to set it."""
    with pytest.raises(
        LookupError, match=r"POSTGRES_PASSWORD: set POSTGRES_PASSWORD in deploy/\.env"
    ):
        services({})


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Bind mounts of a service: container path -> file here."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            found[target] = (DEPLOY / source).resolve()
    return found


def test_nginx_serves_the_shipped_conf_with_the_instances_as_upstream(tmp_path: Path) -> None:
    """nginx's start command, run here on deploy/nginx-chinook.conf, names the two instances."""
    nginx = services()["nginx"]
    (target, source), *_ = mounts(nginx).items()
    assert source == DEPLOY / "nginx-chinook.conf"
    assert nginx["command"][:2] == ["sh", "-ec"]
    render, start = nginx["command"][2].strip().splitlines()
    assert start == "exec nginx -g 'daemon off;'"
    output = "/etc/nginx/conf.d/default.conf"
    assert render.endswith(f"{target} > {output}")
    rendered = tmp_path / "default.conf"
    here = render.replace(target, str(source)).replace(output, str(rendered))
    subprocess.run(["sh", "-ec", here], check=True, timeout=30)
    text = rendered.read_text()
    (upstream,) = re.findall(r"^upstream chinook_svc \{(.*?)^\}", text, flags=re.M | re.S)
    servers = re.findall(r"^\s*server\s+(\S+)", upstream, flags=re.MULTILINE)
    port = image_listen_port()
    assert servers == [f"{name}:{port}" for name in INSTANCES]
    assert "listen 8080;" in text  # what the published port maps to
    assert "127.0.0.1:808" not in text


def test_prometheus_scrapes_both_instances() -> None:
    """deploy/prometheus.yml scrapes /metrics of each instance on the image's port."""
    (target, source), *_ = mounts(services()["prometheus"]).items()
    assert (target, source) == ("/etc/prometheus/prometheus.yml", DEPLOY / "prometheus.yml")
    config = yaml.safe_load(source.read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (static,) = job["static_configs"]
    port = image_listen_port()
    assert static["targets"] == [f"{name}:{port}" for name in INSTANCES]


@pytest.mark.parametrize("name", ["sample", *INSTANCES])
def test_instances_can_write_nothing(name: str) -> None:
    """Read-only root file system, no capabilities, no privilege gain; /tmp is a tmpfs."""
    service = services()[name]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert service["tmpfs"] == ["/tmp"]
