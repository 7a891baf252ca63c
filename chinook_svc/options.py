"""The command line of ``twistd chinook``, generated from the settings' declarations.

Every option comes from one :class:`~chinook_svc.settings.Settings` attribute
that declares a ``cli`` name: a flag for a boolean, a repeatable option for a
list, a parameter otherwise; its help text says the default and the
environment variable.  Nothing is declared here, so an option and its setting
cannot disagree.  ``chinook_svc.tap`` exports :class:`CommandLine` as its
``Options`` (the plugin finds it there): the same options, but an error ends
the process with one line rather than twistd's whole help.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Mapping
from typing import Any

from attrs import Attribute
from twisted.python import usage

from chinook_svc._version import __version__
from chinook_svc.config import load_settings
from chinook_svc.settings import Settings, Spec, declared
from twisted import copyright


def default_text(attribute: Attribute[Any], spec: Spec) -> str:
    """What a setting is when nothing sets it, in words."""
    default = attribute.default
    if spec.unset is not None and default in (None, ()):
        return spec.unset
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def help_text(attribute: Attribute[Any], spec: Spec) -> str:
    """An option's help: what it does, its default (for a value) and its variable."""
    default = "" if spec.flag else f" (default: {default_text(attribute, spec)})"
    variable = "" if spec.env is None else f" [{spec.env}]"
    return f"{spec.help}{default}{variable}"


#: The option groups of ``twistd chinook`` (``twistd restless`` adds ``reflection``).
SERVICE = frozenset({"service"})


def _parameters(groups: frozenset[str] = SERVICE) -> list[list[Any]]:
    return [
        [spec.cli, None, None, help_text(attribute, spec)]
        for attribute, spec in declared()
        if spec.cli is not None and not (spec.flag or spec.repeatable) and spec.group in groups
    ]


def _flags(groups: frozenset[str] = SERVICE) -> list[list[Any]]:
    return [
        [spec.cli, None, help_text(attribute, spec)]
        for attribute, spec in declared()
        if spec.cli is not None and spec.flag and spec.group in groups
    ]


def _repeatable() -> dict[str, str]:
    """Repeatable options: option name -> help."""
    return {
        spec.cli: help_text(attribute, spec)
        for attribute, spec in declared()
        if spec.cli is not None and spec.repeatable
    }


class Options(usage.Options):
    """Options of ``twistd chinook``; each overrides its ``CHINOOK_*`` variable.

    Args:
        environ: the environment to read ``CHINOOK_*`` from (default:
            ``os.environ``); tests pass their own.
    """

    synopsis = "[--listen ENDPOINT] [--db URL] [--config FILE] [options]"
    longdesc = (
        "Serve a Chinook database as a flask-restless 0.17 compatible JSON API. "
        "Without --db, the embedded Chinook sample is served. Precedence: options, "
        "then CHINOOK_* environment variables, then the config file, then defaults."
    )
    optParameters = _parameters()
    optFlags = _flags()

    settings: Settings
    #: Values the command sets whatever the command line says (option name -> value):
    #: ``twistd chinook`` always serves the Chinook models.
    forced: Mapping[str, Any] = {"reflect": False}

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        for name in _repeatable():
            self[name] = []
        self._environ = os.environ if environ is None else environ

    def opt_version(self) -> None:
        """Display chinook_svc's and Twisted's versions and exit."""
        python = platform.python_version()
        print(f"chinook_svc {__version__} (Twisted {copyright.version}, Python {python})")
        raise SystemExit(0)

    def postOptions(self) -> None:
        """Merge options, environment and config file into :attr:`settings`."""
        given: dict[str, Any] = dict(self)
        for _, spec in declared():
            if spec.cli is None or spec.cli not in self:
                continue
            if spec.flag:
                # An absent flag is "not given", so that it does not override CHINOOK_DEBUG.
                given[spec.cli] = True if self[spec.cli] else None
            elif spec.repeatable:
                given[spec.cli] = list(self[spec.cli]) or None
        given.update(self.forced)
        self.given = given
        self.settings = load_settings(given, self._environ)


class CommandLine(Options):
    """The ``twistd chinook`` command line: :class:`Options` that end the process on an error.

    twistd prints the whole help before an option's error; this prints the
    one-line reason and where help is, on standard error, and exits with
    status 1 (``SystemExit``), before twistd sees the error.
    """

    #: The twistd command these options are of, as the message names it.
    command = "chinook"

    def parseOptions(self, options: list[str] | None = None) -> None:
        """Parse ``options``; exit with a one-line message if they are not acceptable."""
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            command = f"twistd {self.command}"
            raise SystemExit(f"{command}: {e} (see {command} --help)") from None


def _append_to(name: str, help: str) -> Callable[[Options, str], None]:
    def option(self: Options, value: str) -> None:
        self[name].append(value)

    option.__doc__ = help
    return option


for _name, _help in _repeatable().items():
    # usage.Options finds opt_<name> methods: --aggregate-source is opt_aggregate_source.
    setattr(Options, "opt_" + _name.replace("-", "_"), _append_to(_name, _help))


__all__ = ["SERVICE", "CommandLine", "Options", "default_text", "help_text"]
