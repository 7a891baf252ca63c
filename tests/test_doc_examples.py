"""Every command example in README.md and docs/*.md runs, and prints what the document shows.

Which blocks run, and how their output is compared:

* A ````` ```console ````` block is executed; an ``sh`` block (and every
  other language) is not.  Starting a server, building a virtual
  environment or running a benchmark goes in ``sh``; talking to the running
  service goes in ``console``.  Every fence must name its language.
* In a console block, ``$ command`` lines are run one by one with
  ``bash -c`` in a scratch directory, in document order (a PATCH and the GET
  after it see each other); the lines after a command, up to the next
  ``$ `` line, are its expected output (stdout and stderr together).  A
  command line ending in ``\\`` continues on the next line.  Each command
  must exit with status 0.
* The service is the one the documents describe: ``twistd -n chinook``
  serving the embedded sample (a throw-away copy of it, found through
  ``CHINOOK_DATA_DIR``), on a free loopback port that the test writes over
  ``127.0.0.1:8080`` in each command and back in each output.  Commands may
  name the service only as ``127.0.0.1:8080``.
* ``<!-- console-server: twistd -n chinook ARGS -->`` on its own line makes
  the following console blocks run against a fresh ``twistd -n chinook
  ARGS`` on a fresh copy of the sample (for writes: ``--allow-writes
  --api-token-file token``; the scratch directory holds that ``token`` and
  ``$TOKEN`` holds its content).  A server that cannot write is shared by
  every document that asks for the same arguments; one that can write
  serves its section only.
* ``<!-- console-server: twistd -n restless --db sqlite:///FILE ARGS -->``
  starts the reflected service the same way, on a fresh copy of the sample
  written to ``FILE`` in the server's working directory (``FILE`` a plain
  file name, e.g. ``chinook.db``: the command a reader would type).
* Output matching is exact, line by line, with two abbreviations only:
  ``...`` inside a line stands for one or more characters (a ``Date``
  header, an ``elapsed_ms``, the rest of a long JSON body), and a line that
  is only ``...`` stands for one or more lines.  Trailing spaces and
  trailing blank lines are ignored; nothing else is.

The parsing and matching live in :mod:`tests.doc_examples`; the first tests
below pin the convention itself.  Runs against real sockets; a few seconds
(one ``twistd`` for reading, one per section that writes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import missing, require_servers
from .doc_examples import (
    DOC_ADDRESS,
    DocFormatError,
    Example,
    Section,
    anchors,
    line_matches,
    links,
    normalise_output,
    output_matches,
    parse_document,
)
from .test_twistd import BIN, SHUTDOWN_SECONDS, Twistd, clean_env, free_port

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOKEN = "docs-example-token-0123456789abcdef"
COMMAND_SECONDS = 30


def _documents_with_examples() -> list[Path]:
    """Documents with console examples (a malformed one is included, so that it fails)."""
    found = []
    for path in DOCUMENTS:
        try:
            has_examples = bool(parse_document(path))
        except DocFormatError:
            has_examples = True
        if has_examples:
            found.append(path)
    return found


# -- the convention -------------------------------------------------------------------------


def test_ellipsis_within_a_line_stands_for_one_or_more_characters() -> None:
    """``...`` in a line matches one or more characters, never none; the rest is exact."""
    assert line_matches('{"page":1,...}', '{"page":1,"objects":[]}')
    assert not line_matches('{"page":1,...}', '{"page":1,}')
    assert not line_matches('{"page":2,...}', '{"page":1,"objects":[]}')
    assert line_matches("Date: ...", "Date: Thu, 03 Dec 2026 08:19:33 GMT")
    assert line_matches("a.b", "a.b") and not line_matches("a.b", "axb")


def test_an_ellipsis_line_stands_for_one_or_more_lines() -> None:
    """A line that is only ``...`` matches one or more whole lines, so nothing hides silently."""
    headers = ["HTTP/1.1 200 OK", "A: 1", "B: 2", "", "{}"]
    assert output_matches(["HTTP/1.1 200 OK", "...", "", "{}"], headers)
    assert not output_matches(["HTTP/1.1 200 OK", "...", "{}"], ["HTTP/1.1 200 OK", "{}"])
    assert not output_matches(["..."], [])
    assert output_matches([], [])
    assert not output_matches([], ["unexpected"])
    assert not output_matches(["a"], ["a", "b"])


def test_output_is_normalised_as_a_terminal_shows_it() -> None:
    """CRLF becomes LF, the test's port becomes 8080, trailing spaces and blank lines go."""
    raw = b"HTTP/1.1 200 OK\r\nLink: <http://127.0.0.1:4321/api/albums?page=2> \r\n\r\n"
    assert normalise_output(raw, 4321) == (
        "HTTP/1.1 200 OK",
        f"Link: <http://{DOC_ADDRESS}/api/albums?page=2>",
    )


