"""``twistd restless --db URL``: any database, by reflection, with the same service.

The command is ``twistd chinook`` with ``reflect`` on: the same
:func:`chinook_svc.tap.build_service`, so every option, limit, check and
service of ``twistd chinook`` holds (writes off by default, the token,
workers, the response cache, ``/aggregate``, ``/healthz``, CORS,
``/openapi.json``), plus the reflection options (``--naming``, ``--tables``,
``--exclude-tables``, ``--schema``, ``--exclude-columns``,
``--inline-to-many``).  ``--db`` is required: there is no sample to fall
back on.  See ``docs/reflection.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.application.service import MultiService

from chinook_svc.options import SERVICE, CommandLine, _flags, _parameters
from chinook_svc.tap import command_service

#: The option groups of ``twistd restless``.
RESTLESS = SERVICE | {"reflection"}


class Options(CommandLine):
    """Options of ``twistd restless``: ``twistd chinook``'s and the reflection options."""

    synopsis = "--db URL [--naming keep|snake] [--tables NAMES] [options]"
    longdesc = (
        "Serve any SQL database, by reflecting its schema, as a flask-restless 0.17 "
        "compatible JSON API. --db is required. Precedence: options, then CHINOOK_* "
        "environment variables, then the config file, then defaults."
    )
    optParameters = _parameters(RESTLESS)
    optFlags = _flags(RESTLESS)
    forced: Mapping[str, Any] = {"reflect": True}
    command = "restless"


def makeService(options: Options) -> MultiService:
    """The service ``twistd restless`` runs (``tap.command_service``)."""
    return command_service(options, "restless")


#: twistd's ServiceMaker finds ``Options``; this name says which command's they are.
RestlessOptions = Options

__all__ = ["Options", "RestlessOptions", "makeService"]
