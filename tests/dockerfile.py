"""A Dockerfile read into instructions, and replayed on this machine without Docker.

No Docker engine runs here, so ``tests/test_deploy_docker.py`` replays
``deploy/Dockerfile`` the way the builder would, under a directory that stands
for the image's ``/``: every absolute path in ``ENV``, ``WORKDIR`` and ``COPY``
is moved under it, ``COPY`` copies from the repository (minus what the
Dockerfile's ``.dockerignore`` leaves out), ``RUN`` lines run in ``/bin/sh -c``
with the stage's environment, as Docker's shell form does.

Only the subset of the Dockerfile syntax that ``deploy/Dockerfile`` uses is
understood; anything else raises :class:`DockerfileError` rather than being
skipped silently.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from attrs import define, field, frozen


class DockerfileError(Exception):
    """The Dockerfile uses something this reader does not understand."""


@frozen
class Instruction:
    """One instruction: its keyword (upper case), its argument text, its line number."""

    keyword: str
    args: str
    line: int


@define
class Stage:
    """One ``FROM`` stage and the instructions that follow it."""

    image: str
    name: str | None
    instructions: list[Instruction] = field(factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """This stage's instructions with ``keyword``."""
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        """The stage's last ``keyword`` instruction (the one Docker applies)."""
        found = self.all(keyword)
        if not found:
            raise DockerfileError(f"the stage has no {keyword}")
        return found[-1]


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # Docker drops comment lines inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        keyword, _, args = " ".join(p for p in pending if p).partition(" ")
        result.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    if pending:
        raise DockerfileError("the file ends inside a continued instruction")
    return result


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ``ARG`` defaults and the stages of a Dockerfile."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            if len(words) not in (1, 3) or (len(words) == 3 and name is None):
                raise DockerfileError(f"line {instruction.line}: FROM {instruction.args}")
            stages.append(Stage(expand(words[0], global_args), name))
        elif not stages:
            if instruction.keyword != "ARG":
                raise DockerfileError(f"line {instruction.line}: {instruction.keyword} before FROM")
            key, _, value = instruction.args.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append(instruction)
    return global_args, stages


_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand(value: str, env: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced as Docker does in ENV, WORKDIR, USER, COPY."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)


def exec_form(args: str) -> list[str]:
    """The argument list of an exec-form (JSON array) instruction."""
    try:
        value = json.loads(args)
    except ValueError:
        raise DockerfileError(f"not an exec-form (JSON) argument list: {args}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DockerfileError(f"not a list of strings: {args}")
    return value


def healthcheck(args: str) -> tuple[dict[str, str], list[str]]:
    """A ``HEALTHCHECK`` instruction's ``--options`` and its exec-form command."""
    options: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        option, _, rest = rest.partition(" ")
        key, _, value = option[2:].partition("=")
        options[key] = value
        rest = rest.strip()
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD":
        raise DockerfileError(f"HEALTHCHECK without CMD: {args}")
    return options, exec_form(command.strip())


@define
class Replay:
    """Replays stages on this machine, with ``root`` standing for the image's ``/``.

    Args:
        root: the directory standing for ``/``.
        context: the build context (the repository root).
        ignored: file name patterns the ``.dockerignore`` leaves out (``**/NAME``).
        base_env: the environment of the base image (here: this machine's).
    """

    root: Path
    context: Path
    ignored: list[str]
    base_env: dict[str, str]
    global_args: dict[str, str] = field(factory=dict)

    def inside(self, path: str) -> Path:
        """Where the image's absolute ``path`` is here."""
        if not path.startswith("/"):
            raise DockerfileError(f"not an absolute path: {path}")
        return self.root / path.lstrip("/")

    def _rebased(self, value: str) -> str:
        """An ENV value with each absolute element (``:``-separated) moved under root."""
        return ":".join(
            str(self.inside(part)) if part.startswith("/") else part for part in value.split(":")
        )

    def stage_env(self, stage: Stage, upto: Instruction | None = None) -> dict[str, str]:
        """The environment RUN sees in ``stage`` before ``upto`` (or at its end)."""
        env = dict(self.base_env)
        args: dict[str, str] = {}
        for instruction in stage.instructions:
            if instruction is upto:
                break
            if instruction.keyword == "ARG":
                key, has_default, value = instruction.args.partition("=")
                args[key] = value if has_default else self.global_args.get(key, "")
            elif instruction.keyword == "ENV":
                for pair in shlex.split(instruction.args):
                    key, equals, value = pair.partition("=")
                    if not equals:
                        where = f"line {instruction.line}"
                        raise DockerfileError(f"{where}: ENV {pair} (use KEY=VALUE)")
                    env[key] = expand(self._rebased(value), {**env, **args})
        return {**env, **args}

    def run_stage(
        self, stage: Stage, *, skip: tuple[str, ...] = (), timeout: float = 600
    ) -> list[Instruction]:
        """WORKDIR, COPY and RUN of ``stage`` in order; return the RUN lines skipped.

        Args:
            skip: RUN lines whose command starts with one of these words are
                not run (they need the image's root, e.g. ``useradd``).
            timeout: seconds all RUN lines together may take.
        """
        workdir = self.root
        skipped = []
        for instruction in stage.instructions:
            env = self.stage_env(stage, upto=instruction)
            if instruction.keyword == "WORKDIR":
                workdir = self.inside(expand(instruction.args, env))
                workdir.mkdir(parents=True, exist_ok=True)
            elif instruction.keyword == "COPY":
                self._copy(instruction, workdir, env)
            elif instruction.keyword == "RUN":
                if instruction.args.split()[0] in skip:
                    skipped.append(instruction)
                    continue
                subprocess.run(
                    ["/bin/sh", "-c", instruction.args],
                    cwd=workdir,
                    env=env,
                    check=True,
                    timeout=timeout,
                )
        return skipped

    def _copy(self, instruction: Instruction, workdir: Path, env: Mapping[str, str]) -> None:
        words = [expand(w, env) for w in shlex.split(instruction.args)]
        flags = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        *sources, dest = paths
        target = self.inside(dest) if dest.startswith("/") else workdir / dest
        if any(f.startswith("--from=") for f in flags):
            # Another stage of the same replay: it already lies under the same root.
            if [self.inside(s) for s in sources] != [target]:
                raise DockerfileError(f"line {instruction.line}: COPY --from to another path")
            return
        if flags:
            raise DockerfileError(f"line {instruction.line}: COPY {' '.join(flags)}")
        into_directory = dest.endswith("/") or len(sources) > 1
        for source in sources:
            origin = self.context / source.rstrip("/")
            if origin.is_dir():  # Docker copies a directory's contents, not the directory
                shutil.copytree(
                    origin,
                    target,
                    ignore=shutil.ignore_patterns(*self.ignored),
                    dirs_exist_ok=True,
                )
                continue
            into = target / origin.name if into_directory else target
            into.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, into)


def which(command: str, env: Mapping[str, str]) -> str:
    """``command`` looked up on ``env``'s PATH, as an exec-form CMD is."""
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        raise DockerfileError(f"{command} is not on PATH {env.get('PATH')}")
    return found
