"""One declaration per setting: options, environment, files and docs all come from it.

``docs/configuration.md`` carries a reference generated from
``chinook_svc.settings``; these tests fail when it is stale, when an example
config file in it does not load, or when the options and the declarations
disagree.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from chinook_svc import tap_restless
from chinook_svc.config import load_settings
from chinook_svc.options import Options
from chinook_svc.settings import Settings, declared
from chinook_svc.settings_doc import BEGIN, END, reference, updated

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_configuration_doc_is_current() -> None:
    """docs/configuration.md holds the reference generated from today's declarations."""
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    assert text == updated(text), "run: python -m chinook_svc.settings_doc --write"
    for attribute, spec in declared():
        assert f"`{attribute.name}`" in reference()
        if spec.env is not None:
            assert f"`{spec.env}`" in text


def test_updated_needs_the_markers() -> None:
    """A document without the markers is an error, not silently left alone."""
    with pytest.raises(ValueError, match="settings reference"):
        updated("# Configuration\n")


@pytest.mark.parametrize(("fence", "name"), [("ini", "config.cfg"), ("toml", "chinook.toml")])
def test_doc_examples_load(tmp_path: Path, fence: str, name: str) -> None:
    """The example config files of the doc load, and set what they say."""
    blocks = re.findall(rf"```{fence}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks
    for block in blocks:
        path = tmp_path / name
        path.write_text(block, encoding="utf-8")
        settings = load_settings({"config": str(path)}, {})
        assert settings.threads == 4
        assert settings.db_url == f"sqlite:///{tmp_path.resolve()}/chinook.db"


COMMANDS = [
    pytest.param(Options, {"service"}, id="chinook"),
    pytest.param(tap_restless.Options, {"service", "reflection"}, id="restless"),
]


@pytest.mark.parametrize(("command", "groups"), COMMANDS)
def test_options_are_the_declared_settings(command: type[Options], groups: set[str]) -> None:
    """Each setting of the command's groups is exactly one option; no option is undeclared.

    ``twistd chinook`` offers the service's settings, ``twistd restless``
    those and the reflection options; an ``internal`` setting (``reflect``)
    is set by the command, never an option.
    """
    options = command(environ={})
    parameters = {p[0] for p in options.optParameters}
    flags = {f[0] for f in options.optFlags}
    repeatable = {
        name[len("opt_") :].replace("_", "-")
        for name in dir(command)
        if name.startswith("opt_") and name not in ("opt_help", "opt_version")
    }
    declared_cli = [
        spec.cli for _, spec in declared() if spec.cli is not None and spec.group in groups
    ]
    assert sorted(parameters | flags | repeatable) == sorted(declared_cli)
    assert not parameters & flags and not (parameters | flags) & repeatable
    for attribute, spec in declared():
        if spec.flag and spec.group in groups:
            assert attribute.default is False and spec.cli in flags
    assert "reflect" not in parameters | flags


def test_names_are_unique() -> None:
    """No two settings share an option, a variable or a config-file key."""
    specs = [spec for _, spec in declared()]
    for names in (
        [s.cli for s in specs if s.cli],
        [s.env for s in specs if s.env],
        [k for s in specs for k in s.cfg_keys],
        [s.toml_key for s in specs if s.toml_key],
    ):
        assert [n for n, count in Counter(names).items() if count > 1] == []


def test_defaults_are_the_settings_defaults() -> None:
    """Parsing nothing gives Settings(): the declared defaults are the only ones."""
    options = Options(environ={})
    options.parseOptions([])
    assert options.settings == Settings()
    assert options.given["reflect"] is False  # twistd chinook serves Chinook's models
    assert all(
        options.given.get(spec.cli) is None
        for _, spec in declared()
        if spec.cli and spec.cli != "reflect"
    )


def test_reflection_settings_from_a_file(tmp_path: Path) -> None:
    """The reflection options have TOML keys and variables like every other setting."""
    config = tmp_path / "shop.toml"
    config.write_text(
        'naming = "snake"\nreflect_tables = ["a", "B"]\nexclude_columns = "a.x, B.y"\n'
        "inline_to_many = true\n",
        encoding="utf-8",
    )
    settings = load_settings({"config": str(config)}, {"CHINOOK_SCHEMA": "sales"})
    assert (settings.naming, settings.reflect_tables, settings.exclude_columns) == (
        "snake",
        ("a", "B"),
        ("a.x", "B.y"),
    )
    assert settings.inline_to_many is True and settings.schema == "sales"


def test_restless_defaults_reflect() -> None:
    """``twistd restless`` is ``twistd chinook``'s settings with ``reflect`` on, whatever the
    environment says; ``twistd chinook`` ignores ``CHINOOK_REFLECT``."""
    options = tap_restless.Options(environ={"CHINOOK_REFLECT": "false"})
    options.parseOptions(["--naming", "snake", "--tables", "a,b", "--exclude-columns", "a.x"])
    assert options.settings == Settings(
        reflect=True, naming="snake", reflect_tables=("a", "b"), exclude_columns=("a.x",)
    )
    chinook = Options(environ={"CHINOOK_REFLECT": "1"})
    chinook.parseOptions([])
    assert chinook.settings.reflect is False
    # The command line ends the process with the one-line reason (tests/test_startup.py).
    with pytest.raises(SystemExit, match=r"^twistd restless: .*expected keep or snake"):
        tap_restless.Options(environ={}).parseOptions(["--naming", "camel"])
    with pytest.raises(SystemExit, match=r"^twistd restless: .*table\.column"):
        tap_restless.Options(environ={}).parseOptions(["--exclude-columns", "password"])
