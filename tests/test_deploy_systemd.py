"""``deploy/chinook.service``: verified, rated, and its command run under its limits.

systemd is not the init system of this machine (nor of CI's), so the unit is
never started by systemd here.  What runs instead:

* ``systemd-analyze verify`` on the unit (with ``ExecStart`` pointing at this
  virtual environment's ``twistd``, since verify checks that it exists): no
  error and no warning, not even for an unknown key;
* ``systemd-analyze security --offline=true``: the exposure level stays at
  most :data:`MAX_EXPOSURE` (0 is best, 10 worst);
* the unit's own ``ExecStart``, ``Environment=`` and ``EnvironmentFile=``
  (read from the file; ``%S`` is a temporary directory) with
  ``--workers 2`` and writes on, under what this machine can impose without
  systemd: no new privileges and an empty capability bounding set
  (``setpriv``), the unit's ``SystemCallFilter=`` as a seccomp allow-list
  (the groups expanded by ``systemd-analyze syscall-filter``),
  ``RestrictAddressFamilies=`` and ``MemoryDenyWriteExecute=`` (see
  ``tests/sandbox_exec.py``), ``UMask=`` and a minimal environment.  It still
  runs as root (with no capabilities left), not as a dynamic user: this
  machine's Python lives under ``/root``, which other users cannot read.

systemd-analyze comes from Debian's ``systemd`` package (``.ci/run`` installs it
when missing), setpriv from util-linux.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

from .deploy_support import DEPLOY, VENV_BIN, running, stop, tool, wait_healthy
from .test_twistd import free_port, get_json

UNIT = DEPLOY / "chinook.service"
INSTALLED_TWISTD = "/opt/chinook/bin/twistd"
MAX_EXPOSURE = 1.5
#: systemd's PATH for system services.
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FAMILIES = {"AF_UNIX": socket.AF_UNIX, "AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6}
TOKEN = "deploy-test-token-0123456789abcdef"


def systemd_analyze() -> str:
    """The systemd-analyze command (Debian's systemd package)."""
    return tool("systemd-analyze", "apt-get install systemd; .ci/run does in CI")


def unit_settings(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> values, in order (systemd keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        sections[section][key.strip()].append(value.strip())
    return sections


def service() -> dict[str, list[str]]:
    """The unit's [Service] section."""
    return unit_settings(UNIT.read_text())["Service"]


def installed_here(tmp_path: Path) -> Path:
    """The unit with ExecStart's twistd replaced by this venv's."""
    text = UNIT.read_text()
    assert text.count(INSTALLED_TWISTD) == 1
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED_TWISTD, str(VENV_BIN / "twistd")))
    return copy


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd-analyze verify: exit 0 and not one message."""
    result = subprocess.run(
        [systemd_analyze(), "verify", str(installed_here(tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_unit_security_exposure_is_low(tmp_path: Path) -> None:
    """systemd-analyze security rates the unit's exposure at most MAX_EXPOSURE."""
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--no-pager",
         str(installed_here(tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for chinook\.service: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


def test_unit_asks_for_what_the_issue_asks() -> None:
    """Type=simple, twistd -n chinook, a dynamic user, the hardening, restarts, the env file."""
    settings = service()
    single = {key: values[-1] for key, values in settings.items()}
    assert single["Type"] == "simple"
    assert shlex.split(single["ExecStart"]) == [
        INSTALLED_TWISTD, "--nodaemon", "--pidfile=", "chinook",
    ]  # fmt: skip
    expected = {
        "DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
        "PrivateTmp": "yes", "ProtectHome": "yes", "CapabilityBoundingSet": "",
        "StateDirectory": "chinook", "Restart": "on-failure",
        "EnvironmentFile": "-/etc/chinook/chinook.env",
    }  # fmt: skip
    assert {key: single.get(key) for key in expected} == expected
    assert settings["SystemCallFilter"][0] == "@system-service"
    assert "CHINOOK_DATA_DIR=%S/chinook" in settings["Environment"]


def syscall_groups(analyze: str) -> dict[str, list[str]]:
    """Every ``@group`` of ``systemd-analyze syscall-filter`` with its members."""
    output = subprocess.run(
        [analyze, "syscall-filter", "--no-pager"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    groups: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith("    ") and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand_calls(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    """System call names, with ``@groups`` expanded recursively."""
    calls: set[str] = set()
    for name in names:
        calls |= expand_calls(groups[name], groups) if name.startswith("@") else {name}
    return calls


def allowed_calls(filters: list[str], groups: dict[str, list[str]]) -> set[str]:
    """The calls a sequence of SystemCallFilter= lines allows (an allow-list first)."""
    assert not filters[0].startswith("~"), "the first SystemCallFilter= must be an allow-list"
    allowed: set[str] = set()
    for line in filters:
        if line.startswith("~"):
            allowed -= expand_calls(line[1:].split(), groups)
        else:
            allowed |= expand_calls(line.split(), groups)
    return allowed


def environment(settings: dict[str, list[str]], state: Path, env_file: Path) -> dict[str, str]:
    """What systemd would give the service: its PATH, Environment= and the env file."""
    env = {"PATH": SERVICE_PATH, "LANG": "C.UTF-8", "HOME": "/"}
    for line in settings["Environment"]:
        for pair in shlex.split(line.replace("%S", str(state))):
            key, _, value = pair.partition("=")
            env[key] = value
    (optional_file,) = settings["EnvironmentFile"]
    assert optional_file.startswith("-")  # optional: the service starts without one
    for line in env_file.read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value
    return env


def post_artist(port: int) -> int:
    """POST an artist with the bearer token; the status."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/artists",
        data=b'{"name": "Sandboxed"}',
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def proc_status(pid: int) -> dict[str, str]:
    """The fields of /proc/PID/status."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def sandboxed(settings: dict[str, list[str]], tmp_path: Path) -> list[str]:
    """The command prefix that imposes the unit's limits this machine can impose."""
    setpriv = tool("setpriv", "apt-get install util-linux")
    allowed = tmp_path / "allowed-syscalls"
    calls = allowed_calls(settings["SystemCallFilter"], syscall_groups(systemd_analyze()))
    allowed.write_text("\n".join(sorted(calls)))
    (families,) = settings["RestrictAddressFamilies"]
    numbers = ",".join(str(int(FAMILIES[name])) for name in families.split())
    write_xor_execute = settings.get("MemoryDenyWriteExecute", ["no"])[-1]
    sandbox = Path(__file__).with_name("sandbox_exec.py")
    drop = ["--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]
    limits = [str(allowed), numbers, write_xor_execute, "--"]
    return [setpriv, *drop, sys.executable, str(sandbox), *limits]


#: What Twisted does for an https:// request (``/aggregate`` sources): a TLS
#: client connection, with pyOpenSSL's verify and info callbacks (cffi).
TLS_CLIENT = """
from twisted.internet import ssl
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.tls import TLSMemoryBIOFactory

options = ssl.optionsForClientTLS("example.invalid")
tls = TLSMemoryBIOFactory(options, True, Factory.forProtocol(Protocol)).buildProtocol(None)
options.clientConnectionForTLS(tls)
print("TLS client connection created")
"""


def test_unit_limits_let_the_service_make_tls_connections(tmp_path: Path) -> None:
    """Under the unit's limits Twisted sets up a TLS client (MemoryDenyWriteExecute breaks it)."""
    command = [*sandboxed(service(), tmp_path), sys.executable, "-c", TLS_CLIENT]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "TLS client connection created\n"


@pytest.mark.slow
def test_unit_command_serves_under_its_limits(tmp_path: Path) -> None:
    """ExecStart with the unit's environment serves, writes, and stops, sandboxed."""
    settings = service()
    state = tmp_path / "state"
    (state / "chinook").mkdir(parents=True)  # StateDirectory=chinook
    port = free_port()
    env_file = tmp_path / "chinook.env"
    env_file.write_text(
        f"CHINOOK_LISTEN=tcp:{port}:interface=127.0.0.1\nCHINOOK_WORKERS=2\n"
        f"CHINOOK_ALLOW_WRITES=true\nCHINOOK_API_TOKEN={TOKEN}\n"
    )
    env = environment(settings, state, env_file)
    (exec_start,) = settings["ExecStart"]
    command = shlex.split(exec_start.replace(INSTALLED_TWISTD, str(VENV_BIN / "twistd")))
    (umask,) = settings["UMask"]
    log = tmp_path / "journal"
    limited = [*sandboxed(settings, tmp_path), *command]
    with running(limited, log=log, cwd="/", env=env, umask=int(umask, 8)) as server:
        health = wait_healthy(port, server, log)
        limits = proc_status(server.pid)
        assert (limits["CapEff"], limits["CapBnd"]) == ("0" * 16, "0" * 16)
        assert (limits["NoNewPrivs"], limits["Seccomp"]) == ("1", "2")
        assert health["pid"] != server.pid  # a worker answered
        status, albums = get_json(f"http://127.0.0.1:{port}/api/albums")
        assert status == 200 and albums["num_results"] == 347
        assert post_artist(port) == 201
        sample = state / "chinook" / "chinook.db"
        assert sample.stat().st_mode & 0o077 == 0  # UMask=0077
        output = stop(server, log)
    assert "Operation not permitted" not in output, output
