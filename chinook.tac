"""Run the service with ``twistd -ny chinook.tac``, configured by the environment.

Settings come from ``CHINOOK_LISTEN``, ``CHINOOK_DB``, ``CHINOOK_CONFIG``,
``CHINOOK_THREADS``, ``CHINOOK_DATA_DIR`` and ``CHINOOK_DEBUG`` (then the
config file, then defaults), and the service is built by the same
``chinook_svc.tap.makeService`` as ``twistd chinook``.
"""

from twisted.application import service
from twisted.python.usage import UsageError

from chinook_svc import tap
from chinook_svc.options import Options

options = Options()
try:
    options.parseOptions([])  # no command line here: the environment and config file decide
except UsageError as e:
    raise SystemExit(f"chinook.tac: {e}") from None

application = service.Application("chinook")
tap.makeService(options).setServiceParent(application)
