"""The command examples of README.md and docs/*.md: parsing them and matching their output.

The rules (also stated in ``tests/test_doc_examples.py``, which runs them, and
in the README's "Documentation" section):

* A ````` ```console ````` block is executed; every other fenced block
  (``sh``, ``python``, ``toml``, ``json``, ``nginx``, ``text``, ...) is not.
  Every fence names its language: a bare fence is a format error, so a
  typo cannot silently turn an example off.
* In a console block, a line starting with ``$ `` is a command; the lines
  after it, up to the next ``$ `` line or the end of the block, are its
  output (stdout and stderr as a terminal shows them).  A command line
  ending in ``\\`` continues on the next line.  Text before the first
  command is a format error.
* The service is ``twistd -n chinook`` on ``127.0.0.1:8080``, serving the
  embedded sample.  A console command names it only as ``127.0.0.1:8080``
  (never ``localhost``, never another port), and may not start a server
  (``twistd``): put such commands in an ``sh`` block.
* ``<!-- console-server: twistd -n chinook ARGS -->`` on a line of its own
  makes the console blocks after it (up to the next such line) run against
  a fresh ``twistd -n chinook ARGS`` on a fresh copy of the sample, e.g.
  ``--allow-writes --api-token-file token``.  The file ``token`` is in the
  working directory and its content in ``$TOKEN``.  ``--listen``, ``--db``
  and ``--data-dir`` are the test's to choose.
* ``<!-- console-server: twistd -n restless --db sqlite:///FILE ARGS -->``
  does the same for the reflected service (docs/reflection.md): ``FILE`` is
  a plain file name (``chinook.db``), and the test puts a fresh copy of the
  sample (the sqlitetutorial schema) there, in the server's working
  directory, so the directive reads as the command a reader would type.
  ``--listen`` and ``--data-dir`` stay the test's.
* Output is compared line by line, exactly, after the test turns its port
  back into ``8080`` and ``\\r\\n`` into ``\\n``; trailing spaces and
  trailing blank lines are ignored.  Two abbreviations, and only these:
  ``...`` inside a line stands for one or more characters, and a line that
  is only ``...`` stands for one or more whole lines.  So a command shown
  without output must print nothing, and an elision is always visible.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

#: The address the documents use for the service.
DOC_ADDRESS = "127.0.0.1:8080"
#: What starts the service; a ``console-server`` directive begins with it.
SERVER_COMMAND = ("twistd", "-n", "chinook")
#: The other service a directive may start: ``twistd -n restless --db sqlite:///FILE``.
REFLECTED_COMMAND = ("twistd", "-n", "restless")
#: Options of ``twistd chinook`` the test sets itself.
RESERVED_OPTIONS = ("--listen", "--db", "--data-dir")
#: ``--db`` of a ``twistd restless`` directive: a file in the server's directory.
_REFLECTED_DB = re.compile(r"sqlite:///(?P<file>[A-Za-z0-9_][A-Za-z0-9_.-]*)")
ELLIPSIS = "..."

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^<!--\s*console-server:(?P<command>.*?)-->\s*$")
_LOOPBACK = re.compile(r"localhost|\[::1\]|0\.0\.0\.0|127\.\d+\.\d+\.\d+(?::\d+)?")
_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


class DocFormatError(Exception):
    """A document breaks the example rules (the message names file and line)."""


@frozen
class Example:
    """One ``$ command`` and the output the document shows for it."""

    path: Path
    line: int
    command: str
    expected: tuple[str, ...]

    @property
    def where(self) -> str:
        """``file:line`` of the command."""
        return f"{self.path.name}:{self.line}"


def can_write(arguments: Sequence[str]) -> bool:
    """Whether a server started with ``arguments`` may change its database."""
    return "--allow-writes" in arguments


@frozen
class Section:
    """Consecutive examples served by one server: ``twistd -n PLUGIN`` plus ``arguments``.

    ``plugin`` is ``chinook``, or ``restless`` with ``database`` the file name
    its ``--db sqlite:///FILE`` names (kept out of ``arguments``).
    """

    arguments: tuple[str, ...]
    examples: tuple[Example, ...]
    plugin: str = "chinook"
    database: str | None = None

    @property
    def writes(self) -> bool:
        """Whether the server may change its database (then it is never shared)."""
        return can_write(self.arguments)


def parse_document(path: Path) -> list[Section]:
    """The document's console examples, grouped by server, in document order.

    Raises:
        DocFormatError: a bare fence, an unterminated block, text before the
            first command, a bad directive, or a command that names another
            address or starts a server.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    sections: list[Section] = []
    server: tuple[str, tuple[str, ...], str | None] = ("chinook", (), None)
    examples: list[Example] = []
    i = 0
    while i < len(lines):
        directive = _DIRECTIVE.match(lines[i])
        fence = _FENCE.match(lines[i])
        if directive:
            if examples:
                sections.append(_section(server, examples))
                examples = []
            server = _server_arguments(directive["command"], f"{path.name}:{i + 1}")
            i += 1
        elif fence:
            end = _closing_fence(lines, i, fence, path)
            info = fence["info"].strip()
            if not info:
                raise DocFormatError(f"{path.name}:{i + 1}: a fence must name its language")
            if info.split()[0] == "console":
                body = [line.removeprefix(fence["indent"]) for line in lines[i + 1 : end]]
                examples.extend(_console_block(path, i + 2, body))
            i = end + 1
        else:
            i += 1
    if examples:
        sections.append(_section(server, examples))
    return sections