def test_parsing_follows_the_rules(tmp_path: Path) -> None:
    """Commands, continuations, outputs and the console-server directive are read as documented."""
    doc = tmp_path / "doc.md"
    doc.write_text(
        "```sh\ntwistd -n chinook\n```\n\n```console\n$ curl -s 127.0.0.1:8080/a \\\n"
        "  -H 'X: y'\n{}\n\n$ true\n```\n"
        "<!-- console-server: twistd -n chinook --allow-writes --api-token-file token -->\n"
        "```console\n$ echo hi\nhi\n```\n"
    )
    first, second = parse_document(doc)
    assert first == Section(
        (),
        (
            Example(doc, 6, "curl -s 127.0.0.1:8080/a \\\n  -H 'X: y'", ("{}",)),
            Example(doc, 10, "true", ()),
        ),
    )
    assert second.arguments == ("--allow-writes", "--api-token-file", "token")
    assert second.writes and not first.writes
    assert second.examples == (Example(doc, 14, "echo hi", ("hi",)),)


def test_a_reflected_server_is_named_with_its_database_file(tmp_path: Path) -> None:
    """``twistd -n restless --db sqlite:///FILE ARGS``: the plugin, the file and the arguments."""
    doc = tmp_path / "doc.md"
    doc.write_text(
        "<!-- console-server: twistd -n restless --db sqlite:///chinook.db --naming snake -->\n"
        "```console\n$ true\n```\n"
    )
    (section,) = parse_document(doc)
    assert (section.plugin, section.database, section.arguments) == (
        "restless",
        "chinook.db",
        ("--naming", "snake"),
    )
    assert server_key(doc, 0, section) == ("shared", "restless", "chinook.db", "--naming", "snake")


@pytest.mark.parametrize(
    "text",
    [
        "```\nbare fence\n```\n",
        "```console\nno prompt first\n$ true\n```\n",
        "```console\n$ curl -s localhost:8080/\n```\n",
        "```console\n$ curl -s 127.0.0.1:9090/\n```\n",
        "```console\n$ curl -s http://127.0.0.1/\n```\n",
        "```console\n$ curl -s 127.0.0.1:8080/\n",
        "```console\n$ twistd -n chinook\n```\n",
        "<!-- console-server: twistd -n chinook --listen tcp:1 -->\n",
        "<!-- console-server: python -m http.server -->\n",
        # twistd -n restless: --db sqlite:///FILE first, a plain file name, set once
        "<!-- console-server: twistd -n restless --naming snake -->\n",
        "<!-- console-server: twistd -n restless --db sqlite:////tmp/x.db -->\n",
        "<!-- console-server: twistd -n restless --db postgresql://db/x -->\n",
        "<!-- console-server: twistd -n restless --db sqlite:///a.db --db sqlite:///b.db -->\n",
        "<!-- console-server: twistd -n restless --db sqlite:///a.db --listen tcp:1 -->\n",
    ],
)
def test_format_errors_are_refused(tmp_path: Path, text: str) -> None:
    """Bare fences, prose in a console block, other addresses, servers, bad directives fail."""
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    with pytest.raises(DocFormatError):
        parse_document(doc)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_document_follows_the_format(path: Path) -> None:
    """Every fence names its language and every console block is well formed."""
    sections = parse_document(path)
    assert all(example.command.strip() for s in sections for example in s.examples)


#: Documents written on other branches that this one links to before they exist.
PENDING = {"configuration.md", "architecture.md"}


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    """Every relative link names a file of the repository and, with ``#``, one of its headings."""
    broken = []
    for number, target in links(path):
        name, _, anchor = target.partition("#")
        linked = (path.parent / name) if name else path
        if not linked.exists():
            if linked.name not in PENDING:
                broken.append(f"{path.name}:{number}: no file {target}")
            continue
        if anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{path.name}:{number}: no heading #{anchor} in {linked.name}")
    assert not broken, "\n".join(broken)


def test_the_sdist_ships_the_docs(tmp_path: Path) -> None:
    """The sdist holds README.md and every file of docs/ (the docstrings cite docs/)."""
    import tarfile

    from hatchling.builders.sdist import SdistBuilder

    built = list(SdistBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))
    with tarfile.open(built[0]) as archive:
        names = {name.partition("/")[2] for name in archive.getnames()}
    assert {f"docs/{p.name}" for p in DOCUMENTS[1:]} | {"README.md"} <= names


def test_the_main_documents_have_examples() -> None:
    """The documents about the HTTP API carry executed examples (none is turned off)."""
    names = {path.name for path in _documents_with_examples()}
    assert {
        "README.md",
        "api.md",
        "protocol.md",
        "writes.md",
        "aggregate.md",
        "reflection.md",
    } <= names


# -- running them ---------------------------------------------------------------------------


ServerKey = tuple[str, ...]


def server_key(path: Path, index: int, section: Section) -> ServerKey:
    """Sections that cannot write share one server per arguments; one that writes has its own."""
    served = (section.plugin, section.database or "", *section.arguments)
    if section.writes:
        return (path.name, str(index), *served)
    return ("shared", *served)


