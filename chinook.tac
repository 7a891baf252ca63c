"""Run the service with ``twistd -ny chinook.tac``, configured by the environment.

Settings come from ``CHINOOK_LISTEN``, ``CHINOOK_DB``, ``CHINOOK_CONFIG``,
``CHINOOK_THREADS``, ``CHINOOK_DATA_DIR`` and ``CHINOOK_DEBUG`` (then the
config file, then defaults), and the service is built by the same
``chinook_svc.tap.makeService`` as ``twistd chinook``.  With
``CHINOOK_REFLECT=1`` it is ``twistd restless`` instead: ``CHINOOK_DB``'s own
tables by reflection (``CHINOOK_NAMING``, ``CHINOOK_TABLES``, ...; see
docs/reflection.md).
"""

import os

from twisted.application import service
from twisted.python.usage import UsageError

from chinook_svc import tap, tap_restless
from chinook_svc.options import Options
from chinook_svc.settings import parse_bool

try:
    reflect = parse_bool(os.environ.get("CHINOOK_REFLECT", ""))
except ValueError:
    raise SystemExit("chinook.tac: CHINOOK_REFLECT must be true or false") from None
# chinook_svc.options.Options (tap.Options would end the process on an error itself).
options = tap_restless.Options() if reflect else Options()
try:
    options.parseOptions([])  # no command line here: the environment and config file decide
except UsageError as e:
    raise SystemExit(f"chinook.tac: {e}") from None

application = service.Application("chinook")
(tap_restless if reflect else tap).makeService(options).setServiceParent(application)