def _section(server: tuple[str, tuple[str, ...], str | None], examples: list[Example]) -> Section:
    plugin, arguments, database = server
    return Section(arguments, tuple(examples), plugin, database)


def _closing_fence(lines: Sequence[str], start: int, opening: re.Match[str], path: Path) -> int:
    fence = opening["fence"]
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            return j
    raise DocFormatError(f"{path.name}:{start + 1}: the code block is never closed")


def _server_arguments(command: str, where: str) -> tuple[str, tuple[str, ...], str | None]:
    """(plugin, arguments, database file) of a ``console-server`` directive."""
    words = tuple(shlex.split(command))
    database = None
    if words[: len(REFLECTED_COMMAND)] == REFLECTED_COMMAND:
        words, database = _reflected_database(words[len(REFLECTED_COMMAND) :], where)
        plugin = "restless"
    elif words[: len(SERVER_COMMAND)] == SERVER_COMMAND:
        words, plugin = words[len(SERVER_COMMAND) :], "chinook"
    else:
        raise DocFormatError(
            f"{where}: console-server must start with {' '.join(SERVER_COMMAND)}"
            f" or {' '.join(REFLECTED_COMMAND)} --db sqlite:///FILE"
        )
    for word in words:
        if word.split("=")[0] in RESERVED_OPTIONS:
            raise DocFormatError(f"{where}: console-server may not set {word} (the test does)")
    return plugin, words, database


def _reflected_database(words: tuple[str, ...], where: str) -> tuple[tuple[str, ...], str]:
    """``twistd restless`` arguments without their ``--db sqlite:///FILE``, and ``FILE``."""
    found = _REFLECTED_DB.fullmatch(words[1]) if words[:1] == ("--db",) and words[1:] else None
    if found is None:
        raise DocFormatError(
            f"{where}: twistd -n restless must be followed by --db sqlite:///FILE (a file name)"
        )
    return words[2:], found["file"]


def _console_block(path: Path, first_line: int, body: Sequence[str]) -> list[Example]:
    examples: list[Example] = []
    i = 0
    while i < len(body):
        line = body[i]
        if not line.startswith("$ "):
            if line.strip():
                raise DocFormatError(
                    f"{path.name}:{first_line + i}: a console block starts with a '$ ' command"
                )
            i += 1
            continue
        start = i
        command = [line[2:]]
        while command[-1].endswith("\\") and i + 1 < len(body):
            i += 1
            command.append(body[i])
        i += 1
        output: list[str] = []
        while i < len(body) and not body[i].startswith("$ "):
            output.append(body[i].rstrip())
            i += 1
        while output and not output[-1]:
            output.pop()
        text = "\n".join(command)
        _check_command(text, f"{path.name}:{first_line + start}")
        examples.append(Example(path, first_line + start, text, tuple(output)))
    return examples


def _check_command(command: str, where: str) -> None:
    if any(found != DOC_ADDRESS for found in _LOOPBACK.findall(command)):
        raise DocFormatError(f"{where}: name the service as {DOC_ADDRESS} only: {command}")
    if command.split()[0] == SERVER_COMMAND[0]:
        raise DocFormatError(f"{where}: a console block may not start a server (use sh): {command}")


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The document's lines outside code blocks: (line number, text)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    prose: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence:
            i = _closing_fence(lines, i, fence, path) + 1
            continue
        prose.append((i + 1, lines[i]))
        i += 1
    return prose


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the document's headings."""
    found = set()
    for _, line in prose_lines(path):
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """The relative links of the document's prose: (line number, target)."""
    return [
        (number, match["target"])
        for number, line in prose_lines(path)
        for match in _LINK.finditer(line)
        if "://" not in match["target"] and not match["target"].startswith("mailto:")
    ]


def normalise_output(raw: bytes, port: int) -> tuple[str, ...]:
    """What a command printed, as the document would show it."""
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    text = text.replace(f"127.0.0.1:{port}", DOC_ADDRESS)
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return tuple(lines)


@functools.lru_cache(maxsize=512)
def _line_pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".+?".join(re.escape(part) for part in expected.split(ELLIPSIS)), re.DOTALL)


def line_matches(expected: str, actual: str) -> bool:
    """One line: exact, except that each ``...`` stands for one or more characters."""
    if ELLIPSIS not in expected:
        return expected == actual
    return _line_pattern(expected).fullmatch(actual) is not None


def output_matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """All the output: line by line; a line that is only ``...`` stands for one or more lines."""
    want, got = tuple(expected), tuple(actual)

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(got)
        if want[i] == ELLIPSIS:
            return any(match(i + 1, k) for k in range(j + 1, len(got) + 1))
        return j < len(got) and line_matches(want[i], got[j]) and match(i + 1, j + 1)

    return match(0, 0)