class Servers:
    """The examples' ``twistd -n chinook`` servers: launched together, awaited on first use."""

    def __init__(self, root: Path, sample: Path) -> None:
        self._root = root
        self._sample = sample
        self._launched: dict[ServerKey, Twistd] = {}
        self._up: set[ServerKey] = set()

    def launch(self, key: ServerKey, section: Section) -> None:
        """Start the section's ``twistd`` on a fresh copy of the sample (unless running).

        ``twistd -n chinook`` finds it through ``CHINOOK_DATA_DIR``; ``twistd -n
        restless --db sqlite:///FILE`` at ``FILE`` in its working directory.
        """
        if key in self._launched:
            return
        directory = self._root / f"server-{len(self._launched) + 1}"
        data = directory / "data"
        data.mkdir(parents=True)
        shutil.copyfile(self._sample, data / "chinook.db")
        arguments = section.arguments
        if section.database is not None:
            shutil.copyfile(self._sample, directory / section.database)
            arguments = ("--db", f"sqlite:///{section.database}", *arguments)
        token = directory / "token"
        token.write_text(TOKEN + "\n")
        token.chmod(0o600)
        port = free_port()
        given = [a.replace(DOC_ADDRESS, f"127.0.0.1:{port}") for a in arguments]
        args = [section.plugin, *given, "--listen", f"tcp:{port}:interface=127.0.0.1"]
        env = clean_env(CHINOOK_DATA_DIR=str(data))
        self._launched[key] = Twistd(args, port, directory, env)

    def ready(self, key: ServerKey) -> Twistd:
        """The server for ``key``, once it answers."""
        server = self._launched[key]
        if key not in self._up:
            server.wait_until_up()
            self._up.add(key)
        return server

    def stop(self, key: ServerKey) -> None:
        """Stop one server (a section that wrote is done with it)."""
        stop_all([self._launched.pop(key)])

    def close(self) -> None:
        """Stop every server still running."""
        stop_all(list(self._launched.values()))
        self._launched.clear()


def stop_all(servers: list[Twistd]) -> None:
    """SIGTERM to all, then wait for each; none may have logged a traceback."""
    for server in servers:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    for server in servers:
        try:
            server.process.wait(timeout=SHUTDOWN_SECONDS)
        finally:
            server.kill()
    for server in servers:
        assert "Traceback" not in server.log_text(), server.log_text()


@pytest.fixture(scope="module")
def servers(chinook_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Every server the documents ask for, launched at once so that they start in parallel."""
    if shutil.which("curl") is None:
        missing("curl is not installed (apt-get install curl)", mandatory=require_servers())
    pool = Servers(tmp_path_factory.mktemp("doc-servers"), chinook_file)
    try:
        for path in _documents_with_examples():
            with contextlib.suppress(DocFormatError):  # that document's test reports it
                for index, section in enumerate(parse_document(path)):
                    pool.launch(server_key(path, index, section), section)
        yield pool
    finally:
        pool.close()


def command_env(home: Path) -> dict[str, str]:
    """The environment of an example: no CHINOOK_* and no proxy; the venv's scripts; $TOKEN."""
    env = {k: v for k, v in clean_env().items() if "proxy" not in k.lower()}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        HOME=str(home),
        LC_ALL="C.UTF-8",
        TOKEN=TOKEN,
    )
    return env


def run_example(example: Example, port: int, workdir: Path) -> tuple[int, tuple[str, ...]]:
    """Run one command against the server on ``port``: (exit status, output as documented)."""
    command = example.command.replace(DOC_ADDRESS, f"127.0.0.1:{port}")
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=workdir,
        env=command_env(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    return result.returncode, normalise_output(result.stdout, port)


def describe_failure(example: Example, status: int, output: tuple[str, ...]) -> str:
    """A readable account of one failed example."""
    shown = "\n".join(f"    {line}" for line in example.expected) or "    (nothing)"
    got = "\n".join(f"    {line}" for line in output) or "    (nothing)"
    return (
        f"{example.where}: $ {example.command}\n  exit status {status}\n"
        f"  documented:\n{shown}\n  printed:\n{got}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", _documents_with_examples(), ids=lambda p: p.name)
def test_examples_run_as_documented(path: Path, servers: Servers, tmp_path: Path) -> None:
    """Each console example of the document, in order, exits 0 and prints what is shown."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    failures = []
    for index, section in enumerate(parse_document(path)):
        key = server_key(path, index, section)
        servers.launch(key, section)
        server = servers.ready(key)
        try:
            for example in section.examples:
                status, output = run_example(example, server.port, tmp_path)
                if status != 0 or not output_matches(example.expected, output):
                    failures.append(describe_failure(example, status, output))
        finally:
            if section.writes:
                servers.stop(key)
    assert not failures, "\n\n".join(failures)
